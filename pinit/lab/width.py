"""The width lab: μP's coordinate check, in plain torch.

`coord_check` trains one model per width for a few steps on one fixed batch and records,
at every step, the mean absolute value of every layer's output, l1 = mean |x| (the "Coord
Check" of microsoft/mup's README: ``mup.coord_check.get_coord_data``'s default statistic).
A parametrization is right for width when those curves are flat in width; one whose
activations grow with width after a step will blow up when the model is made wider.

* **SP** (standard parametrization): the model's own init (PyTorch's default,
  U(±1/√fan_in)) and one learning rate for every parameter.
* **μP** (maximal update parametrization; Yang et al. 2021, "Tensor Programs V: Tuning
  Large Neural Networks via Zero-Shot Hyperparameter Transfer", Table 3 / Table 8, as
  the ``mup`` package implements it). Relative to a base width b, with width multiplier
  m = fan / fan_base of each dimension that grows with width ("infinite" dims are found
  by building the model at b and 2b and comparing shapes, as ``mup.set_base_shapes`` does):

  ============================ ============== ================== ===================
  parameter                    init           Adam lr            SGD lr
  ============================ ============== ================== ===================
  input weights (fan_out ∞)    as SP          lr                 lr · m_out
  hidden weights (both ∞)      as SP          lr / m_in          lr · m_out / m_in
  output weights (fan_in ∞)    SP / √m_in     lr / m_in          lr / m_in
  biases of ∞ layers (vector)  SP · √m_in     lr                 lr · m
  finite parameters            as SP          lr                 lr
  ============================ ============== ================== ===================

  "SP · √m_in" for a bias: PyTorch draws it U(±1/√fan_in), which μP wants independent of
  width (mup's ``rescale_linear_bias``). The output row is mup's ``MuReadout`` (weights
  × √m, forward input × 1/m) written without the multiplier: W' = W/m has the same
  forward pass, init std SP/√m_in, and Adam or SGD steps lr/m_in on W' (mup: lr and
  lr·m on W).

Steps: step 0 is the forward pass at init; step s the one after s updates (mup's ``t`` is
s + 1). The forward passes run in train mode on the same batch every step (mup's
``fix_data``), loss: cross-entropy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from ..checks import finite_number, whole_number
from ..models import DeepMLP
from ..plan import param_seed
from .capture import capture_outputs, leaves
from .probes import probe_batch, probe_targets

__all__ = [
    "OPTIMIZERS",
    "PARAMETRIZATIONS",
    "ParamRole",
    "coord_check",
    "coord_mlp",
    "coord_slopes",
    "param_roles",
]

PARAMETRIZATIONS = ("sp", "mup")
OPTIMIZERS = ("adam", "sgd")
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.1}  # mup.coord_check.get_coord_data's defaults


def coord_mlp(width: int) -> nn.Module:
    """The lab's default model, DeepMLP(depth=3): fc1 (256 -> width) -> ReLU -> fc2 (square) -> ReLU -> fc3 (-> 10)."""
    return DeepMLP(depth=3, width=width, activation="relu")


@dataclass(frozen=True)
class ParamRole:
    """How μP treats one parameter: its role, init multiplier and learning-rate multiplier per optimizer."""

    name: str
    role: str  # "input", "hidden", "output", "vector", "finite"
    init_mult: float
    lr_mult: dict[str, float]


def _shapes(factory: Callable[[int], nn.Module], width: int) -> tuple[dict[str, tuple[int, ...]], nn.Module]:
    with torch.device("meta"):
        model = factory(width)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model_factory({width}) returned a {type(model).__name__}, not a torch.nn.Module")
    return {n: tuple(p.shape) for n, p in model.named_parameters()}, model


