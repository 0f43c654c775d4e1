"""Share, export, import: the link, plan files, runnable code, CSV, state_dict, checkpoints.

Every upload is handled in its widget's on_change callback, before the sidebar is
drawn, so an accepted file can set the widgets; a refused one lists each problem
and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

import streamlit as st
import torch

import pinit
from pinit.report import InitReport, report_on
from pinit.share.setup import Setup
from pinit.share.text import escape_markdown
from pinit.share.urlstate import state_from_query, state_to_query

from .sidebar import show_config
from .state import Config, _j, config, request_reinit

CHECKPOINT_MAX_MB = 50  # per upload; SimpleCNN's state_dict is 4.7 MB. Also server.maxUploadSize.


# --- the link ------------------------------------------------------------------------


def load_from_url() -> list[str]:
    """On a tab's first run: the state named in the URL, if any. Returns warnings in words."""
    params = {k: st.query_params[k] for k in st.query_params}
    if not {"model", "plan", "seed", "opts"} & set(params):
        return []
    default = Setup(plan=pinit.PRESETS["PyTorch default"].plan)
    state, warnings = state_from_query(params, default)
    warnings = [f"the link was partly unreadable: {w}; the page loaded without that part" for w in warnings]
    show_config(config(state.model, state.options, state.plan_dict, state.seed))
    request_reinit()
    # Also what a student sees after the server restarted or the session expired: the
    # page comes back from the link, and says so (an uploaded checkpoint is not kept).
    st.toast(
        "Started a new session from the link: model, plan and seed restored (uploaded files are not kept).", icon="🔗"
    )
    return warnings


def write_url(cfg: Config) -> None:
    """Keep the address bar in step with the applied state (so copying it shares it)."""
    for key, value in state_to_query(cfg["model"], cfg["options"], cfg["plan"], cfg["seed"]).items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    if "opts" in st.query_params and not cfg["options"]:
        del st.query_params["opts"]


# --- uploads (callbacks) -----------------------------------------------------------------


def _plan_uploaded() -> None:
    file = st.session_state.get("plan_upload")
    if file is None:
        return
    try:
        plan, meta = pinit.load_plan_file(file.getvalue())
        model = meta.get("model") or st.session_state.get("model", "SimpleCNN")
        options = meta.get("model_options") or {}
        with torch.device("meta"):
            problems = pinit.check_plan(pinit.build_model(model, **options), plan)
        if problems:
            raise pinit.PlanError(problems)
    except (pinit.PlanError, ValueError) as e:
        st.session_state["share_problems"] = ("plan", file.name, getattr(e, "problems", [str(e)]))
        return
    seed = meta["seed"] if meta.get("seed") is not None else st.session_state.get("seed", 0)
    show_config(config(model, options, plan.to_dict(), seed))
    st.session_state["share_notes"] = [f"Loaded {file.name}."] + list(meta.get("warnings", []))
    request_reinit()


def _checkpoint_uploaded() -> None:
    file = st.session_state.get("ckpt_upload")
    applied = st.session_state.get("applied")
    if file is None or applied is None:
        return
    data = file.getvalue()
    model = pinit.build_model(applied["model"], **applied["options"])
    try:
        loaded = pinit.load_checkpoint(data, model, max_bytes=CHECKPOINT_MAX_MB * 2**20)
    except pinit.CheckpointError as e:
        st.session_state["share_problems"] = ("checkpoint", file.name, e.problems)
        return
    st.session_state["checkpoint"] = {
        "name": file.name,
        "digest": hashlib.sha256(data).hexdigest(),
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "model": applied["model"],
        "options": applied["options"],
        "nonfinite": loaded.nonfinite,
    }


# --- cached exports ----------------------------------------------------------------------


def _state_dict_bytes(model: str, options_json: str, plan_json: str, seed: int) -> bytes:
    """Built on click (download_button takes this as a callable) and not cached: a cache of
    these bytes kept 1.26 GB resident after three VGGStyle downloads on a shared server."""
    m = pinit.build_model(model, seed=seed, **json.loads(options_json))
    pinit.apply_plan(m, json.loads(plan_json), seed)
    return pinit.save_state_dict(m)


@st.cache_data(max_entries=32, show_spinner=False)
def _code(model: str, options_json: str, plan_json: str, seed: int) -> str:
    return pinit.export_code(json.loads(plan_json), seed, model, model_options=json.loads(options_json))


@st.cache_data(max_entries=16, show_spinner=False)
def _checkpoint_report(digest: str, model: str, options_json: str, bins: int, _state: dict) -> InitReport:
    m = pinit.build_model(model, **json.loads(options_json))
    m.load_state_dict(_state)
    return report_on(m, model, json.loads(options_json), bins)


def checkpoint_report(ckpt: dict, bins: int) -> InitReport:
    return _checkpoint_report(ckpt["digest"], ckpt["model"], _j(ckpt["options"]), bins, ckpt["state"])


# --- the view ------------------------------------------------------------------------------


def messages_ui() -> None:
    """Results of the last upload, shown once."""
    problem = st.session_state.pop("share_problems", None)
    if problem:  # the file's name and the problems echo what was uploaded: text, never Markdown
        kind, name, problems = problem
        st.error(
            f"**{escape_markdown(name)} was not loaded** as a {kind}; nothing changed.\n\n"
            + "\n".join(f"- {escape_markdown(p)}" for p in problems)
        )
    for note in st.session_state.pop("share_notes", []):
        st.info(escape_markdown(note))


def share_view(cfg: Config, table) -> None:
    model, options, plan, seed = cfg["model"], cfg["options"], cfg["plan"], cfg["seed"]
    st.subheader("Share this state")
    st.caption(
        "The address bar always holds the whole state: model, plan, seed and tab. "
        "Opening the link in a fresh browser draws the same weights."
    )
    base = (st.context.url or "").split("?")[0]
    st.code(f"{base}?{urlencode(st.query_params.to_dict())}", language=None, wrap_lines=True)

    st.subheader("Plan files")
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download plan (JSON)",
        pinit.plan_to_json(plan, seed, model=model, model_options=options),
        file_name=f"pinit-plan-{model}-seed{seed}.json",
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
    code = _code(model, _j(options), _j(plan), seed)
    st.caption(
        "A standalone script (imports only torch): `init_weights(model)` gives bit-identical weights "
        "to this page for this seed."
    )
    st.code(code, language="python", height=320)
    d1, d2, d3 = st.columns(3)
    d1.download_button("Download script (.py)", code, file_name="init_weights.py", mime="text/x-python", key="dl_code")
    d2.download_button(
        "Download table (CSV)",
        table.to_csv(index=False),
        file_name=f"pinit-{model}-seed{seed}.csv",
        mime="text/csv",
        key="dl_csv",
    )
    d3.download_button(
        "Download weights (state_dict .pt)",
        lambda: _state_dict_bytes(model, _j(options), _j(plan), seed),
        file_name=f"pinit-{model}-seed{seed}.pt",
        mime="application/octet-stream",
        key="dl_pt",
    )

    st.subheader("Inspect a checkpoint")
    st.caption(
        f"Upload a state_dict of {model} (.pt read with torch.load(weights_only=True): nothing in it is run; "
        f"at most {CHECKPOINT_MAX_MB} MB). Its weights replace the plan's on the Weights tab until you "
        "re-initialize."
    )
    st.file_uploader(
        "Checkpoint",
        type=["pt", "pth", "bin", "safetensors"],
        key="ckpt_upload",
        on_change=_checkpoint_uploaded,
        max_upload_size=CHECKPOINT_MAX_MB,
    )
