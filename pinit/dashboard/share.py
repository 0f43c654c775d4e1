"""Share, export, import: the link and its QR code, plan files, runnable code, CSV, state_dict, checkpoints.

Every upload is handled in its widget's on_change callback, before the sidebar is drawn,
so an accepted file can set the widgets; a refused one lists each problem and changes
nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from urllib.parse import urlencode

import segno
import streamlit as st

import pinit
from pinit import serve
from pinit.budget import BIG_MODEL_SLOT, FairSlot, admit
from pinit.report import InitReport, report_on
from pinit.setup import Setup
from pinit.share.export import setup_to_script
from pinit.share.plan_io import setup_from_plan_file, setup_to_plan_file
from pinit.share.urlstate import setup_to_query, short_query, state_from_query, unknown_parameters

from . import sidebar, state
from .common import escape

CHECKPOINT_MAX_MB = 50  # per upload; SimpleCNN's state_dict is 4.7 MB. Also server.maxUploadSize.
DEFAULT_SETUP = Setup(plan=pinit.InitPlan.from_dict(pinit.PRESETS[sidebar.DEFAULT_PRESET].plan))
LINK_KEYS = ("model", "plan", "seed", "opts")
PAGE_KEYS = ("present", "room")  # the page's own parameters (presenter mode, the class): not part of the setup
# A phone reads a QR code off a projector up to about version 10 (57 modules); past version 25
# (117 modules) the modules are too fine at any size a page shows: the link is given in words instead.
MAX_QR_VERSION = 25

# --- the link ------------------------------------------------------------------------------


def load_from_url() -> list[str]:
    """On a tab's first run: the setup named in the URL (else the default). Returns warnings in words."""
    params = {k: st.query_params[k] for k in st.query_params if k not in PAGE_KEYS}
    if not set(LINK_KEYS) & set(params):
        sidebar.load(sidebar.default_setup())
        return unknown_parameters(params)  # a link of only unknown parameters is named, not ignored
    setup, warnings = state_from_query(params, sidebar.default_setup())
    warnings = [f"the link was partly unreadable: {w}; the page loaded without that part" for w in warnings]
    warnings += sidebar.load(setup)
    # Also what a student sees after the server restarted or the session expired: the
    # page comes back from the link, and says so (an uploaded checkpoint is not kept).
    st.toast("Started from the link: model, plan and seed restored (uploaded files are not kept).", icon="🔗")
    return warnings


def write_url(setup: Setup) -> None:
    """Keep the address bar in step with the applied setup (so copying it shares it)."""
    query = setup_to_query(setup)
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
    """A QR code of `text` as PNG bytes (segno: a maintained encoder, error correction M).

    segno.DataOverflowError when `text` does not fit any QR version (see qr_or_none)."""
    buf = io.BytesIO()
    segno.make_qr(text, error="m").save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()


