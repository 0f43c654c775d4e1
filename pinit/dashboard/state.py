"""Per-tab state: the configuration the sidebar describes, the one that is applied, caches.

A configuration is plain data: {"model", "options", "plan", "seed"}. The applied one
lives in st.session_state (one per browser tab). Results are cached by value with
st.cache_data and hold no model object, so nothing mutable is shared between tabs.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any

import streamlit as st
import torch

import pinit
from pinit.report import InitReport, inspect_model, layer_slots

Config = dict[str, Any]


def config(model: str, options: dict, plan: dict, seed: int) -> Config:
    """A configuration as plain data; not validated here (applying it validates)."""
    return {
        "model": model,
        "options": dict(options),
        "plan": {"rules": dict(plan.get("rules", {})), "overrides": dict(plan.get("overrides", {}))},
        "seed": int(seed),
    }


def _j(x: Any) -> str:
    return json.dumps(x, sort_keys=True)


@st.cache_data(max_entries=256, show_spinner=False)
def _report(model_name: str, options_json: str, plan_json: str, seed: int, bins: int) -> InitReport:
    return inspect_model(model_name, json.loads(plan_json), seed, bins, json.loads(options_json))


# Building and describing a ~100M-parameter model takes ~2 s and ~400 MB: one such job
# at a time per server process, so a class picking VGGStyle together queues instead of
# running the server out of memory. Small models never wait.
BIG_MODEL_PARAMS = 10_000_000
_BIG_MODEL_SLOT = threading.BoundedSemaphore(1)


def report_for(cfg: Config, bins: int) -> InitReport:
    """The table, histograms and formulas for an applied configuration (PlanError if it doesn't fit)."""
    args = (cfg["model"], _j(cfg["options"]), _j(cfg["plan"]), cfg["seed"], bins)
    numel = sum(math.prod(s) for s in parameter_shapes(cfg["model"], cfg["options"]).values())
    if numel < BIG_MODEL_PARAMS:
        return _report(*args)
    with _BIG_MODEL_SLOT:
        return _report(*args)


@st.cache_data(max_entries=64, show_spinner=False)
def _slots(model_name: str, options_json: str) -> dict:
    return layer_slots(model_name, json.loads(options_json))


def slots_for(model_name: str, options: dict) -> dict[str, dict[str, list[tuple[int, ...]]]]:
    """{layer type: {slot: [shapes]}} of a model, computed on the meta device."""
    return _slots(model_name, _j(options))


@st.cache_data(max_entries=64, show_spinner=False)
def _shapes(model_name: str, options_json: str) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):  # shapes only: nothing allocated, nothing drawn
        model = pinit.build_model(model_name, **json.loads(options_json))
    return {n: tuple(p.shape) for n, p in model.named_parameters()}


def parameter_shapes(model_name: str, options: dict) -> dict[str, tuple[int, ...]]:
    return _shapes(model_name, _j(options))


def request_reinit() -> None:
    st.session_state["reinit_requested"] = True


def applied() -> Config | None:
    return st.session_state.get("applied")


def try_apply(cfg: Config) -> list[str]:
    """Make `cfg` the shown state if it works; otherwise keep the last good one. Returns problems."""
    try:
        report_for(cfg, st.session_state.get("bins", 40))
    except pinit.PlanError as e:
        return e.problems
    except ValueError as e:  # model options out of range
        return [str(e)]
    st.session_state["applied"] = cfg
    st.session_state.pop("checkpoint", None)  # a re-init replaces an uploaded checkpoint on screen
    return []
