"""The Filters view: the first conv layer's RGB filters as pictures, any weight matrix as a heatmap."""

from __future__ import annotations

import streamlit as st

from pinit.lab.figures import filter_grid_figure, weight_heatmap_figure
from pinit.lab.pictures import MAX_HEATMAP, filter_grid, weight_pictures
from pinit.setup import Setup
from pinit.style import fmt

from .chart import chart
from .common import applied_label, fail, look_for, model_label
from .state import CACHE_TTL

NORMS = {"each filter on its own scale": "filter", "one scale for all filters": "global"}


@st.cache_data(max_entries=32, ttl=CACHE_TTL, show_spinner=False)
def _pictures(key: str) -> dict:
    return weight_pictures(Setup.from_key(key), MAX_HEATMAP)


def rgb_ui(pics: dict) -> None:
    name, w = pics["rgb_conv"], pics["rgb_weight"]
    if name is None:
        st.info(
            "This model has no conv layer reading RGB images, so there are no filters to draw as pictures; "
            "its weight matrices are below."
        )
        return
    norm_label = st.radio(
        "Brightness",
        list(NORMS),
        key="filters.norm",
        horizontal=True,
        help="Own scale: compare the filters' patterns. One scale: compare their sizes too.",
    )
    norm = NORMS[norm_label]
    img, scales = filter_grid(w, norm, cols=8, zoom=1)
    which = (
        "each filter scaled by its own largest |w|"
        if norm == "filter"
        else f"all filters scaled by the largest |w| of the tensor, {fmt(max(scales) if scales else 0)}"
    )
    sub = (
        f"{w.shape[0]} filters of {w.shape[2]}×{w.shape[3]} pixels, RGB = the weights on the R, G and B input "
        f"channels; {which}.<br>Grey is 0, bright is positive, dark is negative (per channel)."
    )
    chart(st, filter_grid_figure(img, f"{name} as {w.shape[0]} RGB filters", sub), key="filters.grid")
    look_for(
        "at init the filters are noise: random colours with no structure, as they should be (random "
        "weights are what make the 32 filters differ from each other). A constant init makes every filter "
        "the same flat colour; with one scale for all, a few bright filters and many grey ones mean very "
        "different sizes."
    )


def matrix_ui(pics: dict) -> None:
    mats = pics["matrices"]
    if not mats:
        st.info("This model has no weight with 2 or more dimensions.")
        return
    names = list(mats)
    default = next((n for n in names if "fc1" in n), names[0])
    if st.session_state.get("filters.param") not in names:
        st.session_state["filters.param"] = default
    c1, c2 = st.columns([2, 1])
    name = c1.selectbox("Weight", names, key="filters.param", format_func=lambda n: f"{n} {tuple(mats[n]['shape'])}")
    how = c2.radio(
        "Each cell shows",
        ["mean", "rms"],
        key="filters.how",
        horizontal=True,
        format_func=lambda h: "block mean (pattern)" if h == "mean" else "block RMS (scale)",
        help=f"Big matrices are average-pooled to at most {MAX_HEATMAP} × {MAX_HEATMAP} cells.",
    )
    m = mats[name]
    chart(st, weight_heatmap_figure(m[how], name, m["shape"], m["block"], how), key="filters.heatmap")
    look_for(
        "random init looks like even static: no rows, columns or blocks standing out. Stripes mean whole "
        "units (rows) or inputs (columns) share a scale; a diagonal is eye/dirac; one flat colour is a "
        "constant init. With 'block RMS', the colour bar gives the weights' scale."
    )


def filters_view(setup: Setup) -> None:
    st.caption(
        f"**{model_label(setup)}**, {applied_label(setup)}, seed {setup.seed}: the weights the plan draws"
        + (" (not the uploaded checkpoint)." if st.session_state.get("checkpoint") else ".")
    )
    try:
        with st.spinner("Drawing the weights…"):
            pics = _pictures(setup.key)
    except Exception as e:
        fail("The weight pictures could not be computed.", e)
        return
    st.subheader("First conv layer's filters")
    rgb_ui(pics)
    st.subheader("A weight matrix")
    matrix_ui(pics)
