"""The Depth lab: a DeepMLP of 1-100 layers, several schemes overlaid, guided presets for the classic results."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from pinit.lab.depth import DEPTH_SCHEMES, LSUV_BUDGET, depth_summary, depth_sweep, lsuv_cost, symmetry_table
from pinit.lab.figures import depth_std_figure
from pinit.setup import Setup
from pinit.style import fmt

from .chart import chart
from .common import fail, look_for
from .state import CACHE_TTL

WIDTHS = [16, 32, 64, 128, 256, 512, 1024]
ACTIVATIONS = ["relu", "tanh", "sigmoid", "leaky_relu", "linear"]
PROBE_N = 128
SYMMETRY_TRAIN_BUDGET = 3e7  # depth * width^2 up to which 20 SGD steps take a second or two


@dataclass(frozen=True)
class Story:
    key: str
    button: str
    depth: int
    width: int
    activation: str
    schemes: tuple[str, ...]
    text: str
    symmetry: bool = False


STORIES = {
    s.key: s
    for s in (
        Story(
            "he",
            "He et al. 2015 (ReLU)",
            30,
            512,
            "relu",
            ("Kaiming (He)", "Xavier (Glorot)", "PyTorch default", "PyTorch default, biases 0"),
            "**He et al. 2015.** A ReLU zeroes half of its inputs, so it halves the signal's second moment. "
            "Kaiming's std √(2/fan_in) doubles it back: the blue line stays level through 30 layers (a finite "
            "network wanders a little around the prediction: see the ratio in the table). Xavier's "
            "std √(2/(fan_in+fan_out)) = √(1/fan_in) here does not make up for the ReLU: the variance halves at "
            "every layer, so the std falls by 1/√2 ≈ 0.707 per layer, a straight line on this log axis. "
            "PyTorch's default weights, std 1/√(3 fan_in), lose more (variance ×1/6 per layer, std ×0.41) when the "
            "biases are 0; with the biases nn.Linear really draws, U(±1/√fan_in), each layer adds their variance, "
            "so the signal settles at a floor (about 1/20 of fc1's std) instead of vanishing.",
        ),
        Story(
            "glorot",
            "Glorot & Bengio 2010 (tanh)",
            11,
            256,
            "tanh",
            ("PyTorch default, biases 0", "Xavier (Glorot)", "Xavier, tanh gain 5/3"),
            '**Glorot & Bengio 2010.** With tanh and the "standard" init U(±1/√n), biases 0 (PyTorch\'s default '
            "weights), each layer keeps at most 1/3 of the variance, so the activations shrink layer after layer. "
            "Xavier's "
            "normalized init keeps far more of the signal, but read the numbers honestly: with gain 1 it is not "
            "level here either; it declines slowly, because tanh squashes large values (by fc10 the std is about "
            "a quarter of fc1's, against a two-hundredth for the standard init). With torch's tanh gain 5/3 "
            "(`calculate_gain('tanh')`) the std settles and stays level near 1.1.",
        ),
        Story(
            "zero",
            "Zero init: symmetry",
            5,
            64,
            "tanh",
            ("Zeros", "Constant 0.05", "Xavier (Glorot)"),
            "**The symmetry trap.** With every weight equal (0, or any constant), every unit of a layer computes "
            "the same function of its input and receives the same gradient, so SGD updates them identically and "
            "they can never become different. The table counts distinct units per layer: 1 means all units are "
            "copies of one, however many there are (the layer is as good as one unit wide). Random init gives "
            "as many distinct units as the layer is wide.",
            symmetry=True,
        ),
        Story(
            "lsuv",
            "LSUV (Mishkin & Matas 2015)",
            30,
            256,
            "relu",
            ("LSUV", "Orthogonal", "Kaiming (He)"),
            "**LSUV.** Start from orthogonal weights (Saxe et al. 2013), then, layer by layer in forward order, "
            "divide the weights by the std of the layer's output on a batch until that std is 1 (within a "
            "tolerance). It needs no formula for the activation: it measures. The table below is its log: "
            "one iteration per layer suffices here, because with zero biases the output is linear in the "
            "weights. Plain orthogonal init (gain 1) loses the ReLU's half at every layer, like Xavier.",
        ),
    )
}


def _apply_story(key: str) -> None:
    s = STORIES[key]
    st.session_state.update(
        {
            "depth.depth": s.depth,
            "depth.width": s.width,
            "depth.activation": s.activation,
            "depth.schemes": list(s.schemes),
            "depth.symmetry": s.symmetry,
            "depth.story": key,
        }
    )


@st.cache_data(max_entries=128, ttl=CACHE_TTL, show_spinner=False)
def _sweep_one(depth: int, width: int, activation: str, scheme: str, seed: int, n: int):
    return depth_sweep(depth, width, activation, [scheme], seed, n)


@st.cache_data(max_entries=64, ttl=CACHE_TTL, show_spinner=False)
def _symmetry(depth: int, width: int, activation: str, scheme: str, seed: int, n: int, steps: int) -> pd.DataFrame:
    return symmetry_table(depth, width, activation, scheme, seed, n, steps)


def _from_sidebar(depth: int, width: int, activation: str) -> None:
    st.session_state.update({"depth.depth": depth, "depth.width": width, "depth.activation": activation})
    st.session_state.pop("depth.story", None)


def sidebar_model_ui(setup: Setup) -> None:
    """When the sidebar's model is a Deep MLP, one click brings its depth and activation here."""
    if setup.model != "DeepMLP":
        return
    opts = {"depth": 10, "width": 256, "activation": "relu", **setup.options}
    depth = min(max(int(opts["depth"]), 1), 100)
    width = min(WIDTHS, key=lambda w: abs(w - int(opts["width"])))  # the lab's widths are powers of 2
    activation = opts["activation"] if opts["activation"] in ACTIVATIONS else "relu"
    note = "" if width == opts["width"] else f" (width {opts['width']} rounds to {width} here)"
    st.button(
        f"Use the Deep MLP from Settings: depth {depth}, width {width}, {activation}{note}",
        key="depth.from_sidebar",
        on_click=_from_sidebar,
        args=(depth, width, activation),
        help="The Depth lab has its own depth, width and activation, so it can overlay several schemes; "
        "this copies the model in Settings into it.",
    )


