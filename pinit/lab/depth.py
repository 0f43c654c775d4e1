"""The depth lab: a DeepMLP of 1-100 Linear layers, several schemes overlaid.

`depth_sweep` measures the activation std after every Linear layer per scheme, next
to the mean-field prediction (`predicted_std_trend`); `depth_summary` gives the
per-layer factor; `symmetry_table` counts distinct units (the zero-init trap). The
classic results: He et al. 2015 (ReLU), Glorot & Bengio 2010 (tanh), Mishkin &
Matas 2015 (LSUV).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from .. import checks
from ..checks import whole_number
from ..models import DeepMLP
from ..plan import apply_plan
from ..recipes import RECIPES
from .capture import capture_outputs
from .lsuv import lsuv
from .probes import activation_stats, predicted_std_trend, probe_batch, probe_targets
from .train import train

__all__ = [
    "DEPTH_SCHEMES",
    "LSUV_BUDGET",
    "DepthScheme",
    "depth_plan",
    "depth_summary",
    "depth_sweep",
    "input_dependence",
    "lsuv_cost",
    "symmetry_table",
]


@dataclass(frozen=True)
class DepthScheme:
    label: str
    formula: str  # the law of every Linear weight (and bias, where it is not 0), in words
    weight: dict[str, Any] | None  # the plan rule for Linear weights; None: LSUV (not a plan)
    bias: dict[str, Any] = field(default_factory=lambda: {"scheme": "zeros"})  # the rule for Linear biases


# The depth lab's schemes are the recipes (pinit.recipes) that say what a Linear layer's weight
# and bias get, under their short labels: one label, one plan, one colour everywhere.
# "PyTorch default" draws the biases too, U(±1/√fan_in), as nn.Linear does; its signal part
# dies within a few ReLU layers and what is left is bias noise (see input_dependence).
_DEPTH_ORDER = (
    "Kaiming (He)",
    "Xavier (Glorot)",
    "Xavier, tanh gain 5/3",
    "PyTorch default",
    "PyTorch default, biases 0",
    "LeCun",
    "Orthogonal",
    "N(0, 0.01)",
    "N(0, 1)",
    "Zeros",
    "Constant 0.05",
    "LSUV",
)
DEPTH_SCHEMES: dict[str, DepthScheme] = {
    r.label: DepthScheme(
        r.label,
        r.formula,
        None if r.linear is None else dict(r.linear["weight"]),
        {"scheme": "zeros"} if r.linear is None else dict(r.linear["bias"]),
    )
    for r in sorted((r for r in RECIPES.values() if r.depth), key=lambda r: _DEPTH_ORDER.index(r.label))
}

# lsuv_cost above which a page leaves LSUV out: depth 100, width 256, n 128 (8.4e10) stays in, a
# wait a click can take on one thread (docs/PERFORMANCE.md has its time).
LSUV_BUDGET = 1.3e11


def depth_plan(scheme: str) -> dict[str, Any]:
    """The plan of a depth-lab scheme: its rules for every Linear weight and bias (0 unless it says otherwise)."""
    if scheme not in DEPTH_SCHEMES:
        raise ValueError(f"unknown depth-lab scheme {scheme!r}; choose one of {', '.join(DEPTH_SCHEMES)}")
    weight = DEPTH_SCHEMES[scheme].weight
    if weight is None:
        raise ValueError("LSUV is not a plan: it measures the network (use depth_sweep)")
    bias = DEPTH_SCHEMES[scheme].bias
    return {"rules": {"Linear": {"weight": dict(weight), "bias": dict(bias)}}, "overrides": {}}


def lsuv_cost(depth: int, width: int, n: int) -> float:
    """A rough count of LSUV's multiply-adds on DeepMLP: it runs the net up to each layer in turn."""
    return float(depth) ** 2 * float(max(width, 10)) ** 2 * n


def _deep_mlp(depth: int, width: int, activation: str) -> DeepMLP:
    """A DeepMLP with uninitialised storage: every caller fills all its parameters."""
    with torch.device("meta"):
        model = DeepMLP(depth=depth, width=width, activation=activation)
    return model.to_empty(device="cpu")


DEPENDENCE = ("rms", "input_std", "input_share")


def input_dependence(model: nn.Module, x: torch.Tensor) -> pd.DataFrame:
    """How much of each Linear layer's output depends on the input, on the batch `x`.

    One row per Linear layer, in call order: ``rms`` = sqrt(mean(y²)) over the whole
    (n, units) output, ``input_std`` = the std across the n inputs of each unit (population
    std over dim 0), averaged over the units, and ``input_share`` = input_std / rms. A unit
    whose value is the same for every input (a bias passed on by layers that no longer
    carry the signal) has input_std 0 however large its RMS: a share near 0 means the
    layer's output no longer depends on the input. Runs under no_grad in eval mode.
    """
    linear = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]

    def keep(t: torch.Tensor) -> tuple[float, float]:
        t = t.detach().double().reshape(t.shape[0], -1)
        return float(t.pow(2).mean().sqrt()), float(t.std(dim=0, correction=0).mean())

    with capture_outputs(model, linear, keep=keep) as calls, torch.no_grad():
        model(x)
    rows = [
        {"layer": c.name, "rms": rms, "input_std": dep, "input_share": dep / rms if rms > 0 else math.nan}
        for c, (rms, dep) in ((c, c.value) for c in calls)
    ]
    return pd.DataFrame(rows, columns=["layer", *DEPENDENCE])


