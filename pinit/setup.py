"""Setup: everything that decides a model's weights (model, its options, plan, seed), as one value.

One frozen dataclass for what used to be three shapes of the same idea (the page's
config dict, the link's state, a plan file's metadata). It is the cache key of every
per-setup result (`Setup.key` is canonical JSON: two setups that mean the same weights
have the same key), and it reads and writes the two ways a setup travels:

* a link: ``pinit.share.urlstate.state_from_query(params)`` / ``setup_to_query(setup)``;
* a plan file: ``pinit.share.plan_io.setup_from_plan_file(data)`` / ``setup_to_plan_file(setup)``.

The core never imports share/: those two modules know Setup, not the other way round.

A Setup is checked for types when it is made (a plan that parses, options that are
plain values, a seed in range); whether the plan fits the model's shapes is `problems()`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from typing import Any

from torch import nn

from . import checks
from .plan import InitPlan, apply_plan, check_plan
from .report import fresh_model, meta_model

__all__ = ["DEFAULT_MODEL", "Setup"]

DEFAULT_MODEL = "SimpleCNN"


@dataclasses.dataclass(frozen=True)
class Setup:
    """model (a registered name), options (that model's constructor options), plan, seed."""

    model: str = DEFAULT_MODEL
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    plan: InitPlan = dataclasses.field(default_factory=InitPlan)
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.model, str):
            raise ValueError(f"model must be a model name, got {self.model!r}")
        if not isinstance(self.options, Mapping) or not all(isinstance(k, str) for k in self.options):
            raise ValueError(f"options must map option names to values, got {self.options!r}")
        checks.seed(self.seed)
        # Canonical forms, so that equal setups compare, hash and serialize alike.
        object.__setattr__(self, "options", dict(sorted(self.options.items())))
        object.__setattr__(self, "plan", InitPlan.from_dict(self.plan))

    @functools.cached_property
    def key(self) -> str:
        """Canonical JSON of the whole setup: the cache key of everything computed from it."""
        doc = {"model": self.model, "options": dict(self.options), "plan": self.plan.to_dict(), "seed": self.seed}
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    def __hash__(self) -> int:
        return hash(self.key)

    @classmethod
    def from_key(cls, key: str) -> Setup:
        d = json.loads(key)
        return cls(d["model"], d["options"], d["plan"], d["seed"])

    def replace(self, **changes: Any) -> Setup:
        """A copy with some fields changed (plan may be a dict)."""
        return dataclasses.replace(self, **changes)

    @property
    def plan_dict(self) -> dict[str, Any]:
        return self.plan.to_dict()

    def problems(self) -> list[str]:
        """Why this setup cannot be applied (unknown model or options, a plan its shapes can't take); [] if it can."""
        try:
            model = meta_model(self.model, self.options)
        except (ValueError, TypeError) as e:
            return [str(e)]
        return check_plan(model, self.plan)

    def build(self) -> nn.Module:
        """The model with its constructor init drawn from `seed`, then re-initialized by the plan.

        Raises PlanError / ValueError (nothing is kept) when the setup does not apply.
        """
        model = fresh_model(self)  # skips the constructor's draw when the plan overwrites every parameter
        apply_plan(model, self.plan, self.seed)
        return model
