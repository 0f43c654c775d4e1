"""What the dashboard's views share: cached experiments keyed by the Setup, labels, messages.

The caches hold plain results (DataFrames, lists, arrays), never a model object: each
call builds its own model from the Setup's key and drops it, and st.cache_data hands
every caller its own copy.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

import pinit
from pinit.lab.signal import SignalFlow, signal_flow
from pinit.setup import Setup
from pinit.text import escape_markdown

from . import state
from .state import CACHE_TTL


def escape(text: Any) -> str:
    """`text` as it is, never as Markdown: a value echoed from a link, a file name or a plan must
    render as the text it is (a "[login](https://…)" in a link must not become a link on a
    student's screen). pinit.text.escape_markdown escapes it, and breaks autolinks."""
    return escape_markdown(str(text))


def look_for(text: str) -> None:
    """The one line under a chart that tells a student what to look at."""
    st.caption(f"**What to look for:** {text}")


@st.cache_data(max_entries=64, ttl=CACHE_TTL, show_spinner=False)
def _signal(key: str, n: int) -> SignalFlow:
    return signal_flow(Setup.from_key(key), n)


def signal_for(setup: Setup, n: int) -> SignalFlow:
    """The signal flow of a setup on a probe batch of `n`: ValueError in words over the memory budget;
    a big model waits for the big-model slot (pinit.dashboard.state.big_job)."""
    state.admit(setup, "signal", n)
    if not state.is_big(setup):
        return _signal(setup.key, n)
    with state.big_job("this signal flow"):
        return _signal(setup.key, n)


def preset_setup(name: str, setup: Setup) -> Setup:
    """`setup` with preset `name`'s rules for the layer types its model has (as the sidebar sets it)."""
    from .sidebar import preset_setup as on_sidebar

    return on_sidebar(name, setup)


def preset_name_of(setup: Setup) -> str | None:
    """The preset whose rules the setup's plan equals, if any."""
    from .sidebar import CUSTOM, matching_preset

    try:
        name = matching_preset(setup)
    except Exception:  # a setup that does not build: the view's own call reports it in words
        return None
    return None if name == CUSTOM else name


def applied_label(setup: Setup) -> str:
    name = preset_name_of(setup)
    return f"A: {name}" if name else "A: your plan in Settings"


def model_label(setup: Setup) -> str:
    spec = pinit.MODELS[setup.model]
    opts = ", ".join(f"{k} {v}" for k, v in setup.options.items())
    return spec.label + (f" ({opts})" if opts else "")


def fail(what: str, e: Exception) -> None:
    """A failed experiment, in words (never a traceback on the page)."""
    problems: list[Any] = getattr(e, "problems", None) or [str(e) or type(e).__name__]
    st.error(f"**{what}**\n\n" + "\n".join(f"- {escape(p)}" for p in problems))
