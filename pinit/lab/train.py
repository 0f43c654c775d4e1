"""The optimiser loop: `train` runs SGD on a model in place, `evaluate` measures it.

This is the loop only; the experiment (which model, which data, which settings, the
result kept for the page) is pinit.lab.training, with its settings in
pinit.lab.train_config.TRAIN_CONFIG.

The optimiser is plain SGD with momentum 0.9 (Polyak 1964; Sutskever et al. 2013),
one step per minibatch of cross-entropy loss::

    v <- 0.9 v + grad L(w),    w <- w - lr * v

SGD, not Adam, on purpose: Adam divides each parameter's step by a running RMS of its
gradient (Kingma & Ba 2014), which undoes much of what a too-small or too-large init
does to the gradient scale, and the point here is to see that effect. No gradient
clipping, no weight decay, no learning-rate schedule, for the same reason.

Data order: one `torch.Generator` seeded with `seed` draws a fresh permutation of
the examples for each epoch, so the same (data, steps, batch_size, seed) visits the
examples in the same order. Nothing global is set: no torch.manual_seed, no thread
count. A non-finite loss (an exploding init) is recorded and ends the run cleanly,
before the optimiser could write NaN into the weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from .. import checks
from ..checks import whole_number
from .capture import switched_mode
from .train_config import TRAIN_CONFIG

__all__ = ["DEFAULT_LR", "MAX_STEPS", "MOMENTUM", "evaluate", "train"]

# The loop's defaults are the shared configuration's (chosen by bench/sweep_lr.py).
DEFAULT_LR = TRAIN_CONFIG.lr
MOMENTUM = TRAIN_CONFIG.momentum
MAX_STEPS = 100_000

Callback = Callable[[int, float, float], None]


def _check_data(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise ValueError("images and labels must be torch tensors")
    if images.dim() < 2 or labels.dim() != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            "images must be (n, ...) and labels (n,) with the same n; "
            f"got {tuple(images.shape)} and {tuple(labels.shape)}"
        )
    if images.shape[0] == 0:
        raise ValueError("there are no examples: images has 0 rows")
    if labels.dtype != torch.int64:
        raise ValueError(f"labels must be int64 class indices, got {labels.dtype}")
    expected = getattr(model, "input_shape", None)
    if expected is not None and tuple(images.shape[1:]) != tuple(expected):
        raise ValueError(
            f"{type(model).__name__} takes inputs of shape {tuple(expected)}, got {tuple(images.shape[1:])}"
        )
    classes = getattr(model, "num_classes", None)
    if int(labels.min()) < 0 or (classes is not None and int(labels.max()) >= classes):
        raise ValueError(
            f"labels must lie in 0..{'num_classes - 1' if classes is None else classes - 1}, "
            f"got {int(labels.min())}..{int(labels.max())}"
        )


def train(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: int = 200,
    batch_size: int = 64,
    lr: float = DEFAULT_LR,
    seed: int = 0,
    momentum: float = MOMENTUM,
    callback: Callback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """Train `model` in place for up to `steps` SGD steps; one row per step taken.

    Columns: ``step`` (1-based), ``loss`` (the minibatch's mean cross-entropy, before
    that step's update), ``accuracy`` (that minibatch's accuracy) and
    ``running_accuracy`` (mean batch accuracy over the last 20 steps, smoother to plot).
    ``df.attrs``: ``stop_reason`` ("completed", "stopped" when `should_stop()` returned
    True, or "non-finite loss"), ``seconds`` (wall time) and ``lr``, ``batch_size``,
    ``momentum``, ``seed``.

    `callback(step, loss, accuracy)` is called after every step, the non-finite one
    included (for a progress bar); `should_stop()` is polled before every step (for a
    stop button). The model is in train mode during the run and back in its previous
    mode afterwards; its .grad fields are left as None.
    """
    whole_number("steps", steps, 1, MAX_STEPS)
    whole_number("batch_size", batch_size, 1, 1_000_000)
    checks.seed(seed)
    for name, value, low, high in (("lr", lr, 0.0, 100.0), ("momentum", momentum, 0.0, 1.0)):
        checks.finite_number(name, value)
        if not low <= value <= high or (name == "lr" and value == 0) or (name == "momentum" and value == 1):
            raise ValueError(f"{name} must be in {'(0, 100]' if name == 'lr' else '[0, 1)'}, got {value!r}")
    _check_data(model, images, labels)

    n = images.shape[0]
    batch_size = min(batch_size, n)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    order = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=order)
    pos = 0
    rows: list[dict[str, float]] = []
    recent: list[float] = []
    reason = "completed"
    start = time.perf_counter()
    try:
        with switched_mode(model, training=True), torch.enable_grad():
            for step in range(1, steps + 1):
                if should_stop is not None and should_stop():
                    reason = "stopped"
                    break
                if pos + batch_size > n:
                    perm, pos = torch.randperm(n, generator=order), 0
                idx = perm[pos : pos + batch_size]
                pos += batch_size
                logits = model(images[idx])
                loss = F.cross_entropy(logits, labels[idx])
                loss_value = float(loss.detach())
                acc = float((logits.detach().argmax(1) == labels[idx]).float().mean())
                recent = (recent + [acc])[-20:]
                rows.append(
                    {"step": step, "loss": loss_value, "accuracy": acc, "running_accuracy": sum(recent) / len(recent)}
                )
                finite = math.isfinite(loss_value)
                if finite:
                    opt.zero_grad(set_to_none=True)
                    torch.autograd.backward(loss)  # what loss.backward() calls; torch leaves that one unannotated
                    opt.step()
                if callback is not None:
                    callback(step, loss_value, acc)
                if not finite:
                    reason = "non-finite loss"
                    break
    finally:
        opt.zero_grad(set_to_none=True)
    df = pd.DataFrame(rows, columns=["step", "loss", "accuracy", "running_accuracy"])
    df["step"] = df["step"].astype("int64")
    df.attrs.update(
        stop_reason=reason,
        seconds=time.perf_counter() - start,
        lr=float(lr),
        batch_size=batch_size,
        momentum=float(momentum),
        seed=seed,
    )
    return df


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> dict[str, float]:
    """Mean cross-entropy loss and accuracy of `model` on (images, labels), in eval mode.

    Runs under torch.no_grad() in batches of `batch_size`; the model's modes are
    restored afterwards. A non-finite loss is reported as it is (inf or nan).
    """
    whole_number("batch_size", batch_size, 1, 1_000_000)
    _check_data(model, images, labels)
    total_loss, correct = 0.0, 0
    with switched_mode(model, training=False), torch.no_grad():
        for i in range(0, images.shape[0], batch_size):
            logits = model(images[i : i + batch_size])
            y = labels[i : i + batch_size]
            total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    n = images.shape[0]
    return {"loss": total_loss / n, "accuracy": correct / n}