def param_roles(factory: Callable[[int], nn.Module], width: int, base_width: int) -> dict[str, ParamRole]:
    """μP's role of every parameter of factory(width), relative to factory(base_width) (see the module table).

    A dimension is "infinite" (grows with width) when its size differs between factory(base_width)
    and factory(2·base_width); its multiplier m = size at `width` / size at `base_width`.
    """
    base, _ = _shapes(factory, base_width)
    delta, _ = _shapes(factory, 2 * base_width)
    target, model = _shapes(factory, width)
    if not (set(base) == set(delta) == set(target)):
        raise ValueError("the factory's models have different parameter names at different widths; μP needs the same")
    roles: dict[str, ParamRole] = {}
    # A bias belongs to the module that owns it; its layer's weight tells whether fan_in is infinite.
    owner_weight = {}
    for mod_name, module in model.named_modules():
        w = getattr(module, "weight", None)
        if isinstance(w, torch.Tensor) and w.dim() >= 2 and getattr(module, "bias", None) is not None:
            prefix = f"{mod_name}." if mod_name else ""
            owner_weight[f"{prefix}bias"] = f"{prefix}weight"
    for name, shape in target.items():
        inf = [b != d for b, d in zip(base[name], delta[name])]
        mult = [t / b if i else 1.0 for t, b, i in zip(shape, base[name], inf)]
        if len(shape) >= 2:
            out_inf, in_inf = inf[0], inf[1]
            m_out, m_in = mult[0], mult[1]
            if out_inf and in_inf:
                roles[name] = ParamRole(name, "hidden", 1.0, {"adam": 1 / m_in, "sgd": m_out / m_in})
            elif in_inf:
                roles[name] = ParamRole(name, "output", m_in**-0.5, {"adam": 1 / m_in, "sgd": 1 / m_in})
            elif out_inf:
                roles[name] = ParamRole(name, "input", 1.0, {"adam": 1.0, "sgd": m_out})
            else:
                roles[name] = ParamRole(name, "finite", 1.0, {"adam": 1.0, "sgd": 1.0})
        else:
            w = owner_weight.get(name)
            m_fan_in = 1.0
            if w is not None and base[w][1] != delta[w][1]:
                m_fan_in = target[w][1] / base[w][1]
            m = next((x for x, i in zip(mult, inf) if i), 1.0)
            role = "vector" if any(inf) else "finite"
            roles[name] = ParamRole(name, role, math.sqrt(m_fan_in), {"adam": 1.0, "sgd": m if any(inf) else 1.0})
    return roles


def _check_widths(widths: Sequence[int]) -> list[int]:
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths:
        raise ValueError(f"widths must be a non-empty list of whole numbers, got {widths!r}")
    out = sorted({whole_number("width", w, 1, 8192) for w in widths})
    return out


def _l1(out: torch.Tensor) -> float:
    """mean |x| of a module's output: the coordinate size μP's coordinate check tracks."""
    return float(out.detach().abs().mean())


