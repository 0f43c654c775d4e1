"""Signal flow: what one configuration does to a fixed probe batch, forward and back.

`signal_flow(setup)` builds the Setup's model, applies its plan and returns plain data: the
activation std per layer (with the mean-field prediction for Linear chains), per-layer
histograms on a common grid (a heatmap), gradient norms, dead ReLU units, the loss
and the logits' std.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch

from ..checks import whole_number
from ..plan import apply_plan
from ..report import fresh_model
from ..setup import Setup
from ..text import number
from .capture import Captured, capture_outputs
from .probes import (
    activation_table,
    describe_output,
    gradient_stats,
    num_classes,
    predicted_std_trend,
    probe_batch,
    probe_targets,
)

__all__ = [
    "LOGITS_EXPLODING",
    "LOGITS_HEALTHY",
    "LOSS_NEAR_CHANCE",
    "RELU_TYPES",
    "SignalFlow",
    "VerdictColour",
    "logits_verdict",
    "loss_verdict",
    "signal_flow",
]

RELU_TYPES = ("ReLU", "ReLU6")  # outputs that are exactly 0 for every negative input
VerdictColour = Literal["red", "orange", "green", "gray"]  # each a delta_color Streamlit's st.metric takes


# Thresholds of the verdicts on the logits and the loss at init, stated once (the page quotes them).
LOGITS_HEALTHY = (0.1, 3.0)  # logits std in this range: order 1
LOGITS_EXPLODING = 30.0  # above: the softmax is saturated from step 0
LOSS_NEAR_CHANCE = 1.5  # loss within this factor of ln(classes): unsure, as a fresh net should be


def logits_verdict(std: float) -> tuple[str, VerdictColour]:
    """(verdict, colour) for the std of the logits at init; the thresholds are LOGITS_HEALTHY and
    LOGITS_EXPLODING. Short enough to sit under a number on a projector."""
    low, high = LOGITS_HEALTHY
    if not math.isfinite(std):
        return "overflowed: inf/NaN", "red"
    if std == 0:
        return "zero: every class ties", "gray"
    if std < low:
        return f"small (< {low:g})", "orange"
    if std <= high:
        return f"healthy ({low:g} to {high:g})", "green"
    if std <= LOGITS_EXPLODING:
        return f"large (> {high:g})", "orange"
    return f"exploding (> {LOGITS_EXPLODING:g})", "red"


def loss_verdict(loss: float, num_classes: int = 10, logits_std: float | None = None) -> tuple[str, VerdictColour]:
    """(verdict, colour) for the loss at init against ln(classes), the loss of a network that knows
    nothing (all classes equally likely). Near it (within LOSS_NEAR_CHANCE times) is what a fresh
    network should show; exactly it means every class ties (a zero or constant last layer)."""
    chance = math.log(num_classes)
    if not math.isfinite(loss):
        return "not finite", "red"
    if logits_std == 0 or math.isclose(loss, chance, rel_tol=1e-6):
        return f"exactly ln {num_classes}: all tie", "gray"
    ratio = loss / chance
    if ratio <= LOSS_NEAR_CHANCE:
        return f"near ln {num_classes} = {chance:.2f}: good", "green"
    times = number(ratio, 2)  # two digits: over seeds this ratio varies by tens of percent (claims())
    return f"{times}× ln {num_classes}", "red" if ratio > 10 else "orange"


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


def signal_flow(setup: Setup, n: int = 64) -> SignalFlow:
    """Build the setup's model (constructor init from its seed), apply its plan, and probe it.

    The probe batch is `probe_batch(model, n, seed)` (iid N(0, 1)) and the labels
    `probe_targets(model, n, seed)`; the loss is their mean cross-entropy, ln(classes)
    for logits that say nothing. Raises PlanError / ValueError for a plan or options that
    do not fit.

    Example::

        flow = signal_flow(Setup("DeepMLP", {"depth": 10}, PRESETS["Kaiming (He)"].plan), n=64)
        flow.activations[["layer", "std"]]
    """
    n = whole_number("n", n, 1, 4096)
    seed, model_name = setup.seed, setup.model
    model = fresh_model(setup)
    init_plan = setup.plan
    apply_plan(model, init_plan, seed)
    x, y = probe_batch(model, n, seed), probe_targets(model, n, seed)
    # One forward pass (gradient_stats', in eval mode) gives the gradients and every leaf's output.
    with capture_outputs(model, keep=lambda t: (t.detach(), describe_output(t, bins=1))) as calls:
        grads = gradient_stats(model, x, y)
    outs = [c.value[0] for c in calls]
    described = [Captured(c.name, c.module, c.value[1]) for c in calls]
    acts = activation_table(described, x).drop(columns=["counts", "edges"]).rename(columns={"depth": "index"})
    finite = [t[torch.isfinite(t)].reshape(-1) for t in outs]
    lo = min((float(f.min()) for f in finite if f.numel()), default=-1.0)
    hi = max((float(f.max()) for f in finite if f.numel()), default=1.0)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    half = STD_RANGE + STD_RANGE / STD_BINS / 2  # bins centred on 0 (where a ReLU's zeros pile up)
    std_edges = np.linspace(-half, half, STD_BINS + 2).tolist()
    raw_edges = np.linspace(lo, hi, RAW_BINS + 1).tolist()
    heat_std, outside, heat_raw, dead = [], [], [], []
    for t, f, (_, row) in zip(outs, finite, acts.iterrows()):
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
    predicted, note = None, ""
    try:
        trend = predicted_std_trend(model, init_plan)
        predicted = trend
        if trend["note"].astype(bool).any():
            note = trend.loc[trend["note"].astype(bool), "note"].iloc[0]
    except ValueError as e:
        note = (
            f"No predicted trend for {model_name}: the variance recursion is for plain chains of Linear "
            f"layers and activations like DeepMLP ({e})."
        )
    return SignalFlow(
        model_name,
        int(seed),
        n,
        float(acts.attrs.get("input_std", 1.0)),
        acts,
        std_edges,
        heat_std,
        outside,
        raw_edges,
        heat_raw,
        grads,
        float(grads.attrs["loss"]),
        predicted,
        note,
        num_classes(model),  # the labels' range: model.num_classes, else its last Linear's out_features
    )
