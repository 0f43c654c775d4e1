"""The Width view: μP's coordinate check, SP against μP, activations' size against width after a few steps."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from pinit.lab.beyond_figures import coord_check_figure
from pinit.lab.width import DEFAULT_LR, coord_check, coord_slopes
from pinit.setup import Setup

from .chart import chart
from .common import fail, look_for
from .sidebar import is_phone

MAX_WIDTHS = [512, 1024, 2048, 4096]
STORY = (
    "**The coord check (Yang et al. 2021, Tensor Programs V).** Train the same MLP at several widths for a few "
    "steps and plot each layer's mean |activation| against width. In the standard parametrization one Adam step "
    "moves every weight by about the learning rate, and a layer sums fan_in such moves, so after a step the "
    "activations grow with width: a learning rate tuned on a small model blows up a wide one. μP divides the "
    "hidden and output layers' learning rates by the width multiplier and shrinks the readout's init, so the "
    "curves stay flat and the learning rate transfers across widths."
)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def _coord(parametrization: str, optimizer: str, lr: float, steps: int, widths: tuple[int, ...], seed: int):
    df = coord_check(
        widths=list(widths), parametrization=parametrization, optimizer=optimizer, lr=lr, steps=steps, seed=seed
    )
    return df, coord_slopes(df)


def controls_ui() -> tuple[str, float, int, tuple[int, ...]]:
    c1, c2, c3, c4 = st.columns(4)
    optimizer = c1.radio("Optimizer", ["adam", "sgd"], key="width.optimizer", horizontal=True)
    lr = c2.select_slider(
        "Learning rate",
        [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3],
        value=DEFAULT_LR[optimizer],
        key=f"width.lr.{optimizer}",
    )
    steps = c3.slider("Steps", 1, 5, 3, key="width.steps")
    top = c4.select_slider("Widest", MAX_WIDTHS, value=2048, key="width.max")
    widths = tuple(w for w in (128, 256, 512, 1024, 2048, 4096) if w <= top)
    return optimizer, float(lr), int(steps), widths


def width_view(setup: Setup) -> None:
    optimizer, lr, steps, widths = controls_ui()
    st.info(STORY)
    results = {}
    try:
        with st.spinner(f"Training {len(widths)} widths × 2 parametrizations for {steps} steps…"):
            for p in ("sp", "mup"):
                results[p] = _coord(p, optimizer, lr, steps, widths, setup.seed)
    except Exception as e:
        fail("The coord check could not run.", e)
        return
    names = {"sp": "standard parametrization (PyTorch default init, one lr)", "mup": "μP (init and per-layer lr)"}
    for p, (df, slopes) in results.items():
        chart(st, coord_check_figure(df, slopes, names[p], narrow=is_phone()), key=f"width.fig.{p}")
    at_end = results["sp"][1].query("step == @steps")
    logits = at_end.iloc[-1] if len(at_end) else None
    rise = (
        f"here the logits' ({logits['layer']}) slope is {logits['slope']:.2f}: each doubling of the width multiplies "
        f"them by ×{2 ** logits['slope']:.2f}"
        if logits is not None and math.isfinite(logits["slope"])
        else "the slopes are in the table below"
    )
    look_for(
        "the first panel (init) is flat in both, but for μP's readout (fc3), which starts smaller the wider the net: "
        f"μP shrinks its init on purpose. From step 1 on, SP's lines rise to the right ({rise}) while μP's stay "
        "flat. The slopes are in the subtitles."
    )
    table = pd.DataFrame(
        {
            "layer": results["sp"][1].query("step == @steps")["layer"].tolist(),
            f"SP slope at step {steps}": results["sp"][1].query("step == @steps")["slope"].round(3).tolist(),
            f"μP slope at step {steps}": results["mup"][1].query("step == @steps")["slope"].round(3).tolist(),
        }
    )
    st.dataframe(table, hide_index=True, key="width.slopes")
    st.caption(
        f"Model: DeepMLP, 256 inputs → width → width → 10 (ReLU), batch of 64 N(0, 1) inputs, {optimizer} "
        f"lr {lr:g}, seed {setup.seed}; μP relative to width {widths[0]}."
    )
