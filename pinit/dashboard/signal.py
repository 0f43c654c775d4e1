"""The Signal flow view: what the applied init does to a fixed batch going forward and the gradient coming back."""

from __future__ import annotations

import math

import streamlit as st

from pinit.figures import fmt
from pinit.lab.figures import activation_heatmap_figure, activation_std_figure, dead_relu_figure, gradient_norm_figure

from . import sidebar
from .lab import applied_label, fail, look_for, model_label, signal_for
from .state import Config

PROBE_SIZES = [8, 16, 32, 64, 128, 256]
BIG_MODELS = {"WideMLP", "VGGStyle"}  # scale tests: a probe pass of 64 images takes many seconds
WALKTHROUGH = ["Article recipe", "Kaiming (He)"]


def _use_preset(name: str) -> None:
    """Walkthrough button: SimpleCNN with preset `name`, re-initialized (as if picked in the sidebar)."""
    st.session_state["model"] = "SimpleCNN"
    st.session_state["preset"] = name
    sidebar.apply_preset()


def walkthrough_ui() -> None:
    with st.expander(
        "Walk a class through it: the article's recipe → exploding logits → fix with Kaiming", expanded=False
    ):
        st.markdown(
            "1. **The article's recipe** (Conv2d: kaiming_normal; Linear: `weight.data.normal_()`, i.e. N(0, 1)). "
            "Watch the blue line jump at `layer4.fc1`: N(0, 1) with fan_in 2048 multiplies the size (RMS) of its "
            "input by about √2048 ≈ 45, and the std drawn here jumps by a similar factor; fc2 (×√512 ≈ 23) and fc3 "
            "(×8) multiply it again. The logits' std and the loss below are huge.\n"
            "2. **Fix with Kaiming (He)**: std √(2/fan_in) for every layer. The line stays flat to the logits; "
            "the logits' std is of order 1 and the loss is a few units, not thousands.\n"
            "3. Optional: **Train** tab, train both: the article's recipe ends in a non-finite loss within a few "
            "steps; Kaiming learns."
        )
        c = st.columns(len(WALKTHROUGH))
        for i, name in enumerate(WALKTHROUGH):
            c[i].button(
                f"{i + 1}. {name}",
                key=f"signal.walk.{i}",
                on_click=_use_preset,
                args=(name,),
                use_container_width=True,
                help="Sets the sidebar to SimpleCNN with this preset and re-initializes.",
            )


def _verdict(std: float, nonfinite: int) -> tuple[str, str]:
    if nonfinite or not math.isfinite(std):
        return "overflowed: inf/NaN", "red"
    if std > 10:
        return "exploding: the softmax saturates", "red"
    if std >= 0.1:
        return "order 1: healthy", "green"
    if std > 0:
        return "small: the signal shrank on the way", "orange"
    return "zero: the output is constant", "gray"


def metrics_ui(flow) -> None:
    m1, m2, m3, m4 = st.columns(4)
    text, color = _verdict(flow.logits_std, flow.logits_nonfinite)
    m1.metric(
        "Logits std",
        fmt(flow.logits_std),
        text,
        delta_color=color,
        delta_arrow="off",
        help="The std of the last layer's output on the probe batch. About 1 is what a classifier wants at "
        "init; thousands means the softmax is saturated from step 0.",
    )
    loss, chance = flow.loss, flow.chance_loss
    if not math.isfinite(loss):
        text, color = "not finite", "red"
    elif loss > 3 * chance:
        text, color = f"confidently wrong (ln {flow.num_classes} = {chance:.3g})", "red"
    else:
        text, color = f"near ln {flow.num_classes} = {chance:.3g}: unsure, good", "green"
    m2.metric(
        "Loss at init",
        fmt(loss),
        text,
        delta_color=color,
        delta_arrow="off",
        help="Mean cross-entropy on the probe batch with random labels. A fresh network should be unsure: "
        "close to ln(classes). Far above it, it is confidently wrong.",
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


@st.fragment
def signal_fragment(cfg: Config) -> None:
    big = cfg["model"] in BIG_MODELS
    c1, c2 = st.columns([1, 1])
    sizes = [s for s in PROBE_SIZES if s <= 32] if big else PROBE_SIZES
    if st.session_state.get("signal.n") not in sizes:
        st.session_state["signal.n"] = 16 if big else 64
    n = c1.select_slider(
        "Probe batch (images)",
        sizes,
        key="signal.n",
        help="A fixed, seeded batch of N(0, 1) inputs and random labels: the same for every plan.",
    )
    mode = c2.radio(
        "Histogram x axis",
        ["each layer's own std", "raw values (one axis)"],
        key="signal.heat",
        horizontal=True,
        help="Own std: the shape of each layer's distribution. Raw values: their scales.",
    )
    st.caption(
        f"**{model_label(cfg)}**, {applied_label(cfg)}, seed {cfg['seed']}. "
        + ("Scale-test model: the probe batch is kept small. " if big else "")
        + ("Shows the plan's weights, not the uploaded checkpoint. " if st.session_state.get("checkpoint") else "")
    )
    try:
        with st.spinner("Running the probe batch forward and backward…"):
            flow = signal_for(cfg, n)
    except Exception as e:  # a plan that no longer fits, a model option out of range: words, not a traceback
        fail("The signal flow could not be computed.", e)
        return
    metrics_ui(flow)
    st.plotly_chart(activation_std_figure(flow), key="signal.std")
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
    st.plotly_chart(activation_heatmap_figure(flow, "std" if mode.startswith("each") else "raw"), key="signal.heat_fig")
    look_for(
        "a bright spike at 0 after each ReLU (about half the outputs) is normal. After tanh or sigmoid, "
        "mass piling up at the two ends means saturation (gradients near 0). Switch to 'raw values' to see "
        "layers that are tiny or huge next to the others."
    )
    st.plotly_chart(gradient_norm_figure(flow), key="signal.grad")
    look_for(
        "gradient norms within an order of magnitude or two of each other across layers. Norms falling "
        "layer after layer towards the input mean vanishing gradients; huge ones mean the first SGD step "
        "will wreck the weights."
    )
    st.plotly_chart(dead_relu_figure(flow), key="signal.dead")
    look_for(
        "bars near ½. A bar near 1, or many dead units (red ✕), means most of that layer passes nothing: "
        "no signal forward and no gradient back through those units."
    )


def signal_view(cfg: Config) -> None:
    walkthrough_ui()
    signal_fragment(cfg)
