"""Bring your own model: `load_factory("pkg.module:factory")` registers a user's network in pinit.MODELS.

The factory is the user's own code on their own machine (``pinit dashboard --model
mypkg.nets:make_net``), imported like any Python import: it is never taken from a
link, an upload or a plan file. Anything pinit does to a built-in model then works on
it by name (``build_model``, ``inspect_model``, the dashboard's views), because every
backend function works on any ``nn.Module``.

A factory is a callable returning an ``nn.Module``; its keyword parameters with
number, text or bool defaults become the model's options (as DeepMLP's depth and
width are). Give the module ``input_shape`` (and ``num_classes``, and ``input_vocab``
for token ids) attributes so the probes know what to feed it; see
pinit.lab.probes.probe_batch.

Tied weights (one tensor in two modules, e.g. an embedding and the output Linear):
named_parameters() lists the tensor once, under the name of the module that registered it
first (in named_modules() order), and pinit treats that module as its only owner. So the
parameter table shows it once, `apply_plan` fills it once, and the rule that wins is the
first owner's: its layer type and slot (an Embedding rule for ``embed.weight``, never the
Linear rule of the head that shares it), or an override naming that first name. The
exported script (pinit.share.export) picks the owner the same way.
"""

from __future__ import annotations

import inspect
import pkgutil
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .models import MODELS, ModelSpec

__all__ = ["BUILTIN_MODELS", "command_line_models", "load_command_line", "load_factory"]

BUILTIN_MODELS = frozenset(MODELS)  # what pinit ships: a user's factory never replaces one of these
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_FORM = "'package.module:factory', e.g. 'mynets.small:make_model'"


def _resolve(module_name: str, attr: str) -> Any:
    """pkgutil.resolve_name("module:attr"), with its failures said in words."""
    try:
        return pkgutil.resolve_name(f"{module_name}:{attr}")
    except ModuleNotFoundError as e:
        if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):  # the path itself
            raise ValueError(
                f"module {module_name!r} not found: no module named {e.name!r} on the Python path; run pinit from "
                f"the folder that holds it, add that folder to PYTHONPATH, or pip install your package"
            ) from None
        raise ValueError(
            f"module {module_name!r} was found but importing it failed: it imports {e.name!r}, which is not installed"
        ) from None
    except AttributeError:
        module = sys.modules.get(module_name)
        if module is None:  # the import itself raised AttributeError
            raise ValueError(f"importing module {module_name!r} raised AttributeError") from None
        _missing_attribute(module, module_name, attr)
        raise  # not reached: _missing_attribute raises
    except Exception as e:  # the user's module raised while importing: say so, with its own message
        raise ValueError(f"importing module {module_name!r} raised {type(e).__name__}: {e}") from None


def _missing_attribute(module: Any, module_name: str, path: str) -> None:
    """Raise ValueError naming the first part of `path` that `module` lacks, and the callables it has."""
    obj = module
    for i, part in enumerate(path.split(".")):
        if not hasattr(obj, part):
            where = module_name if i == 0 else f"{module_name}:{'.'.join(path.split('.')[:i])}"
            public = sorted(n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None)))
            shown = ", ".join(public[:15]) + (f" and {len(public) - 15} more" if len(public) > 15 else "")
            raise ValueError(f"{where} has no attribute {part!r}; its callables are: {shown or 'none'}")
        obj = getattr(obj, part)
    raise ValueError(f"{module_name}:{path} raised AttributeError while it was looked up")


