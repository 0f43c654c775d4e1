"""Weights through training: every parameter's histogram, std, gradient std and update size over SGD steps.

TensorBoard's Histograms dashboard for the init lesson. The run is the Train tab's
(SimpleCNN on the synthetic gratings, SGD with momentum, `TRAIN_CONFIG`); every `every`
steps, and at the last step taken, each parameter is recorded as

- its histogram on **fixed bins chosen at step 0**: the init report's bins
  (`pinit.stats.describe`, `bins_for(numel, bins)` equal bins over the step-0 [min, max]),
  so step 0 is exactly the Weights tab's histogram, plus two overflow bins (-inf, lo) and
  (hi, +inf), so a value that leaves the step-0 range is counted, never dropped;
- its std (population: sqrt(mean((w - mean w)^2)), the σ a law describes, as in the Weights
  tab's table), and its gradient's std at that step;
- the update ratio of that step, ||W_t - W_{t-1}|| / ||W_{t-1}|| (Frobenius norms): the size of
  one SGD step relative to the weights. Karpathy's rule of thumb (CS231n, "Neural Networks
  Part 3") puts a healthy layer near 1e-3; far below, the layer barely learns; far above, it
  is thrown around.

What is kept is bins x records numbers, never a tensor per record. Step 0 carries the
scheme's expected count per bin (numel * (F(right) - F(left)), the law curve). Step 1 is always
recorded too: the first update is the one the init alone decides. The training
loop is `pinit.lab.train.train`, so a run is bit-identical for a seed and thread count, and
takes a progress `callback` and a `should_stop` like the Train tab's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..checks import whole_number
from ..models import build_model
from ..plan import InitPlan, apply_plan
from ..stats import MAX_BINS, describe, summarize
from ..text import number
from .train import MAX_STEPS, train
from .train_config import TRAIN_CONFIG
from .training import TrainData, train_data

__all__ = ["HEALTHY_UPDATE_RATIO", "WeightHistory", "training_config", "weight_history", "what_to_look_for"]

HEALTHY_UPDATE_RATIO = 1e-3  # ||dW|| / ||W|| per step of a layer that learns at a healthy pace (CS231n)

Progress = Callable[[int, float], None]


def training_config() -> dict[str, Any]:
    """The one adapter to the Train tab's training configuration: steps, batch size, lr, data size and noise.

    Everything this module trains with is read here, so a change of the training API moves one function.
    """
    d = TRAIN_CONFIG.as_dict()
    return {
        "steps": int(d["steps"]),
        "batch_size": int(d["batch_size"]),
        "lr": float(d["lr"]),
        "n_train": int(d["n_train"]),
        "n_test": int(d["n_test"]),
        "noise": float(d["noise"]),
        "data_seed": 0,  # the Train tab's DATA_SEED: the gratings are the same for every plan and seed
        "run": lambda model, images, labels, steps, seed, callback, should_stop: train(
            model,
            images,
            labels,
            steps=steps,
            batch_size=int(d["batch_size"]),
            lr=float(d["lr"]),
            momentum=float(d["momentum"]),
            seed=seed,
            callback=callback,
            should_stop=should_stop,
        ),
        "data": lambda: train_data(int(d["n_train"]), int(d["n_test"]), float(d["noise"]), 0),
    }


@dataclass(frozen=True)
class WeightHistory:
    """One run's record: tidy frames, the step-0 law, and the loss at every step.

    histograms: step, name, left, right, count. Per (step, name) the bins are the same:
        an overflow bin (-inf, lo), the step-0 bins, an overflow bin (hi, +inf).
    stats: step, name, std, grad_std, update_ratio, mean, min, max, numel, nonfinite
        (grad_std and update_ratio are NaN at step 0, before any update).
    laws: name, left, right, expected: the scheme's expected count per step-0 bin (only
        for parameters a rule of the plan reached).
    params: name, shape, numel, scheme, expected_std, bins (one row per parameter).
    loss: step, loss, accuracy: every step taken.
    """

    histograms: pd.DataFrame
    stats: pd.DataFrame
    laws: pd.DataFrame
    params: pd.DataFrame
    loss: pd.DataFrame
    steps: int  # steps asked for
    every: int
    seed: int
    stop_reason: str  # "completed", "stopped", "non-finite loss"
    seconds: float
    plan: dict[str, Any] = field(default_factory=dict)
    model_name: str = ""
    lr: float = math.nan

    @property
    def steps_done(self) -> int:
        """Updates applied to the weights (a non-finite loss's step applies none)."""
        return int(self.stats["step"].max()) if len(self.stats) else 0

    @property
    def recorded_steps(self) -> list[int]:
        return sorted(int(s) for s in self.stats["step"].unique())

    @property
    def names(self) -> list[str]:
        return [str(n) for n in self.params["name"]]

    def numel(self, name: str) -> int:
        return int(dict(zip(self.params["name"], self.params["numel"]))[name])

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in dict(zip(self.params["name"], self.params["shape"]))[name])

    def at(self, step: int) -> dict[str, dict[str, Any]]:
        """{parameter name: its stats row} at a recorded step."""
        rows: list[dict[str, Any]] = self.stats[self.stats["step"] == step].to_dict("records")  # type: ignore[assignment]
        return {str(r["name"]): r for r in rows}

    def to_tensorboard(self, logdir: str | Path) -> Path:
        """Write this run as TensorBoard event files in `logdir` and return it; needs `pip install pinit[tensorboard]`.

        Per parameter: a histogram per recorded step (`weights/<name>`, the same bins and
        counts as `histograms`, overflow bins as the first and last bucket) and the scalars
        `std/`, `grad_std/`, `update_ratio/<name>`; `loss` at every step. Open it with
        `tensorboard --logdir <logdir>`.
        """
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # tensorboard is an optional extra
            raise ImportError(
                "writing TensorBoard files needs the tensorboard package: pip install 'pinit[tensorboard]'"
            ) from e
        logdir = Path(logdir)
        writer = SummaryWriter(log_dir=str(logdir))
        try:
            for step_, loss in zip(self.loss["step"].tolist(), self.loss["loss"].tolist()):
                if math.isfinite(loss):
                    writer.add_scalar("loss", loss, int(step_))
            at = {step: self.at(step) for step in self.recorded_steps}
            for key, bins in self.histograms.groupby(["step", "name"], sort=True):
                step, name = int(key[0]), str(key[1])  # type: ignore[call-overload]
                s = at[step][name]
                counts = bins["count"].to_numpy(dtype=np.float64)
                limits = bins["right"].to_numpy(dtype=np.float64).copy()
                # TensorBoard buckets are (previous limit, limit]: the top overflow bucket ends at the max value.
                limits[-1] = max(float(s["max"]), float(bins["left"].iloc[-1]))
                finite = float(s["numel"] - s["nonfinite"])
                writer.add_histogram_raw(
                    f"weights/{name}",
                    min=float(s["min"]),
                    max=float(s["max"]),
                    num=finite,
                    sum=float(s["mean"]) * finite,
                    sum_squares=float(s["sum_squares"]),
                    bucket_limits=limits.tolist(),
                    bucket_counts=counts.tolist(),
                    global_step=step,
                )
                for what in ("std", "grad_std", "update_ratio"):
                    if math.isfinite(float(s[what])):
                        writer.add_scalar(f"{what}/{name}", float(s[what]), step)
            writer.flush()
        finally:
            writer.close()
        return logdir


