"""The Init effects lab's experiments: plain functions from plain values to tables and arrays.

Each function builds its own model from (name, options, plan, seed), runs it and
returns DataFrames, lists and numpy arrays; no model object leaves this module, so a
page may cache the results by their arguments and share them between sessions.

* `signal_flow`: what one configuration does on the fixed probe batch: activation
  std per layer (with the mean-field prediction for DeepMLP), per-layer histograms on
  a common grid (a heatmap), gradient norms, zeros and dead units after each ReLU,
  the loss and the logits' std.
* `depth_sweep`, `depth_summary`, `symmetry_table`: the DeepMLP depth lab (He 2015,
  Glorot & Bengio 2010, the zero-init symmetry trap, LSUV).
* `compare_activations`, `compare_gradients`, `density`: plan A against plan B.
* `train_run`: SimpleCNN on the synthetic gratings from one plan, held-out accuracy.
* `filter_grid`, `downsample`, `weight_matrix`, `first_rgb_conv`: weights as pictures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from .data import make_dataset
from .lsuv import lsuv
from .models import build_model
from .plan import InitPlan, apply_plan, assignments
from .probes import activation_stats, gradient_stats, predicted_std_trend, probe_batch, probe_targets
from .stats import Histogram, summarize
from .train import evaluate, train

__all__ = [
    "DepthScheme", "DEPTH_SCHEMES", "LSUV_BUDGET", "depth_plan", "depth_sweep", "depth_summary", "symmetry_table", "lsuv_cost",
    "SignalFlow", "signal_flow", "RELU_TYPES",
    "compare_activations", "compare_gradients", "density",
    "TrainRun", "train_run", "TRAIN_DEFAULTS",
    "filter_grid", "first_rgb_conv", "downsample", "weight_matrix", "weight_pictures", "MAX_HEATMAP", "train_data",
]

RELU_TYPES = ("ReLU", "ReLU6")  # outputs that are exactly 0 for every negative input


# ============================================================== depth lab (DeepMLP)


@dataclass(frozen=True)
class DepthScheme:
    label: str
    formula: str  # the law of every Linear weight, in words
    weight: dict[str, Any] | None  # the plan rule for Linear weights; None: LSUV (not a plan)


DEPTH_SCHEMES: dict[str, DepthScheme] = {
    s.label: s
    for s in (
        DepthScheme("Kaiming (He)", "N(0, 2/fan_in): kaiming_normal, nonlinearity relu",
                    {"scheme": "kaiming_normal", "mode": "fan_in", "nonlinearity": "relu"}),
        DepthScheme("Xavier (Glorot)", "N(0, 2/(fan_in + fan_out)): xavier_normal, gain 1",
                    {"scheme": "xavier_normal", "gain": 1.0}),
        DepthScheme("Xavier, tanh gain 5/3", "N(0, (5/3)² · 2/(fan_in + fan_out)): xavier_normal, gain 5/3",
                    {"scheme": "xavier_normal", "gain": 5 / 3}),
        DepthScheme("PyTorch default", "U(±1/√fan_in), std 1/√(3 fan_in): Glorot & Bengio's \"standard\" init",
                    {"scheme": "default"}),
        DepthScheme("LeCun", "N(0, 1/fan_in): lecun_normal", {"scheme": "lecun_normal"}),
        DepthScheme("Orthogonal", "orthonormal rows/columns, gain 1", {"scheme": "orthogonal", "gain": 1.0}),
        DepthScheme("N(0, 0.01)", "N(0, 0.01²): a fixed small std", {"scheme": "normal", "mean": 0.0, "std": 0.01}),
        DepthScheme("N(0, 1)", "N(0, 1): a fixed std that ignores fan_in", {"scheme": "normal", "mean": 0.0, "std": 1.0}),
        DepthScheme("Zeros", "every weight 0", {"scheme": "zeros"}),
        DepthScheme("Constant 0.05", "every weight 0.05", {"scheme": "constant", "val": 0.05}),
        DepthScheme("LSUV", "orthogonal, then each layer rescaled in turn until its output std is 1 "
                            "on the probe batch (Mishkin & Matas 2015)", None),
    )
}

LSUV_BUDGET = 1.3e11  # lsuv_cost above which a page leaves LSUV out: depth 100, width 256, n 128 is 8.4e10 (4.6 s on 1 thread)


def depth_plan(scheme: str) -> dict[str, Any]:
    """The plan of a depth-lab scheme: its rule on every Linear weight, biases 0."""
    if scheme not in DEPTH_SCHEMES:
        raise ValueError(f"unknown depth-lab scheme {scheme!r}; choose one of {', '.join(DEPTH_SCHEMES)}")
    weight = DEPTH_SCHEMES[scheme].weight
    if weight is None:
        raise ValueError("LSUV is not a plan: it measures the network (use depth_sweep)")
    return {"rules": {"Linear": {"weight": dict(weight), "bias": {"scheme": "zeros"}}}, "overrides": {}}


def _check_whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)


def lsuv_cost(depth: int, width: int, n: int) -> float:
    """A rough count of LSUV's multiply-adds on DeepMLP: it runs the net up to each layer in turn."""
    return float(depth) ** 2 * float(max(width, 10)) ** 2 * n


