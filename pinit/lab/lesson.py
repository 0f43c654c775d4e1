"""The lesson: from the seed article's recipe to a network that learns, as plain numbers.

Five experiments a teacher can project one after the other, each computed live from
the backend and over several seeds (a claim from one seed is one draw's noise):

1. `signal_trace("Article recipe")`: the RMS of SimpleCNN's signal after each Conv2d and
   Linear layer on the probe batch. N(0, 1) on fc1 (fan_in 2048) multiplies its input's
   RMS by about sqrt(2048) = 45 (E[y^2] = fan_in E[w^2] E[x^2]; LeCun et al. 1998), so the
   logits' std is ~1e4 and the loss at init ~2e4 against ln 10 = 2.3 for a network that
   knows nothing.
2. `signal_trace("Kaiming (He)")`: std sqrt(2 / fan_in) (He et al. 2015) keeps the signal level.
3. `depth_story()`: 30 ReLU layers of width 512, He against Xavier against PyTorch's
   default (biases included, as nn.Linear draws them), measured next to the mean-field
   prediction (`predicted_std_trend`), with the part of each layer's output that depends on
   the input (`input_dependence`): under PyTorch's default it falls below 1 % within about
   ten layers, and what remains of the output is bias noise, the same for every input.
4. `symmetry_story()`: a constant init leaves one distinct unit per layer, even after SGD.
5. `training_story()`: the presets trained side by side on the synthetic gratings, with the
   Train tab's settings (pinit.lab.train_config.TRAIN_CONFIG), once per seed.

`claims()` gathers every number the page shows into one table (step, claim, the text shown,
median, low, high, seeds): the page's text is made from its rows (`shown`), so what a teacher
reads out is what was measured. Steps 1-4 run over LESSON_SEEDS (20 seeds), training over
TRAIN_SEEDS (5); a number whose spread over the seeds exceeds 20 % of its median is shown
with its range, and every number with only the digits its spread supports (`spread_text`).

Everything here is a pure function of constants, computed once per process and shared
(plain, frozen results): every student of a class asks for the same numbers. `start_warming()`
computes them all in a worker process, in the order a class meets them: the server's own
process (its GIL, its core) stays free for the students' clicks, and a caller that asks for a
story the worker is computing waits for that result instead of computing it again.
"""

from __future__ import annotations

import atexit
import functools
import math
import multiprocessing
import queue
import statistics
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd
import torch
from torch.nn import functional as F

from ..models import build_model
from ..plan import apply_plan
from ..presets import PRESETS
from ..text import number
from . import story_cache
from .depth import depth_summary, depth_sweep, symmetry_table
from .probes import activation_stats, probe_batch, probe_targets
from .signal import logits_verdict, loss_verdict
from .train_config import TRAIN_CONFIG, TrainConfig
from .training import TrainRun, train_data, train_run

__all__ = [
    "CLAIM_COLUMNS",
    "LESSON_SEEDS",
    "LESSON_TRAIN",
    "TRAIN_SEEDS",
    "DepthStory",
    "SignalTrace",
    "SymmetryStory",
    "TrainingStory",
    "claim",
    "claims",
    "depth_story",
    "logits_verdict",
    "loss_verdict",
    "ready",
    "signal_trace",
    "spread_text",
    "start_warming",
    "step_claims",
    "symmetry_counts",
    "symmetry_story",
    "training_story",
    "warm",
]

Fn = TypeVar("Fn", bound=Callable[..., Any])
_STOP = threading.Event()  # set when the process exits: a warm-up in progress stops at its next check


class Interrupted(RuntimeError):
    """A lesson computation stopped because the process is exiting (nothing is cached)."""


def _check_stop() -> None:
    if _STOP.is_set():
        raise Interrupted("the lesson's computation was stopped: the process is exiting")


# The stories the warm-up worker computes, keyed as the page calls them: (function name, arguments).
# Each gets an Event, set when its result (or None: compute it here) has arrived from the worker.
_FROM_WORKER: dict[tuple[str, tuple[Any, ...]], Any] = {}
_ARRIVED: dict[tuple[str, tuple[Any, ...]], threading.Event] = {}
_WORKER: list[Any] = []  # the worker process, once started


