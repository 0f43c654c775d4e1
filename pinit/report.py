"""One call from a Setup (model, options, plan, seed) to everything a page shows about the weights.

`inspect_model(setup)` builds the model with its constructor init drawn from the setup's
seed, applies the plan, and returns the parameter table, the binned histograms and the
worked formula for every parameter a rule reached. It is a pure function of the Setup
(whose `key` is the cache key), so a page may cache it and share the result across
sessions: no model object ever leaves it.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from .models import build_model
from .plan import InitPlan, apply_plan, assignments
from .schemes import SCHEMES, Scheme
from .stats import Histogram, describe

if TYPE_CHECKING:  # setup.py imports meta_model from here: the class is needed for annotations only
    from .setup import Setup

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


def inspect_model(setup: Setup, bins: int = 40) -> InitReport:
    """Build the setup's model, re-initialize it by its plan and seed, and describe it.

    Raises PlanError (nothing built is kept) when the plan does not fit the model.
    """
    model = fresh_model(setup)
    apply_plan(model, setup.plan, setup.seed)
    return report_on(model, setup, bins)


def fresh_model(setup: Setup) -> torch.nn.Module:
    """The setup's model ready for `apply_plan(model, setup.plan, setup.seed)`, whose result is
    bit-identical to `apply_plan(build_model(setup.model, seed=setup.seed, **setup.options), setup.plan, setup.seed)`.

    When the plan reaches every parameter and the model has no buffers and no tied weights,
    the constructor's own init would only be overwritten: the model is then a copy of the
    meta-device model given uninitialized CPU storage, skipping a draw the plan overwrites
    anyway (bench/CAPACITY.md measures what it saves). Otherwise (an untouched parameter keeps
    the constructor's value; a buffer, or a plain tensor attribute such as a mask kept without
    register_buffer, needs its constructor value) it is built as usual.
    """
    options = dict(setup.options)
    meta = meta_model(setup.model, options)
    tied = len(list(meta.parameters())) != len(list(meta.named_parameters(remove_duplicate=False)))
    # to_empty makes a new tensor per module, so it would untie tied weights: those build as usual.
    loose = any(isinstance(v, torch.Tensor) for m in meta.modules() for v in vars(m).values())
    if (
        not tied
        and not loose
        and not any(True for _ in meta.buffers())
        and all(a.rule is not None for a in assignments(meta, setup.plan))
    ):
        return copy.deepcopy(meta).to_empty(device="cpu")
    return build_model(setup.model, seed=setup.seed, **options)


def report_on(model: torch.nn.Module, setup: Setup, bins: int = 40, *, from_plan: bool = True) -> InitReport:
    """Describe `model`'s weights as they are, labelled by `setup` (its model name and options).

    `from_plan`: the weights are the setup's plan drawn with its seed, so each parameter a
    rule reached gets its expected std and worked formula. False: they came from elsewhere
    (a checkpoint loaded into the setup's model), so the report has no plan, seed or formulas.
    """
    plan = setup.plan if from_plan else None
    formulas = {}
    if plan is not None:
        formulas = {
            a.name: a.rule.scheme_obj.worked(a.info, a.rule.params)
            for a in assignments(model, plan)
            if a.rule is not None
        }
    table, histograms = describe(model, plan, bins)
    return InitReport(
        setup.model, dict(setup.options), plan, setup.seed if from_plan else None, table, histograms, formulas
    )


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
