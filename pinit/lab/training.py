"""The training experiment: SimpleCNN from one plan, trained on the synthetic gratings, held-out accuracy.

This is the experiment (build, init, train, evaluate, keep what the page shows); the
optimiser loop itself is pinit.lab.train, and the settings both the lesson and the Train
tab use are pinit.lab.train_config.TRAIN_CONFIG.

Speed, with the same arithmetic: a run trains SimpleCNN in channels_last memory format
(NHWC: the model's 4-D weights and the images). It is the same network, the same data in
the same order and the same SGD; oneDNN's CPU convolutions and PyTorch's max pooling run
their NHWC kernels, which are the faster ones on a CPU core (bench/bench_train.py
measures both layouts). Only the order of float additions inside a convolution differs,
so a run is still the same bit for bit on every call with the same seed; against NCHW the
losses differ in the seventh significant digit. The data sets are drawn once per process
(`train_data` is cached), already in that layout.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import pandas as pd
import torch

from ..models import build_model
from ..plan import apply_plan
from .data import make_dataset
from .pictures import first_rgb_conv
from .train import evaluate, train
from .train_config import TRAIN_CONFIG, TrainConfig

# ((images, labels), (held-out images, held-out labels)): what train_data returns and the runs take.
TrainData = tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

__all__ = [
    "TRAIN_CONFIG",
    "TRAIN_DEFAULTS",
    "TrainConfig",
    "TrainRun",
    "train_data",
    "train_run",
]


class TrainDefaults(TypedDict):
    steps: int
    batch_size: int
    lr: float
    momentum: float
    n_train: int
    n_test: int
    noise: float


# TRAIN_CONFIG as a dict, for the Train tab's widgets (and tests that shrink the data).
TRAIN_DEFAULTS: TrainDefaults = TrainDefaults(**TRAIN_CONFIG.as_dict())  # type: ignore[typeddict-item]


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


def _nhwc(images: torch.Tensor) -> torch.Tensor:
    """`images` in channels_last layout (the same values; a copy only if they are not already)."""
    return images.contiguous(memory_format=torch.channels_last) if images.dim() == 4 else images


@functools.lru_cache(maxsize=4)
def train_data(n_train: int, n_test: int, noise: float, seed: int = 0) -> TrainData:
    """The training and held-out sets: make_dataset(seed) and make_dataset(seed + 1), images channels_last.

    Drawn once per process for each (n_train, n_test, noise, seed) and shared by every caller
    (the lesson's worker, every tab's Train runs): callers read the tensors, never write them.
    """
    (images, labels), (test_images, test_labels) = (
        make_dataset(n_train, seed=seed, noise=noise),
        make_dataset(n_test, seed=seed + 1, noise=noise),
    )
    return (_nhwc(images), labels), (_nhwc(test_images), test_labels)


def train_run(
    plan: Mapping[str, Any],
    seed: int = 0,
    steps: int = TRAIN_CONFIG.steps,
    batch_size: int = TRAIN_CONFIG.batch_size,
    lr: float = TRAIN_CONFIG.lr,
    data: TrainData | None = None,
    callback: Callable[[int, float, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    model_name: str = "SimpleCNN",
) -> TrainRun:
    """Build SimpleCNN (constructor init from `seed`), apply `plan`, train with pinit.train, evaluate.

    `data` is ((images, labels), (test_images, test_labels)), default TRAIN_CONFIG's
    `train_data(n_train, n_test, noise)`; the data order comes from `seed` (pinit.train), so every plan sees the
    same batches. Trained in channels_last layout (see the module's docstring). A non-finite
    loss ends the run (stop_reason "non-finite loss"); the held-out accuracy is then measured
    on the weights as they were before the step that would have written NaN.
    """
    (images, labels), (test_images, test_labels) = (
        data if data is not None else train_data(TRAIN_CONFIG.n_train, TRAIN_CONFIG.n_test, TRAIN_CONFIG.noise)
    )
    images, test_images = _nhwc(images), _nhwc(test_images)  # no copy for train_data's sets
    model = build_model(model_name, seed=seed)
    apply_plan(model, plan, seed)
    # After the init: the same values, in the layout that runs fast (Module.to's stubs omit memory_format).
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    init = evaluate(model, test_images, test_labels)
    conv = first_rgb_conv(model)
    conv1_init = dict(model.named_parameters())[conv].detach().numpy().copy() if conv else None
    start = time.perf_counter()
    log = train(
        model,
        images,
        labels,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        callback=callback,
        should_stop=should_stop,
    )
    seconds = time.perf_counter() - start
    result = evaluate(model, test_images, test_labels)
    conv1 = dict(model.named_parameters())[conv].detach().numpy().copy() if conv else None
    return TrainRun(
        log, log.attrs["stop_reason"], seconds, result["accuracy"], result["loss"], init["accuracy"], conv1, conv1_init
    )