def depth_sweep(
    depth: int, width: int, activation: str, schemes: Sequence[str], seed: int = 0, n: int = 128
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Activation std after every Linear layer of a DeepMLP, per scheme, with the predicted trend.

    All schemes see the same probe batch (`probe_batch(model, n, seed)`, iid N(0, 1)) and
    draw their weights from the same seed; biases are 0 except where the scheme says (PyTorch's
    default draws them). Returns (rows,
    lsuv_logs): one row per (scheme, Linear layer) with ``scheme``, ``layer`` ("fc3"),
    ``index`` (1-based), ``std`` (measured over every entry of the layer's output, finite
    entries only), ``predicted_std`` (mean-field recursion, `predicted_std_trend`; NaN for
    LSUV, which has no formula, and where the recursion does not apply), ``nonfinite``
    (entries that overflowed to ±inf or NaN), ``zero_fraction``, and `input_dependence`'s
    ``rms``, ``input_std`` and ``input_share``; and LSUV's per-layer log.
    """
    depth = whole_number("depth", depth, 1, 100)
    width = whole_number("width", width, 1, 4096)
    n = whole_number("n", n, 1, 4096)
    seed = checks.seed(seed)
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
        dependence = input_dependence(model, x)
        frames.append(
            pd.DataFrame(
                {
                    "scheme": scheme,
                    "layer": [name.split(".")[-1] for name in lin["layer"]],
                    "index": range(1, len(lin) + 1),
                    "std": lin["std"].astype(float),
                    "predicted_std": predicted,
                    "nonfinite": lin["nonfinite"].astype(int),
                    "zero_fraction": lin["zero_fraction"].astype(float),
                    "rms": dependence["rms"].to_numpy(),
                    "input_std": dependence["input_std"].to_numpy(),
                    "input_share": dependence["input_share"].to_numpy(),
                }
            )
        )
    rows = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(
            columns=["scheme", "layer", "index", "std", "predicted_std", "nonfinite", "zero_fraction", *DEPENDENCE]
        )
    )
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
        pred_ratio = (
            last["predicted_std"] / first["predicted_std"]
            if first["predicted_std"] and first["predicted_std"] > 0
            else math.nan
        )
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
            note = (
                "every output is exactly 0 (zero weights)"
                if where == "fc1" and scheme == "Zeros"
                else f"every output exactly 0 from {where} on (below float32's smallest number, 1.4e-45)"
            )
        out.append(
            {
                "scheme": scheme,
                "first": first["layer"],
                "std_first": first["std"],
                "last": last["layer"],
                "std_last": last["std"],
                "ratio": ratio,
                "per_layer": per,
                "predicted_ratio": pred_ratio,
                "predicted_per_layer": pred_per,
                "note": note,
            }
        )
    return pd.DataFrame(
        out,
        columns=[
            "scheme",
            "first",
            "std_first",
            "last",
            "std_last",
            "ratio",
            "per_layer",
            "predicted_ratio",
            "predicted_per_layer",
            "note",
        ],
    )


def _distinct(t: torch.Tensor, dim: int) -> int:
    """How many different slices along `dim` (exact equality): 1 means all units identical."""
    return int(torch.unique(t.detach(), dim=dim).shape[dim])


def symmetry_table(
    depth: int, width: int, activation: str, scheme: str, seed: int = 0, n: int = 64, train_steps: int = 20
) -> pd.DataFrame:
    """Distinct hidden units per Linear layer: outputs on the probe batch, gradient rows, after SGD.

    One row per hidden Linear layer (fc1 .. fc(depth-1)): ``units``, ``distinct_outputs``
    (different columns of the layer's (n, units) output), ``distinct_grad_rows`` (different
    rows of dloss/dW for cross-entropy on probe_targets) and ``distinct_after_training``
    (different rows of W after `train_steps` SGD steps of 32 on random N(0, 1) inputs with
    labels 0..9, lr 0.05). A constant init gives 1 everywhere: every unit computes the same
    function and gets the same update, so symmetry is never broken.
    """
    depth = whole_number("depth", depth, 2, 100)
    width = whole_number("width", width, 1, 4096)
    train_steps = whole_number("train_steps", train_steps, 0, 1000)
    model = _deep_mlp(depth, width, activation)
    x, y = probe_batch(model, n, seed), probe_targets(model, n, seed)
    if scheme not in DEPTH_SCHEMES:
        raise ValueError(f"unknown depth-lab scheme {scheme!r}; choose one of {', '.join(DEPTH_SCHEMES)}")
    if DEPTH_SCHEMES[scheme].weight is None:
        lsuv(model, x, tol=0.01, seed=seed)
    else:
        apply_plan(model, depth_plan(scheme), seed)
    hidden = [(name, m) for name, m in model.layers.named_children() if isinstance(m, nn.Linear)][:-1]
    with capture_outputs(model, hidden) as calls, torch.enable_grad():
        loss = F.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, [m.weight for _, m in hidden])
    outs = [c.value for c in calls]
    rows = [
        {
            "layer": f"fc{i}",
            "units": m.out_features,
            "distinct_outputs": _distinct(o, 1),
            "distinct_grad_rows": _distinct(g, 0),
        }
        for i, ((_, m), o, g) in enumerate(zip(hidden, outs, grads), start=1)
    ]
    if train_steps:
        g = torch.Generator().manual_seed(seed)
        images = torch.randn(256, model.input_shape[0], generator=g)
        labels = torch.arange(256) % model.num_classes
        train(model, images, labels, steps=train_steps, batch_size=32, lr=0.05, seed=seed)
    for row, (_, m) in zip(rows, hidden):
        row["distinct_after_training"] = _distinct(m.weight, 0) if train_steps else math.nan
    return pd.DataFrame(
        rows, columns=["layer", "units", "distinct_outputs", "distinct_grad_rows", "distinct_after_training"]
    )
