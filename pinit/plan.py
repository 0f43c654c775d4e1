"""InitPlan: which scheme fills which parameter, checked whole before anything is drawn.

A plan has rules per layer type (the module's class name, e.g. "Conv2d") and
parameter slot (the attribute name, e.g. "weight", "bias"), and overrides per full
parameter name, which win over rules::

    {"rules": {"Conv2d": {"weight": {"scheme": "kaiming_normal", "nonlinearity": "relu"},
                          "bias": {"scheme": "zeros"}}},
     "overrides": {"layer4.fc3.weight": {"scheme": "normal", "std": 0.01}}}

A rule's keys besides "scheme" are the torch keyword arguments; unnamed ones take the
scheme's defaults. Parameters no rule reaches keep their values.

Seeding: one `torch.Generator`, re-seeded for each parameter from (seed, parameter
name). Same model, plan and seed give bit-identical parameters; changing the rule of
one layer type never re-rolls the others; the global RNG is never touched.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import threading
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import checks
from .errors import MAX_PROBLEMS, PlanError
from .fans import layer_fans
from .schemes import SCHEMES, Scheme, TensorInfo, get_scheme
from .text import quote, shorten

__all__ = [
    "MAX_SEED",
    "Assignment",
    "InitPlan",
    "Rule",
    "apply_plan",
    "assignments",
    "check_plan",
    "label",
    "param_seed",
    "quoted_list",
    "unmatched_rules",
]

# One lock per model object for apply_plan (see its docstring); weak keys, so a model's lock
# goes when the model does.
_FILL_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.Lock] = weakref.WeakKeyDictionary()
_FILL_LOCKS_GUARD = threading.Lock()
_MAX_NAMES = 200  # parameter names listed in a message (DeepMLP(depth=100) has 200)
MAX_SEED = checks.MAX_SEED  # the one seed range of pinit: links, plan files, the CLI and the sidebar


@dataclass(frozen=True)
class Rule:
    """A scheme and its full, checked keyword arguments.

    Args:
        scheme: a registered scheme's name (``pinit.SCHEMES``).
        params: every keyword argument of the scheme, defaults filled in.

    Example:
        >>> import pinit
        >>> pinit.Rule.from_dict({"scheme": "normal", "std": 0.02}, where="Linear.weight")
        Rule(scheme='normal', params={'mean': 0.0, 'std': 0.02})
    """

    scheme: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Rule:
        """Parse {"scheme": name, **kwargs}; `where` names the rule in error messages."""
        if isinstance(d, str):
            d = {"scheme": d}
        if not isinstance(d, Mapping) or "scheme" not in d:
            raise PlanError(f"{where}: a rule must be an object with a 'scheme' key, got {quote(d)}")
        scheme = get_scheme_for(d["scheme"], where)
        kwargs = {k: v for k, v in d.items() if k != "scheme"}
        try:
            return cls(scheme.name, scheme.resolve(kwargs))
        except PlanError as e:
            # The scheme's messages echo the values they were given: keep each one short.
            raise PlanError([f"{where}: {shorten(p)}" for p in e.problems]) from None

    def to_dict(self) -> dict[str, Any]:
        return {"scheme": self.scheme, **self.params}

    @property
    def scheme_obj(self) -> Scheme:
        return get_scheme(self.scheme)


def get_scheme_for(name: Any, where: str) -> Scheme:
    """The scheme `name`, or PlanError naming the rule (`where`) and the unknown name, quoted short."""
    if not isinstance(name, str) or name not in SCHEMES:
        raise PlanError(f"{where}: unknown scheme {quote(name)}; known schemes: {', '.join(SCHEMES)}")
    return get_scheme(name)


def label(name: object) -> str:
    """A user-given name (layer type, slot, parameter) for a message: as it is if short and
    printable, else quoted and cut (a 150 kB layer type name must not make a 150 kB message)."""
    text = str(name)
    return text if len(text) <= 60 and text.isprintable() else quote(text)


def quoted_list(names: list[Any], limit: int = MAX_PROBLEMS) -> str:
    """'a', 'b', ... for the first `limit` names, then "and N more"."""
    shown = ", ".join(quote(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


@dataclass(frozen=True)
class InitPlan:
    """Rules per (layer type, slot) and overrides per parameter name. Build with from_dict.

    A rule for ("Linear", "weight") reaches every Linear layer's weight; an override
    names one parameter ("fc3.weight") and wins over the rule. A parameter no rule
    reaches keeps the value it has.

    Args:
        rules: {layer type: {slot: Rule}}.
        overrides: {parameter name: Rule}.

    Example:
        >>> import pinit
        >>> plan = pinit.InitPlan.from_dict(
        ...     {"rules": {"Linear": {"weight": {"scheme": "xavier_uniform"}}},
        ...      "overrides": {"fc3.weight": {"scheme": "zeros"}}})
        >>> plan.rules["Linear"]["weight"]
        Rule(scheme='xavier_uniform', params={'gain': 1.0})
        >>> plan.rule_for("fc3.weight", "Linear", "weight")
        Rule(scheme='zeros', params={})
    """

    rules: Mapping[str, Mapping[str, Rule]] = field(default_factory=dict)
    overrides: Mapping[str, Rule] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Any) -> InitPlan:
        """Parse and check a plan dict; PlanError lists every problem found."""
        if isinstance(d, InitPlan):
            return d
        if not isinstance(d, Mapping):
            raise PlanError(f"a plan must be an object with 'rules' and/or 'overrides', got {type(d).__name__}")
        problems: list[str] = []
        extra = sorted(set(d) - {"rules", "overrides"}, key=str)
        if extra:
            problems.append(f"a plan takes only 'rules' and 'overrides'; unknown keys: [{quoted_list(extra)}]")
        rules: dict[str, dict[str, Rule]] = {}
        raw_rules = d.get("rules") if d.get("rules") is not None else {}
        if not isinstance(raw_rules, Mapping):
            problems.append("'rules' must map layer types to {slot: rule}")
            raw_rules = {}
        for layer_type, slots in raw_rules.items():
            if not isinstance(slots, Mapping):
                problems.append(f"rules[{quote(layer_type)}] must map slots such as 'weight' and 'bias' to rules")
                continue
            for slot, raw in slots.items():
                try:
                    rule = Rule.from_dict(raw, f"{label(layer_type)}.{label(slot)}")
                    rules.setdefault(str(layer_type), {})[str(slot)] = rule
                except PlanError as e:
                    problems.extend(e.problems)
        overrides: dict[str, Rule] = {}
        raw_over = d.get("overrides") if d.get("overrides") is not None else {}
        if not isinstance(raw_over, Mapping):
            problems.append("'overrides' must map parameter names to rules")
            raw_over = {}
        for name, raw in raw_over.items():
            try:
                overrides[str(name)] = Rule.from_dict(raw, f"override {label(name)}")
            except PlanError as e:
                problems.extend(e.problems)
        if problems:
            raise PlanError(problems)
        return cls(rules, overrides)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules": {lt: {slot: r.to_dict() for slot, r in slots.items()} for lt, slots in self.rules.items()},
            "overrides": {name: r.to_dict() for name, r in self.overrides.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def rule_for(self, name: str, layer_type: str, slot: str) -> Rule | None:
        """The override for `name` if any, else the rule for (layer_type, slot), else None."""
        if name in self.overrides:
            return self.overrides[name]
        return self.rules.get(layer_type, {}).get(slot)


@dataclass(frozen=True)
class Assignment:
    """One parameter of a model, where it lives, and the rule that reaches it (or None)."""

    name: str
    layer: str
    layer_type: str
    slot: str
    param: nn.Parameter
    info: TensorInfo
    rule: Rule | None
    source: str  # "override", "rule" or "untouched"
    # The layer's own (fan_in, fan_out) by pinit.fans (HF Conv1D stores (in, out), ...); None
    # under 2 dims. `info` keeps torch's shape rule: it is what torch's fills (and the laws) use.
    fans: tuple[int, int] | None = None


def _layer_fan_in(module: nn.Module) -> int | None:
    w = getattr(module, "weight", None)
    if isinstance(w, torch.Tensor) and w.dim() >= 2:
        return TensorInfo(tuple(w.shape)).fan_in
    return None


_QR_DTYPES = (torch.float32, torch.float64)  # torch.linalg.qr has no float16/bfloat16 CPU kernel


def _dtype_problem(scheme: Scheme, dtype: torch.dtype) -> str | None:
    """Why `scheme` cannot fill a tensor of `dtype`, or None. Tried for every scheme and dtype:
    torch raises NotImplementedError only for these, and only mid-fill, after other tensors
    have changed (tests/test_plan.py refuses them before anything changes)."""
    if scheme.random and not (dtype.is_floating_point and not dtype.is_complex):
        return f"{scheme.name} draws random numbers, so it needs a floating-point tensor"
    if scheme.name == "orthogonal" and dtype not in _QR_DTYPES:
        return f"orthogonal needs a float32 or float64 tensor (torch's QR has no {dtype} kernel)"
    return None


def assignments(model: nn.Module, plan: InitPlan | Mapping[str, Any]) -> list[Assignment]:
    """Every parameter of `model` (named_parameters order) with the rule that reaches it.

    Args:
        model: any nn.Module.
        plan: an InitPlan, or the dict InitPlan.from_dict takes.

    Returns:
        One Assignment per parameter: its name, layer, layer type, slot, fans and the
        Rule that reaches it (None: no rule does, it keeps its value).

    Raises:
        PlanError: listing every override naming no parameter and every scheme a
            tensor's shape or dtype can't take (a random scheme on an integer parameter,
            orthogonal on float16/bfloat16), so nothing is drawn from a plan that would
            fail halfway.

    Example:
        >>> import pinit
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))
        >>> plan = {"rules": {"Linear": {"weight": {"scheme": "kaiming_normal"}}}}
        >>> [(a.name, a.rule and a.rule.scheme, a.fans) for a in pinit.assignments(model, plan)]
        [('0.weight', 'kaiming_normal', (100, 50)), ('0.bias', None, None),
         ('2.weight', 'kaiming_normal', (50, 10)), ('2.bias', None, None)]
    """
    plan = InitPlan.from_dict(plan)
    owners: dict[int, tuple[str, nn.Module, str]] = {}
    for mod_name, module in model.named_modules():
        for slot, p in module.named_parameters(recurse=False):
            owners.setdefault(id(p), (mod_name, module, slot))
    out: list[Assignment] = []
    problems: list[str] = []
    names: dict[str, None] = {}  # a set that keeps named_parameters order
    for name, p in model.named_parameters():
        names[name] = None
        mod_name, module, slot = owners[id(p)]
        layer_type = type(module).__name__
        rule = plan.rule_for(name, layer_type, slot)
        source = "untouched" if rule is None else ("override" if name in plan.overrides else "rule")
        info = TensorInfo(tuple(p.shape), _layer_fan_in(module))
        if rule is not None:
            why = rule.scheme_obj.check_tensor(info, rule.params)
            if why:
                problems.append(f"{why}; {name} has shape {tuple(p.shape)}")
            why = _dtype_problem(rule.scheme_obj, p.dtype)
            if why:
                problems.append(f"{why}; {name} has dtype {p.dtype}")
        fans = layer_fans(module, slot, tuple(p.shape))
        out.append(Assignment(name, mod_name, layer_type, slot, p, info, rule, source, fans))
    unknown = [name for name in plan.overrides if name not in names]
    if unknown:
        problems.append(_unknown_overrides(unknown, type(model).__name__, list(names)))
    if problems:
        raise PlanError(problems)
    return out


def _unknown_overrides(unknown: list[str], model: str, names: list[str]) -> str:
    """One problem for every override that names no parameter, naming the model's parameters once
    (it was one problem per override, each listing them all: 193 MB of text for a 924 kB file)."""
    params = ", ".join(names[:_MAX_NAMES]) + (f" and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else "")
    if len(unknown) == 1:
        head = f"override names {quote(unknown[0])}, which is not a parameter of {model}"
    else:
        head = f"{len(unknown):,} overrides name no parameter of {model}: {quoted_list(unknown)}"
    return f"{head}; its parameters are: {params}"


def _layer_slots(model: nn.Module) -> dict[str, set[str]]:
    """Layer type -> the parameter slots its modules in `model` hold."""
    present: dict[str, set[str]] = {}
    for module in model.modules():
        for slot, _p in module.named_parameters(recurse=False):
            present.setdefault(type(module).__name__, set()).add(slot)
    return present


def _torch_layer_types() -> set[str]:
    return {n for n, c in vars(nn).items() if isinstance(c, type) and issubclass(c, nn.Module)}


def unmatched_rules(
    model: nn.Module, plan: InitPlan | Mapping[str, Any], name: str | None = None, typos_only: bool = False
) -> list[str]:
    """Rules of `plan` that reach no parameter of `model`, in words (the CLI's warnings).

    A layer type the model has no module of with parameters, and a slot no module of that
    type holds. `name` names the model in the words (default: its class name). With
    `typos_only`, only what looks like a typo: a layer type that is neither in the model nor
    a torch.nn layer ("conv2d"), and a slot that no module of its type has as an attribute
    ("wieght"); a preset's Conv2d rule on an MLP, or a bias rule on Linear(bias=False), is
    then not reported. A typo's message suggests the closest name where there is one.
    """
    plan = InitPlan.from_dict(plan)
    name = name or type(model).__name__
    present = _layer_slots(model)
    known = _torch_layer_types() | {type(m).__name__ for m in model.modules()}
    out = []
    for layer_type, slots in plan.rules.items():
        if layer_type not in present:
            if typos_only and layer_type in known:
                continue
            close = [] if layer_type in known else difflib.get_close_matches(layer_type, list(present), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""  # a real layer type (Conv3d) is no typo
            out.append(
                f"rules for {label(layer_type)} reach nothing: {name} has no {label(layer_type)} layer with "
                f"parameters (its layer types: {', '.join(sorted(present)) or 'none'}){hint}"
            )
            continue
        for slot in slots:
            if slot in present[layer_type]:
                continue
            if typos_only and any(type(m).__name__ == layer_type and hasattr(m, slot) for m in model.modules()):
                continue
            close = difflib.get_close_matches(slot, sorted(present[layer_type]), n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]}?" if close else ""
            out.append(
                f"rule {layer_type}.{label(slot)} reaches nothing: {layer_type} has parameters "
                f"{', '.join(sorted(present[layer_type]))}{hint}"
            )
    return out


def _unmatched(model: nn.Module, plan: InitPlan, strict: bool, stacklevel: int) -> list[str]:
    """strict: every unmatched rule, to be refused; else warn (warnings.warn) about the typos, return []."""
    if strict:
        return unmatched_rules(model, plan)
    for text in unmatched_rules(model, plan, typos_only=True):
        warnings.warn(text, UserWarning, stacklevel=stacklevel + 1)
    return []


def check_plan(model: nn.Module, plan: InitPlan | Mapping[str, Any], strict: bool = False) -> list[str]:
    """Every problem applying `plan` to `model` would hit, in words (empty list: fine).

    Rules that reach nothing because of a typo (layer type "conv2d", slot "wieght") are
    warned about (warnings.warn, the CLI's words); with `strict` every rule that reaches
    nothing is one of the problems returned.

    Args:
        model: any nn.Module.
        plan: an InitPlan or its dict; a dict that is not a valid plan is a problem too.
        strict: count a rule that reaches nothing as a problem.

    Returns:
        Every problem, one sentence each: what is wrong and what is allowed.

    Example:
        >>> import pinit
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))
        >>> pinit.check_plan(model, {"rules": {"Linear": {"weight": {"scheme": "kaiming_normal"}}}})
        []
        >>> pinit.check_plan(model, {"rules": {"Linear": {"weight": {"scheme": "gaussian"}}}})
        ["Linear.weight: unknown scheme 'gaussian'; known schemes: default, uniform, normal, ..."]
        >>> pinit.check_plan(model, {"rules": {"Conv2d": {"weight": {"scheme": "ones"}}}}, strict=True)
        ['rules for Conv2d reach nothing: Sequential has no Conv2d layer with parameters (its layer types: Linear)']
    """
    try:
        plan = InitPlan.from_dict(plan)
        assignments(model, plan)
    except PlanError as e:
        return e.problems
    return _unmatched(model, plan, strict, stacklevel=2)


def _check_seed(seed: Any) -> int:
    """pinit.checks.seed, raising PlanError (what apply_plan and param_seed promise)."""
    try:
        return checks.seed(seed)
    except ValueError as e:
        raise PlanError(str(e)) from None


def param_seed(seed: int, name: str) -> int:
    """The generator seed for parameter `name`: sha256 of "seed:name", 63 bits.

    Each parameter gets its own stream, so one parameter's values depend on the seed
    and its name only: not on the order of the layers, nor on which other parameters
    a plan reaches.

    Args:
        seed: the plan's seed, 0 to pinit.plan.MAX_SEED.
        name: the parameter's name in ``model.named_parameters()``.

    Returns:
        A seed for ``torch.Generator().manual_seed``, 0 to 2**63 - 1.

    Example:
        >>> import pinit
        >>> pinit.param_seed(0, "fc1.weight") == pinit.param_seed(0, "fc1.weight")
        True
        >>> pinit.param_seed(0, "fc1.weight") == pinit.param_seed(0, "fc2.weight")
        False
    """
    digest = hashlib.sha256(f"{_check_seed(seed)}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & MAX_SEED


def _fill_lock(model: nn.Module) -> threading.Lock:
    """The lock serializing apply_plan calls on `model` (created on first use, dropped with the model)."""
    with _FILL_LOCKS_GUARD:
        lock = _FILL_LOCKS.get(model)
        if lock is None:
            lock = _FILL_LOCKS[model] = threading.Lock()
        return lock


def apply_plan(model: nn.Module, plan: InitPlan | Mapping[str, Any], seed: int = 0, strict: bool = False) -> nn.Module:
    """Re-initialize `model` in place by `plan` and return it.

    The whole plan is checked against the model first (PlanError, nothing changed);
    then each reached parameter is filled under torch.no_grad() from a generator
    seeded with `param_seed(seed, name)`. Works on any nn.Module.

    Threads: torch's in-place fills are not thread-safe (trunc_normal_ is five in-place
    steps; another thread's erfinv_ between them gives NaN), so calls on the same model
    object are serialized by a per-model lock: concurrent calls never mix into NaN, the
    last one wins. That does not make a shared model safe: a thread reading it (a forward
    pass, parameter_table) while another re-initializes it sees half-filled weights, and
    two different module objects that share parameters are not serialized. Give each
    thread (each dashboard session) its own model, as pinit's page and CLI do.

    A rule that reaches nothing because of a typo (layer type "conv2d" where the model has
    Conv2d, slot "wieght") changes nothing and is warned about (warnings.warn, the CLI's
    words); `strict=True` raises PlanError for every rule that reaches nothing, typo or not
    (a preset's Conv2d rule on an MLP included), before anything is drawn.

    Args:
        model: any nn.Module; changed in place.
        plan: an InitPlan, or the dict InitPlan.from_dict takes.
        seed: 0 to pinit.plan.MAX_SEED; the same (model, plan, seed) gives the same bits,
            every draw from a seeded generator (param_seed), never the global RNG.
        strict: refuse (PlanError) a rule that reaches no parameter, typo or not.

    Returns:
        `model`, re-initialized.

    Example:
        >>> import pinit, torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))
        >>> plan = {"rules": {"Linear": {"weight": {"scheme": "kaiming_normal", "nonlinearity": "relu"},
        ...                              "bias": {"scheme": "zeros"}}}}
        >>> model = pinit.apply_plan(model, plan, seed=0)
        >>> round(model[0].weight.std().item(), 2)  # sqrt(2 / fan_in) = sqrt(2 / 100) = 0.141
        0.14
        >>> model[0].bias.abs().max().item()
        0.0
        >>> again = pinit.apply_plan(nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10)), plan, seed=0)
        >>> torch.equal(again[0].weight, model[0].weight)
        True
    """
    _check_seed(seed)
    plan = InitPlan.from_dict(plan)
    todo = [(a, a.rule) for a in assignments(model, plan) if a.rule is not None]
    unmatched = _unmatched(model, plan, strict, stacklevel=2)
    if unmatched:
        raise PlanError(unmatched)
    generator = torch.Generator(device="cpu")
    with _fill_lock(model), torch.no_grad():
        for a, rule in todo:
            generator.manual_seed(param_seed(seed, a.name))
            rule.scheme_obj.fill(a.param, rule.params, a.info, generator)
    return model
