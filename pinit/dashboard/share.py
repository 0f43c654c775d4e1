"""Share, export, import: the link and its QR code, plan files, runnable code, CSV, state_dict, checkpoints.

Every upload is handled in its widget's on_change callback, before the sidebar is drawn,
so an accepted file can set the widgets; a refused one lists each problem and changes
nothing.
"""

from __future__ import annotations

import hashlib
import io
from urllib.parse import urlencode

import segno
import streamlit as st

import pinit
from pinit.report import InitReport, report_on
from pinit.share.setup import Setup

from . import sidebar, state
from .common import escape

CHECKPOINT_MAX_MB = 50  # per upload; SimpleCNN's state_dict is 4.7 MB. Also server.maxUploadSize.
DEFAULT_SETUP = Setup(plan=pinit.InitPlan.from_dict(pinit.PRESETS[sidebar.DEFAULT_PRESET].plan))
LINK_KEYS = ("model", "plan", "seed", "opts")

# --- the link ------------------------------------------------------------------------------


def load_from_url() -> list[str]:
    """On a tab's first run: the setup named in the URL (else the default). Returns warnings in words."""
    params = {k: st.query_params[k] for k in st.query_params}
    if not set(LINK_KEYS) & set(params):
        sidebar.load(DEFAULT_SETUP)
        return []
    setup, warnings = Setup.from_query(params, DEFAULT_SETUP)
    warnings = [f"the link was partly unreadable: {w}; the page loaded without that part" for w in warnings]
    warnings += sidebar.load(setup)
    # Also what a student sees after the server restarted or the session expired: the
    # page comes back from the link, and says so (an uploaded checkpoint is not kept).
    st.toast("Started from the link: model, plan and seed restored (uploaded files are not kept).", icon="🔗")
    return warnings


def write_url(setup: Setup) -> None:
    """Keep the address bar in step with the applied setup (so copying it shares it)."""
    query = setup.to_query()
    for key, value in query.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    for key in LINK_KEYS:
        if key in st.query_params and key not in query:
            del st.query_params[key]


def page_link() -> str:
    """The address of this page with its current state (what the address bar shows)."""
    base = (st.context.url or "").split("?")[0]
    if base.count("/") == 2:  # "http://host:port": the address bar shows the root as "/"
        base += "/"
    return f"{base}?{urlencode(st.query_params.to_dict())}"


def qr_png(text: str, scale: int = 5) -> bytes:
    """A QR code of `text` as PNG bytes (segno: a maintained encoder, error correction M)."""
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()


def qr_ui(width: int = 180) -> None:
    link = page_link()
    st.image(qr_png(link), width=width, caption="Scan to open this page with this state", alt="QR code of this link")


# --- uploads (callbacks) ---------------------------------------------------------------------


def _plan_uploaded() -> None:
    file = st.session_state.get("plan_upload")
    if file is None:
        return
    try:
        setup, notes = Setup.from_plan_file(file.getvalue(), state.applied())
    except pinit.PlanError as e:
        st.session_state["share_problems"] = ("plan", file.name, e.problems)
        return
    st.session_state["share_notes"] = [f"Loaded {file.name}.", *notes]
    sidebar.load(setup)
    sidebar.rerun_sidebar_and_view()  # the sidebar shows the file's rules and seed


def _checkpoint_uploaded() -> None:
    file = st.session_state.get("ckpt_upload")
    applied = state.applied()
    if file is None or applied is None:
        return
    data = file.getvalue()
    model = pinit.build_model(applied.model, **applied.options)
    try:
        loaded = pinit.load_checkpoint(data, model, max_bytes=CHECKPOINT_MAX_MB * 2**20)
    except pinit.CheckpointError as e:
        st.session_state["share_problems"] = ("checkpoint", file.name, e.problems)
        return
    st.session_state["checkpoint"] = {
        "name": file.name,
        "digest": hashlib.sha256(data).hexdigest(),
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "setup": applied,
        "nonfinite": loaded.nonfinite,
    }


