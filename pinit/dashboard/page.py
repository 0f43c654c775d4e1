"""pinit's dashboard page: pick an init scheme per layer type, re-initialize, see every parameter.

The page composes the views of this package (widgets and output); every number comes
from the pinit backend. State is per browser tab (st.session_state); caches are keyed
by everything they depend on and hold no model object.

`main()` is the whole script run: app.py (`streamlit run app.py`) and `pinit dashboard`
call it on every rerun.
"""

from __future__ import annotations

import streamlit as st
import torch

from pinit.share.text import escape_markdown

from . import share, sidebar, state, weights
from .compare import compare_view
from .depth import depth_view
from .filters import filters_view
from .signal import signal_view
from .train_view import train_view

DEFAULT_PRESET = "PyTorch default"


def lost_session() -> bool:
    """True when the browser asked for a session this server does not have (a restart,
    or a tab away longer than the disconnected-session TTL): Streamlit's frontend names
    its old session as the third entry of the websocket's Sec-WebSocket-Protocol."""
    parts = [p.strip() for p in (st.context.headers.get("Sec-Websocket-Protocol") or "").split(",")]
    return len(parts) >= 3 and bool(parts[2])


def first_run() -> list[str]:
    """A new tab: the state in the link if there is one, else the default preset."""
    st.session_state["preset"] = DEFAULT_PRESET
    st.session_state["seed"] = 0
    st.session_state["model"] = "SimpleCNN"
    try:
        warnings = share.load_from_url()
    except Exception:  # a parser bug must never cost a student the page
        warnings = ["the link could not be read at all, so the page opened with the defaults"]
    if lost_session():
        warnings.append(
            "this page lost its session (the server restarted, or the tab was away for over two "
            "minutes) and was rebuilt from its link; uploaded files and view settings were reset, "
            "so if you had just clicked something, click it again"
        )
    if not st.session_state.get("reinit_requested"):
        sidebar.apply_preset()
    return warnings


def header_ui() -> None:
    st.title("pinit: what does weight initialization do?")
    st.markdown(
        "Pick a scheme per layer type in the sidebar and press **Re-initialize**. Every parameter's "
        "distribution is binned on the server; the red curve is what the scheme's formula predicts."
    )


@st.fragment
def weights_fragment(cfg: state.Config) -> None:
    """View-only widgets (bins, log scale, formula, page) rerun just this fragment."""
    ckpt = st.session_state.get("checkpoint")
    if ckpt is not None:
        st.warning(
            f"Showing the uploaded checkpoint **{ckpt['name']}**, not the plan. "
            "Press **Re-initialize** to go back to the plan's weights."
        )
        if ckpt["nonfinite"]:
            st.error(
                "This checkpoint holds NaN/Inf values: "
                + ", ".join(f"{k}: {v:,}" for k, v in ckpt["nonfinite"].items())
            )
        weights.weights_view(lambda bins: share.checkpoint_report(ckpt, bins))
    else:
        weights.weights_view(lambda bins: state.report_for(cfg, bins))


def share_tab(cfg: state.Config) -> None:
    share.share_view(cfg, state.report_for(cfg, st.session_state.get("bins", 40)).table)


# Tab label (also its value in the URL's "view" parameter) -> the view drawing it.
TABS = {
    "Weights": weights_fragment,
    "Signal flow": signal_view,
    "Depth lab": lambda cfg: depth_view(cfg["seed"]),
    "Compare": compare_view,
    "Train": train_view,
    "Filters": filters_view,
    "Share and export": share_tab,
}


def main() -> None:
    st.set_page_config(page_title="pinit: weight initialization", page_icon="⚖️", layout="wide")
    # Many tabs share two cores: one intra-op thread per script run keeps reruns fair.
    torch.set_num_threads(1)
    url_warnings = first_run() if "preset" not in st.session_state else []
    header_ui()
    for w in url_warnings:
        st.warning(escape_markdown(w[0].upper() + w[1:] + "."))  # link values are text, never Markdown
    share.messages_ui()
    pending = sidebar.sidebar_ui()
    if st.session_state.pop("reinit_requested", False) or state.applied() is None:
        problems = state.try_apply(pending)
        if problems:
            st.error(
                "**Not re-initialized**: the weights below are the last good ones.\n\n"
                + "\n".join(f"- {p}" for p in problems)
            )
    cfg = state.applied()
    if cfg is None:
        st.stop()
    if pending != cfg:
        st.info("The sidebar has changes not applied yet: press **Re-initialize** to see them.")
    share.write_url(cfg)
    # Only the open tab runs: the others cost nothing until a person opens them.
    for tab, view in zip(st.tabs(list(TABS), key="view", bind="query-params", on_change="rerun"), TABS.values()):
        if tab.open:
            with tab:
                view(cfg)