def _from_worker(key: tuple[str, tuple[Any, ...]]) -> Any:
    """The worker's result for `key`, waiting for it while the worker lives; None if it has none."""
    arrived = _ARRIVED.get(key)
    if arrived is None:
        return None
    while not arrived.wait(timeout=1.0):
        if not _WORKER or not _WORKER[0].is_alive():
            return None  # the worker died (or was stopped): the caller computes it
    return _FROM_WORKER.get(key)


def ready(name: str, args: tuple[Any, ...] = ()) -> Any:
    """The worker's result for story `name(*args)` if it has already arrived, else None: never waits, never computes.

    For a page that can use a story's values when they are there (the Train tab's runs) and
    computes its own otherwise."""
    arrived = _ARRIVED.get((name, args))
    return _FROM_WORKER.get((name, args)) if arrived is not None and arrived.is_set() else None


def computed_once(fn: Fn) -> Fn:
    """Cache `fn` by its arguments for the process; one caller computes while the others wait.

    When the warm-up worker (start_warming) was given this call, the result comes from it:
    the caller waits for the worker rather than computing the same story a second time. A
    result computed by this code before (pinit.lab.story_cache, on disk) is read, not recomputed.
    """
    results: dict[tuple[Any, ...], Any] = {}
    lock = threading.Lock()
    # The module is part of the disk key: two stories of the same name in different modules never meet.
    name = f"{fn.__module__}.{fn.__qualname__}".replace("<locals>.", "")

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        with lock:
            if args not in results:
                value = story_cache.load(name, args)
                if value is None:
                    value = _from_worker((fn.__name__, args))
                if value is None:
                    value = fn(*args)
                    story_cache.store(name, args, value)
                results[args] = value
            return results[args]

    def peek(*args: Any) -> Any:
        """The result if it is at hand (computed here, sent by the worker, or on disk), else None: never computes."""
        with lock:
            if args not in results:
                value = story_cache.load(name, args)
                if value is None and _ARRIVED.get((fn.__name__, args), threading.Event()).is_set():
                    value = _FROM_WORKER.get((fn.__name__, args))
                if value is None:
                    return None
                results[args] = value
            return results[args]

    wrapper.cache_clear = results.clear  # type: ignore[attr-defined]
    wrapper.peek = peek  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


LESSON_SEEDS = tuple(range(20))  # steps 1-4: cheap enough for 20 seeds
TRAIN_SEEDS = tuple(range(5))  # step 5: a training run per plan and seed
PROBE_N = 64

# The lesson trains with the Train tab's configuration, so a student who retrains there gets the same runs.
LESSON_TRAIN: TrainConfig = TRAIN_CONFIG
LESSON_TRAIN_PLANS = ("Kaiming (He)", "PyTorch default", "Article recipe")


