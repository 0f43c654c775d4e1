"""The Transformer view: a small GPT at step 0, the residual stream block by block and the attention logits."""

from __future__ import annotations

import json

import streamlit as st

from pinit.lab.beyond_figures import attention_figure, residual_figure
from pinit.lab.transformer import ATTENTION_SCALES, TransformerReport, transformer_presets, transformer_report
from pinit.plan import InitPlan
from pinit.setup import Setup

from .chart import chart
from .common import fail, look_for


def _j(x: object) -> str:
    return json.dumps(x, sort_keys=True)


DEPTHS = [1, 2, 4, 8, 12, 16]
APPLIED = "Applied plan (Settings)"
PROBE_N = 16
STORY = (
    "**Why GPT-2 scales its residual projections.** Each pre-LayerNorm block adds f(LN(x)) to the stream x, "
    "and LN hands every block a unit-variance input whatever the stream's size, so every block adds about the "
    "same variance: var after L blocks ≈ var₀ + L·c, and the std grows like √L. GPT-2 draws the two layers "
    "that write into the stream (attn.proj, mlp.fc2) with std 0.02/√(2·n_layer), so together the blocks add "
    "c/2 whatever the depth: the top of the stream is the same for a 4-block model as for a 16-block one "
    "(the line still rises a little through the blocks of one model; compare the tops as depth grows)."
)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def _reports(keys_json: str, n: int, scale: str) -> dict[str, TransformerReport]:
    """{label: report} for {label: Setup.key} (as JSON: one cache key for the whole comparison)."""
    return {label: transformer_report(Setup.from_key(key), n, scale) for label, key in json.loads(keys_json).items()}


def controls_ui(setup: Setup) -> tuple[dict, list[str], str]:
    mine = setup.model == "TinyGPT"
    options = dict(setup.options) if mine else {}
    default_depth = int(options.get("n_layer", 4))
    c1, c2 = st.columns([2, 1])
    n_layer = c1.select_slider(
        "Blocks (n_layer)",
        sorted(set(DEPTHS) | {default_depth}),
        value=default_depth,
        key="tx.n_layer",
        help="d_model 128, 4 heads, vocab 256, 64 tokens unless the sidebar's TinyGPT says otherwise.",
    )
    scale = c2.radio(
        "Attention scale",
        ATTENTION_SCALES,
        key="tx.scale",
        help="1/√d_head (Vaswani et al. 2017) or μP's 1/d_head (Yang et al. 2021).",
    )
    options["n_layer"] = n_layer
    labels = list(transformer_presets(n_layer)) + ([APPLIED] if mine else [])
    st.session_state.setdefault("tx.presets", ["GPT-2", "N(0, 0.02), no residual scaling"])
    chosen = st.multiselect("Inits to compare", labels, key="tx.presets")
    return options, chosen, scale


def transformer_view(setup: Setup) -> None:
    if setup.model != "TinyGPT":
        st.caption(
            "This view builds **TinyGPT** (pick it in the sidebar to compare your own plan as well); "
            f"the sidebar's model ({setup.model}) is not a transformer."
        )
    options, chosen, scale = controls_ui(setup)
    st.info(STORY)
    if not chosen:
        st.warning("Pick at least one init to draw.")
        return
    presets = transformer_presets(options["n_layer"])
    try:
        keys = {
            label: Setup(
                "TinyGPT",
                options,
                setup.plan if label == APPLIED else InitPlan.from_dict(presets[label].plan),
                setup.seed,
            ).key
            for label in chosen
        }
        with st.spinner(f"Running {len(keys)} init(s) through {options['n_layer']} blocks…"):
            reports = _reports(_j(keys), PROBE_N, scale)
    except Exception as e:
        fail("The transformer experiment could not run.", e)
        return
    chart(st, residual_figure(reports), key="tx.residual")
    look_for(
        "the unscaled line climbs block after block (its std multiplies by about √L over L blocks) while GPT-2's "
        "flattens: compare the numbers at the top of the stream in the subtitle, then raise the blocks to 16."
    )
    chart(st, attention_figure(reports), key="tx.attention")
    look_for(
        "at init the logits are tiny (std ≈ 0.02²·d_model·√d_head·scale), so attention is almost uniform "
        "(entropy ≈ 1.0000 of uniform); 1/d_head makes them √d_head smaller; μP's zero query makes them exactly 0."
    )
    rows = []
    for label, r in reports.items():
        ln = r.layernorm
        rows.append(
            {
                "init": label,
                "loss at step 0": round(r.loss, 3),
                "ln(vocab)": round(r.chance_loss, 3),
                "logits std": round(r.logits_std, 4),
                "LayerNorms at weight 1, bias 0": f"{int(ln['default'].sum())} of {len(ln)}",
            }
        )
        if label in presets and presets[label].lesson:
            st.caption(f"**{label}**: {presets[label].lesson}")
    st.dataframe(rows, hide_index=True, key="tx.table")