def controls_ui() -> tuple[int, int, str, list[str], bool]:
    st.session_state.setdefault("depth.depth", 30)
    st.session_state.setdefault("depth.width", 512)
    st.session_state.setdefault("depth.activation", "relu")
    st.session_state.setdefault("depth.schemes", ["Kaiming (He)", "Xavier (Glorot)", "PyTorch default"])
    st.session_state.setdefault("depth.symmetry", False)
    st.markdown("**Guided experiments**: each sets the widgets below for one classic result.")
    cols = st.columns(len(STORIES))
    for col, s in zip(cols, STORIES.values()):
        col.button(s.button, key=f"depth.go.{s.key}", on_click=_apply_story, args=(s.key,), use_container_width=True)
    c1, c2, c3 = st.columns([2, 1, 1])
    depth = c1.slider("Depth (Linear layers)", 1, 100, key="depth.depth")
    width = c2.select_slider(
        "Width", WIDTHS, key="depth.width", help="Units per hidden layer; the input has 256 features."
    )
    activation = c3.selectbox("Activation", ACTIVATIONS, key="depth.activation")
    schemes = st.multiselect(
        "Schemes (Linear weights; biases 0 unless the scheme says)",
        list(DEPTH_SCHEMES),
        key="depth.schemes",
        help="\n".join(f"- {s.label}: {s.formula}" for s in DEPTH_SCHEMES.values()),
    )
    symmetry = st.toggle(
        "Count distinct units per layer (symmetry)",
        key="depth.symmetry",
        help="Outputs on the probe batch, gradient rows, and weights after 20 SGD steps.",
    )
    return depth, width, activation, schemes, symmetry


def story_ui(depth: int, width: int, activation: str, schemes: list[str]) -> None:
    key = st.session_state.get("depth.story")
    if key not in STORIES:
        st.info("Pick a guided experiment above, or set depth, width, activation and schemes yourself.")
        return
    s = STORIES[key]
    st.info(s.text)
    if (depth, width, activation, tuple(schemes)) != (s.depth, s.width, s.activation, s.schemes):
        st.caption(
            f"You have changed the settings since (the experiment used depth {s.depth}, width {s.width}, "
            f"{s.activation}, {', '.join(s.schemes)}); the text describes those."
        )


