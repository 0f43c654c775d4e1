"""The dashboard's whole state (model, options, plan, seed) as URL query parameters.

    ?model=SimpleCNN&seed=0&plan=<base64url(zlib(compact JSON))>[&opts=<JSON>]

`state_to_query` writes it; `state_from_query` reads it back, keeping every part
that is valid and listing, in words, each part it had to ignore, so a mangled link
still opens a working page (with a warning) instead of an error. A link is typed,
pasted and forged by anyone, so every part is read with bounded cost and every value
echoed in a warning is quoted short (pinit.text.quote).
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .. import checks
from ..budget import admit
from ..errors import PlanError, capped
from ..models import MODELS
from ..plan import MAX_SEED, InitPlan, check_plan, label
from ..report import meta_model
from ..text import quote, shorten
from .plan_io import DuplicateKey, no_duplicate_keys

if TYPE_CHECKING:
    from ..setup import Setup

__all__ = ["decode_plan", "encode_plan", "short_query", "state_from_query", "state_to_query", "unknown_parameters"]

_MAX_PLAN_CHARS = 20_000  # a plan link is a few hundred characters; refuse zip bombs early
_MAX_PLAN_JSON = 200_000
_MAX_OPTIONS_CHARS = 2_000  # DeepMLP's options are about 50
LINK_PARAMETERS = ("model", "opts", "seed", "plan", "view")  # view (the open tab) is the page's own
_PAGE_PARAMETERS = ("step", "present")  # the lesson step and presenter mode, read by the page itself
T = TypeVar("T")


def encode_plan(plan: InitPlan | Mapping[str, Any]) -> str:
    text = json.dumps(InitPlan.from_dict(plan).to_dict(), separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(zlib.compress(text.encode(), 9)).decode().rstrip("=")


def decode_plan(token: str) -> InitPlan:
    """The plan in a URL token; PlanError in words if it is not one."""
    if len(token) > _MAX_PLAN_CHARS:
        raise PlanError(f"the plan in the link is {len(token):,} characters long; at most {_MAX_PLAN_CHARS:,} are read")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        d = zlib.decompressobj()
        text = d.decompress(raw, _MAX_PLAN_JSON)
        if d.unconsumed_tail:
            raise PlanError("the plan in the link unpacks to more than 200 kB; it is not a plan")
        doc = json.loads(text.decode(), object_pairs_hook=no_duplicate_keys)
    except (binascii.Error, ValueError, zlib.error, UnicodeDecodeError, RecursionError) as e:
        if isinstance(e, PlanError):
            raise
        if isinstance(e, DuplicateKey):
            raise PlanError(f"the plan in the link is ambiguous: {e}") from None
        if isinstance(e, RecursionError):  # e.g. [[[[...]]]] thousands deep: json.loads recurses
            raise PlanError("the plan in the link is nested too deeply to be a plan") from None
        raise PlanError("the plan in the link is damaged (not base64url-encoded, zlib-packed JSON)") from None
    return InitPlan.from_dict(doc)


def state_to_query(
    model: str, options: Mapping[str, Any], plan: InitPlan | Mapping[str, Any], seed: int
) -> dict[str, str]:
    """Query parameters for this state (options only when they differ from the defaults)."""
    q = {"model": model, "seed": str(seed), "plan": encode_plan(plan)}
    defaults = MODELS[model].options if model in MODELS else {}
    if options and dict(options) != defaults:
        q["opts"] = json.dumps(dict(options), separators=(",", ":"), sort_keys=True)
    return q


def short_query(setup: Setup, fallback: Setup) -> dict[str, str]:
    """The shortest query that reads back (with `fallback`, as state_from_query does) as `setup`.

    Each part equal to the fallback's is left out: a part missing from a link takes the
    fallback's value, so the link opens the same weights. The page's default state (the default
    preset, seed 0, SimpleCNN) is then no query at all, and a phone's QR code stays a low version.
    """
    full = state_to_query(setup.model, setup.options, setup.plan, setup.seed)
    q: dict[str, str] = {}
    same_model = setup.model == fallback.model and dict(setup.options) == dict(fallback.options)
    if not same_model:
        q["model"] = full["model"]
        if "opts" in full:
            q["opts"] = full["opts"]
    if setup.seed != fallback.seed:
        q["seed"] = full["seed"]
    if not same_model or setup.plan.to_dict() != fallback.plan.to_dict():
        q["plan"] = full["plan"]  # a plan is read against the link's model: keep it whenever the model differs
    return q


def _read_model(name: str | None, fallback: Setup, warnings: list[str]) -> tuple[str, dict[str, Any]]:
    """The link's model (with the fallback's options if it is the fallback's model), or the fallback's."""
    if name is None or name == fallback.model:
        return fallback.model, dict(fallback.options)
    if name in MODELS:
        return name, {}
    warnings.append(f"ignored model={quote(name)} from the link: known models are {', '.join(MODELS)}")
    return fallback.model, dict(fallback.options)


def _read_options(model: str, raw: str, warnings: list[str]) -> dict[str, Any]:
    """The link's model options, option by option: a bad one is named and the others kept."""
    if len(raw) > _MAX_OPTIONS_CHARS:
        warnings.append(f"ignored the model options in the link: {len(raw):,} characters, not model options")
        return {}
    try:
        options = json.loads(raw)
    except (ValueError, RecursionError):
        options = None
    if not isinstance(options, dict):
        warnings.append(
            f"ignored the model options in the link ({quote(raw)} is not a JSON object such as "
            '{"depth": 20}); using ' + f"{model}'s defaults"
        )
        return {}
    spec = MODELS[model]
    kept: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in options.items():
        try:
            kept[name] = spec.check_option(name, value)
        except ValueError as e:
            problems.append(f"{label(name)}={quote(value)} ({e})")
    try:
        meta_model(model, kept)  # the options together (none allocates: a meta-device model)
    except (ValueError, TypeError) as e:
        problems, kept = [f"{quote(options)} ({e})"], {}
    if problems:
        warnings.append("ignored part of the model options in the link: " + "; ".join(capped(problems, 5)))
    too_big = admit(model, kept) if kept else None  # the memory budget, before anything is built
    if too_big:
        warnings.append(f"ignored the model options in the link: {too_big}; using {model}'s defaults")
        return {}
    return kept