def _deep_mlp(depth: int, width: int, activation: str) -> nn.Module:
    """A DeepMLP with uninitialised storage: every caller fills all its parameters."""
    with torch.device("meta"):
        model = build_model("DeepMLP", depth=depth, width=width, activation=activation)
    return model.to_empty(device="cpu")


def depth_sweep(depth: int, width: int, activation: str, schemes: Sequence[str], seed: int = 0,
                n: int = 128) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Activation std after every Linear layer of a DeepMLP, per scheme, with the predicted trend.

    All schemes see the same probe batch (`probe_batch(model, n, seed)`, iid N(0, 1)) and
    draw their weights from the same seed; biases are 0 in every scheme. Returns (rows,
    lsuv_logs): one row per (scheme, Linear layer) with ``scheme``, ``layer`` ("fc3"),
    ``index`` (1-based), ``std`` (measured over every entry of the layer's output, finite
    entries only), ``predicted_std`` (mean-field recursion, `predicted_std_trend`; NaN for
    LSUV, which has no formula, and where the recursion does not apply), ``nonfinite``
    (entries that overflowed to ±inf or NaN) and ``zero_fraction``; and LSUV's per-layer log.
    """
    depth = _check_whole("depth", depth, 1, 100)
    width = _check_whole("width", width, 1, 4096)
    n = _check_whole("n", n, 1, 4096)
    seed = _check_whole("seed", seed, 0, 2**63 - 1)
    unknown = [s for s in schemes if s not in DEPTH_SCHEMES]
    if unknown:
        raise ValueError(f"unknown depth-lab scheme(s) {unknown}; choose from {', '.join(DEPTH_SCHEMES)}")
    frames, logs = [], {}
    for scheme in schemes:
        model = _deep_mlp(depth, width, activation)
        x = probe_batch(model, n, seed)
        if DEPTH_SCHEMES[scheme].weight is None:
            logs[scheme] = lsuv(model, x, tol=0.01, max_iters=10, seed=seed)
            predicted = [math.nan] * depth
        else:
            plan = depth_plan(scheme)
            apply_plan(model, plan, seed)
            predicted = predicted_std_trend(model, plan)["predicted_std"].tolist()
        stats = activation_stats(model, x, bins=1)
        lin = stats[stats["type"] == "Linear"].reset_index(drop=True)
        frames.append(pd.DataFrame({
            "scheme": scheme,
            "layer": [name.split(".")[-1] for name in lin["layer"]],
            "index": range(1, len(lin) + 1),
            "std": lin["std"].astype(float),
            "predicted_std": predicted,
            "nonfinite": lin["nonfinite"].astype(int),
            "zero_fraction": lin["zero_fraction"].astype(float),
        }))
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["scheme", "layer", "index", "std", "predicted_std", "nonfinite", "zero_fraction"])
    return rows, logs


def depth_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per scheme: std at fc1 and at the last hidden layer, their ratio and the per-layer factor.

    The last hidden layer is fc(depth-1) (the last layer maps to the 10 classes); with depth
    1 or 2 there is none past fc1, and the columns compare fc1 with the last layer. The
    per-layer factor is ratio^(1/(k-1)) for the k-th layer, measured and predicted; ``note``
    says where the signal overflowed to inf or became exactly 0 (float32 underflow).
    """
    out = []
    for scheme, g in rows.groupby("scheme", sort=False):
        g = g.sort_values("index")
        depth = len(g)
        k = depth - 1 if depth >= 3 else depth
        first, last = g.iloc[0], g.iloc[k - 1]
        ratio = last["std"] / first["std"] if first["std"] > 0 else math.nan
        pred_ratio = (last["predicted_std"] / first["predicted_std"]
                      if first["predicted_std"] and first["predicted_std"] > 0 else math.nan)
        per = ratio ** (1 / (k - 1)) if k > 1 and ratio > 0 and math.isfinite(ratio) else math.nan
        pred_per = pred_ratio ** (1 / (k - 1)) if k > 1 and pred_ratio > 0 and math.isfinite(pred_ratio) else math.nan
        note = ""
        bad = g[g["nonfinite"] > 0]
        zero = g[(g["std"] == 0) & (g["zero_fraction"] == 1.0)]
        if len(bad):
            note = f"overflowed to ±inf from {bad.iloc[0]['layer']} on"
            if not math.isfinite(ratio) or g.iloc[k - 1]["nonfinite"] > 0:
                ratio = per = math.inf
        elif len(zero):
            where = zero.iloc[0]["layer"]
            note = ("every output is exactly 0 (zero weights)" if where == "fc1" and scheme == "Zeros"
                    else f"every output exactly 0 from {where} on (below float32's smallest number, 1.4e-45)")
        out.append({"scheme": scheme, "first": first["layer"], "std_first": first["std"], "last": last["layer"],
                    "std_last": last["std"], "ratio": ratio, "per_layer": per, "predicted_ratio": pred_ratio,
                    "predicted_per_layer": pred_per, "note": note})
    return pd.DataFrame(out, columns=["scheme", "first", "std_first", "last", "std_last", "ratio", "per_layer",
                                      "predicted_ratio", "predicted_per_layer", "note"])


