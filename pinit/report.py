"""One call from (model name, plan, seed) to everything a page shows about the weights.

`inspect_model` builds the model with its constructor init drawn from `seed`,
applies the plan, and returns the parameter table, the binned histograms and the
worked formula for every parameter a rule reached. It is a pure function of its
arguments, so a page may cache it by them and share the result across sessions:
no model object ever leaves it.
"""

from __future__ import annotations

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

__all__ = ["InitReport", "inspect_model", "layer_slots", "meta_model", "parameter_shapes", "report_on", "schemes_for"]


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
    model = build_model(model_name, seed=seed, **options)
    apply_plan(model, plan, seed)
    return report_on(model, model_name, options, bins, plan, seed)


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
