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
"""

from __future__ import annotations

import pprint
from collections.abc import Mapping
from typing import Any

from torch import nn

from ..models import build_model
from ..plan import InitPlan, assignments, param_seed
from ..schemes import SCHEMES
from .plan_io import model_identity

__all__ = ["export_code"]


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
    branches = []
    for i, name in enumerate(used):
        keyword = "if" if i == 0 else "elif"
        branches.append(f"    {keyword} scheme == {name!r}:\n{_indent(sources[name], 8)}")
    if branches:
        branches.append('    else:\n        raise ValueError(f"no code for scheme {scheme!r}")')
    else:
        branches.append('    raise ValueError(f"no code for scheme {scheme!r}")')

    header = f'''"""init_weights(model): weight init exported by pinit, standalone (needs only torch).

Model: {label}; seed: {seed}.
On a freshly built model of this architecture, init_weights(model) gives parameters
bit-identical to pinit.apply_plan(model, plan, seed={seed}). It works on any model whose
parameters reached by the rules below have a seed in PARAM_SEEDS.

How it works: each parameter is matched by type(module).__name__ and attribute name
(RULES), or by its full name (OVERRIDES, which win); parameters no rule reaches keep
their values. Each reached parameter is drawn from a torch.Generator re-seeded with
PARAM_SEEDS[name] (pinit.param_seed(seed, name), precomputed), so the global RNG is
never touched and changing one layer's rule never re-rolls another layer.

Usage:
    model = MyModel()      # same architecture as above, on the CPU
    init_weights(model)
"""
'''
    imports = ("import math\n\n" if needs_math else "") + "import torch\nfrom torch.nn import init\n"
    fan_in_fn = (
        '''

def _layer_fan_in(module):
    """fan_in of the module's weight (2+ dims), as torch computes it; None if it has none."""
    weight = getattr(module, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dim() >= 2:
        return weight.shape[1] * math.prod(weight.shape[2:])
    return None
'''
        if needs_fan_in
        else ""
    )
    fan_in_call = "_layer_fan_in(module)" if needs_fan_in else "None"

    body = f'''
SEED = {seed}

# layer type (type(module).__name__) -> attribute name -> rule: the scheme and its
# torch keyword arguments, every one spelled out.
RULES = {_literal(plan_dict["rules"])}

# full parameter name -> rule; an override wins over RULES.
OVERRIDES = {_literal(plan_dict["overrides"])}

# full parameter name -> seed of its generator.
PARAM_SEEDS = {_literal(seeds)}


def _fill(tensor, scheme, p, layer_fan_in, generator):
    """Fill `tensor` in place with `scheme` and its keyword arguments `p`."""
{chr(10).join(branches)}
{fan_in_fn}

def init_weights(model):
    """Re-initialize `model` in place by RULES and OVERRIDES, and return it.

    Checks every name first (ValueError listing the problems; nothing is changed),
    then fills each reached parameter under torch.no_grad().
    """
    owners = {{}}
    for module in model.modules():
        for slot, param in module.named_parameters(recurse=False):
            owners.setdefault(id(param), (module, slot))
    todo = []
    names = set()
    problems = []
    for name, param in model.named_parameters():
        names.add(name)
        module, slot = owners[id(param)]
        if name in OVERRIDES:
            rule = OVERRIDES[name]
        else:
            rule = RULES.get(type(module).__name__, {{}}).get(slot)
        if rule is None:
            continue
        if name not in PARAM_SEEDS:
            problems.append(f"{{name!r}} has no seed in PARAM_SEEDS (exported for another model?)")
            continue
        todo.append((name, param, rule, {fan_in_call}))
    for name in OVERRIDES:
        if name not in names:
            problems.append(f"override names {{name!r}}, which is not a parameter of this model")
    if problems:
        raise ValueError("init_weights cannot apply this plan:\\n" + "\\n".join(problems))
    generator = torch.Generator(device="cpu")
    with torch.no_grad():
        for name, param, rule, layer_fan_in in todo:
            generator.manual_seed(PARAM_SEEDS[name])
            _fill(param, rule["scheme"], rule, layer_fan_in, generator)
    return model
'''
    return header + imports + body
