"""The Signal flow view: what the applied init does to a fixed batch going forward and the gradient coming back."""

from __future__ import annotations

import math

import streamlit as st

from pinit import budget
from pinit.lab.figures import activation_heatmap_figure, activation_std_figure, dead_relu_figure, gradient_norm_figure
from pinit.lab.signal import (
    LOGITS_EXPLODING,
    LOGITS_HEALTHY,
    LOSS_NEAR_CHANCE,
    logits_verdict,
    loss_verdict,
)
from pinit.setup import Setup
from pinit.style import fmt

from .chart import chart
from .common import applied_label, fail, look_for, model_label, signal_for
from .state import is_big

PROBE_SIZES = [8, 16, 32, 64, 128, 256]


def metrics_ui(flow) -> None:
    m1, m2, m3, m4 = st.columns(4)
    text, color = logits_verdict(flow.logits_std if not flow.logits_nonfinite else math.inf)
    m1.metric(
        "Logits std",
        fmt(flow.logits_std),
        text,
        delta_color=color,
        delta_arrow="off",
        help=f"The std of the last layer's output on the probe batch. {LOGITS_HEALTHY[0]:g} to {LOGITS_HEALTHY[1]:g} "
        f"counts as healthy; above {LOGITS_EXPLODING:g} the softmax is saturated from step 0.",
    )
    text, color = loss_verdict(flow.loss, flow.num_classes, flow.logits_std)
    m2.metric(
        "Loss at init",
        fmt(flow.loss),
        text,
        delta_color=color,
        delta_arrow="off",
        help=f"Mean cross-entropy on the probe batch with random labels. A fresh network should be unsure: within "
        f"{LOSS_NEAR_CHANCE:g}× ln(classes) = {flow.chance_loss:.2f}. Exactly ln(classes) means every class ties "
        "(a constant last layer).",
    )
    relu = flow.activations[flow.activations["type"].isin(["ReLU", "ReLU6"])]
    dead = float(relu["dead_units"].max()) if len(relu) else math.nan
    m3.metric(
        "Most dead ReLU units",
        "—" if math.isnan(dead) else f"{dead:.0%}",
        help="The largest share, over the ReLU layers, of units that output 0 for every example of the batch.",
    )
    bad = int(flow.activations["nonfinite"].sum()) + int(flow.gradients["grad_nonfinite"].sum())
    m4.metric("NaN/Inf values", f"{bad:,}", help="Activations and gradients that overflowed (counted, never dropped).")


def signal_flow_ui(setup: Setup) -> None:
    # A big model (pinit.budget.is_big): a probe pass of 64 images takes many seconds; and only the
    # batch sizes whose cost fits the server's memory budget are offered.
    big = is_big(setup)
    sizes = budget.fit_probe(setup.model, setup.options, [s for s in PROBE_SIZES if s <= 32] if big else PROBE_SIZES)
    if not sizes:
        st.error(f"**Signal flow is not run for this model.** {budget.admit(setup.model, setup.options, 'signal', 8)}.")
        return
    c1, c2 = st.columns([1, 1])
    if st.session_state.get("signal.n") not in sizes:
        st.session_state["signal.n"] = max(n for n in sizes if n <= (16 if big else 64))
    if len(sizes) > 1:
        n = c1.select_slider(
            "Probe batch (images)",
            sizes,
            key="signal.n",
            help="A fixed, seeded batch of N(0, 1) inputs and random labels: the same for every plan.",
        )
    else:
        n = sizes[0]
        c1.caption(f"Probe batch: {n} images (a larger one would not fit the server's memory budget).")
    mode = c2.radio(
        "Histogram x axis",
        ["each layer's own std", "raw values (one axis)"],
        key="signal.heat",
        horizontal=True,
        help="Own std: the shape of each layer's distribution. Raw values: their scales.",
    )
    st.caption(
        f"**{model_label(setup)}**, {applied_label(setup)}, seed {setup.seed}. "
        + ("Scale-test model: the probe batch is kept small. " if big else "")
        + ("Shows the plan's weights, not the uploaded checkpoint. " if st.session_state.get("checkpoint") else "")
    )
    try:
        with st.spinner("Running the probe batch forward and backward…"):
            flow = signal_for(setup, n)
    except Exception as e:  # a plan that no longer fits, a model option out of range: words, not a traceback
        fail("The signal flow could not be computed.", e)
        return
    metrics_ui(flow)
    chart(st, activation_std_figure(flow), key="signal.std")
    if flow.predicted is not None:
        look_for(
            "the blue line against the red dashed one. Level lines mean the scheme suits this activation; "
            "a straight slope on this log axis is a constant factor per layer: it vanishes or explodes "
            "exponentially with depth."
        )
    else:
        look_for(
            "the blue line should stay roughly level. A jump at one layer is that layer's init multiplying "
            "the signal (the article's N(0, 1) on fc1 multiplies its input's RMS by √2048 ≈ 45); a steady "
            "slope compounds with depth. " + (flow.predicted_note.split(" (")[0] + "." if flow.predicted_note else "")
        )
    if flow.predicted is not None and flow.predicted_note:
        st.caption(f"Prediction: {flow.predicted_note}")
    chart(st, activation_heatmap_figure(flow, "std" if mode.startswith("each") else "raw"), key="signal.heat_fig")
    look_for(
        "a bright spike at 0 after each ReLU (about half the outputs) is normal. After tanh or sigmoid, "
        "mass piling up at the two ends means saturation (gradients near 0). Switch to 'raw values' to see "
        "layers that are tiny or huge next to the others."
    )
    chart(st, gradient_norm_figure(flow), key="signal.grad")
    look_for(
        "gradient norms within an order of magnitude or two of each other across layers. Norms falling "
        "layer after layer towards the input mean vanishing gradients; huge ones mean the first SGD step "
        "will wreck the weights."
    )
    chart(st, dead_relu_figure(flow), key="signal.dead")
    look_for(
        "bars near ½. A bar near 1, or many dead units (red ✕), means most of that layer passes nothing: "
        "no signal forward and no gradient back through those units."
    )


def signal_view(setup: Setup) -> None:
    st.caption("The **Lesson** tab walks a class from the article's recipe to Kaiming on this view's numbers.")
    signal_flow_ui(setup)