def _fixed_counts(values: torch.Tensor, lo: float, hi: float, bins: int) -> tuple[list[int], int, int, int]:
    """Counts of the finite entries in `bins` equal bins over [lo, hi] (as stats.histogram bins them),
    below lo, above hi, and how many entries are NaN (+-Inf count as below or above)."""
    flat = values.detach().reshape(-1)
    vmin, vmax = (float(x) for x in torch.aminmax(flat))
    if lo <= vmin and vmax <= hi:  # the common case: one pass decides there is nothing outside (NaN propagates)
        nan = below = above = 0
        finite = flat
    else:
        nan = int(torch.isnan(flat).sum())
        below = int((flat < lo).sum())
        above = int((flat > hi).sum())
        finite = flat[torch.isfinite(flat)]
    wide = finite.dtype == torch.float64 or max(abs(lo), abs(hi)) > 1e38
    counts = torch.histc(finite.double() if wide else finite.float(), bins=bins, min=lo, max=hi)
    return counts.to(torch.int64).tolist(), below, above, nan


def _norm(t: torch.Tensor) -> float:
    """||t|| (Frobenius), in float64 where float32's squares overflow (an exploding run's weights)."""
    n = float(torch.linalg.vector_norm(t))
    return n if math.isfinite(n) else float(torch.linalg.vector_norm(t.double()))


