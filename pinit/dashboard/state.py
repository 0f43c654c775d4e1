"""Per-tab state: the applied Setup, changes applied the moment they are made, cached results.

The applied Setup (model, options, plan, seed: pinit.share.setup) lives in
st.session_state, one per browser tab. Results are cached by value with st.cache_data,
which hands every caller its own copy (pickled), so nothing mutable is ever shared
between tabs: one student's re-init can never show up on another student's page. Every
cache is bounded by entries and by time (a TTL), so a class exploring for an hour cannot
grow the server without bound.
"""

from __future__ import annotations

import math
import threading

import streamlit as st

from pinit.report import InitReport, inspect_model, parameter_shapes
from pinit.share.setup import Setup

APPLIED = "applied"  # session key: the Setup whose weights are on screen
REFUSED = "refused"  # session key: (what was asked, problems) of the last change that could not be applied
CACHE_TTL = 3600  # seconds a cached result lives; a class is an hour
SIDEBAR, VIEW = "sidebar", "view"  # fragment keys: a change reruns these two, not the whole page

# Building and describing a ~100M-parameter model takes ~2 s and ~400 MB: one such job
# at a time per server process, so a class picking VGGStyle together queues instead of
# running the server out of memory. Small models never wait.
BIG_MODEL_PARAMS = 10_000_000
_BIG_MODEL_SLOT = threading.BoundedSemaphore(1)


@st.cache_data(max_entries=256, ttl=CACHE_TTL, show_spinner=False)
def _report(key: str, bins: int) -> InitReport:
    s = Setup.from_key(key)
    return inspect_model(s.model, s.plan, s.seed, bins, s.options)


def is_big(setup: Setup) -> bool:
    return sum(math.prod(s) for s in parameter_shapes(setup.model, setup.options).values()) >= BIG_MODEL_PARAMS


def report_for(setup: Setup, bins: int) -> InitReport:
    """The table, histograms and formulas of a setup (PlanError / ValueError if it does not apply)."""
    if not is_big(setup):
        return _report(setup.key, bins)
    with _BIG_MODEL_SLOT:
        return _report(setup.key, bins)


def open_tab() -> str:
    """The tab open in this run, as far as the sidebar can tell before the tabs are drawn (they are bound
    to the link's "view"); the Lesson when nothing says otherwise."""
    return str(st.session_state.get("view") or st.query_params.get("view") or "Lesson")


def applied() -> Setup | None:
    return st.session_state.get(APPLIED)


def try_apply(setup: Setup) -> list[str]:
    """Make `setup` the one on screen if it applies; otherwise keep the last good one.

    Returns the problems in words ([] when applied). The check is the whole plan against
    the model's shapes (on the meta device: nothing is drawn), so a refusal is instant.
    """
    problems = setup.problems()
    if problems:
        st.session_state[REFUSED] = problems
        return problems
    st.session_state.pop(REFUSED, None)
    st.session_state[APPLIED] = setup
    st.session_state.pop("checkpoint", None)  # new weights replace an uploaded checkpoint on screen
    return []


def refused() -> list[str]:
    """The problems of the last change that could not be applied ([] if the last one was)."""
    return list(st.session_state.get(REFUSED, []))
