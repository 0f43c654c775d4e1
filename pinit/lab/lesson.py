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
   prediction (`predicted_std_trend`).
4. `symmetry_story()`: a constant init leaves one distinct unit per layer, even after SGD.
5. `training_story()`: the presets trained side by side on the synthetic gratings.

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
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch.nn import functional as F

from ..models import build_model
from ..plan import apply_plan
from ..presets import PRESETS
from .depth import depth_summary, depth_sweep, symmetry_table
from .probes import activation_stats, probe_batch, probe_targets
from .signal import logits_verdict, loss_verdict
from .training import TRAIN_DEFAULTS, TrainDefaults, TrainRun, train_data, train_run

__all__ = [
    "LESSON_SEEDS",
    "LESSON_TRAIN",
    "DepthStory",
    "SignalTrace",
    "SymmetryStory",
    "TrainingStory",
    "depth_story",
    "logits_verdict",
    "loss_verdict",
    "signal_trace",
    "start_warming",
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


def computed_once(fn: Fn) -> Fn:
    """Cache `fn` by its arguments for the process; one caller computes while the others wait.

    When the warm-up worker (start_warming) was given this call, the result comes from it:
    the caller waits for the worker rather than computing the same story a second time.
    """
    results: dict[tuple[Any, ...], Any] = {}
    lock = threading.Lock()

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        with lock:
            if args not in results:
                value = _from_worker((fn.__name__, args))
                results[args] = value if value is not None else fn(*args)
            return results[args]

    wrapper.cache_clear = results.clear  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


LESSON_SEEDS = (0, 1, 2, 3, 4)
PROBE_N = 64

# The lesson's training run is the Train tab's default one (TRAIN_DEFAULTS: ~11 s for three plans),
# so a student who retrains there gets the same runs.
LESSON_TRAIN: TrainDefaults = TRAIN_DEFAULTS.copy()
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
    for scheme in schemes:
        curves = [rows[rows["scheme"] == scheme]["std"].tolist() for rows, _ in per_seed]
        std[scheme] = tuple(_median(col) for col in zip(*curves))
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


@dataclass(frozen=True)
class TrainingStory:
    """The lesson's presets trained on the same data in the same order (LESSON_TRAIN)."""

    settings: TrainDefaults
    runs: dict[str, TrainRun]
    seconds: float


@computed_once
def training_story(plans: tuple[str, ...] = LESSON_TRAIN_PLANS, seed: int = 0) -> TrainingStory:
    """Train SimpleCNN from each preset with LESSON_TRAIN's settings (~10 s for three on one core)."""
    c = LESSON_TRAIN
    data = train_data(int(c["n_train"]), int(c["n_test"]), float(c["noise"]))
    runs = {}
    for name in plans:
        steps, batch, lr = int(c["steps"]), int(c["batch_size"]), float(c["lr"])
        runs[name] = train_run(PRESETS[name].plan, seed, steps, batch, lr, data, should_stop=_STOP.is_set)
        if runs[name].stop_reason == "stopped":
            raise Interrupted("the lesson's training was stopped: the process is exiting")
    return TrainingStory(c.copy(), runs, sum(r.seconds for r in runs.values()))


# What the worker computes, in the order a class meets it (the page calls these exact shapes).
STORIES: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("signal_trace", ("Article recipe",)),
    ("signal_trace", ("Kaiming (He)",)),
    ("depth_story", ()),
    ("symmetry_story", ()),
    ("training_story", ()),
)


def warm() -> None:
    """Compute every step's numbers here, in the order a class meets them."""
    for name, args in STORIES:
        globals()[name](*args)


def _worker(results: Any) -> None:
    """The worker process: every story in turn, each result sent back as soon as it is ready."""
    torch.set_num_threads(1)  # one core for the worker; the server's own process keeps the other
    for name, args in STORIES:
        try:
            value = globals()[name](*args)
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
