"""What the Init effects lab's views share: cached experiments keyed by plain values, plan labels,
and the "what to look for" line every chart carries.

The caches hold plain results (DataFrames, lists, arrays), never a model object: each
call builds its own model from (model name, options, plan, seed) and drops it.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

import pinit
from pinit.lab.signal import SignalFlow, signal_flow

from .state import Config, _j, slots_for

A_LABEL = "A: applied plan"


def look_for(text: str) -> None:
    """The one line under a chart that tells a student what to look at."""
    st.caption(f"**What to look for:** {text}")


@st.cache_data(max_entries=64, show_spinner=False)
def _signal(model_name: str, options_json: str, plan_json: str, seed: int, n: int) -> SignalFlow:
    return signal_flow(model_name, json.loads(plan_json), seed, n, json.loads(options_json))


def signal_for(cfg: Config, n: int, plan: dict | None = None) -> SignalFlow:
    """Signal flow of the configuration (or of `plan` on the same model, options and seed)."""
    return _signal(cfg["model"], _j(cfg["options"]), _j(plan if plan is not None else cfg["plan"]), cfg["seed"], n)


def normalized(plan: dict) -> dict:
    return pinit.InitPlan.from_dict(plan).to_dict()


def preset_plan_for(name: str, cfg: Config) -> dict:
    """A preset's plan restricted to the layer types the configuration's model has (as the sidebar sets it)."""
    plan = normalized(pinit.PRESETS[name].plan)
    types = slots_for(cfg["model"], cfg["options"])
    return {"rules": {k: v for k, v in plan["rules"].items() if k in types}, "overrides": {}}


def preset_name_of(cfg: Config) -> str | None:
    """The preset whose rules the applied plan equals, if any."""
    try:
        mine = normalized(cfg["plan"])
        for name in pinit.PRESETS:
            if normalized(preset_plan_for(name, cfg)) == mine:
                return name
    except Exception:  # a configuration that does not build: the view's own call reports it in words
        return None
    return None


def applied_label(cfg: Config) -> str:
    name = preset_name_of(cfg)
    return f"A: {name}" if name else "A: your plan (sidebar)"


def model_label(cfg: Config) -> str:
    spec = pinit.MODELS[cfg["model"]]
    opts = ", ".join(f"{k} {v}" for k, v in cfg["options"].items())
    return spec.label + (f" ({opts})" if opts else "")


def fail(what: str, e: Exception) -> None:
    """A failed experiment, in words (never a traceback on the page)."""
    problems: list[Any] = getattr(e, "problems", None) or [str(e) or type(e).__name__]
    st.error(f"**{what}**\n\n" + "\n".join(f"- {p}" for p in problems))
