"""Export a plan as a standalone Python script that needs only torch.

`export_code(plan, seed, model_name)` writes a script defining ``init_weights(model)``.
Applied to a freshly built model of the same architecture, it gives parameters
bit-identical to ``pinit.apply_plan(model, plan, seed)``: it walks
``named_parameters()`` the same way, picks the rule by ``type(module).__name__`` and
attribute name (overrides by full name win), and calls the same ``torch.nn.init``
function with the same arguments from a ``torch.Generator`` re-seeded per parameter.

Why a model is needed: pinit seeds each parameter from sha256("seed:name"). The
script must not import pinit or hashlib, so those seeds are precomputed and embedded
as a literal dict keyed by parameter name, and the names are only known from a
model. Pass `model` (any nn.Module) or `model_name` (+ `model_options`) of a
registered model. The script then works on any model whose reached parameter names
are in that dict, and says in words which names are missing otherwise.
`setup_to_script(setup)` is the same for a Setup (as `plan_io.setup_to_plan_file` is for
plan files), reading the names from the model on the meta device: nothing is drawn.
"""

from __future__ import annotations

import inspect
import pprint
from collections.abc import Mapping
from typing import Any

from torch import nn

from ..models import build_model
from ..plan import InitPlan, assignments, param_seed
from ..report import meta_model
from ..schemes import SCHEMES
from ..setup import Setup
from . import export_template as template
from .plan_io import model_identity

__all__ = ["export_code", "setup_to_script"]


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


def _literal(value: Any) -> str:
    """A Python literal for plain data; floats use repr, which round-trips exactly."""
    return pprint.pformat(value, indent=1, width=100, sort_dicts=False)


def export_code(
    plan: InitPlan | Mapping[str, Any],
    seed: int,
    model_name: str | None = None,
    *,
    model: nn.Module | None = None,
    model_options: Mapping[str, Any] | None = None,
) -> str:
    """The source of a standalone script defining ``init_weights(model)``.

    Guarantees:
    * the script imports only ``torch`` (and ``math`` when a scheme's code uses it:
      "default" and "sparse");
    * for a fresh model of the architecture given here, ``init_weights(model)`` leaves
      every parameter bit-identical to ``pinit.apply_plan(model, plan, seed)`` and
      untouched parameters unchanged; it never touches the global RNG ("sparse"
      included: like pinit, it draws the zero rows from the parameter's generator,
      where torch.nn.init.sparse_ would use the global RNG);
    * the plan is checked against that model first (PlanError listing every problem),
      so the exported script never fails halfway on it.

    The architecture comes from `model` (any nn.Module; wins if both are given) or
    from `model_name` and `model_options` of a registered model (see pinit.MODELS);
    one of them is required (ValueError otherwise), because the per-parameter seeds
    are embedded by name. Only the names a rule or override reaches get a seed.
    """
    plan = InitPlan.from_dict(plan)
    param_seed(seed, "")  # PlanError for a bad seed, even if the plan reaches nothing
    if model is None:
        if model_name is None:
            raise ValueError(
                "export_code needs the model's parameter names to embed their seeds: "
                "pass model=<nn.Module> or model_name=<one of pinit.MODELS>"
            )
        model = build_model(model_name, **dict(model_options or {}))
    name, options = model_identity(model)
    settings = ", ".join(f"{k}={v!r}" for k, v in options.items())
    label = (name or type(model).__name__) + (f" ({settings})" if options else "")
    reached = [a for a in assignments(model, plan) if a.rule is not None]
    seeds = {a.name: param_seed(seed, a.name) for a in reached}  # also checks the seed

    # Every scheme the plan names, reached here or not: RULES embeds the whole plan.
    used = sorted(
        {r.scheme for slots in plan.rules.values() for r in slots.values()}
        | {r.scheme for r in plan.overrides.values()}
    )
    # Each scheme's fill as source (Scheme.export_source), the same numbers as its fill_fn.
    sources = {name: SCHEMES[name].export_source for name in used}
    needs_fan_in = any("layer_fan_in" in src for src in sources.values())
    needs_math = needs_fan_in or any("math." in src for src in sources.values())  # _layer_fan_in uses math

    plan_dict = plan.to_dict()
    fill = inspect.getsource(template._fill)
    if used:
        # Keep the def line and docstring; the body becomes one branch per scheme.
        docstring_end = fill.index('"""\n', fill.index('"""') + 3) + 4
        branches = [
            f"    {'if' if i == 0 else 'elif'} scheme == {name!r}:\n{_indent(sources[name], 8)}"
            for i, name in enumerate(used)
        ]
        branches.append('    else:\n        raise ValueError(f"no code for scheme {scheme!r}")')
        fill = fill[:docstring_end] + "\n".join(branches) + "\n"
    init_weights = inspect.getsource(template.init_weights)
    functions = [fill, init_weights]
    if needs_fan_in:
        functions.insert(1, inspect.getsource(template._layer_fan_in))
    else:
        assert init_weights.count("_layer_fan_in(module)") == 1
        functions[1] = init_weights.replace("_layer_fan_in(module)", "None")

    header = template.SCRIPT_DOCSTRING.format(label=label, seed=seed)
    imports = ("import math\n\n" if needs_math else "") + "import torch\nfrom torch.nn import init\n"
    data = template.DATA.format(
        seed=seed,
        rules=_literal(plan_dict["rules"]),
        overrides=_literal(plan_dict["overrides"]),
        param_seeds=_literal(seeds),
    )
    return header + imports + data + "\n\n".join(functions)


def setup_to_script(setup: Setup) -> str:
    """`export_code` of a Setup: its plan and seed, with the parameter names of its model (and
    options) read from the meta-device model, so even a 100 M-parameter model costs no memory.

    Raises PlanError (listing every problem) when the plan does not fit the setup's model.
    """
    return export_code(setup.plan, setup.seed, model=meta_model(setup.model, setup.options))