def _median(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


@dataclass(frozen=True)
class SignalTrace:
    """One plan's signal through SimpleCNN: medians over `seeds`, with each seed's value kept.

    ``layers``: "input" then each Conv2d/Linear output ("conv1" .. "fc3"); ``rms``: the
    median over seeds of each one's RMS on the probe batch (iid N(0, 1) inputs, so the input's
    RMS is ~1); ``gains``: the median ratio of a layer's output RMS to its input's RMS (the
    signal entering it, after the previous ReLU and pooling). ``logits_std`` and ``loss`` are
    medians, ``*_by_seed`` the values per seed.
    """

    preset: str
    seeds: tuple[int, ...]
    layers: tuple[str, ...]
    rms: tuple[float, ...]
    rms_by_seed: tuple[tuple[float, ...], ...]
    gains: tuple[float, ...]
    gains_by_seed: tuple[tuple[float, ...], ...]
    logits_std: float
    logits_std_by_seed: tuple[float, ...]
    loss: float
    loss_by_seed: tuple[float, ...]
    num_classes: int = 10

    @property
    def chance_loss(self) -> float:
        """ln(classes): the loss of logits that say nothing (every class equally likely)."""
        return math.log(self.num_classes)

    def gain_of(self, layer: str) -> float:
        return self.gains[self.layers.index(layer)]

    def gain_by_seed(self, layer: str) -> tuple[float, ...]:
        """Each seed's gain of `layer` (its output's RMS over its input's)."""
        i = self.layers.index(layer)
        return tuple(g[i] for g in self.gains_by_seed)

    def step_by_seed(self, before: str, after: str) -> tuple[float, ...]:
        """Each seed's ratio of `after`'s output RMS to `before`'s: the step between two points of the chart."""
        i, j = self.layers.index(before), self.layers.index(after)
        return tuple(r[j] / r[i] if r[i] > 0 else math.nan for r in self.rms_by_seed)


def _one_trace(preset: str, seed: int) -> tuple[list[str], list[float], list[float], float, float]:
    model = build_model("SimpleCNN", seed=seed)
    apply_plan(model, PRESETS[preset].plan, seed)
    x, y = probe_batch(model, PROBE_N, seed), probe_targets(model, PROBE_N, seed)
    acts = activation_stats(model, x, bins=1)
    names, rms, gains = ["input"], [float(x.pow(2).mean().sqrt())], [math.nan]
    previous = rms[0]  # the RMS of what enters the next layer
    for layer_type, layer, layer_rms in zip(acts["type"], acts["layer"], acts["rms"]):
        if layer_type in ("Conv2d", "Linear"):
            names.append(str(layer).split(".")[-1])
            rms.append(float(layer_rms))
            gains.append(float(layer_rms) / previous if previous > 0 else math.nan)
        previous = float(layer_rms)
    with torch.no_grad():
        logits = model(x)
    loss = float(F.cross_entropy(logits, y))
    return names, rms, gains, float(logits.std()), loss


@computed_once
def signal_trace(preset: str, seeds: tuple[int, ...] = LESSON_SEEDS) -> SignalTrace:
    """SimpleCNN under a preset, probed once per seed (build, apply, probe batch of 64)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    runs = []
    for s in seeds:
        _check_stop()
        runs.append(_one_trace(preset, s))
    names = runs[0][0]
    rms_by_seed = tuple(tuple(r[1]) for r in runs)
    columns = list(zip(*rms_by_seed))
    gain_columns = list(zip(*(r[2] for r in runs)))
    return SignalTrace(
        preset=preset,
        seeds=tuple(seeds),
        layers=tuple(names),
        rms=tuple(_median(c) for c in columns),
        rms_by_seed=rms_by_seed,
        gains=tuple(_median(c) for c in gain_columns),
        gains_by_seed=tuple(tuple(r[2]) for r in runs),
        logits_std=_median([r[3] for r in runs]),
        logits_std_by_seed=tuple(r[3] for r in runs),
        loss=_median([r[4] for r in runs]),
        loss_by_seed=tuple(r[4] for r in runs),
    )


@dataclass(frozen=True)
class DepthStory:
    """He et al. 2015 on a DeepMLP: per scheme, the median over seeds of each layer's std.

    ``std[scheme]``: median over seeds of the std after fc1..fc(depth); ``predicted[scheme]``:
    the mean-field prediction (the same for every seed); ``per_layer[scheme]`` and
    ``ratio[scheme]``: medians over seeds of depth_summary's per-layer factor and last/first
    ratio, with ``per_layer_by_seed`` kept; ``predicted_per_layer`` the formula's factor.
    A per-layer factor describes a geometric curve only (He's, Xavier's); PyTorch's default
    falls for a few layers, then sits at its biases' noise. ``input_share[scheme]``: median
    over seeds of the part of each layer's output that depends on the input
    (`input_dependence`: mean over units of the std across inputs, over the RMS), with
    ``input_share_by_seed`` kept; ``input_std`` its numerator, median over seeds.
    """

    depth: int
    width: int
    activation: str
    seeds: tuple[int, ...]
    schemes: tuple[str, ...]
    std: dict[str, tuple[float, ...]]
    predicted: dict[str, tuple[float, ...]]
    per_layer: dict[str, float]
    per_layer_by_seed: dict[str, tuple[float, ...]]
    predicted_per_layer: dict[str, float]
    ratio: dict[str, float]
    predicted_ratio: dict[str, float]
    input_std: dict[str, tuple[float, ...]]
    input_share: dict[str, tuple[float, ...]]
    input_share_by_seed: dict[str, tuple[tuple[float, ...], ...]]
    std_by_seed: dict[str, tuple[tuple[float, ...], ...]]

    def signal_gone_at(self, scheme: str, below: float = 0.01) -> tuple[int, ...]:
        """Per seed, the first layer (1-based) whose input-dependent share is below `below` (depth + 1: none)."""
        return tuple(
            next((i for i, v in enumerate(shares, start=1) if v < below), self.depth + 1)
            for shares in self.input_share_by_seed[scheme]
        )


DEPTH_STORY_SCHEMES = ("Kaiming (He)", "Xavier (Glorot)", "PyTorch default")


@computed_once
def depth_story(
    depth: int = 30,
    width: int = 512,
    activation: str = "relu",
    schemes: tuple[str, ...] = DEPTH_STORY_SCHEMES,
    seeds: tuple[int, ...] = LESSON_SEEDS,
) -> DepthStory:
    """`depth_sweep` once per seed, summarized per scheme by medians over the seeds."""
    per_seed = []
    for seed in seeds:
        _check_stop()
        rows, _ = depth_sweep(depth, width, activation, list(schemes), seed, 128)
        per_seed.append((rows, depth_summary(rows).set_index("scheme")))
    std, predicted, per_layer, by_seed, pred_per, ratio, pred_ratio = {}, {}, {}, {}, {}, {}, {}
    input_std, share, share_by_seed, std_by_seed = {}, {}, {}, {}
    for scheme in schemes:

        def column(name: str, scheme: str = scheme) -> list[list[float]]:
            return [rows[rows["scheme"] == scheme][name].astype(float).tolist() for rows, _ in per_seed]

        curves = column("std")
        std[scheme] = tuple(_median(col) for col in zip(*curves))
        std_by_seed[scheme] = tuple(tuple(c) for c in curves)
        input_std[scheme] = tuple(_median(col) for col in zip(*column("input_std")))
        shares = column("input_share")
        share[scheme] = tuple(_median(col) for col in zip(*shares))
        share_by_seed[scheme] = tuple(tuple(c) for c in shares)
        first_rows = per_seed[0][0]
        predicted[scheme] = tuple(first_rows[first_rows["scheme"] == scheme]["predicted_std"].tolist())
        by_seed[scheme] = tuple(float(s["per_layer"].loc[scheme]) for _, s in per_seed)
        per_layer[scheme] = _median(by_seed[scheme])
        ratio[scheme] = _median([float(s["ratio"].loc[scheme]) for _, s in per_seed])
        pred_per[scheme] = float(per_seed[0][1]["predicted_per_layer"].loc[scheme])
        pred_ratio[scheme] = float(per_seed[0][1]["predicted_ratio"].loc[scheme])
    return DepthStory(
        depth,
        width,
        activation,
        tuple(seeds),
        tuple(schemes),
        std,
        predicted,
        per_layer,
        by_seed,
        pred_per,
        ratio,
        pred_ratio,
        input_std,
        share,
        share_by_seed,
        std_by_seed,
    )


@dataclass(frozen=True)
class SymmetryStory:
    """Distinct units per hidden layer of a DeepMLP, at init and after SGD, per scheme."""

    depth: int
    width: int
    activation: str
    steps: int
    schemes: tuple[str, ...]
    layers: tuple[str, ...]
    distinct_at_init: dict[str, tuple[int, ...]]
    distinct_after: dict[str, tuple[int, ...]]


SYMMETRY_STORY_SCHEMES = ("Zeros", "Constant 0.05", "Xavier (Glorot)")


@computed_once
def symmetry_story(
    depth: int = 5,
    width: int = 64,
    activation: str = "tanh",
    steps: int = 20,
    schemes: tuple[str, ...] = SYMMETRY_STORY_SCHEMES,
    seed: int = 0,
) -> SymmetryStory:
    """`symmetry_table` per scheme: exact equality, so one seed shows it (any seed gives the same counts)."""
    init, after, layers = {}, {}, ()
    for scheme in schemes:
        t = symmetry_table(depth, width, activation, scheme, seed, 64, steps)
        layers = tuple(t["layer"])
        init[scheme] = tuple(int(v) for v in t["distinct_outputs"])
        after[scheme] = tuple(int(v) for v in t["distinct_after_training"])
    return SymmetryStory(depth, width, activation, steps, tuple(schemes), layers, init, after)


@computed_once
def symmetry_counts(seeds: tuple[int, ...] = LESSON_SEEDS) -> dict[str, tuple[int, ...]]:
    """Per scheme of the symmetry story, each seed's fewest distinct units in any hidden layer after SGD."""
    out: dict[str, list[int]] = {scheme: [] for scheme in SYMMETRY_STORY_SCHEMES}
    for seed in seeds:
        _check_stop()
        for scheme in SYMMETRY_STORY_SCHEMES:
            t = symmetry_table(5, 64, "tanh", scheme, seed, 64, 20)
            out[scheme].append(int(t["distinct_after_training"].min()))
    return {scheme: tuple(v) for scheme, v in out.items()}


@dataclass(frozen=True)
class TrainingStory:
    """The lesson's presets trained on the same data (LESSON_TRAIN), once per seed of `seeds`.

    ``runs``: the first seed's runs (the chart draws them); ``runs_by_seed[plan]``: every seed's
    run, in the order of ``seeds`` (the numbers on the page are over all of them).
    """

    settings: TrainConfig
    runs: dict[str, TrainRun]
    seconds: float
    seeds: tuple[int, ...] = (0,)
    runs_by_seed: dict[str, tuple[TrainRun, ...]] = field(default_factory=dict)


@computed_once
def training_story(plans: tuple[str, ...] = LESSON_TRAIN_PLANS, seeds: tuple[int, ...] = TRAIN_SEEDS) -> TrainingStory:
    """Train SimpleCNN from each preset with LESSON_TRAIN's settings, once per seed (init and data order)."""
    c = LESSON_TRAIN
    data = train_data(c.n_train, c.n_test, c.noise)
    by_seed: dict[str, list[TrainRun]] = {name: [] for name in plans}
    for seed in seeds:
        for name in plans:
            run = train_run(PRESETS[name].plan, seed, c.steps, c.batch_size, c.lr, data, should_stop=_STOP.is_set)
            if run.stop_reason == "stopped":
                raise Interrupted("the lesson's training was stopped: the process is exiting")
            by_seed[name].append(run)
    runs = {name: by_seed[name][0] for name in plans}
    seconds = sum(r.seconds for v in by_seed.values() for r in v)
    return TrainingStory(c, runs, seconds, tuple(seeds), {name: tuple(v) for name, v in by_seed.items()})


# --- claims: every number the page shows, with its spread over the seeds ------------------------

CLAIM_COLUMNS = ["step", "claim", "shown", "median", "low", "high", "seeds"]
WIDE = 0.2  # a spread (high - low) above this share of the median is shown as a range


def _step_for(median: float, low: float, high: float) -> float:
    """The rounding step the spread supports: the decimal place of (high - low)'s leading digit,
    but at least two significant digits (one digit would round 14,700 to 10,000), at most 4
    significant digits, unless rounding to them would leave [low, high]: then finer, until it does not."""
    width = high - low
    scale = abs(median) if median else max(abs(low), abs(high), 1e-300)
    magnitude = math.floor(math.log10(scale))
    floor_step = 10.0 ** (magnitude - 3)  # 4 significant digits at most
    step = 10.0 ** math.floor(math.log10(width)) if width > 0 else floor_step
    step = max(min(step, 10.0 ** (magnitude - 1)), floor_step)
    # Finer where the rounded median would leave [low, high]: then the seeds agree to more digits than 4.
    while step > 1e-12 * scale and not low <= round(median / step) * step <= high:
        step /= 10
    return step


def _number(value: float, step: float) -> str:
    """`value` rounded to `step`, written by pinit.text.number (thousands separators, 5.9×10⁻⁵ for
    tiny numbers, never e-notation) with the significant digits that step leaves."""
    rounded = round(value / step) * step
    if rounded == 0 or not math.isfinite(rounded):
        return number(rounded)
    digits = math.floor(math.log10(abs(rounded))) - round(math.log10(step)) + 1
    return number(rounded, max(1, digits))


def _two_digits(value: float, direction: int = 0) -> str:
    """A range's end in two significant digits: rounded down (`direction` -1) for its low end and up
    (+1) for its high end, so that the range shown holds every seed's value."""
    if value == 0 or not math.isfinite(value):
        return number(value)
    step = 10.0 ** (math.floor(math.log10(abs(value))) - 1)
    q = value / step
    q = math.floor(q + 1e-9) if direction < 0 else math.ceil(q - 1e-9) if direction > 0 else round(q)
    return _number(q * step, step) if q else number(0)


def spread_text(values: Sequence[float], unit: str = "", prefix: str = "") -> str:
    """How the page shows a number measured once per seed: the median, with only the digits the
    spread over the seeds supports, and its range when that spread exceeds WIDE of the median:
    "11,000 (6,100–19,000 over 20 seeds)". The range's ends are rounded outwards, so every seed
    lies inside it. `prefix` ("×") and `unit` (" %") go around each number; every number is
    written by pinit.text.number (so 5.9×10⁻⁵, never 5.9e-5).
    """
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return "not finite"
    median, low, high = statistics.median(finite), min(finite), max(finite)
    if low == high:  # the same on every seed: the number itself
        text = f"{prefix}{number(low, 4)}{unit}"
    else:
        text = f"{prefix}{_number(median, _step_for(median, low, high))}{unit}"
    if median and (high - low) > WIDE * abs(median):
        text += f" ({prefix}{_two_digits(low, -1)}–{prefix}{_two_digits(high, +1)}{unit} over {len(finite)} seeds)"
    if len(finite) < len(values):
        text += f" ({len(values) - len(finite)} of {len(values)} seeds not finite)"
    return text


def _row(
    step: int, claim: str, values: Sequence[float], shown: str | None = None, seeds: int = 0, **fmt: str
) -> dict[str, Any]:
    """One claim: its text and the median, low and high of its values over `seeds` (default: one value a seed)."""
    finite = [float(v) for v in values if math.isfinite(v)]
    return {
        "step": step,
        "claim": claim,
        "shown": spread_text(values, **fmt) if shown is None else shown,
        "median": statistics.median(finite) if finite else math.nan,
        "low": min(finite) if finite else math.nan,
        "high": max(finite) if finite else math.nan,
        "seeds": seeds or len(values),
    }


def _accuracy_text(percents: Sequence[float]) -> str:
    """Held-out accuracy over the seeds, in words that hold on every seed."""
    low, high, n = min(percents), max(percents), len(percents)
    if round(low) == round(high):
        return f"{round(low):.0f} % on {n} of {n} seeds"
    return f"{round(low):.0f}–{round(high):.0f} % over {n} seeds"


def _overflow_text(steps: Sequence[float], n: int) -> str:
    """When the loss overflowed, over the seeds (a seed that never overflowed is counted, not hidden)."""
    if not steps:
        return f"no overflow on {n} seeds"
    low, high = int(min(steps)), int(max(steps))
    at = f"step {low}" if low == high else f"steps {low}–{high}"
    return f"at {at}" + (f" on {n} of {n} seeds" if len(steps) == n else f" on {len(steps)} of {n} seeds")


LESSON_STEPS_WITH_NUMBERS = (1, 2, 3, 4, 5)


@computed_once
def claims() -> pd.DataFrame:
    """Every number the lesson shows, one row each: ``step``, ``claim`` (a short id), ``shown``
    (the text on the page), ``median``, ``low``, ``high`` (over the seeds, in the unit shown)
    and ``seeds`` (how many). The page's numbers are these rows' ``shown``.
    """
    return pd.concat([step_claims(step) for step in LESSON_STEPS_WITH_NUMBERS], ignore_index=True)


@computed_once
def step_claims(step: int) -> pd.DataFrame:
    """The rows of `claims()` for one lesson step: computed from that step's stories only, so the
    first steps are on screen while the training runs of step 5 are still going."""
    rows: list[dict[str, Any]] = []
    ln10 = math.log(10)
    if step in (1, 2):
        t, name = (
            (signal_trace("Article recipe"), "article") if step == 1 else (signal_trace("Kaiming (He)"), "Kaiming")
        )
        rows.append(_row(step, f"fc1 gain, {name}", t.gain_by_seed("fc1"), prefix="×"))
        rows.append(_row(step, f"fc2 over fc1, {name}", t.step_by_seed("fc1", "fc2"), prefix="×"))
        rows.append(_row(step, f"fc2 gain, {name}", t.gain_by_seed("fc2"), prefix="×"))
        rows.append(_row(step, f"logits std, {name}", t.logits_std_by_seed))
        rows.append(_row(step, f"loss at init, {name}", t.loss_by_seed))
        rows.append(_row(step, f"loss over ln 10, {name}", [v / ln10 for v in t.loss_by_seed], prefix="×"))
    if step == 3:
        rows += _depth_rows()
    if step == 4:
        for scheme, distinct in symmetry_counts().items():
            rows.append(_row(4, f"distinct units, {scheme}", distinct, shown=f"{spread_text(distinct)} of 64"))
    if step == 5:
        rows += _training_rows()
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _depth_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    d = depth_story()
    for scheme in ("Kaiming (He)", "Xavier (Glorot)"):
        rows.append(_row(3, f"per layer, {scheme}", d.per_layer_by_seed[scheme], prefix="×"))
        rows.append(_row(3, f"last over first, {scheme}", [c[-2] / c[0] for c in d.std_by_seed[scheme]]))
    default = "PyTorch default"
    gone = d.signal_gone_at(default)
    rows.append(_row(3, "signal below 1 %, PyTorch default", gone, prefix="fc"))
    rows.append(
        _row(3, "input share at fc5, PyTorch default", [100 * c[4] for c in d.input_share_by_seed[default]], unit=" %")
    )
    rows.append(_row(3, "input share at last hidden, PyTorch default", [c[-2] for c in d.input_share_by_seed[default]]))
    rows.append(_row(3, "std at last hidden, PyTorch default", [c[-2] for c in d.std_by_seed[default]]))
    rows.append(
        _row(
            3,
            "std fc1 to fc5 per layer, PyTorch default",
            [(c[4] / c[0]) ** 0.25 for c in d.std_by_seed[default]],
            prefix="×",
        )
    )
    return rows


def _training_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    story = training_story()
    n = len(story.seeds)
    for plan, runs in story.runs_by_seed.items():
        done = [r for r in runs if r.stop_reason != "non-finite loss"]
        if done:
            acc = [100 * r.test_accuracy for r in done]
            text = (
                _accuracy_text(acc)
                if len(done) == n
                else f"{_accuracy_text(acc).split(' on ')[0].split(' over ')[0]} on the {len(done)} of {n} seeds "
                "that did not overflow"
            )
            rows.append(_row(5, f"held-out accuracy, {plan}", acc, shown=text, seeds=n))
        over = [float(r.steps_done) for r in runs if r.stop_reason == "non-finite loss"]
        if over:
            rows.append(_row(5, f"overflow step, {plan}", over, shown=_overflow_text(over, n), seeds=n))
    return rows


# step -> (its step_claims table, claim -> shown): a dict lookup per claim, not a DataFrame filter (a
# millisecond each, a dozen per step, on every run of every follower's page when a class moves).
_SHOWN: dict[int, tuple[pd.DataFrame, dict[str, str]]] = {}


def claim(name: str) -> str:
    """The text the page shows for claim `name` (a row of `claims()`), looked up step by step so
    that an early step's number never waits for a later step's stories."""
    for step in LESSON_STEPS_WITH_NUMBERS:
        table = step_claims(step)
        kept = _SHOWN.get(step)
        if kept is None or kept[0] is not table:  # new, or step_claims' cache was cleared
            shown: dict[str, str] = {}
            for c, s in zip(table["claim"], table["shown"]):
                shown.setdefault(str(c), str(s))  # the first row of a name, as before
            kept = _SHOWN[step] = (table, shown)
        if name in kept[1]:
            return kept[1][name]
    raise ValueError(f"no claim {name!r}; claims: {', '.join(claims()['claim'])}")


# What the worker computes, in the order a class meets it (the page calls these exact shapes).
STORIES: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("signal_trace", ("Article recipe",)),
    ("step_claims", (1,)),
    ("signal_trace", ("Kaiming (He)",)),
    ("step_claims", (2,)),
    ("depth_story", ()),
    ("step_claims", (3,)),
    ("symmetry_story", ()),
    ("symmetry_counts", ()),
    ("step_claims", (4,)),
    ("training_story", ()),
    ("step_claims", (5,)),
    ("claims", ()),
    # Not the lesson's: the Spectra view's trained layer (pinit.lab.spectra), after every lesson number.
    ("trained_tail", ()),
)