def _distinct(t: torch.Tensor, dim: int) -> int:
    """How many different slices along `dim` (exact equality): 1 means all units identical."""
    return int(torch.unique(t.detach(), dim=dim).shape[dim])


def symmetry_table(depth: int, width: int, activation: str, scheme: str, seed: int = 0, n: int = 64,
                   train_steps: int = 20) -> pd.DataFrame:
    """Distinct hidden units per Linear layer: outputs on the probe batch, gradient rows, after SGD.

    One row per hidden Linear layer (fc1 .. fc(depth-1)): ``units``, ``distinct_outputs``
    (different columns of the layer's (n, units) output), ``distinct_grad_rows`` (different
    rows of dloss/dW for cross-entropy on probe_targets) and ``distinct_after_training``
    (different rows of W after `train_steps` SGD steps of 32 on random N(0, 1) inputs with
    labels 0..9, lr 0.05). A constant init gives 1 everywhere: every unit computes the same
    function and gets the same update, so symmetry is never broken.
    """
    depth = _check_whole("depth", depth, 2, 100)
    width = _check_whole("width", width, 1, 4096)
    train_steps = _check_whole("train_steps", train_steps, 0, 1000)
    model = _deep_mlp(depth, width, activation)
    x, y = probe_batch(model, n, seed), probe_targets(model, n, seed)
    if scheme not in DEPTH_SCHEMES:
        raise ValueError(f"unknown depth-lab scheme {scheme!r}; choose one of {', '.join(DEPTH_SCHEMES)}")
    if DEPTH_SCHEMES[scheme].weight is None:
        lsuv(model, x, tol=0.01, seed=seed)
    else:
        apply_plan(model, depth_plan(scheme), seed)
    hidden = [m for name, m in model.layers.named_children() if isinstance(m, nn.Linear)][:-1]
    outs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, a, o: outs.append(o.detach())) for m in hidden]
    try:
        with torch.enable_grad():
            loss = F.cross_entropy(model(x), y)
            grads = torch.autograd.grad(loss, [m.weight for m in hidden])
    finally:
        for h in hooks:
            h.remove()
    rows = [{"layer": f"fc{i}", "units": m.out_features, "distinct_outputs": _distinct(o, 1),
             "distinct_grad_rows": _distinct(g, 0)} for i, (m, o, g) in enumerate(zip(hidden, outs, grads), start=1)]
    if train_steps:
        g = torch.Generator().manual_seed(seed)
        images = torch.randn(256, model.input_shape[0], generator=g)
        labels = torch.arange(256) % model.num_classes
        train(model, images, labels, steps=train_steps, batch_size=32, lr=0.05, seed=seed)
    for row, m in zip(rows, hidden):
        row["distinct_after_training"] = _distinct(m.weight, 0) if train_steps else math.nan
    return pd.DataFrame(rows, columns=["layer", "units", "distinct_outputs", "distinct_grad_rows",
                                       "distinct_after_training"])