def _read_seed(raw: str | None, fallback: int, warnings: list[str]) -> int:
    if raw is None:
        return fallback
    try:
        return checks.seed_text(raw)
    except ValueError:
        warnings.append(f"ignored seed={quote(raw, 40)} from the link: a seed is a whole number from 0 to {MAX_SEED}")
        return fallback


def _read_plan(
    token: str | None, model: str, options: dict[str, Any], fallback: InitPlan, warnings: list[str]
) -> InitPlan:
    if token is None:
        return fallback
    try:
        decoded = decode_plan(token)
        problems = check_plan(meta_model(model, options), decoded)
        if problems:
            raise PlanError(problems)
        return decoded
    except PlanError as e:
        warnings.append("ignored the plan in the link: " + "; ".join(capped(e.problems, 5)))
        return fallback


def unknown_parameters(params: Mapping[str, str]) -> list[str]:
    """A warning naming (quoted short, at most three) the link's parameters pinit does not read; [] if none."""
    unknown = [
        f"{k if len(k) <= 30 and k.isprintable() else quote(k, 30)}={quote(v, 30)}"
        for k, v in params.items()
        if k not in LINK_PARAMETERS + _PAGE_PARAMETERS
    ]
    if not unknown:
        return []
    shown = ", ".join(unknown[:3]) + (f" and {len(unknown) - 3:,} more" if len(unknown) > 3 else "")
    return [f"ignored {shown} from the link: a link's parameters are model, opts, seed, plan and view"]


def _part(warnings: list[str], what: str, read: Callable[[], T], default: T) -> T:
    """`read()`, or `default` with a warning if it raises anyway: one part never costs the others."""
    try:
        return read()
    except Exception as e:  # a bug in a reader must drop only its part of the link
        warnings.append(f"ignored the {what} in the link: it could not be read ({type(e).__name__})")
        return default


def state_from_query(params: Mapping[str, str], fallback: Setup | None = None) -> tuple[Setup, list[str]]:
    """Read the setup from query parameters: (setup, warnings). Never raises.

    Each part (model, opts, seed, plan) is read on its own; a part that is missing
    takes `fallback`'s value (default: SimpleCNN, no plan, seed 0), and a part that is
    not valid, or not used, takes it too and adds a warning in words saying what was
    ignored and what is allowed. Within opts each option is its own part. Parameters
    other than LINK_PARAMETERS are named in a warning.
    """
    from ..setup import Setup

    fallback = fallback or Setup()
    warnings: list[str] = []
    defaults: tuple[str, dict[str, Any]] = (fallback.model, dict(fallback.options))
    model, options = _part(warnings, "model", lambda: _read_model(params.get("model"), fallback, warnings), defaults)
    raw_options = params.get("opts")
    if raw_options:
        no_options: dict[str, Any] = {}
        options = _part(warnings, "model options", lambda: _read_options(model, raw_options, warnings), no_options)
    seed = _part(warnings, "seed", lambda: _read_seed(params.get("seed"), fallback.seed, warnings), fallback.seed)
    plan = _part(
        warnings, "plan", lambda: _read_plan(params.get("plan"), model, options, fallback.plan, warnings), fallback.plan
    )
    warnings += _part(warnings, "parameters", lambda: unknown_parameters(params), list[str]())
    try:
        return Setup(model, options, plan, seed), warnings
    except ValueError as e:
        return fallback, warnings + [f"ignored the link: {shorten(str(e), 200)}"]


def setup_to_query(setup: Setup) -> dict[str, str]:
    """The link's query parameters of a Setup (model, seed, plan; opts when they differ from the defaults)."""
    return state_to_query(setup.model, setup.options, setup.plan, setup.seed)
