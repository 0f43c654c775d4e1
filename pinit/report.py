"""One call from (model name, plan, seed) to everything a page shows about the weights.

`inspect_model` builds the model with its constructor init drawn from `seed`,
applies the plan, and returns the parameter table, the binned histograms and the
worked formula for every parameter a rule reached. It is a pure function of its
arguments, so a page may cache it by them and share the result across sessions:
no model object ever leaves it.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from .models import build_model
from .plan import InitPlan, apply_plan, assignments
from .schemes import SCHEMES, Scheme
from .stats import Histogram, describe

__all__ = [
    "InitReport",
    "fresh_model",
    "inspect_model",
    "layer_slots",
    "meta_model",
    "parameter_shapes",
    "report_on",
    "schemes_for",
]


@dataclass(frozen=True)
class InitReport:
    model_name: str
    options: Mapping[str, Any]
    plan: InitPlan | None  # None: weights that came from elsewhere (a checkpoint)
    seed: int | None
    table: pd.DataFrame
    histograms: list[Histogram]
    formulas: dict[str, str]  # parameter name -> worked LaTeX, for parameters a rule reached

    @property
    def total_params(self) -> int:
        return int(self.table["numel"].sum())


def inspect_model(
    model_name: str,
    plan: InitPlan | Mapping[str, Any],
    seed: int = 0,
    bins: int = 40,
    options: Mapping[str, Any] | None = None,
) -> InitReport:
    """Build `model_name`, re-initialize it by `plan` with `seed`, and describe it.

    Raises PlanError (nothing built is kept) when the plan does not fit the model.
    """
    plan = InitPlan.from_dict(plan)
    options = dict(options or {})
    model = fresh_model(model_name, plan, seed, options)
    apply_plan(model, plan, seed)
    return report_on(model, model_name, options, bins, plan, seed)


def fresh_model(
    model_name: str, plan: InitPlan, seed: int, options: Mapping[str, Any] | None = None
) -> torch.nn.Module:
    """`model_name` ready for `apply_plan(model, plan, seed)`, whose result is bit-identical
    to `apply_plan(build_model(model_name, seed=seed, **options), plan, seed)`.

    When the plan reaches every parameter and the model has no buffers and no tied weights,
    the constructor's own init would only be overwritten: the model is then a copy of the
    meta-device model given uninitialized CPU storage, skipping a draw that was ~16 % of a
    new seed's server time (bench/CAPACITY.md). Otherwise (an untouched parameter keeps the
    constructor's value, a buffer needs its constructor value) it is built as usual.
    """
    options = dict(options or {})
    meta = meta_model(model_name, options)
    tied = len(list(meta.parameters())) != len(list(meta.named_parameters(remove_duplicate=False)))
    # to_empty makes a new tensor per module, so it would untie tied weights: those build as usual.
    if not tied and not any(True for _ in meta.buffers()) and all(a.rule is not None for a in assignments(meta, plan)):
        return copy.deepcopy(meta).to_empty(device="cpu")
    return build_model(model_name, seed=seed, **options)


def report_on(
    model: torch.nn.Module,
    model_name: str,
    options: Mapping[str, Any] | None = None,
    bins: int = 40,
    plan: InitPlan | None = None,
    seed: int | None = None,
) -> InitReport:
    """Describe weights as they are (e.g. loaded from a checkpoint); `plan` adds expectations."""
    formulas = {}
    if plan is not None:
        formulas = {
            a.name: a.rule.scheme_obj.worked(a.info, a.rule.params)
            for a in assignments(model, plan)
            if a.rule is not None
        }
    table, histograms = describe(model, plan, bins)
    return InitReport(model_name, dict(options or {}), plan, seed, table, histograms, formulas)


@functools.lru_cache(maxsize=64)
def _meta_model(model_name: str, options_json: str) -> torch.nn.Module:
    with torch.device("meta"):  # shapes only: nothing allocated, nothing drawn
        return build_model(model_name, **json.loads(options_json))


def meta_model(model_name: str, options: Mapping[str, Any] | None = None) -> torch.nn.Module:
    """A registered model built on the meta device: its names, types and shapes, no values.

    Cached per process (it depends on nothing but its arguments), so validating a link or
    listing a model's layers costs nothing after the first time. Shared: never modify it.
    """
    return _meta_model(model_name, json.dumps(dict(options or {}), sort_keys=True))


def layer_slots(
    model_name: str, options: Mapping[str, Any] | None = None
) -> dict[str, dict[str, list[tuple[int, ...]]]]:
    """{layer type: {slot: [shapes]}} for a registered model, in first-seen order.

    Read from the meta-device model: no memory is allocated and no random number drawn,
    so it is cheap even for very large models.
    """
    out: dict[str, dict[str, list[tuple[int, ...]]]] = {}
    for a in assignments(meta_model(model_name, options), {}):
        out.setdefault(a.layer_type, {}).setdefault(a.slot, []).append(a.info.shape)
    return out


def parameter_shapes(model_name: str, options: Mapping[str, Any] | None = None) -> dict[str, tuple[int, ...]]:
    """{parameter name: shape} of a registered model (named_parameters order), from the meta-device model."""
    return {n: tuple(p.shape) for n, p in meta_model(model_name, options).named_parameters()}


def schemes_for(shapes: list[tuple[int, ...]]) -> list[Scheme]:
    """Schemes whose dims suit every shape (a slot's tensors all share one rule)."""
    return [s for s in SCHEMES.values() if all(s.supports_dims(len(shape)) for shape in shapes)]