def _population_std(t: torch.Tensor) -> float:
    """sqrt(mean(g^2) - mean(g)^2) from one norm and one sum in float32 (a gradient's mean is near 0,
    so there is no cancellation to fear): a few ms per step for SimpleCNN, where torch.std in float64
    cost as much as the step itself."""
    g = t.detach().reshape(-1)
    n = g.numel()
    if n == 0:
        return math.nan
    norm, total = float(torch.linalg.vector_norm(g)), float(g.sum())
    if not (math.isfinite(norm) and math.isfinite(total)):  # float32 squares overflow past 1.8e19: redo in float64
        norm, total = float(torch.linalg.vector_norm(g.double())), float(g.double().sum())
    sq = norm**2 / n
    mean = total / n
    return math.sqrt(max(sq - mean * mean, 0.0))


def weight_history(
    model: str | nn.Module,
    plan: InitPlan | Mapping[str, Any],
    seed: int = 0,
    steps: int | None = None,
    every: int = 10,
    bins: int = 40,
    data: TrainData | None = None,
    callback: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> WeightHistory:
    """Train `model` from `plan` with the Train tab's configuration and record its weights every `every` steps.

    `model` is a registered model's name (built with its constructor init drawn from `seed`)
    or an nn.Module (trained in place, e.g. to look at it afterwards); `plan` is applied with
    `seed` either way. `steps` defaults to the Train tab's; `bins` is the Weights tab's bin
    request (each parameter gets `bins_for(numel, bins)` bins). `data` is ((images, labels),
    (test images, test labels)), default the Train tab's gratings. `callback(step, loss)` runs
    after every step, `should_stop()` before every step (a Stop button): a stopped run keeps
    what it recorded, and the last step taken is always recorded.
    """
    cfg = training_config()
    steps = cfg["steps"] if steps is None else steps
    whole_number("steps", steps, 1, MAX_STEPS)
    whole_number("every", every, 1, MAX_STEPS)
    whole_number("bins", bins, 1, MAX_BINS)
    plan = InitPlan.from_dict(plan)
    name = model if isinstance(model, str) else type(model).__name__
    net = build_model(model, seed=seed) if isinstance(model, str) else model
    apply_plan(net, plan, seed)
    (images, labels), _ = data if data is not None else cfg["data"]()

    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    _, step0 = describe(net, plan, bins)
    edges = {h.name: (h.edges[0], h.edges[-1], h.bins, h.edges) for h in step0}
    params = pd.DataFrame(
        {
            "name": [h.name for h in step0],
            "shape": [tuple(h.shape) for h in step0],
            "numel": [int(math.prod(h.shape)) for h in step0],
            "scheme": [h.scheme for h in step0],
            "expected_std": [math.nan if h.expected_std is None else h.expected_std for h in step0],
            "bins": [h.bins for h in step0],
        }
    )
    laws = pd.DataFrame(
        [
            {"name": h.name, "left": a, "right": b, "expected": e}
            for h in step0
            if h.expected is not None
            for a, b, e in zip(h.edges[:-1], h.edges[1:], h.expected)
        ],
        columns=["name", "left", "right", "expected"],
    )

    hist_rows: list[tuple[int, str, float, float, int]] = []
    stat_rows: list[dict[str, Any]] = []

    def record(step: int, grad_std: Mapping[str, float], ratio: Mapping[str, float]) -> None:
        for n, p in named:
            lo, hi, k, e = edges[n]
            counts, below, above, _ = _fixed_counts(p, lo, hi, k)
            hist_rows.append((step, n, -math.inf, lo, below))
            hist_rows.extend((step, n, a, b, c) for a, b, c in zip(e[:-1], e[1:], counts))
            hist_rows.append((step, n, hi, math.inf, above))
            s = summarize(p)
            stat_rows.append(
                {
                    "step": step,
                    "name": n,
                    "std": s.population_std,
                    "grad_std": grad_std.get(n, math.nan),
                    "update_ratio": ratio.get(n, math.nan),
                    "mean": s.mean,
                    "min": s.min,
                    "max": s.max,
                    "sum_squares": s.finite * (s.population_std**2 + s.mean**2) if s.finite else 0.0,
                    "numel": s.numel,
                    "nonfinite": s.nonfinite,
                }
            )

    record(0, {}, {})
    # The weights before each step, in two buffers allocated once and used in turn: the one for step t
    # holds W_{t-1}, the other still W_{t-2}. So the last step taken can be recorded after the fact (a
    # Stop, or a non-finite loss one step later), while only steps that are recorded pay for the norms.
    snaps = [{n: torch.empty_like(p, requires_grad=False) for n, p in named} for _ in range(2)]
    state = {"polls": 0, "recorded": 0}

    def scalars(step: int) -> tuple[dict[str, float], dict[str, float]]:
        """Gradient std and ||W_step - W_{step-1}|| / ||W_{step-1}|| of `step`, the last update applied."""
        before = snaps[step % 2]
        with torch.no_grad():
            grad = {n: _population_std(p.grad) if p.grad is not None else 0.0 for n, p in named}
            ratio = {}
            for n, p in named:
                norm = _norm(before[n])
                diff = float(torch.dist(p.detach(), before[n]))
                if not math.isfinite(diff):
                    diff = _norm(p.detach().double() - before[n].double())
                ratio[n] = diff / norm if norm > 0 else (math.inf if diff > 0 else math.nan)
        return grad, ratio

    def record_last(step: int) -> None:
        if step > state["recorded"]:
            record(step, *scalars(step))
            state["recorded"] = step

    def poll() -> bool:
        state["polls"] += 1
        step = state["polls"]
        if should_stop is not None and should_stop():  # the gradients of step - 1 are still in .grad here
            record_last(step - 1)
            return True
        with torch.no_grad():
            for n, p in named:
                snaps[step % 2][n].copy_(p)
        return False

    def after(step: int, loss: float, acc: float) -> None:
        if not math.isfinite(loss):  # no update: the weights (and .grad) are still those of step - 1
            record_last(step - 1)
        elif step % every == 0 or step in (1, steps):
            record_last(step)
        if callback is not None:
            callback(step, loss)

    start = time.perf_counter()
    log = cfg["run"](net, images, labels, steps, seed, after, poll)
    seconds = time.perf_counter() - start

    histograms = pd.DataFrame(hist_rows, columns=["step", "name", "left", "right", "count"])
    histograms["step"] = histograms["step"].astype("int64")
    histograms["count"] = histograms["count"].astype("int64")
    stats = pd.DataFrame(stat_rows)
    return WeightHistory(
        histograms=histograms,
        stats=stats,
        laws=laws,
        params=params,
        loss=log[["step", "loss", "accuracy"]].reset_index(drop=True),
        steps=steps,
        every=every,
        seed=seed,
        stop_reason=log.attrs["stop_reason"],
        seconds=seconds,
        plan=plan.to_dict(),
        model_name=name,
        lr=float(log.attrs["lr"]),
    )


def _fmt(x: float) -> str:
    """Two significant digits, the page's one way (pinit.text.number: 18,000, 0.0031, 3.1×10⁻⁵)."""
    return number(x, 2)


def what_to_look_for(h: WeightHistory) -> str:
    """The one line a student reads under the charts, every number in it measured on this run.

    Which story is told depends on what happened, not on the plan's name: no weight moved
    (a zero init: symmetry never broken), the loss overflowed (an exploding init), or the
    run trained (how big each layer's steps were against the 1e-3 rule and how far the
    weights' σ moved from the init).
    """
    s = h.stats
    weights = [n for n in h.names if n.endswith("weight")]
    ws = s[s["name"].isin(weights)]
    first = h.loss["loss"].iloc[0] if len(h.loss) else math.nan
    if not len(ws) or h.steps_done == 0:
        return "no step was taken: press Train to record the run."
    moved = ws[ws["step"] > 0]
    largest = float(moved[["min", "max"]].abs().max().max()) if len(moved) else math.nan
    if len(moved) and float(moved["grad_std"].max()) == 0.0 and largest == 0.0:
        others = s[(s["step"] == h.steps_done) & ~s["name"].isin(weights) & (s["std"] > 0)]["name"].tolist()
        last = h.loss["loss"].iloc[-1]
        return (
            f"every weight is still exactly 0 after {h.steps_done} steps (largest |w| = 0, every weight "
            "gradient 0): each unit of a layer computes the same thing and gets the same gradient, here none, "
            "so the symmetry never breaks"
            + (f"; only {', '.join(others)} moved" if others else "")
            + f", and the loss stays at ln 10 = 2.30 (step 1: {first:.3f}, step {len(h.loss)}: {last:.3f})."
        )
    biggest = max(weights, key=h.numel)
    if h.stop_reason == "non-finite loss":
        step1 = h.at(1)
        r1 = {n: float(step1[n]["update_ratio"]) for n in weights}
        top, least = max(r1, key=lambda n: r1[n]), min(r1, key=lambda n: r1[n])
        line = (
            f"the loss is {_fmt(first)} at step 1 (an unsure network reads ln 10 = 2.3). In that first step "
            f"{least}, σ {number(float(step1[least]['std']))}, moves {float(r1[least]):.1%} of its size "
            f"({float(r1[least]) / HEALTHY_UPDATE_RATIO:.0f}× the healthy {number(HEALTHY_UPDATE_RATIO)})"
            + (", the least of any layer," if least == biggest else "")
            + f" while {top} moves {_fmt(float(r1[top]))}× its own size"
        )
        end = h.steps_done
        if end > 1:
            late = [float(r["update_ratio"]) for n, r in h.at(end).items() if n in weights]
            line += f"; at step {end} the steps are {_fmt(min(late))}–{_fmt(max(late))}× the weights' size"
        rows = h.histograms[h.histograms["step"] == end]
        out = rows[~(rows["left"].map(math.isfinite) & rows["right"].map(math.isfinite))]
        left = sum(1 for _, g in out.groupby("name") if int(g["count"].sum()) > 0)
        return line + (
            f"; the loss overflows at step {len(h.loss)} and the run ends, with {left} of {len(h.names)} tensors "
            "partly outside their step-0 bins."
        )
    first_steps = [float(r["update_ratio"]) for n, r in h.at(1).items() if n in weights]
    r = moved.groupby("name")["update_ratio"].median().reindex(weights)
    st = ws.pivot(index="step", columns="name", values="std")
    change = (st.iloc[-1] / st.iloc[0] - 1).reindex(weights)
    last = float(h.loss["loss"].iloc[-1])
    inside = [n for n in weights if HEALTHY_UPDATE_RATIO / 10**0.5 <= r[n] <= HEALTHY_UPDATE_RATIO * 10**0.5]
    band = (
        f"every layer's median step is inside the {number(HEALTHY_UPDATE_RATIO)} band"
        if len(inside) == len(weights)
        else f"{len(inside)} of {len(weights)} layers' median steps are inside the {number(HEALTHY_UPDATE_RATIO)} band"
    )
    return (
        f"the median update ratio per layer is {_fmt(float(r.min()))}–{_fmt(float(r.max()))} ({band}); step 1's "
        f"is {_fmt(min(first_steps))}–{_fmt(max(first_steps))}. "
        f"Meanwhile the loss goes from {_fmt(first)} to {_fmt(last)} and each weight's σ changes by "
        f"{float(change.min()):+.1%} to {float(change.max()):+.1%}: the histograms keep the shape of the law at "
        "step 0, training moves the weights only a little."
    )
