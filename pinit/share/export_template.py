# mypy: disable-error-code="var-annotated,assignment,no-untyped-def,no-untyped-call"
# ruff: noqa: SIM108
"""The fixed part of the script `export_code` writes, as Python that ruff and mypy check.

`pinit.share.export.export_code` copies the source of the functions below
(inspect.getsource) into the script, after the script's docstring (`SCRIPT_DOCSTRING`),
its imports and its data (`DATA`: SEED, RULES, OVERRIDES, PARAM_SEEDS, computed for the
plan, seed and model). The module-level RULES, OVERRIDES and PARAM_SEEDS here are empty
stand-ins with the types the data has, so the functions type-check as they will run.

Substitution points (all in export.py, each a plain text replacement):

* `SCRIPT_DOCSTRING` and `DATA`: ``{label}``, ``{seed}``, ``{rules}``, ``{overrides}``,
  ``{param_seeds}`` (str.format).
* `_fill`: everything after its docstring is replaced by one ``if scheme == ...`` branch per
  scheme the plan names, each the scheme's `Scheme.export_source`; its body here is what
  the script gets when the plan names no scheme.
* `_layer_fan_in`: copied only when a scheme's code uses ``layer_fan_in``; otherwise
  `init_weights`'s call ``_layer_fan_in(module)`` is written ``None``.

The script needs only torch (and math): the functions here must use nothing else, and stay
without annotations, since the script carries their source as it is. For the same reason the
checks that would need the script's text changed are off in this file only (the first two lines): mypy's
annotation of the empty dict `owners` and the narrowing of `rule` (a rule dict, then None for
an unreached slot), mypy --strict's demand for annotations, and ruff's rewrite of the
override-or-rule if/else into one long line.
"""

import math
from typing import Any

import torch
from torch.nn import init  # noqa: F401  (the schemes' code that export_code puts in _fill uses it)

__all__ = ["DATA", "SCRIPT_DOCSTRING", "init_weights"]

SCRIPT_DOCSTRING = '''"""init_weights(model): weight init exported by pinit, standalone (needs only torch).

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

DATA = """
SEED = {seed}

# layer type (type(module).__name__) -> attribute name -> rule: the scheme and its
# torch keyword arguments, every one spelled out.
RULES = {rules}

# full parameter name -> rule; an override wins over RULES.
OVERRIDES = {overrides}

# full parameter name -> seed of its generator.
PARAM_SEEDS = {param_seeds}


"""

RULES: dict[str, dict[str, dict[str, Any]]] = {}
OVERRIDES: dict[str, dict[str, Any]] = {}
PARAM_SEEDS: dict[str, int] = {}


def _fill(tensor, scheme, p, layer_fan_in, generator):
    """Fill `tensor` in place with `scheme` and its keyword arguments `p`."""
    raise ValueError(f"no code for scheme {scheme!r}")


def _layer_fan_in(module):
    """fan_in of the module's weight (2+ dims), as torch computes it; None if it has none."""
    weight = getattr(module, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dim() >= 2:
        return weight.shape[1] * math.prod(weight.shape[2:])
    return None


def init_weights(model):
    """Re-initialize `model` in place by RULES and OVERRIDES, and return it.

    Checks every name first (ValueError listing the problems; nothing is changed),
    then fills each reached parameter under torch.no_grad().
    """
    owners = {}
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
            rule = RULES.get(type(module).__name__, {}).get(slot)
        if rule is None:
            continue
        if name not in PARAM_SEEDS:
            problems.append(f"{name!r} has no seed in PARAM_SEEDS (exported for another model?)")
            continue
        todo.append((name, param, rule, _layer_fan_in(module)))
    for name in OVERRIDES:
        if name not in names:
            problems.append(f"override names {name!r}, which is not a parameter of this model")
    if problems:
        raise ValueError("init_weights cannot apply this plan:\n" + "\n".join(problems))
    generator = torch.Generator(device="cpu")
    with torch.no_grad():
        for name, param, rule, layer_fan_in in todo:
            generator.manual_seed(PARAM_SEEDS[name])
            _fill(param, rule["scheme"], rule, layer_fan_in, generator)
    return model
