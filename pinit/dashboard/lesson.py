"""The Lesson: the story of weight initialization on one screen per step, for a class.

Each step is one full-width chart, the two or three numbers that matter in large type,
two sentences, and Prev/Next (buttons and the ← → keys). The step is in the URL
(`?step=3`), so a link opens the class where the teacher is. Every number comes from
the backend (pinit.lab.lesson), computed once per server process over several seeds
and shared by every student (plain, immutable results: nothing one tab does reaches
another).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from pinit.lab import lesson
from pinit.lab.lesson_figures import (
    depth_story_figure,
    signal_trace_figure,
    symmetry_story_figure,
    training_story_figure,
)
from pinit.lab.signal import VerdictColour, logits_verdict, loss_verdict
from pinit.share.setup import Setup
from pinit.style import fmt, fmt_number

from . import sidebar, state
from .share import qr_ui

STEP_KEY = "step"
CHART_HEIGHT = 330
# ← → change the step from anywhere in the lesson, not only with nothing focused: Streamlit's own
# shortcuts (Back's and Next's `shortcut=`) answer only then, and with focus in the step picker the
# arrows moved the focus, not the step. Constant code (no user input in it), installed once per tab;
# it leaves the arrows alone in text fields, sliders, lists and the tab bar, where they have a job.
ARROWS_JS = """<script>
(() => {
  if (window.pinitLessonArrows) return;
  window.pinitLessonArrows = true;
  window.addEventListener('keydown', (e) => {
    if ((e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    const t = e.target;
    if (!t || t === document.body || !t.closest) return;  // nothing focused: Streamlit's own shortcut
    if (t.closest('input, textarea, select, [contenteditable], [role=slider], [role=tablist], [role=listbox]')) return;
    const key = e.key === 'ArrowLeft' ? 'prev' : 'next';
    const button = [...document.querySelectorAll(`.st-key-lesson-${key} button`)].find(b => b.offsetParent);
    if (!button) return;  // not on the Lesson tab
    e.preventDefault();
    e.stopImmediatePropagation();
    if (!button.disabled) button.click();
  }, true);
})();
</script>"""


@dataclass(frozen=True)
class Step:
    label: str  # the short name on the step picker
    title: str
    draw: Callable[[bool], None]  # draws numbers, chart and text; the argument is presenter mode


Metric = tuple[str, str, str | None, VerdictColour, str]  # label, value, verdict, colour, help


def _metrics(items: Sequence[Metric]) -> None:
    """(label, value, verdict, colour, help) per column: the numbers that matter, in large type."""
    cols = st.columns(len(items))
    for col, (label, value, verdict, color, help_text) in zip(cols, items):
        col.metric(label, value, verdict, delta_color=color, delta_arrow="off", help=help_text)


def _fit(n: int) -> dict[str, Any]:
    """Step n's chart titled by the step (its own subtitle keeps its numbers), laid out for a phone's
    width on a phone: titles wrap there instead of being cut, the legend under a plot that keeps its width."""
    return dict(heading=STEPS[n - 1].title, narrow=sidebar.is_phone(), height=CHART_HEIGHT)


def _chart(fig, n: int) -> None:
    st.plotly_chart(fig, key=f"lesson.chart.{n}", config={"displayModeBar": False})


def _story(text: str) -> None:
    st.markdown(text)


# --- the steps ---------------------------------------------------------------------------------


def _article(big: bool) -> None:
    t = lesson.signal_trace("Article recipe")
    logits, logits_color = logits_verdict(t.logits_std)
    loss, loss_color = loss_verdict(t.loss, t.num_classes, t.logits_std)
    _metrics(
        [
            (
                "fc1 multiplies the signal by",
                f"×{fmt(t.gain_of('fc1'))}",
                "√2048 ≈ 45",
                "red",
                "RMS of fc1's output over the RMS of its input, median over 5 seeds.",
            ),
            (
                "Logits std",
                fmt_number(t.logits_std),
                logits,
                logits_color,
                "About 1 is what a classifier wants at init "
                "(0.1 to 3 counts as healthy; above 30 the softmax saturates).",
            ),
            (
                "Loss at init",
                fmt_number(t.loss),
                loss,
                loss_color,
                "Cross-entropy on 64 probe images with random labels. ln 10 = 2.30 is the loss of knowing nothing.",
            ),
        ]
    )
    _chart(signal_trace_figure(t, big=big, **_fit(1)), 1)
    _story(
        "The article fills every Linear weight with N(0, 1), whatever its fan_in: since E[y²] = fan_in · E[w²] · "
        "E[x²], fc1 (fan_in 2048) multiplies the signal by √2048 ≈ 45 and fc2 by √512 ≈ 23 more. The logits reach "
        f"{fmt_number(t.logits_std)} and the softmax is saturated before training even starts."
    )


def _kaiming(big: bool) -> None:
    t, before = lesson.signal_trace("Kaiming (He)"), lesson.signal_trace("Article recipe")
    logits, logits_color = logits_verdict(t.logits_std)
    loss, loss_color = loss_verdict(t.loss, t.num_classes, t.logits_std)
    _metrics(
        [
            (
                "fc1 multiplies the signal by",
                f"×{fmt(t.gain_of('fc1'))}",
                f"was ×{fmt(before.gain_of('fc1'))}",
                "green",
                "RMS of fc1's output over the RMS of its input, median over 5 seeds.",
            ),
            (
                "Logits std",
                fmt_number(t.logits_std),
                logits,
                logits_color,
                "0.1 to 3 counts as healthy; above 3 the network is already confident; above 30 the softmax saturates.",
            ),
            ("Loss at init", fmt(t.loss), loss, loss_color, "ln 10 = 2.30 is the loss of knowing nothing."),
        ]
    )
    _chart(signal_trace_figure(t, reference=before, big=big, annotate="fc1", **_fit(2)), 2)
    _story(
        "Kaiming (He et al. 2015) draws each weight with std √(2/fan_in): the 2 makes up for the ReLU that zeroes "
        "half the signal, so no layer multiplies it (the slow rise is max-pooling keeping the largest values). "
        f"The loss, {fmt(t.loss)}, is {fmt(t.loss / t.chance_loss)}× ln 10: confident but not absurd (a zero last "
        "layer would start at exactly ln 10)."
    )


def _depth(big: bool) -> None:
    d = lesson.depth_story()
    items: list[Metric] = []
    for scheme in d.schemes:
        per, pred = d.per_layer[scheme], d.predicted_per_layer[scheme]
        color: VerdictColour = "green" if abs(per - 1) < 0.05 else "red" if per < 0.8 else "orange"
        items.append(
            (
                f"{scheme}, per layer",
                f"×{per:.3f}",
                f"formula ×{pred:.3f}",
                color,
                f"The std's factor per layer, fc1 to fc{d.depth - 1}, median over {len(d.seeds)} seeds "
                f"(each seed: {', '.join(f'{v:.3f}' for v in d.per_layer_by_seed[scheme])}).",
            )
        )
    _metrics(items)
    _chart(depth_story_figure(d, big=big, **_fit(3)), 3)
    x, k, p = d.ratio["Xavier (Glorot)"], d.per_layer["Kaiming (He)"], d.ratio["PyTorch default"]
    _story(
        f"Through {d.depth} ReLU layers Xavier loses √2 per layer (the ReLU's half: {fmt(x, 2)} of its first "
        f"layer's std by the last), while Kaiming stays level (×{k:.3f}: a finite network wanders around the "
        "formula's 1). PyTorch's default also draws biases, which put a floor under the shrinking signal: it ends "
        f"at {fmt(p, 2)} of where it started."
    )


def _symmetry(big: bool) -> None:
    s = lesson.symmetry_story()
    items: list[Metric] = []
    for scheme in s.schemes:
        n = min(s.distinct_after[scheme])
        items.append(
            (
                f"{scheme}: distinct units",
                f"{n} of {s.width}",
                "all copies" if n == 1 else "all different",
                "red" if n == 1 else "green",
                f"The fewest distinct units in any hidden layer after {s.steps} SGD steps (exact equality).",
            )
        )
    _metrics(items)
    _chart(symmetry_story_figure(s, big=big, **_fit(4)), 4)
    _story(
        "Give every weight the same value and every unit of a layer computes the same function and gets the same "
        f"gradient, so SGD keeps them identical: after {s.steps} steps each layer still has one distinct unit, as "
        f"if it were one unit wide. Random init breaks the tie: all {s.width} units differ."
    )


def _training(big: bool) -> None:
    story = lesson.training_story()
    items: list[Metric] = []
    for name, run in story.runs.items():
        if run.stop_reason == "non-finite loss":
            items.append(
                (
                    name,
                    f"step {run.steps_done}",
                    "loss overflowed",
                    "red",
                    "The loss became inf/NaN at this step, so the run ended (before NaN reached the weights).",
                )
            )
        else:
            acc = run.test_accuracy
            color: VerdictColour = "green" if acc >= 0.9 else "orange" if acc > 0.2 else "red"
            items.append(
                (
                    f"{name}: held-out accuracy",
                    f"{acc:.0%}",
                    f"after {run.steps_done} steps",
                    color,
                    "Accuracy on 500 images the network never trained on; 10% is chance.",
                )
            )
    _metrics(items)
    _chart(training_story_figure(story, big=big, **_fit(5)), 5)
    c = story.settings
    default = story.runs.get("PyTorch default")
    slow = f" ({default.test_accuracy:.0%})" if default is not None else ""
    _story(
        "Same data, same order, only the init differs: Kaiming learns, the article's recipe overflows within a few "
        f"steps. PyTorch's default learns slowly{slow} at this learning rate ({c['lr']:g}) and length "
        f"({int(c['steps'])} steps), which is not broken: its gradients start small, and more steps or a larger "
        "rate train it too (▶ Replay redraws the runs)."
    )


def _open(preset: str) -> None:
    """Hand over to free play: the sidebar set to `preset` on SimpleCNN, the Weights tab open."""
    base = state.applied() or Setup()
    sidebar.load(sidebar.preset_setup(preset, base.replace(model="SimpleCNN", options={})))
    st.session_state["view"] = "Weights"
    st.rerun()  # from a callback: the whole page reruns (the tab changes)


def _your_turn(big: bool) -> None:
    st.markdown(
        "Everything you saw is live. Open **Weights** and pick a preset or a scheme per layer type in Settings: "
        "every change redraws at once. **Signal flow** runs your plan on the probe batch, **Depth lab** stacks up "
        "to 100 layers, **Compare** puts two plans side by side and **Train** trains them."
    )
    c1, c2, c3 = st.columns(3)
    for col, (label, preset) in zip(
        (c1, c2, c3),
        (
            ("the article's recipe", "Article recipe"),
            ("Kaiming", "Kaiming (He)"),
            ("zeros", "Zeros (the symmetry trap)"),
        ),
    ):
        col.button(
            f"Open Weights: {label}",
            key=f"lesson.open.{preset}",
            on_click=_open,
            args=(preset,),
            use_container_width=True,
        )
    st.caption(
        "Questions to try: which layer of SimpleCNN does the article's N(0, 1) hurt most, and why fc1? What does "
        "Xavier do through 30 tanh layers (Depth lab, Glorot & Bengio 2010)? Can you make the loss at init exactly "
        "ln 10 (hint: an override on layer4.fc3.weight)?"
    )


STEPS = [
    Step("1 · The article", "1. The seed article's recipe: N(0, 1) on every Linear weight", _article),
    Step("2 · Kaiming", "2. The fix: Kaiming's √(2/fan_in), on the same axis", _kaiming),
    Step("3 · Depth", "3. Thirty layers deep: He, Xavier and PyTorch's default", _depth),
    Step("4 · Symmetry", "4. Zeros and constants: the symmetry trap", _symmetry),
    Step("5 · Training", "5. What the init does to learning", _training),
    Step("6 · Your turn", "6. Now try your own plan", _your_turn),
]


def _move(delta: int) -> None:
    st.session_state[STEP_KEY] = min(max(_step() + delta, 1), len(STEPS))


def _step() -> int:
    value = st.session_state.get(STEP_KEY, 1)
    try:
        step = int(value)
    except (TypeError, ValueError):
        step = 1
    return step if 1 <= step <= len(STEPS) else 1


def _from_link() -> int:
    raw = st.query_params.get(STEP_KEY, "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= len(STEPS) else 1


def nav_ui(big: bool) -> int:
    """Back, the steps, Next (and the QR code in presenter mode). The step is kept in the link as ?step=N."""
    if st.session_state.get(STEP_KEY) not in range(1, len(STEPS) + 1):
        st.session_state[STEP_KEY] = _from_link()
    # One row of content-sized items, not proportional columns: at 1024 px in presenter mode a
    # column's share was narrower than the six step names (they were cut off); a row that does
    # not fit wraps instead of hiding anything.
    row = st.container(horizontal=True, horizontal_alignment="distribute", vertical_alignment="center")
    row.button(
        "Back",
        key="lesson.prev",
        on_click=_move,
        args=(-1,),
        shortcut="Left",
        disabled=_step() == 1,
        help="The previous step (← key).",
    )
    row.segmented_control(
        "Step",
        list(range(1, len(STEPS) + 1)),
        key=STEP_KEY,
        format_func=lambda i: STEPS[i - 1].label,
        required=True,
        label_visibility="collapsed",
    )
    row.button(
        "Next",
        key="lesson.next",
        type="primary",
        on_click=_move,
        args=(1,),
        shortcut="Right",
        disabled=_step() == len(STEPS),
        help="The next step (→ key).",
    )
    row.html(ARROWS_JS, unsafe_allow_javascript=True, width="content")
    if st.query_params.get(STEP_KEY) != str(_step()):
        st.query_params[STEP_KEY] = str(_step())
    if big:
        with row.popover("QR", icon=":material/qr_code_2:", help="Students scan it to open this page."):
            qr_ui(260)
    return _step()


def lesson_view(big: bool = False) -> None:
    """The lesson's current step. `big`: presenter mode (larger chart text)."""
    lesson.start_warming()  # every student asks for the same numbers: compute them all once, now
    step = STEPS[nav_ui(big) - 1]
    with st.spinner("Computing this step over 5 seeds (once per server; a few seconds)…"):
        step.draw(big)
    if sidebar.is_phone() and step is not STEPS[-1]:  # one-handed: the next step under the thumb, too
        st.button(
            "Next step", key="lesson.next.bottom", type="primary", on_click=_move, args=(1,), use_container_width=True
        )
