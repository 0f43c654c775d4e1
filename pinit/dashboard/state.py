"""Per-tab state: the applied Setup, changes applied the moment they are made, cached results.

The applied Setup (model, options, plan, seed: pinit.setup) lives in
st.session_state, one per browser tab. Results are cached by value with st.cache_data,
which hands every caller its own copy (pickled), so nothing mutable is ever shared
between tabs: one student's re-init can never show up on another student's page. Every
cache is bounded by entries and by time (a TTL), so a class exploring for an hour cannot
grow the server without bound.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from pinit import budget
from pinit.budget import BIG_MODEL_PARAMS, BIG_MODEL_SLOT
from pinit.report import InitReport, inspect_model
from pinit.setup import Setup

APPLIED = "applied"  # session key: the Setup whose weights are on screen
REFUSED = "refused"  # session key: (what was asked, problems) of the last change that could not be applied
CACHE_TTL = 3600  # seconds a cached result lives; a class is an hour
SIDEBAR, VIEW = "sidebar", "view"  # fragment keys: a change reruns these two, not the whole page

__all__ = ["BIG_MODEL_PARAMS", "big_job", "is_big", "report_for"]


def session_id() -> str:
    """This browser tab's session (one place in each shared line per session); the thread outside a page."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else f"thread-{threading.get_ident()}"


@contextlib.contextmanager
def big_job(what: str) -> Iterator[None]:
    """Hold the big-model slot (pinit.budget.BIG_MODEL_SLOT) for `what`: building a ~100M-parameter
    model takes seconds and hundreds of MB, so the server builds one at a time, first come first
    served, one place in line per tab. While waiting, the tab shows its place in line."""
    shown: list = []

    def wait(place: int) -> None:
        if not shown:
            shown.append(st.empty())
        shown[0].info(
            f"⏳ {budget.nth(place)} in line for the big-model slot: {what} starts when the "
            f"{'big model' if place == 1 else f'{place} big models'} ahead of it "
            f"{'is' if place == 1 else 'are'} done (one at a time keeps the shared server alive)."
        )

    try:
        with BIG_MODEL_SLOT.turn(session_id(), wait):
            yield
    finally:
        if shown:
            shown[0].empty()


class _PageSlot:
    """`with _BIG_MODEL_SLOT:` for a view that decided its job is big (pinit.dashboard.spectra)."""

    def __enter__(self) -> None:
        self._job = big_job("this computation")
        self._job.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._job.__exit__(*exc)


_BIG_MODEL_SLOT = _PageSlot()


@st.cache_data(max_entries=256, ttl=CACHE_TTL, show_spinner=False)
def _report(key: str, bins: int) -> InitReport:
    return inspect_model(Setup.from_key(key), bins)


def is_big(setup: Setup) -> bool:
    """pinit.budget.is_big: BIG_MODEL_PARAMS or more parameters (the one definition of a big model)."""
    return budget.is_big(setup.model, setup.options)


def admit(setup: Setup, view: str = "weights", n: int = 64) -> None:
    """ValueError in words when `view` of the setup's model would cost more than the memory budget."""
    problem = budget.admit(setup.model, setup.options, view, n)
    if problem:
        raise ValueError(problem)


def report_for(setup: Setup, bins: int) -> InitReport:
    """The table, histograms and formulas of a setup (PlanError / ValueError if it does not apply,
    or if it would cost more than the memory budget)."""
    admit(setup, "weights")
    if not is_big(setup):
        return _report(setup.key, bins)
    with big_job("this model's weights"):
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
    the model's shapes and the model's cost against the memory budget (pinit.budget, on
    the meta device: nothing is drawn), so a refusal is instant.
    """
    problems = setup.problems() or [p for p in [budget.admit(setup.model, setup.options)] if p]
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
