"""The dashboard's whole state (model, options, plan, seed) as URL query parameters.

    ?model=SimpleCNN&seed=0&plan=<base64url(zlib(compact JSON))>[&opts=<JSON>]

`state_to_query` writes it; `state_from_query` reads it back, keeping every part
that is valid and listing, in words, each part it had to ignore, so a mangled link
still opens a working page (with a warning) instead of an error.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PlanError, capped
from ..models import MODELS
from ..plan import MAX_SEED, InitPlan, check_plan
from ..report import meta_model
from .text import quote

if TYPE_CHECKING:
    from .setup import Setup

__all__ = ["decode_plan", "encode_plan", "state_from_query", "state_to_query"]

_MAX_PLAN_CHARS = 20_000  # a plan link is a few hundred characters; refuse zip bombs early
_MAX_PLAN_JSON = 200_000


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
        doc = json.loads(text.decode())
    except (binascii.Error, ValueError, zlib.error, UnicodeDecodeError, RecursionError) as e:
        if isinstance(e, PlanError):
            raise
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


def _check_options(model: str, raw: str | None) -> tuple[dict[str, Any], list[str]]:
    if not raw:
        return {}, []
    try:
        options = json.loads(raw)
        if not isinstance(options, dict):
            raise ValueError("not an object")
        meta_model(model, options)  # validates the options without allocating anything
        return options, []
    except (ValueError, TypeError) as e:
        return {}, [f"ignored the model options in the link ({e}); using {model}'s defaults"]


def state_from_query(params: Mapping[str, str], fallback: Setup | None = None) -> tuple[Setup, list[str]]:
    """Read the setup from query parameters: (setup, warnings). Never raises.

    Each part (model, opts, seed, plan) is read on its own; a part that is missing or
    not valid takes `fallback`'s value (default: SimpleCNN, no plan, seed 0), and each
    invalid part adds a warning in words.
    """
    from .setup import Setup

    fallback = fallback or Setup()
    warnings: list[str] = []
    model, options = fallback.model, dict(fallback.options)
    name = params.get("model")
    if name is not None and name != model:
        if name in MODELS:
            model, options = name, {}
        else:
            warnings.append(f"ignored model={quote(name)} from the link: known models are {', '.join(MODELS)}")
    if params.get("opts"):
        options, problems = _check_options(model, params.get("opts"))
        warnings += problems
    seed = fallback.seed
    raw_seed = params.get("seed")
    if raw_seed is not None:
        if raw_seed.isdigit() and int(raw_seed) <= MAX_SEED:
            seed = int(raw_seed)
        else:
            warnings.append(
                f"ignored seed={raw_seed[:40]!r} from the link: a seed is a whole number from 0 to {MAX_SEED}"
            )
    plan = fallback.plan
    token = params.get("plan")
    if token is not None:
        try:
            decoded = decode_plan(token)
            problems = check_plan(meta_model(model, options), decoded)
            if problems:
                raise PlanError(problems)
            plan = decoded
        except PlanError as e:
            warnings.append("ignored the plan in the link: " + "; ".join(capped(e.problems, 5)))
    return Setup(model, options, plan, seed), warnings