# --- exports: built when asked for --------------------------------------------------------------


def _state_dict_bytes(setup: Setup) -> bytes:
    # Built on the click (download_button takes a callable), never cached: a 400 MB VGGStyle
    # download kept in a cache would stay resident long after the tab closed.
    return pinit.save_state_dict(setup.build())


@st.cache_data(max_entries=32, ttl=state.CACHE_TTL, show_spinner=False)
def _code(key: str) -> str:
    s = Setup.from_key(key)
    return pinit.export_code(s.plan, s.seed, s.model, model_options=dict(s.options))


@st.cache_data(max_entries=16, ttl=state.CACHE_TTL, show_spinner=False)
def _checkpoint_report(digest: str, key: str, bins: int, _state: dict) -> InitReport:
    s = Setup.from_key(key)
    m = pinit.build_model(s.model, **s.options)
    m.load_state_dict(_state)
    return report_on(m, s.model, s.options, bins)


def checkpoint_report(ckpt: dict, bins: int) -> InitReport:
    return _checkpoint_report(ckpt["digest"], ckpt["setup"].key, bins, ckpt["state"])


# --- the view ----------------------------------------------------------------------------------


def messages_ui() -> None:
    """Results of the last upload, shown once."""
    problem = st.session_state.pop("share_problems", None)
    if problem:
        kind, name, problems = problem
        st.error(
            f"**{escape(name)} was not loaded** as a {kind}; nothing changed.\n\n"
            + "\n".join(f"- {escape(p)}" for p in problems)
        )
    for note in st.session_state.pop("share_notes", []):
        st.info(escape(note))


def share_view(setup: Setup) -> None:
    st.subheader("Share this state")
    c1, c2 = st.columns([3, 1])
    c1.caption(
        "The address bar always holds the whole state: model, plan, seed and tab. "
        "Opening the link in a fresh browser draws the same weights."
    )
    c1.code(page_link(), language=None, wrap_lines=True)
    with c2:
        qr_ui(160)

    st.subheader("Plan files")
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download plan (JSON)",
        setup.to_plan_file(),
        file_name=f"pinit-plan-{setup.model}-seed{setup.seed}.json",
        mime="application/json",
        key="dl_plan",
    )
    c2.file_uploader(
        "Load a plan file",
        type=["json"],
        key="plan_upload",
        on_change=_plan_uploaded,
        max_upload_size=1,
        help="A file from 'Download plan'. Refused files list each problem and change nothing.",
    )

    st.subheader("Take it to your training code")
    code = _code(setup.key)
    st.caption(
        "A standalone script (imports only torch): `init_weights(model)` gives bit-identical weights "
        "to this page for this seed."
    )
    st.code(code, language="python", height=320)
    d1, d2, d3 = st.columns(3)
    d1.download_button("Download script (.py)", code, file_name="init_weights.py", mime="text/x-python", key="dl_code")
    d2.download_button(
        "Download table (CSV)",
        lambda: state.report_for(setup, 40).table.to_csv(index=False),
        file_name=f"pinit-{setup.model}-seed{setup.seed}.csv",
        mime="text/csv",
        key="dl_csv",
    )
    d3.download_button(
        "Download weights (state_dict .pt)",
        lambda: _state_dict_bytes(setup),
        file_name=f"pinit-{setup.model}-seed{setup.seed}.pt",
        mime="application/octet-stream",
        key="dl_pt",
    )

    st.subheader("Inspect a checkpoint")
    st.caption(
        f"Upload a state_dict of {setup.model} (.pt read with torch.load(weights_only=True): nothing in it is run; "
        f"at most {CHECKPOINT_MAX_MB} MB). Its weights replace the plan's on the Weights tab until you "
        "change the plan or the seed."
    )
    st.file_uploader(
        "Checkpoint",
        type=["pt", "pth", "bin", "safetensors"],
        key="ckpt_upload",
        on_change=_checkpoint_uploaded,
        max_upload_size=CHECKPOINT_MAX_MB,
    )