def _options(factory: Callable[..., Any], spec: str) -> dict[str, Any]:
    """Keyword parameters with plain defaults -> their defaults; required parameters are refused."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: call it with no arguments
        return {}
    required = [
        p.name
        for p in params
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise ValueError(
            f"{spec} needs argument(s) {', '.join(required)} without defaults; pinit calls the factory with "
            f"none, so give every argument a default (numbers, text or True/False become the model's options)"
        )
    plain = (bool, int, float, str)
    return {
        p.name: p.default
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and isinstance(p.default, plain)
    }


def _check_builds(factory: Callable[..., Any], spec: str) -> nn.Module:
    """Call the factory once, on the meta device if it allows (nothing allocated), else on the CPU."""
    try:
        with torch.device("meta"):
            model = factory()
    except Exception:
        try:
            with torch.random.fork_rng(devices=[]):  # the global RNG is left as it was
                model = factory()
        except Exception as e:
            raise ValueError(f"calling {spec}() raised {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise ValueError(f"{spec}() returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def load_factory(spec: str, *, name: str | None = None, register: bool = True) -> ModelSpec:
    """Import the factory named by `spec` ("pkg.module:factory") and register it as a model.

    `spec` is "module:attribute": the module is imported with importlib (it must be on
    the Python path) and the attribute may be dotted ("nets:Factory.small"). The
    factory is called once to check that it returns an ``nn.Module`` (on the meta
    device when it allows, so a big model allocates nothing). Its keyword parameters
    with number, text or bool defaults become the ModelSpec's options.

    The model is registered in ``pinit.MODELS`` under `name` (default: `spec` itself),
    replacing an earlier load of the same name but never a built-in model. Returns the
    ModelSpec. Raises ValueError, in words, for: a spec that is not text or has no
    single colon, a module that is not found or fails to import, a missing attribute,
    one that is not callable, a factory with required arguments, one that raises, and
    one that does not return an ``nn.Module``.
    """
    if not isinstance(spec, str):
        raise ValueError(f"a model factory is named by text of the form {_FORM}; got {type(spec).__name__}")
    if spec.count(":") != 1:
        why = "has no colon" if ":" not in spec else "has more than one colon"
        raise ValueError(f"model factory {spec!r} {why}; use the form {_FORM}")
    module_name, attr = (part.strip() for part in spec.split(":"))
    for part, what in ((module_name, "module"), (attr, "factory")):
        if not _DOTTED.match(part):
            raise ValueError(
                f"model factory {spec!r}: {part!r} is not a valid {what} name (dotted Python names only); "
                f"use the form {_FORM}"
            )
    spec = f"{module_name}:{attr}"
    factory = _resolve(module_name, attr)
    if not callable(factory):
        raise ValueError(f"{spec} is a {type(factory).__name__}, not a function or class that builds a model")
    options = _options(factory, spec)
    model = _check_builds(factory, spec)
    key = spec if name is None else name
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"name must be non-empty text, got {key!r}")
    if key in BUILTIN_MODELS:
        raise ValueError(f"{key!r} is one of pinit's built-in models; register your factory under another name")
    doc = inspect.getdoc(factory) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    result = ModelSpec(
        key,
        f"{attr} (your model, {module_name})",
        factory,
        first or f"Your model {type(model).__name__}, built by {spec}.",
        options,
    )
    if register:
        MODELS[key] = result
    return result


# Models named on the server owner's command line (`pinit dashboard --model ...`,
# `streamlit run app.py -- --model ...`), in the order given: the first is the page's default.
_COMMAND_LINE: dict[str, None] = {}


def load_command_line(specs: Sequence[str]) -> list[str]:
    """Load each model named on the command line and return their names in order.

    A spec is a "pkg.module:factory" (loaded with `load_factory`) or the name of a model
    pinit already knows (a built-in one). The first is the model the dashboard opens on.
    A spec loaded before in this process is not imported again, so a page can call this
    on every run. Raises ValueError, in words, for the first spec that cannot be loaded.
    Only the server's own command line calls this: links, uploads and plan files name
    models pinit already has and never a module.
    """
    names: list[str] = []
    loaded = dict(_COMMAND_LINE)
    _COMMAND_LINE.clear()  # this command line replaces an earlier one (one per server process)
    for spec in specs:
        key = spec.strip() if isinstance(spec, str) else spec
        if isinstance(key, str) and ":" in key:
            key = ":".join(part.strip() for part in key.split(":"))
        if not (isinstance(key, str) and key in MODELS and (key in BUILTIN_MODELS or key in loaded)):
            if isinstance(key, str) and ":" not in key and key not in MODELS:
                raise ValueError(
                    f"unknown model {key!r}: give a built-in model ({', '.join(sorted(BUILTIN_MODELS))}) "
                    f"or your own factory as {_FORM}"
                )
            key = load_factory(key).name
        _COMMAND_LINE[key] = None
        names.append(key)
    return names


def command_line_models() -> list[str]:
    """The models loaded by `load_command_line` in this process, in order (empty: none given)."""
    return [name for name in _COMMAND_LINE if name in MODELS]
