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
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import PlanError
from ..models import MODELS, build_model
from ..plan import MAX_SEED, InitPlan, check_plan

__all__ = ["DashboardState", "decode_plan", "encode_plan", "state_from_query", "state_to_query"]

_MAX_PLAN_CHARS = 20_000  # a plan link is a few hundred characters; refuse zip bombs early
_MAX_PLAN_JSON = 200_000


@dataclass
class DashboardState:
    model: str = "SimpleCNN"
    options: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] | None = None  # None: the URL named no (valid) plan
    seed: int = 0


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
        with torch.device("meta"):  # validates the options without allocating anything
            build_model(model, **options)
        return options, []
    except (ValueError, TypeError) as e:
        return {}, [f"ignored the model options in the link ({e}); using {model}'s defaults"]


def state_from_query(params: Mapping[str, str]) -> tuple[DashboardState, list[str]]:
    """Read the state from query parameters: (state, warnings). Never raises."""
    state = DashboardState()
    warnings: list[str] = []
    model = params.get("model")
    if model is not None:
        if model in MODELS:
            state.model = model
        else:
            warnings.append(f"ignored model={model!r} from the link: known models are {', '.join(MODELS)}")
    state.options, problems = _check_options(state.model, params.get("opts"))
    warnings += problems
    seed = params.get("seed")
    if seed is not None:
        if seed.isdigit() and int(seed) <= MAX_SEED:
            state.seed = int(seed)
        else:
            warnings.append(f"ignored seed={seed[:40]!r} from the link: a seed is a whole number from 0 to {MAX_SEED}")
    token = params.get("plan")
    if token is not None:
        try:
            plan = decode_plan(token)
            with torch.device("meta"):
                problems = check_plan(build_model(state.model, **state.options), plan)
            if problems:
                raise PlanError(problems)
            state.plan = plan.to_dict()
        except PlanError as e:
            warnings.append(
                "ignored the plan in the link: "
                + "; ".join(e.problems[:5])
                + (f" (and {len(e.problems) - 5} more)" if len(e.problems) > 5 else "")
            )
    return state, warnings