def qr_or_none(text: str, width: int) -> bytes | None:
    """A QR code of `text` drawn `width` px wide with whole-pixel modules, or None when `text` is too
    long for a code a phone can read (above MAX_QR_VERSION, or beyond what any QR code holds)."""
    try:
        code = segno.make_qr(text, error="m")
    except segno.DataOverflowError:
        return None
    if int(code.version) > MAX_QR_VERSION:
        return None
    modules = code.symbol_size(scale=1, border=2)[0]
    buf = io.BytesIO()
    code.save(buf, kind="png", scale=max(2, -(-width // modules)), border=2)
    return buf.getvalue()


def student_base() -> str | None:
    """The base URL students' phones can open (pinit.serve.student_base), or None: loopback only."""
    return serve.student_base(
        st.get_option("server.address"), int(st.get_option("server.port")), st.context.url, serve.public_url()
    )


def student_link(setup: Setup | None, room: str | None = None, extra: dict[str, str] | None = None) -> str | None:
    """The link for students: a reachable address, the shortest query for `setup`, never presenter
    mode; with a class `room` only the room (the followers' steps come from the presenter)."""
    base = student_base()
    if base is None:
        return None
    query = (
        {"room": room} if room else {**(short_query(setup, sidebar.default_setup()) if setup else {}), **(extra or {})}
    )
    return base + (f"?{urlencode(query)}" if query else "")


LOOPBACK_HELP = (
    "This server listens only on this computer (loopback), so no phone can open its link. "
    "To serve a class on this network, start it with `pinit dashboard --address 0.0.0.0` "
    "(behind a proxy or a tunnel, add `--public-url https://...`)."
)


def qr_ui(
    width: int = 180,
    setup: Setup | None = None,
    room: str | None = None,
    extra: dict[str, str] | None = None,
    words: bool = True,
) -> None:
    """The QR code students scan, with its address written out under it (unless `words` is False: the
    caller writes it); what to do when there is none."""
    link = student_link(setup, room, extra)
    if link is None:
        st.warning(LOOPBACK_HELP, icon=":material/wifi_off:")
        return
    png = qr_or_none(link, width)
    if png is None:
        st.info(
            f"This link is {len(link):,} characters: too long for a QR code a phone can read. Share it in "
            "words (copy it below), or pick a preset, whose link is short.",
            icon=":material/qr_code_2:",
        )
    else:
        st.image(
            png,
            width=width,
            alt="QR code of the link students open, written out below"
            if words
            else "QR code of the link students open",
        )
    if not words:
        return
    what = f"class **{room}** · " if room else ""
    st.markdown(f"{what}Scan, or open:")
    st.code(link, language=None, wrap_lines=True)


# --- uploads (callbacks) ---------------------------------------------------------------------


def _plan_uploaded() -> None:
    file = st.session_state.get("plan_upload")
    if file is None:
        return
    try:
        setup, notes = setup_from_plan_file(file.getvalue(), state.applied())
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


DOWNLOAD_SLOT = FairSlot("download slot")  # weight downloads are built one at a time per server


def _state_dict_bytes(setup: Setup, who: str | None = None) -> bytes:
    # Built on the click (download_button takes a callable), never cached: a 400 MB VGGStyle
    # download kept in a cache would stay resident long after the tab closed. One at a time
    # (DOWNLOAD_SLOT, one place in line per tab), a big model also in the big-model slot, and
    # refused over the memory budget (pinit.budget: the model and its serialized copies).
    state.admit(setup, "download")
    who = who or state.session_id()
    with DOWNLOAD_SLOT.turn(who), BIG_MODEL_SLOT.turn(who) if state.is_big(setup) else contextlib.nullcontext():
        return pinit.save_state_dict(setup.build())


@st.cache_data(max_entries=32, ttl=state.CACHE_TTL, show_spinner=False)
def _code(key: str) -> str:
    return setup_to_script(Setup.from_key(key))


@st.cache_data(max_entries=16, ttl=state.CACHE_TTL, show_spinner=False)
def _checkpoint_report(digest: str, key: str, bins: int, _state: dict) -> InitReport:
    s = Setup.from_key(key)
    m = pinit.build_model(s.model, **s.options)
    m.load_state_dict(_state)
    return report_on(m, s, bins, from_plan=False)


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
        "The link holds the whole state: model, plan and seed (the parts left at the page's defaults "
        "are left out). Opening it in a fresh browser draws the same weights."
    )
    extra = {"view": "Weights"}
    link = student_link(setup, extra=extra)
    c1.markdown("Students open:" if link else "This computer only:")
    c1.code(link or page_link(), language=None, wrap_lines=True)
    with c2:
        qr_ui(160, setup, extra=extra, words=False)

    st.subheader("Plan files")
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download plan (JSON)",
        setup_to_plan_file(setup),
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
    too_big = admit(setup.model, setup.options, "download")
    who = state.session_id()  # the click runs outside the script's thread: say whose it is now
    d3.download_button(
        "Download weights (state_dict .pt)",
        lambda: _state_dict_bytes(setup, who),
        file_name=f"pinit-{setup.model}-seed{setup.seed}.pt",
        mime="application/octet-stream",
        key="dl_pt",
        disabled=too_big is not None,
        help=too_big,
    )
    if too_big:
        d3.caption(f"Not offered: {escape(too_big)}.")

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