# ============================================================== signal flow (any model)


@dataclass(frozen=True)
class SignalFlow:
    """What one configuration does to the probe batch; plain data only (cacheable, picklable).

    ``activations``: one row per leaf-module call in forward order: ``index`` (1-based),
    ``layer``, ``type``, ``shape``, ``mean``, ``std``, ``rms``, ``min``, ``max``,
    ``zero_fraction``, ``dead_units`` (after a ReLU: the fraction of units, i.e. channels
    of a conv output or features of a Linear one, that are 0 for every example and
    position in the batch; NaN elsewhere), ``nonfinite``, ``constant``.
    ``heat_std``: per row, the fraction of the layer's finite outputs in each bin of
    ``std_edges`` (values divided by that layer's own std); ``std_outside`` the fraction
    beyond them. ``heat_raw`` / ``raw_edges``: the same on one value axis shared by all
    layers. ``gradients``: gradient_stats' table. ``predicted``: predicted_std_trend's table
    aligned to the Linear rows (None where it does not apply; ``predicted_note`` says why).
    """

    model_name: str
    seed: int
    n: int
    input_std: float
    activations: pd.DataFrame
    std_edges: list[float]
    heat_std: list[list[float]]
    std_outside: list[float]
    raw_edges: list[float]
    heat_raw: list[list[float]]
    gradients: pd.DataFrame
    loss: float
    predicted: pd.DataFrame | None
    predicted_note: str
    num_classes: int = 10
    notes: list[str] = field(default_factory=list)

    @property
    def logits_std(self) -> float:
        return float(self.activations["std"].iloc[-1])

    @property
    def logits_nonfinite(self) -> int:
        return int(self.activations["nonfinite"].iloc[-1])

    @property
    def chance_loss(self) -> float:
        return math.log(self.num_classes)


STD_RANGE = 6.0  # the std-unit heatmap spans ±6 of each layer's std
STD_BINS = 48
RAW_BINS = 48


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name or "(model)", m) for name, m in model.named_modules() if next(m.children(), None) is None]