def summary_ui(summary: pd.DataFrame) -> None:
    show = pd.DataFrame(
        {
            "scheme": summary["scheme"],
            "std at first layer": [f"{a}: {fmt(b)}" for a, b in zip(summary["first"], summary["std_first"])],
            "std at last hidden": [f"{a}: {fmt(b)}" for a, b in zip(summary["last"], summary["std_last"])],
            "ratio last/first": [fmt(x) for x in summary["ratio"]],
            "predicted ratio": [fmt(x) for x in summary["predicted_ratio"]],
            "× per layer": [fmt(x) for x in summary["per_layer"]],
            "predicted × per layer": [fmt(x) for x in summary["predicted_per_layer"]],
            "note": summary["note"],
        }
    )
    st.dataframe(show, hide_index=True, key="depth.summary")
    st.caption(
        "Laws of the Linear weights: "
        + "; ".join(f"**{s}**: {DEPTH_SCHEMES[s].formula}" for s in summary["scheme"])
        + ". Biases are 0 unless the law says otherwise."
    )
    st.caption(
        "One draw from the seed in Settings: a single seed can wobble by a few percent per layer. "
        "The Lesson's depth step gives the median over 5 seeds."
    )
    look_for(
        "'× per layer' is the std's average factor per layer (measured) next to the formula's. 1 keeps the "
        "signal level at any depth; 0.707 halves the variance per layer, so 30 layers lose a factor 2³⁰ in "
        "variance (2¹⁵ ≈ 33,000 in std); above 1 it explodes."
    )


def symmetry_ui(depth: int, width: int, activation: str, schemes: list[str], seed: int) -> None:
    if depth < 2:
        st.caption("Distinct units need at least one hidden layer: set depth to 2 or more.")
        return
    steps = 20 if depth * width * width <= SYMMETRY_TRAIN_BUDGET else 0
    rows = []
    for scheme in schemes:
        t = _symmetry(depth, width, activation, scheme, seed, 64, steps)

        def join(col: str, t: pd.DataFrame = t) -> str:
            return ", ".join(str(int(v)) for v in t[col]) if t[col].notna().all() else "not run"

        rows.append(
            {
                "scheme": scheme,
                "layers": f"{t['layer'].iloc[0]} … {t['layer'].iloc[-1]}",
                "units per layer": join("units"),
                "distinct unit outputs": join("distinct_outputs"),
                "distinct gradient rows": join("distinct_grad_rows"),
                "distinct units after 20 SGD steps": join("distinct_after_training"),
            }
        )
    st.markdown("**Distinct units per hidden layer** (exact equality; one number per layer, in order)")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="depth.symmetry_table")
    look_for(
        "'distinct' = 1 while 'units' is larger: every unit of that layer is an exact copy of the others, in "
        "its output, in its gradient and still after training. Random schemes show as many distinct units as "
        "the layer is wide."
        + ("" if steps else " (Training skipped at this size: it would take too long on a shared server.)")
    )


def depth_view(setup: Setup) -> None:
    seed = setup.seed
    sidebar_model_ui(setup)
    depth, width, activation, schemes, symmetry = controls_ui()
    story_ui(depth, width, activation, schemes)
    if not schemes:
        st.warning("Pick at least one scheme to draw.")
        return
    skipped = []
    if "LSUV" in schemes and lsuv_cost(depth, width, PROBE_N) > LSUV_BUDGET:
        skipped.append("LSUV")
        st.warning(
            f"LSUV left out: at depth {depth} × width {width} it would take tens of seconds on this shared "
            "server (it runs the network up to each layer in turn). Lower the depth or the width to include it."
        )
    run = [s for s in schemes if s not in skipped]
    frames, logs = [], {}
    try:
        with st.spinner(f"Running {len(run)} scheme(s) through {depth} layers…"):
            for s in run:
                rows, log = _sweep_one(depth, width, activation, s, seed, PROBE_N)
                frames.append(rows)
                logs.update(log)
    except Exception as e:
        fail("The depth experiment could not run.", e)
        return
    if not frames:
        return
    rows = pd.concat(frames, ignore_index=True)
    summary = depth_summary(rows)
    extra = (
        f"DeepMLP: {depth} Linear layers, width {width}, {activation}; "
        f"probe batch {PROBE_N} × 256 N(0, 1), seed {seed}."
    )
    chart(st, depth_std_figure(rows, summary, extra), key="depth.fig")
    look_for(
        "level lines keep the signal; straight downward lines on this log axis lose a constant factor per "
        "layer (vanishing), upward ones gain it (exploding). Where the solid line follows its dashed "
        "prediction, the formula explains what you see."
    )
    summary_ui(summary)
    if "LSUV" in logs:
        st.markdown("**LSUV's log**: one row per layer, in forward order.")
        st.dataframe(
            logs["LSUV"].assign(layer=lambda d: d["layer"].str.replace("layers.", "", regex=False)),
            hide_index=True,
            key="depth.lsuv",
            column_config={
                "initial_std": st.column_config.NumberColumn("std before", format="%.4f"),
                "final_std": st.column_config.NumberColumn("std after", format="%.4f"),
            },
        )
        look_for(
            "'std before' is what orthogonal init gave that layer once the earlier layers were fixed; one "
            "division brings it to 1 ('iterations' = 1), so every layer starts training at the same scale."
        )
    if symmetry:
        symmetry_ui(depth, width, activation, schemes, seed)
