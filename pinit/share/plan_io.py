"""Plan files: write a plan (with its seed and model) as JSON, and read one back safely.

The format (version 1)::

    {
      "format": "pinit-plan",
      "version": 1,
      "seed": 0,                                  # optional: whole number 0 .. 2**63-1, or null
      "model": "SimpleCNN",                       # optional: the model it was made for, or null
      "model_options": {},                        # optional: that model's options (DeepMLP: depth, width, activation)
      "rules": {"Conv2d": {"weight": {"scheme": "kaiming_normal", "nonlinearity": "relu"},
                           "bias": {"scheme": "zeros"}}},
      "overrides": {"layer4.fc3.weight": {"scheme": "normal", "std": 0.01}}
    }

A hand-written file may leave out everything but "rules" and/or "overrides" (a bare
plan, as `InitPlan.to_json()` writes it). `load_plan_file` never raises anything but
PlanError for a bad file, and its `.problems` lists every problem found, one per item.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from torch import nn

from .. import checks
from ..budget import admit
from ..errors import PlanError, capped
from ..models import MODELS
from ..plan import InitPlan, assignments, label, quoted_list, unmatched_rules
from ..report import meta_model
from ..setup import Setup
from ..text import quote

__all__ = [
    "MAX_PLAN_BYTES",
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "load_plan_file",
    "model_identity",
    "plan_to_json",
    "setup_from_plan_file",
    "setup_to_plan_file",
]

PLAN_FORMAT = "pinit-plan"
PLAN_VERSION = 1
MAX_PLAN_BYTES = 1_000_000  # a plan is a few kB; anything near this is not a plan

_TOP_KEYS = ("format", "version", "seed", "model", "model_options", "rules", "overrides")


def model_identity(model: nn.Module | str | None) -> tuple[str | None, dict[str, Any]]:
    """(name, options) of a model: a registered model's name and its option values
    read back from the instance (e.g. DeepMLP's depth, width, activation), else the
    class name and {}. A string is taken as the name; None gives (None, {})."""
    if model is None:
        return None, {}
    if isinstance(model, str):
        return model, {}
    name = type(model).__name__
    spec = MODELS.get(name)
    if spec is not None and spec.factory is type(model):
        return name, {k: getattr(model, k) for k in spec.options if hasattr(model, k)}
    return name, {}


def plan_to_json(
    plan: InitPlan | Mapping[str, Any],
    seed: int | None = None,
    model: nn.Module | str | None = None,
    model_options: Mapping[str, Any] | None = None,
) -> str:
    """The plan as a version-1 plan file (pretty JSON text, keys in a fixed order).

    Guarantees: `load_plan_file` reads it back to an equal InitPlan and the same
    seed/model/options; every scheme parameter is written out (defaults included), so
    the file means the same thing if a default changes later. With a model instance,
    the plan is first checked against it (PlanError listing every problem); its name
    and options are recorded (`model_options` overrides the options read back).

    Args:
        plan: an InitPlan or its dict.
        seed: the seed to record with it (None: none).
        model: a model (checked against, name and options recorded) or a model's name.
        model_options: the model's options, when they cannot be read back from it.

    Returns:
        The file's text.

    Example:
        >>> import pinit
        >>> plan = {"rules": {"Linear": {"weight": {"scheme": "xavier_uniform"}}}}
        >>> print(pinit.plan_to_json(plan, seed=7))
        {
          "format": "pinit-plan",
          "version": 1,
          "seed": 7,
          "model": null,
          "model_options": {},
          "rules": {
            "Linear": {
              "weight": {
                "scheme": "xavier_uniform",
                "gain": 1.0
              }
            }
          },
          "overrides": {}
        }
    """
    plan = InitPlan.from_dict(plan)
    problems = []
    if seed is not None:
        problems.extend(_seed_problems(seed))
    if isinstance(model, nn.Module):
        problems.extend(_fit_problems(model, plan))
    if problems:
        raise PlanError(problems)
    name, options = model_identity(model)
    if model_options is not None:
        options = dict(model_options)
    d = plan.to_dict()
    doc = {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "seed": seed,
        "model": name,
        "model_options": options,
        "rules": d["rules"],
        "overrides": d["overrides"],
    }
    return json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def _seed_problems(seed: Any) -> list[str]:
    try:
        checks.seed(seed, note=" (or null)")
    except ValueError as e:
        return [str(e)]
    return []


def _decode(data: bytes | bytearray | memoryview | str, max_bytes: int) -> str:
    if isinstance(data, str):
        if len(data) > max_bytes:
            raise PlanError(f"the plan file has {len(data):,} characters; a plan file may have at most {max_bytes:,}")
        return data
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PlanError(f"a plan file is bytes or text, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise PlanError(f"the plan file is {len(data):,} bytes; a plan file may be at most {max_bytes:,} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise PlanError(
            f"the plan file is not UTF-8 text (byte 0x{data[e.start]:02x} at position {e.start}); "
            "a plan file is JSON text"
        ) from None


class DuplicateKey(ValueError):
    """A JSON object with the same key twice (raised from json's object_pairs_hook)."""


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object_pairs_hook for plans: json.loads keeps the last of two equal keys without a
    word; a plan whose "rules" or "seed" appears twice means two things, so it is refused."""
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise DuplicateKey(f"the key {quote(key)} appears twice in one object; each key may appear once")
            seen.add(key)
    return d


def _parse(text: str) -> Any:
    if not text.strip():
        raise PlanError("the plan file is empty; a plan file is a JSON object with 'rules' and/or 'overrides'")

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(text, parse_constant=no_constant, object_pairs_hook=no_duplicate_keys)
    except json.JSONDecodeError as e:
        raise PlanError(f"the plan file is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    except DuplicateKey as e:
        raise PlanError(f"the plan file is ambiguous: {e}") from None
    except ValueError as e:  # NaN / Infinity
        raise PlanError(f"the plan file is not valid JSON: {e}") from None
    except RecursionError:
        raise PlanError("the plan file is nested too deeply to be a plan") from None


def _meta_problems(doc: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    problems: list[str] = []
    meta: dict[str, Any] = {"version": None, "seed": None, "model": None, "model_options": {}, "warnings": []}
    unknown = [k for k in doc if k not in _TOP_KEYS]
    if unknown:
        problems.append(
            f"unknown key(s) [{quoted_list(unknown)}] at the top of the plan file; allowed keys: {', '.join(_TOP_KEYS)}"
        )
    if "format" in doc and doc["format"] != PLAN_FORMAT:
        problems.append(f"'format' must be {PLAN_FORMAT!r}, got {quote(doc['format'])}")
    if "version" in doc:
        v = doc["version"]
        if not checks.is_whole(v):
            problems.append(f"'version' must be a whole number, got {quote(v)}")
        elif v != PLAN_VERSION:
            problems.append(f"plan file version {v} is not supported; this pinit reads version {PLAN_VERSION}")
        else:
            meta["version"] = v
    if doc.get("seed") is not None:
        seed_problems = _seed_problems(doc["seed"])
        problems.extend(seed_problems)
        if not seed_problems:
            meta["seed"] = doc["seed"]
    name = doc.get("model")
    if name is not None:
        if not isinstance(name, str):
            problems.append(f"'model' must be a model name (text) or null, got {quote(name)}")
            name = None
        else:
            meta["model"] = name
    options = doc.get("model_options")
    if options is not None:
        if not isinstance(options, Mapping):
            problems.append(f"'model_options' must be an object such as {{\"depth\": 20}}, got {quote(options)}")
        else:
            if name in MODELS:
                allowed = MODELS[name].options
                bad = [k for k in options if k not in allowed]
                if bad:
                    problems.append(
                        f"model {name} takes no option(s) [{quoted_list(bad)}]; allowed: {', '.join(allowed) or 'none'}"
                    )
            for k, v in options.items():
                if not isinstance(v, (int, float, str, bool)) or (isinstance(v, float) and not math.isfinite(v)):
                    problems.append(f"model option {quote(k)} must be a number or text, got {quote(v)}")
            meta["model_options"] = dict(options)
            too_big = admit(name, options) if name in MODELS and not problems else None  # the memory budget
            if too_big:
                problems.append(too_big)
    return problems, meta


def load_plan_file(
    data: bytes | str,
    model: nn.Module | None = None,
    max_bytes: int = MAX_PLAN_BYTES,
) -> tuple[InitPlan, dict[str, Any]]:
    """Read a plan file; returns (plan, meta).

    meta has "version" (None for a bare plan without one), "seed" (None if absent),
    "model" (a name or None), "model_options" (dict) and "warnings" (list of
    sentences about things that are allowed but probably not meant, e.g. rules for a
    layer type the given model does not have).

    Raises PlanError, and nothing else, for: more than `max_bytes`, not UTF-8, empty,
    not JSON, not an object, unknown keys, a bad format/version/seed/model/options, a
    rule that is not an object with a known "scheme", unknown or out-of-range scheme
    parameters, and, when `model` is given, overrides naming no parameter of it and
    schemes its tensors' shapes can't take. `.problems` holds each problem found
    (as many as can be found in one pass), in words.

    Args:
        data: the file's bytes or text.
        model: the model the plan is for, to check it against; None: checked alone.
        max_bytes: refuse a larger file before parsing it.

    Returns:
        (plan, meta): the InitPlan and what the file says about it.

    Raises:
        PlanError: every problem found, in words.

    Example:
        >>> import pinit
        >>> plan = {"rules": {"Linear": {"weight": {"scheme": "xavier_uniform"}}}}
        >>> loaded, meta = pinit.load_plan_file(pinit.plan_to_json(plan, seed=7))
        >>> loaded == pinit.InitPlan.from_dict(plan), meta["seed"]
        (True, 7)
        >>> pinit.load_plan_file('{"rules": {"Linear": {"weight": {"scheme": "xavier"}}}}')
        Traceback (most recent call last):
        ...
        pinit.errors.PlanError: Linear.weight: unknown scheme 'xavier'; known schemes: default, uniform, ...
    """
    doc = _parse(_decode(data, max_bytes))
    if not isinstance(doc, Mapping):
        raise PlanError(f"a plan file must hold a JSON object with 'rules' and/or 'overrides', got a {_json_type(doc)}")
    problems, meta = _meta_problems(doc)
    plan = None
    try:
        plan = InitPlan.from_dict({k: doc[k] for k in ("rules", "overrides") if k in doc})
    except PlanError as e:
        problems.extend(e.problems)
    if plan is not None and model is not None:
        problems.extend(_fit_problems(model, plan))
        if not problems:
            meta["warnings"] = _warnings(model, plan, meta)
    if problems or plan is None:  # plan is None only when from_dict raised, which added problems
        raise PlanError(problems)
    return plan, meta


def _fit_problems(model: nn.Module, plan: InitPlan) -> list[str]:
    """check_plan's problems without its typo warnings: a plan file says those itself ("warnings")."""
    try:
        assignments(model, plan)
    except PlanError as e:
        return e.problems
    return []


def _json_type(x: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "true/false"}.get(type(x), "null")


def _warnings(model: nn.Module, plan: InitPlan, meta: Mapping[str, Any]) -> list[str]:
    """Allowed but probably unmeant: another model, rules that reach nothing (at most MAX_PROBLEMS listed)."""
    out = []
    name, _ = model_identity(model)
    if meta.get("model") and meta["model"] != name:
        out.append(f"the plan was saved for model {label(meta['model'])}; it is applied to {name}")
    out += unmatched_rules(model, plan, name)
    return capped(out)


def setup_to_plan_file(setup: Setup) -> str:
    """A Setup as a version-1 plan file (JSON text)."""
    return plan_to_json(setup.plan, setup.seed, setup.model, setup.options)


def setup_from_plan_file(data: bytes | str, fallback: Setup | None = None) -> tuple[Setup, list[str]]:
    """The setup in a plan file: (setup, warnings). Raises PlanError listing every problem.

    A file may leave out its seed or model: those come from `fallback` (the current
    setup), and the plan is checked against the model it will be applied to.
    """
    fallback = fallback or Setup()
    plan, meta = load_plan_file(data)
    model = meta.get("model") or fallback.model
    options = meta.get("model_options") or ({} if meta.get("model") else dict(fallback.options))
    seed = meta["seed"] if meta.get("seed") is not None else fallback.seed
    try:
        setup = Setup(model, options, plan, seed)
    except ValueError as e:
        raise PlanError(str(e)) from None
    problems = setup.problems()
    if problems:
        raise PlanError(problems)
    _, meta = load_plan_file(data, model=meta_model(model, options))
    return setup, list(meta.get("warnings", []))
