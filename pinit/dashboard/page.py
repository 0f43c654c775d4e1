"""pinit's dashboard page: a guided lesson first, then free play with every scheme and view.

The page composes the views of this package (widgets and output); every number comes
from the pinit backend. State is per browser tab (st.session_state); caches are keyed by
value and hold no model object.

What a click costs: the sidebar and the open view are fragments with keys. A change in the
sidebar applies itself in its callback and reruns only those two fragments
(`st.rerun(["sidebar", "view"])`); a widget inside a view reruns only the view. Only
switching tabs or presenter mode reruns the whole page, and only the open tab runs.

`main()` is the whole script run: app.py (`streamlit run app.py`) and `pinit dashboard`
call it on every rerun.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Literal

import streamlit as st
import torch

from pinit.setup import Setup
from pinit.style import CAPTION_COLOR, TICK_COLOR

from . import room, share, sidebar, state, weights
from .common import escape
from .compare import compare_view
from .depth import depth_view
from .filters import filters_view
from .history_view import history_view
from .lesson import lesson_view
from .signal import signal_view
from .spectra import spectra_view
from .train_view import train_view
from .transformer import transformer_view
from .width import width_view

# Everything imported so far (torch, pandas, plotly, streamlit: millions of objects that live as
# long as the server) moves to the collector's permanent generation, so no collection scans it
# again; the objects each click makes are collected as usual.
gc.freeze()
# The page's own, constant CSS (no user input in it): Streamlit's default top padding (6rem)
# and gaps would push a lesson step's chart and text below the fold at 1280x720, and its 5rem
# sides leave a 1024 px projector 864 px, less than the lesson's row of step buttons needs
# (phones keep Streamlit's own 1rem).
#
# Also, for every screen: a collapsed sidebar leaves the Tab order (it stays in the page, off
# screen); a focus ring that shows on every button, the red Next included; text greys (captions,
# chart ticks, the selected step) at 4.5:1 or more. Below 640 px (a phone, where Streamlit stacks
# columns): a row of metrics stays one compact row, so a lesson step's chart is on the first screen.
# Code blocks wrap instead of scrolling: a scrolling box with nothing focusable in it cannot be
# scrolled from the keyboard (axe-core: scrollable-region-focusable).
COMPACT_CSS = """<style>
.stMainBlockContainer { padding-top: 3.6rem; padding-bottom: 1.5rem; }
@media (min-width: 640px) { .stMainBlockContainer { padding-left: 3rem; padding-right: 3rem; } }
.stMainBlockContainer [data-testid="stVerticalBlock"] { gap: 0.65rem; }
[data-testid="stSidebar"][data-collapsed="true"], [data-testid="stSidebar"][data-collapsed="true"] * {
  visibility: hidden !important;
}
:is(button, [role="tab"], [role="radio"], [role="option"], a, input, [tabindex]):focus-visible {
  outline: 3px solid #1b1d26 !important; outline-offset: 2px; box-shadow: 0 0 0 5px #ffffff !important;
}
[data-testid="stCaptionContainer"], [data-testid="stWidgetLabel"] small { color: CAPTION !important; opacity: 1; }
[data-selected="true"] [data-testid="stMarkdownContainer"] p { color: #9e1b2a; }
[data-testid="stCode"] pre { overflow: visible !important; max-height: none !important; }
[data-testid="stCode"] code { white-space: pre-wrap !important; overflow-wrap: anywhere; }
.js-plotly-plot .xtick text, .js-plotly-plot .ytick text, .js-plotly-plot .g-xtitle text,
.js-plotly-plot .g-ytitle text, .js-plotly-plot .gtitle-subtitle { fill: TICK !important; }
@media (max-width: 640px) {
  .stHorizontalBlock:has(> .stColumn [data-testid="stMetric"]) { flex-wrap: nowrap !important; gap: 0.4rem; }
  .stHorizontalBlock:has(> .stColumn [data-testid="stMetric"]) > .stColumn {
    min-width: 0 !important; width: auto !important; flex: 1 1 0 !important;
  }
  [data-testid="stMetricValue"] { font-size: 1.25rem !important; }
  [data-testid="stMetricLabel"], [data-testid="stMetricLabel"] * {
    white-space: normal !important; overflow-wrap: anywhere; font-size: 0.8rem !important;
  }
  [data-testid="stMetricDelta"] { font-size: 0.8rem !important; }
  [data-testid="stMetricDelta"] > div { white-space: normal !important; }
}
</style>""".replace("CAPTION", CAPTION_COLOR).replace("TICK", TICK_COLOR)
# Presenter mode, on top: no text under 16 px for the back of the room (captions, the keys shown
# in the buttons, widget labels), the step buttons a little narrower so the larger text still fits
# Back, the six steps, Next and QR in one row at 1024 px.
PRESENTER_CSS = """<style>
[data-testid="stMain"] :is([data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] *, kbd,
  [data-testid="stWidgetLabel"] *, [data-testid="stMetricLabel"] *, [data-testid="stMetricDelta"] *,
  [role="tab"] p, button, button p) { font-size: max(1rem, 16px) !important; }
[data-testid="stMain"] [data-testid="stButtonGroup"] button { padding-left: 0.5rem; padding-right: 0.5rem; }
</style>"""


def lost_session() -> bool:
    """True when the browser asked for a session this server does not have (a restart,
    or a tab away longer than the disconnected-session TTL): Streamlit's frontend names
    its old session as the third entry of the websocket's Sec-WebSocket-Protocol."""
    parts = [p.strip() for p in (st.context.headers.get("Sec-Websocket-Protocol") or "").split(",")]
    return len(parts) >= 3 and bool(parts[2])


def first_run() -> list[str]:
    """A new tab: the setup in the link if there is one, else the default preset."""
    st.session_state["present"] = st.query_params.get("present", "0").lower() in ("1", "true", "yes", "on")
    try:
        warnings = share.load_from_url()
    except Exception:  # a parser bug must never cost a student the page
        warnings = ["the link could not be read at all, so the page opened with the defaults"]
        sidebar.load(sidebar.default_setup())
    warnings += room.join_from_link()  # ?room=CODE: follow the teacher's lesson
    if lost_session():
        warnings.append(
            "this page lost its session (the server restarted, or the tab was away for over two "
            "minutes) and was rebuilt from its link; uploaded files and view settings were reset, "
            "so if you had just clicked something, click it again"
        )
    return warnings


def presenting() -> bool:
    return bool(st.session_state.get("present"))


def open_tab() -> str:
    """The tab that will be open in this run (the tabs are bound to the link's "view")."""
    tab = state.open_tab()
    return tab if tab in TABS else next(iter(TABS))


def sidebar_state() -> Literal["collapsed", "auto"]:
    """The sidebar is closed on a projector and during the lesson (its steps need the whole width, and
    it uses none of the sidebar); open (on a desktop) for free play."""
    return "collapsed" if presenting() or open_tab() == "Lesson" else "auto"


def weights_tab(setup: Setup) -> None:
    ckpt = st.session_state.get("checkpoint")
    if ckpt is None:
        weights.weights_view(lambda bins: state.report_for(setup, bins), presenting(), key=setup.key)
        return
    st.warning(
        f"Showing the uploaded checkpoint **{escape(ckpt['name'])}**, not the plan. "
        "Change the plan or the seed in Settings to go back to the plan's weights."
    )
    if ckpt["nonfinite"]:
        st.error(
            "This checkpoint holds NaN/Inf values: " + ", ".join(f"{k}: {v:,}" for k, v in ckpt["nonfinite"].items())
        )
    weights.weights_view(lambda bins: share.checkpoint_report(ckpt, bins), presenting())


# Tab label (also its value in the URL's "view" parameter) -> the view drawing it.
TABS: dict[str, Callable[[Setup], None]] = {
    "Lesson": lambda setup: lesson_view(presenting()),
    "Weights": weights_tab,
    "Signal flow": signal_view,
    "Depth lab": depth_view,
    "Compare": compare_view,
    "Train": train_view,
    "Through training": history_view,
    "Filters": filters_view,
    "Transformer": transformer_view,
    "Width (μP)": width_view,
    "Spectra": spectra_view,
    "Share and export": share.share_view,
}


@st.fragment(key=state.VIEW)
def view_fragment(tab: str) -> None:
    """The open tab: reruns alone for its own widgets and with the sidebar for a sidebar change."""
    setup = state.applied()
    if setup is None:  # nothing ever applied (a broken link and a broken default): say so, draw nothing
        st.error("No weights to show: the default setup could not be applied. Reload the page.")
        return
    share.messages_ui()  # what the last upload did: shown once, next to what it changed
    problems = state.refused()
    if problems:
        st.error(
            "**Not applied**: the weights below are the last good ones.\n\n"
            + "\n".join(f"- {escape(p)}" for p in problems)
        )
    share.write_url(setup)
    TABS[tab](setup)


def main() -> None:
    first = state.APPLIED not in st.session_state
    warnings = first_run() if first else []
    st.set_page_config(
        page_title="pinit: weight initialization",
        page_icon="⚖️",
        layout="wide",
        initial_sidebar_state=sidebar_state(),
    )
    # Many tabs share two cores: one intra-op thread per script run keeps reruns fair.
    torch.set_num_threads(1)
    st.html(COMPACT_CSS + (PRESENTER_CSS if presenting() else ""))
    for w in warnings:
        st.warning(escape(w[0].upper() + w[1:] + "."))
    if room.following() is None:  # a follower's page is the teacher's lesson: no settings, a cheaper rerun
        sidebar.sidebar_ui()
    # Only the open tab runs: the others cost nothing until a person opens them.
    for tab, name in zip(st.tabs(list(TABS), key="view", bind="query-params", on_change="rerun"), TABS):
        if tab.open:
            with tab:
                view_fragment(name)
