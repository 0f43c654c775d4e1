"""Compare: the applied plan (A) against a preset (B) on the same model, seed and probe batch."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import pinit
from pinit.lab.compare import compare_activations, compare_gradients
from pinit.lab.figures import compare_grad_figure, compare_std_figure, density_overlay_figure
from pinit.setup import Setup

from .chart import chart
from .common import applied_label, fail, look_for, model_label, preset_name_of, preset_setup, signal_for
from .state import report_for

PROBE_N = 64
BINS = 60
MAX_DEFAULT_PARAMS = 12


def compare_view(setup: Setup) -> None:
    presets = list(pinit.PRESETS)
    if st.session_state.get("compare.b") not in presets:
        st.session_state["compare.b"] = "Article recipe" if preset_name_of(setup) == "Kaiming (He)" else "Kaiming (He)"
    name_b = st.selectbox(
        "Plan B (a preset)",
        presets,
        key="compare.b",
        help="Plan A is what Settings applied. B uses the same model, seed and probe batch.",
    )
    st.caption(pinit.PRESETS[name_b].lesson)
    label_a, label_b = applied_label(setup), f"B: {name_b}"
    st.caption(
        f"**{model_label(setup)}**, seed {setup.seed}, probe batch of {PROBE_N}. **{label_a}** against **{label_b}**."
    )
    try:
        with st.spinner("Probing both plans…"):
            setup_b = preset_setup(name_b, setup)
            fa, fb = signal_for(setup, PROBE_N), signal_for(setup_b, PROBE_N)
            ra, rb = report_for(setup, BINS), report_for(setup_b, BINS)
    except Exception as e:
        fail("The comparison could not be computed.", e)
        return
    acts = compare_activations(fa, fb)
    grads = compare_gradients(fa, fb)
    c1, c2 = st.columns(2)
    chart(c1, compare_std_figure(acts, label_a, label_b), key="compare.std")
    with c1:
        look_for(
            "where the two lines part: that layer's init differs. A gap that widens layer after layer "
            "compounds; the logits' std (last point) is what the loss sees."
        )
    chart(c2, compare_grad_figure(grads, label_a, label_b, fa.loss, fb.loss), key="compare.grad")
    with c2:
        look_for(
            "which plan gives the larger gradients, layer by layer. A plan whose gradients are orders of "
            "magnitude larger takes correspondingly larger first SGD steps."
        )
    st.subheader("Std ratio per layer (B / A)")
    table = pd.DataFrame(
        {
            "#": acts["index"],
            "layer": acts["layer"],
            "type": acts["type"],
            "activation std A": acts["std_a"],
            "activation std B": acts["std_b"],
            "B / A": acts["ratio"],
        }
    )
    num = st.column_config.NumberColumn
    st.dataframe(
        table,
        hide_index=True,
        key="compare.table",
        column_config={
            "activation std A": num(format="%.4g"),
            "activation std B": num(format="%.4g"),
            "B / A": num(format="%.3g", help="1: the same scale. Blank: A's std is 0."),
        },
    )
    look_for(
        "a ratio that is 1 at first and then jumps shows the first layer where B's rule differs; a ratio "
        "that keeps growing shows the difference compounding with depth."
    )
    gt = pd.DataFrame(
        {
            "parameter": grads["name"],
            "weight std A": grads["weight_std_a"],
            "weight std B": grads["weight_std_b"],
            "weight std B / A": grads["weight_std_ratio"],
            "‖grad‖ A": grads["grad_a"],
            "‖grad‖ B": grads["grad_b"],
            "‖grad‖ B / A": grads["grad_ratio"],
        }
    )
    with st.expander("Weights and gradients per parameter (B / A)"):
        st.dataframe(
            gt,
            hide_index=True,
            key="compare.grad_table",
            column_config={c: num(format="%.4g") for c in gt.columns if c != "parameter"},
        )
    st.subheader("Every parameter's distribution, A over B")
    names = [h.name for h in ra.histograms]
    chosen = names
    if len(names) > MAX_DEFAULT_PARAMS:
        default = [n for n in names if n.endswith("weight")][:6]
        chosen = st.multiselect("Parameters to overlay", names, default=default, key="compare.params")
    by_b = {h.name: h for h in rb.histograms}
    st.caption(
        f"Densities (each histogram integrates to 1), so A's and B's bins may differ in width; {BINS} bins "
        "over each plan's own range. Parameters where A and B differ come first."
    )
    shown = [h for h in ra.histograms if h.name in chosen]
    same = lambda h: h.counts == by_b[h.name].counts and h.edges == by_b[h.name].edges
    shown = [h for h in shown if not same(h)] + [h for h in shown if same(h)]  # where A and B differ first
    cols = st.columns(2)
    for i, h in enumerate(shown):
        chart(cols[i % 2], density_overlay_figure(h, by_b[h.name], label_a, label_b), key=f"compare.hist.{h.name}")
    look_for(
        "how much wider one plan's weights are than the other's (σ B/A in each subtitle), and shape changes: "
        "uniform (flat) against normal (bell), or a single spike for a constant init."
    )
