"""Layer-sequential unit-variance init (LSUV; Mishkin & Matas 2015, "All you need is a
good init", ICLR 2016, Algorithm 1).

1. Fill every Conv/Linear weight with an orthonormal matrix (Saxe et al. 2013) and
   every bias with 0. Done through `pinit.apply_plan` with the "orthogonal" scheme, so
   it is seeded per parameter and the global RNG is untouched.
2. For each Conv/Linear layer L in forward order, on a fixed batch B::

       while |Var(y_L(B)) - 1| >= tol and iterations < max_iters:
           W_L <- W_L / sqrt(Var(y_L(B)))

   where y_L is the layer's output (before its activation). Earlier layers are already
   done, so layer L sees inputs of roughly unit scale.

With zero biases y_L is linear in W_L and L's input does not depend on W_L, so one
division makes the variance 1 up to rounding: expect one iteration per layer (the paper
reports 1-5, with batch norm or non-zero biases in play). The variance is over every
entry of the output (batch, channels and positions together), as in the paper.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..checks import finite_number, whole_number
from ..plan import apply_plan
from ..threads import single_thread
from .capture import capture_outputs

__all__ = ["LSUV_TYPES", "lsuv"]

# The layer types LSUV rescales: whatever holds a weight matrix or kernel.
LSUV_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _check(tol: Any, max_iters: Any) -> None:
    finite_number("tol", tol, low=0, low_open=True, what="a finite number > 0 (the allowed |variance - 1|)")
    whole_number("max_iters", max_iters, 1)


def _forward_order(model: nn.Module, inputs: torch.Tensor, layers: dict[nn.Module, str]) -> list[nn.Module]:
    """The LSUV layers in the order the forward pass first calls them (unused ones left out)."""
    watched = [(name, m) for m, name in layers.items()]
    with capture_outputs(model, watched, keep=lambda t: None) as calls, torch.no_grad():
        model(inputs)
    return list(dict.fromkeys(c.module for c in calls))


def _output_std(model: nn.Module, inputs: torch.Tensor, layer: nn.Module, name: str) -> float:
    """The std of `layer`'s output on `inputs` (first call); the pass stops right after it."""
    std = lambda t: float(t.detach().double().std())
    with capture_outputs(model, [(name, layer)], keep=std, stop_early=True) as calls, torch.no_grad():
        model(inputs)
    return float(calls[0].value)


def lsuv(model: nn.Module, inputs: torch.Tensor, tol: float = 0.1, max_iters: int = 10, seed: int = 0) -> pd.DataFrame:
    """Initialize `model` in place by LSUV on the batch `inputs`; return the per-layer log.

    Every weight of a Linear/Conv layer gets orthogonal(gain=1) and every bias of
    those layers zeros, seeded by `seed` (see `pinit.apply_plan`); then each layer, in
    forward order, is divided by its output std on `inputs` until |var - 1| < `tol`,
    at most `max_iters` times. Runs under torch.no_grad() in eval mode (modes restored).

    The log has one row per layer: ``layer``, ``type``, ``iterations`` (divisions made),
    ``initial_std`` (after the orthogonal init and the earlier layers' rescaling),
    ``final_std``, ``converged`` (|final_std^2 - 1| < tol). A layer whose output is
    constant (std 0, e.g. every input zero) or not finite cannot be rescaled: it is
    logged with converged False and left as it is. Layers the forward pass never calls
    are not touched. (Mishkin & Matas 2016, All you need is a good init.)

    Args:
        model: any nn.Module with Linear or Conv layers; changed in place.
        inputs: the batch whose outputs are measured (``pinit.probe_batch``).
        tol: stop rescaling a layer when |var - 1| < tol.
        max_iters: divisions per layer at most.
        seed: the seed of the orthogonal init.

    Returns:
        The per-layer log (a DataFrame).

    Example:
        >>> import pinit
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))
        >>> log = pinit.lsuv(model, pinit.probe_batch(nn.Linear(64, 1), n=256))
        >>> bool(log["converged"].all()), log["final_std"].round(1).tolist()
        (True, [1.0, 1.0, 1.0])
    """
    _check(tol, max_iters)
    if not isinstance(inputs, torch.Tensor):
        raise ValueError(f"inputs must be a torch tensor, got {type(inputs).__name__}")
    layers: dict[nn.Module, str] = {m: name for name, m in model.named_modules() if isinstance(m, LSUV_TYPES)}
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv layer for LSUV to rescale")
    kinds = sorted({type(m).__name__ for m in layers})
    plan = {"rules": {k: {"weight": {"scheme": "orthogonal", "gain": 1.0}, "bias": {"scheme": "zeros"}} for k in kinds}}
    # On one thread, start to end: the orthogonal start and every measured std (a sum over
    # a layer's outputs) then have the same bits on any machine (see pinit.threads).
    with single_thread():
        apply_plan(model, plan, seed)
        return _rescale(model, inputs, layers, tol, max_iters)


def _rescale(
    model: nn.Module, inputs: torch.Tensor, layers: dict[nn.Module, str], tol: float, max_iters: int
) -> pd.DataFrame:
    """LSUV's step 2: divide each layer's weight by its output std until |var - 1| < tol."""
    rows = []
    for layer in _forward_order(model, inputs, layers):
        name = layers[layer]
        std = initial = _output_std(model, inputs, layer, name)
        iterations = 0
        while iterations < max_iters and math.isfinite(std) and std > 0 and abs(std**2 - 1) >= tol:
            with torch.no_grad():
                layer.get_parameter("weight").div_(std)
            iterations += 1
            std = _output_std(model, inputs, layer, name)
        rows.append(
            {
                "layer": name,
                "type": type(layer).__name__,
                "iterations": iterations,
                "initial_std": initial,
                "final_std": std,
                "converged": bool(math.isfinite(std) and abs(std**2 - 1) < tol),
            }
        )
    return pd.DataFrame(rows, columns=["layer", "type", "iterations", "initial_std", "final_std", "converged"])