def _capture(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Every leaf module's output tensor, in call order (as activation_stats sees them)."""
    seen: list[tuple[str, torch.Tensor]] = []

    def hook_for(name: str):
        def hook(module, args, output):
            if isinstance(output, torch.Tensor) and output.is_floating_point():
                seen.append((name, output.detach()))
        return hook

    handles = [m.register_forward_hook(hook_for(name)) for name, m in _leaves(model)]
    was = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        for m, t in was.items():
            m.train(t)
    return seen


def _fractions(values: torch.Tensor, lo: float, hi: float, bins: int) -> tuple[list[float], float]:
    """Fraction of `values` (finite, flat) in each of `bins` bins over [lo, hi], and beyond them."""
    total = values.numel()
    if total == 0 or not hi > lo:
        return [0.0] * bins, 0.0
    v = values.double()
    inside = v[(v >= lo) & (v <= hi)]
    counts = torch.histc(inside, bins=bins, min=lo, max=hi)
    return (counts / total).tolist(), 1.0 - inside.numel() / total


def _dead_units(t: torch.Tensor) -> float:
    """Fraction of units (dim 1: channels or features) that are 0 for every example and position."""
    if t.dim() < 2:
        return float((t == 0).all())
    alive = (t != 0).transpose(0, 1).reshape(t.shape[1], -1).any(dim=1)
    return float((~alive).double().mean())


def signal_flow(model_name: str, plan: Mapping[str, Any], seed: int = 0, n: int = 64,
                options: Mapping[str, Any] | None = None) -> SignalFlow:
    """Build `model_name` (constructor init from `seed`), apply `plan`, and probe it.

    The probe batch is `probe_batch(model, n, seed)` (iid N(0, 1)) and the labels
    `probe_targets(model, n, seed)`; the loss is their mean cross-entropy, ln(classes)
    for logits that say nothing. Raises PlanError / ValueError for a plan or options that
    do not fit.
    """
    options = dict(options or {})
    n = _check_whole("n", n, 1, 4096)
    model = build_model(model_name, seed=seed, **options)
    plan = InitPlan.from_dict(plan)
    apply_plan(model, plan, seed)
    x, y = probe_batch(model, n, seed), probe_targets(model, n, seed)
    acts = activation_stats(model, x, bins=1).drop(columns=["counts", "edges"])
    outs = _capture(model, x)
    if [name for name, _ in outs] != acts["layer"].tolist():  # both walk the same leaves in call order
        raise RuntimeError("the probe pass and the histogram pass saw different layers")
    acts = acts.rename(columns={"depth": "index"})
    finite = [t[torch.isfinite(t)].reshape(-1) for _, t in outs]
    lo = min((float(f.min()) for f in finite if f.numel()), default=-1.0)
    hi = max((float(f.max()) for f in finite if f.numel()), default=1.0)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    half = STD_RANGE + STD_RANGE / STD_BINS / 2  # bins centred on 0 (where a ReLU's zeros pile up)
    std_edges = np.linspace(-half, half, STD_BINS + 2).tolist()
    raw_edges = np.linspace(lo, hi, RAW_BINS + 1).tolist()
    heat_std, outside, heat_raw, dead = [], [], [], []
    for (_, t), f, (_, row) in zip(outs, finite, acts.iterrows()):
        s = row["std"]
        if s > 0 and math.isfinite(s) and f.numel():
            fr, out = _fractions(f.double() / s, std_edges[0], std_edges[-1], len(std_edges) - 1)
        else:  # a constant output has no spread to measure values in
            fr, out = [math.nan] * (len(std_edges) - 1), math.nan
        heat_std.append(fr)
        outside.append(out)
        heat_raw.append(_fractions(f, lo, hi, RAW_BINS)[0])
        dead.append(_dead_units(t) if row["type"] in RELU_TYPES else math.nan)
    acts["dead_units"] = dead
    grads = gradient_stats(model, x, y)
    predicted, note = None, ""
    try:
        trend = predicted_std_trend(model, plan)
        predicted = trend
        if trend["note"].astype(bool).any():
            note = trend.loc[trend["note"].astype(bool), "note"].iloc[0]
    except ValueError as e:
        note = (f"No predicted trend for {model_name}: the variance recursion is for plain chains of Linear "
                f"layers and activations like DeepMLP ({e}).")
    return SignalFlow(model_name, int(seed), n, float(acts.attrs.get("input_std", 1.0)), acts, std_edges, heat_std,
                      outside, raw_edges, heat_raw, grads, float(grads.attrs["loss"]), predicted, note,
                      int(getattr(model, "num_classes", 10)))


def compare_activations(a: SignalFlow, b: SignalFlow) -> pd.DataFrame:
    """Per layer output: std under A and B and their ratio B/A (NaN where A's std is 0)."""
    left = a.activations[["index", "layer", "type", "std"]].rename(columns={"std": "std_a"})
    right = b.activations[["index", "layer", "std"]].rename(columns={"std": "std_b"})
    df = left.merge(right, on=["index", "layer"], how="left")  # same model: same layers, forward order kept
    df["ratio"] = [sb / sa if sa > 0 else math.nan for sa, sb in zip(df["std_a"], df["std_b"])]
    return df


def compare_gradients(a: SignalFlow, b: SignalFlow) -> pd.DataFrame:
    """Per parameter: gradient norm under A and B and their ratio B/A."""
    left = a.gradients[["name", "grad_norm", "weight_std"]].rename(columns={"grad_norm": "grad_a", "weight_std": "weight_std_a"})
    right = b.gradients[["name", "grad_norm", "weight_std"]].rename(columns={"grad_norm": "grad_b", "weight_std": "weight_std_b"})
    df = left.merge(right, on="name", how="left")  # same model: same parameters, named_parameters order kept
    df["grad_ratio"] = [gb / ga if ga > 0 else math.nan for ga, gb in zip(df["grad_a"], df["grad_b"])]
    df["weight_std_ratio"] = [sb / sa if sa > 0 else math.nan for sa, sb in zip(df["weight_std_a"], df["weight_std_b"])]
    return df


def density(h: Histogram) -> tuple[list[float], list[float]]:
    """(edges, density) of a histogram: count / (finite values · bin width), so it integrates to 1.

    Densities of histograms with different bin widths can be overlaid; raw counts cannot.
    """
    finite, width = h.summary.finite, h.width
    if finite == 0 or not width > 0:
        return list(h.edges), [0.0] * len(h.counts)
    return list(h.edges), [c / (finite * width) for c in h.counts]


# ============================================================== training (SimpleCNN)


TRAIN_DEFAULTS = {"steps": 200, "batch_size": 64, "lr": 0.002, "n_train": 4000, "n_test": 1000, "noise": 1.0}


@dataclass(frozen=True)
class TrainRun:
    """One finished (or stopped) run: per-step log, held-out results, conv1 after training."""

    log: pd.DataFrame  # step, loss, accuracy, running_accuracy
    stop_reason: str  # "completed", "stopped", "non-finite loss"
    seconds: float
    test_accuracy: float
    test_loss: float
    init_test_accuracy: float
    conv1: np.ndarray | None  # layer1.conv1.weight after training (32, 3, 3, 3), for the filter grid
    conv1_init: np.ndarray | None = None  # the same weight before training

    @property
    def steps_done(self) -> int:
        return len(self.log)

    @property
    def conv1_change(self) -> float:
        """How far training moved conv1: ||w_after - w_init|| / ||w_init|| (NaN without conv1 or for a zero init)."""
        if self.conv1 is None or self.conv1_init is None:
            return math.nan
        norm = float(np.linalg.norm(self.conv1_init.astype(np.float64)))
        diff = float(np.linalg.norm(self.conv1.astype(np.float64) - self.conv1_init))
        return diff / norm if norm > 0 else math.nan


def train_data(n_train: int, n_test: int, noise: float, seed: int = 0):
    """The training and held-out sets: make_dataset(seed) and make_dataset(seed + 1)."""
    return make_dataset(n_train, seed=seed, noise=noise), make_dataset(n_test, seed=seed + 1, noise=noise)


def train_run(plan: Mapping[str, Any], seed: int = 0, steps: int = 200, batch_size: int = 64, lr: float = 0.002,
              data=None, callback: Callable[[int, float, float], None] | None = None,
              should_stop: Callable[[], bool] | None = None, model_name: str = "SimpleCNN") -> TrainRun:
    """Build SimpleCNN (constructor init from `seed`), apply `plan`, train with pinit.train, evaluate.

    `data` is ((images, labels), (test_images, test_labels)), default `train_data(4000,
    1000, 1.0)`; the data order comes from `seed` (pinit.train), so every plan sees the
    same batches. A non-finite loss ends the run (stop_reason "non-finite loss"); the
    held-out accuracy is then measured on the weights as they were before the step that
    would have written NaN.
    """
    (images, labels), (test_images, test_labels) = data if data is not None else train_data(
        TRAIN_DEFAULTS["n_train"], TRAIN_DEFAULTS["n_test"], TRAIN_DEFAULTS["noise"])
    model = build_model(model_name, seed=seed)
    apply_plan(model, plan, seed)
    init = evaluate(model, test_images, test_labels)
    conv = first_rgb_conv(model)
    conv1_init = dict(model.named_parameters())[conv].detach().numpy().copy() if conv else None
    start = time.perf_counter()
    log = train(model, images, labels, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                callback=callback, should_stop=should_stop)
    seconds = time.perf_counter() - start
    result = evaluate(model, test_images, test_labels)
    conv1 = dict(model.named_parameters())[conv].detach().numpy().copy() if conv else None
    return TrainRun(log, log.attrs["stop_reason"], seconds, result["accuracy"], result["loss"], init["accuracy"], conv1,
                    conv1_init)


# ============================================================== weights as pictures


MAX_HEATMAP = 128


def first_rgb_conv(model: nn.Module) -> str | None:
    """The name of the first Conv2d weight that reads 3 input channels (the RGB filters), or None."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and m.in_channels == 3 and m.groups == 1:
            return f"{name}.weight"
    return None


def filter_grid(weight: np.ndarray | torch.Tensor, normalize: str = "filter", cols: int = 8, pad: int = 1,
                zoom: int = 1) -> tuple[np.ndarray, list[float]]:
    """Tile RGB conv filters (out, 3, kh, kw) into one uint8 image (H, W, 3); 0 is mid-grey.

    normalize "filter": each filter divided by its own largest |w| (shapes comparable,
    sizes not); "global": all divided by the largest |w| of the whole tensor (sizes
    comparable). Either way w = 0 maps to grey 128, +max to 255 and -max to 0 in each
    channel. NaN/Inf entries are drawn as magenta. A white `pad` separates filters.
    Returns (image, scales): the |w| that maps to full brightness, per filter.
    """
    if normalize not in ("filter", "global"):
        raise ValueError(f"normalize must be 'filter' or 'global', got {normalize!r}")
    w = torch.as_tensor(np.asarray(weight, dtype=np.float64) if not isinstance(weight, torch.Tensor) else weight)
    w = w.detach().double()
    if w.dim() != 4 or w.shape[1] != 3:
        raise ValueError(f"filter_grid needs RGB conv filters of shape (out, 3, kh, kw), got {tuple(w.shape)}")
    bad = ~torch.isfinite(w)
    w = torch.where(bad, torch.zeros_like(w), w)
    out, _, kh, kw = w.shape
    per = w.abs().flatten(1).amax(dim=1)
    scales = per if normalize == "filter" else torch.full_like(per, float(per.max()) if out else 0.0)
    safe = torch.where(scales > 0, scales, torch.ones_like(scales))
    img = (w / safe[:, None, None, None] * 127.5 + 127.5).clamp(0, 255).round()
    pixel_bad = bad.any(dim=1, keepdim=True).expand_as(img)  # a pixel with any non-finite channel
    img = torch.where(pixel_bad, torch.tensor([255.0, 0.0, 255.0], dtype=torch.float64)[None, :, None, None].expand_as(img), img)
    cols = max(1, min(cols, out))
    rows = math.ceil(out / cols)
    ch, cw = kh * zoom, kw * zoom
    grid = np.full((rows * (ch + pad) + pad, cols * (cw + pad) + pad, 3), 255, dtype=np.uint8)
    tiles = img.permute(0, 2, 3, 1).numpy().astype(np.uint8)  # (out, kh, kw, 3)
    for i in range(out):
        r, c = divmod(i, cols)
        tile = np.kron(tiles[i], np.ones((zoom, zoom, 1), dtype=np.uint8)) if zoom > 1 else tiles[i]
        y0, x0 = pad + r * (ch + pad), pad + c * (cw + pad)
        grid[y0:y0 + ch, x0:x0 + cw] = tile
    return grid, scales.tolist()


def weight_matrix(weight: torch.Tensor) -> torch.Tensor:
    """A weight as a (size(0), numel / size(0)) matrix: rows are output units, columns fan-in."""
    if weight.dim() < 2:
        raise ValueError(f"a weight matrix needs >= 2 dims, got shape {tuple(weight.shape)}")
    return weight.detach().reshape(weight.shape[0], -1)


def downsample(matrix: torch.Tensor | np.ndarray, max_size: int = MAX_HEATMAP, how: str = "mean"
               ) -> tuple[np.ndarray, tuple[float, float]]:
    """Average-pool a 2-D matrix to at most max_size x max_size; returns (array, block size).

    how "mean": each cell is the mean of its block (structure: eye, constant, row/column
    patterns; the mean of b iid weights has std sigma/sqrt(b), so the colours are not the
    weights' own scale). how "rms": sqrt(mean of squares) per block (the scale; NaN/Inf
    blocks stay NaN/Inf). Blocks are equal when the size divides, else adaptive pooling's
    near-equal blocks; the returned block size is rows/out_rows, cols/out_cols.
    """
    if how not in ("mean", "rms"):
        raise ValueError(f"how must be 'mean' or 'rms', got {how!r}")
    m = torch.as_tensor(np.asarray(matrix)) if not isinstance(matrix, torch.Tensor) else matrix
    m = m.detach().double()
    if m.dim() != 2:
        raise ValueError(f"downsample needs a 2-D matrix, got shape {tuple(m.shape)}")
    max_size = _check_whole("max_size", max_size, 1, 4096)
    r, c = m.shape
    out = (min(r, max_size), min(c, max_size))
    src = m * m if how == "rms" else m
    pooled = F.adaptive_avg_pool2d(src[None, None], out)[0, 0] if out != (r, c) else src
    if how == "rms":
        pooled = pooled.sqrt()
    return pooled.numpy(), (r / out[0], c / out[1])


def weight_pictures(model_name: str, plan: Mapping[str, Any], seed: int = 0, options: Mapping[str, Any] | None = None,
                    max_size: int = MAX_HEATMAP) -> dict[str, Any]:
    """Everything the weight pictures need, as plain values, for one configuration.

    Returns {"rgb_conv": name or None, "rgb_weight": (out, 3, kh, kw) array or None,
    "matrices": {name: {"shape", "block", "mean", "rms"}}} for every weight with >= 2
    dims, each downsampled to at most max_size x max_size (see `downsample`).
    """
    model = build_model(model_name, seed=seed, **dict(options or {}))
    apply_plan(model, plan, seed)
    params = dict(model.named_parameters())
    rgb = first_rgb_conv(model)
    mats = {}
    for name, p in params.items():
        if p.dim() < 2:
            continue
        m = weight_matrix(p)
        mean, block = downsample(m, max_size, "mean")
        rms, _ = downsample(m, max_size, "rms")
        mats[name] = {"shape": tuple(p.shape), "block": block, "mean": mean.astype(np.float32),
                      "rms": rms.astype(np.float32)}
    return {"rgb_conv": rgb, "rgb_weight": params[rgb].detach().numpy().copy() if rgb else None, "matrices": mats}