def story(name: str) -> Callable[..., Any]:
    """The function STORIES names: this module's, or pinit.lab.spectra's trained_tail (imported here,
    not at the top: spectra imports this module)."""
    if name in globals():
        fn: Callable[..., Any] = globals()[name]
        return fn
    from . import spectra

    found: Callable[..., Any] = getattr(spectra, name)
    return found


def warm() -> None:
    """Compute every story here, in the order a class meets them."""
    for name, args in STORIES:
        story(name)(*args)


def _worker(results: Any) -> None:
    """The worker process: every story in turn, each result sent back as soon as it is ready."""
    torch.set_num_threads(1)  # one core for the worker; the server's own process keeps the other
    for name, args in STORIES:
        try:
            value = story(name)(*args)
        except Exception:  # the page computes it itself, and says what went wrong there
            value = None
        results.put((name, args, value))


def _receive(results: Any, process: Any) -> None:
    """In the server: store what the worker sends, and wake whoever waits for it."""
    for _ in STORIES:
        while True:
            try:
                name, args, value = results.get(timeout=1.0)
                break
            except queue.Empty:
                if not process.is_alive():
                    for event in _ARRIVED.values():
                        event.set()  # nothing more will come: the waiters compute it themselves
                    return
        _FROM_WORKER[(name, args)] = value
        _ARRIVED[(name, args)].set()


_START_LOCK = threading.Lock()


def _stop_warming() -> None:
    _STOP.set()
    for process in _WORKER:
        if process.is_alive():
            process.terminate()  # a story in progress is dropped: the process is exiting anyway


def start_warming() -> None:
    """Compute every story in one worker process, started once per server process.

    spawn, not fork: a fresh interpreter, so nothing of the server's threads or locks is copied
    into it. One Process (not a Pool): if it dies, nothing restarts it, and the page computes
    what it needs itself.
    """
    with _START_LOCK:
        if _WORKER:
            return
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        for key in STORIES:
            _ARRIVED[key] = threading.Event()
        process = ctx.Process(target=_worker, args=(results,), name="pinit-lesson-worker", daemon=True)
        process.start()
        _WORKER.append(process)
        threading.Thread(target=_receive, args=(results, process), name="pinit-lesson-receive", daemon=True).start()
        atexit.register(_stop_warming)