def coord_check(
    model_factory: Callable[[int], nn.Module] | None = None,
    widths: Sequence[int] = (128, 256, 512, 1024, 2048),
    parametrization: str = "sp",
    optimizer: str = "adam",
    lr: float | None = None,
    steps: int = 3,
    seed: int = 0,
    *,
    base_width: int | None = None,
    n: int = 64,
    inputs: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
) -> pd.DataFrame:
    """μP's coordinate check: l1 = mean |x| of every leaf module's output, per width and step.

    `model_factory(width)` builds a fresh model (default: `coord_mlp`); for each width it
    is called with the global RNG seeded with `seed` (inside ``torch.random.fork_rng``, so
    the caller's RNG is untouched), so every width starts from the same stream. Then
    `parametrization` ("sp" or "mup", see the module docstring; μP relative to
    `base_width`, default the smallest width) sets the init and per-parameter learning
    rates, and `optimizer` ("adam" or "sgd", torch's, default lr 1e-3 and 0.1 as mup's)
    takes `steps` steps of cross-entropy on one fixed batch: `inputs` and `targets`, or
    ``probe_batch`` / ``probe_targets`` of `n` drawn from ``param_seed(seed, "coord_check:batch")``
    (a stream independent of the weights').

    Returns one row per (width, step, layer): ``width``, ``step`` (0 = at init), ``layer``
    (name of a leaf module, in call order), ``type``, ``l1``; ``df.attrs`` holds the
    settings and the loss per (width, step).
    """
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(f"parametrization must be one of {', '.join(PARAMETRIZATIONS)}, got {parametrization!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    lr = finite_number("lr", lr, 0, 10, low_open=True, what="a number in (0, 10]")
    steps = whole_number("steps", steps, 0, 50)
    widths = _check_widths(widths)
    base = widths[0] if base_width is None else whole_number("base_width", base_width, 1, 8192)
    factory = model_factory or coord_mlp
    rows: list[dict[str, Any]] = []
    losses: dict[tuple[int, int], float] = {}
    for width in widths:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = factory(width)
        if not isinstance(model, nn.Module):
            raise ValueError(f"model_factory({width}) returned a {type(model).__name__}, not a torch.nn.Module")
        named = dict(model.named_parameters())
        mults = {name: 1.0 for name in named}
        if parametrization == "mup":
            roles = param_roles(factory, width, base)
            with torch.no_grad():
                for name, role in roles.items():
                    if role.init_mult != 1.0:
                        named[name].mul_(role.init_mult)
            mults = {name: roles[name].lr_mult[optimizer] for name in named}
        groups = [{"params": [p], "lr": lr * mults[name]} for name, p in named.items() if p.requires_grad]
        opt = torch.optim.Adam(groups, lr=lr) if optimizer == "adam" else torch.optim.SGD(groups, lr=lr)
        # Not `seed` itself: torch.manual_seed(s) and torch.Generator().manual_seed(s) give the same stream, so
        # the batch would repeat the random numbers of the first weights and correlate with them (fc1's first
        # units would see inputs aligned with their own weights, a bias of -0.02 in the slope at init).
        data_seed = param_seed(seed, "coord_check:batch")
        x = probe_batch(model, n, data_seed) if inputs is None else inputs
        y = probe_targets(model, n, data_seed) if targets is None else targets
        watched = leaves(model)
        for step in range(steps + 1):
            with capture_outputs(model, watched, keep=_l1, training=True) as calls:
                loss = F.cross_entropy(model(x), y)
            losses[(width, step)] = float(loss.detach())
            rows += [
                {"width": width, "step": step, "layer": c.name, "type": type(c.module).__name__, "l1": c.value}
                for c in calls
            ]
            if step < steps:
                opt.zero_grad(set_to_none=True)
                torch.autograd.backward(loss)  # what loss.backward() calls; torch leaves that one unannotated
                opt.step()
    df = pd.DataFrame(rows, columns=["width", "step", "layer", "type", "l1"])
    df.attrs.update(
        parametrization=parametrization,
        optimizer=optimizer,
        lr=float(lr),
        steps=steps,
        seed=seed,
        base_width=base,
        losses={f"{w}:{s}": v for (w, s), v in losses.items()},
    )
    return df


def coord_slopes(df: pd.DataFrame) -> pd.DataFrame:
    """Per (step, layer): the slope of log2(l1) against log2(width), a least-squares fit.

    0: flat in width (μP's goal); 1: l1 doubles when the width doubles (SP's hidden layers
    after one Adam step: ΔW x sums fan_in terms of the same sign). Columns: ``step``,
    ``layer``, ``slope``, ``l1_min_width``, ``l1_max_width``.
    """
    out = []
    for (step, layer), g in df.groupby(["step", "layer"], sort=False):
        g = g.sort_values("width")
        ok = g["l1"] > 0
        x, y = np.log2(g.loc[ok, "width"].to_numpy(float)), np.log2(g.loc[ok, "l1"].to_numpy(float))
        slope = float(np.polyfit(x, y, 1)[0]) if len(x) >= 2 and np.ptp(x) > 0 else math.nan
        out.append(
            {
                "step": int(step),  # type: ignore[call-overload]  # a groupby key: the int column's value
                "layer": layer,
                "slope": slope,
                "l1_min_width": float(g["l1"].iloc[0]),
                "l1_max_width": float(g["l1"].iloc[-1]),
            }
        )
    return pd.DataFrame(out, columns=["step", "layer", "slope", "l1_min_width", "l1_max_width"])
