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
from pinit.setup import Setup
from pinit.text import number, quote

from . import room, sidebar, state
from .chart import chart, chart_name
from .common import escape
from .share import qr_ui
from .shared_figure import shared  # each step's chart built once per server, not once per tab

STEP_KEY = "step"
CHART_HEIGHT = 290
# Presenter mode: the px each step's chart may grow beyond CHART_HEIGHT and still fit one 1280x720
# screen (the tighter of 1280x720 and 1024x768) with its numbers and sentences, 8-15 px spare
# (tests/browser/test_lesson_browser.py measures it). Step 1's longer sentences leave it none.
PRESENTER_ROOM = {2: 40, 3: 28, 4: 70, 5: 40}
PHONE_ROOM = {3: 40, 4: 40, 5: 40}  # the same on a 390x844 phone, whose chart must end on its first screen
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


def _metrics(items: Sequence[Metric]) -> str:
    """(label, value, verdict, colour, help) per column: the numbers that matter, in large type.
    Returns them in one sentence, for the chart's accessible name (the chart is about them)."""
    cols = st.columns(len(items))
    for col, (label, value, verdict, color, help_text) in zip(cols, items):
        col.metric(label, value, verdict, delta_color=color, delta_arrow="off", help=help_text)
    return "; ".join(f"{label}: {value}" + (f" ({verdict})" if verdict else "") for label, value, verdict, *_ in items)


def _fit(n: int, big: bool) -> dict[str, Any]:
    """Step n's chart titled by the step (its own subtitle keeps its numbers), laid out for a phone's
    width on a phone: titles wrap there instead of being cut, the legend under a plot that keeps its width."""
    phone = sidebar.is_phone()
    # A phone's chart grows by its wrapped title and legend rows; from a lower base, so that the
    # metrics, the spread line and the chart are all on a 390x844 phone's first screen. A projector's
    # step gets the height its screen has left (PRESENTER_ROOM).
    room = PHONE_ROOM if phone else PRESENTER_ROOM if big else {}
    height = CHART_HEIGHT - (40 if phone else 0) + room.get(n, 0)
    return dict(heading=STEPS[n - 1].title, narrow=phone, height=height)


# Steps 3-5: one story, one figure builder.
_STORY_FIGURES: dict[int, tuple[Any, Callable[..., Any]]] = {
    3: (lesson.depth_story, depth_story_figure),
    4: (lesson.symmetry_story, symmetry_story_figure),
    5: (lesson.training_story, training_story_figure),
}


def _figure(n: int, big: bool, peek: bool = False) -> str | None:
    """Step n's chart as the JSON every tab shares (None for a step without one). `peek`: only if
    its story is already computed (None otherwise): never computes, never waits."""

    def story(fn: Any, *args: Any) -> Any:
        return fn.peek(*args) if peek else fn(*args)

    extra: dict[str, Any] = {}
    if n == 1:
        build, main = signal_trace_figure, story(lesson.signal_trace, "Article recipe")
    elif n == 2:  # Kaiming against the article's recipe, on the same axis
        build, main = signal_trace_figure, story(lesson.signal_trace, "Kaiming (He)")
        extra = {"reference": story(lesson.signal_trace, "Article recipe"), "annotate": "fc1"}
    elif n in _STORY_FIGURES:
        fn, build = _STORY_FIGURES[n]
        main = story(fn)
    else:
        return None
    if main is None or extra.get("reference", main) is None:
        return None
    return shared(build, main, big=big, **_fit(n, big), **extra)


def _chart(n: int, big: bool, numbers: str) -> None:
    """Step n's chart, named for a screen reader by its title, its subtitle and the step's `numbers`
    (the metrics above it). The neighbouring steps' charts go along as `prefetch` when their
    stories are ready: the browser draws them while the class reads, so Next and Back show a
    chart already drawn (pinit.dashboard.chart)."""
    fig = _figure(n, big)
    near = [f for m in (n + 1, n - 1) if (f := _figure(m, big, peek=True)) is not None]
    chart(
        st,
        fig,
        key="lesson.chart",
        config={"displayModeBar": False},
        label=f"{chart_name(fig)}. {numbers}.",
        prefetch=near,
    )


def _story(text: str) -> None:
    st.markdown(text)


# --- the steps ---------------------------------------------------------------------------------
# Every number below is a row of lesson.claims(): its text is measured over the seeds, with its
# range where the seeds disagree, so what a teacher reads out holds on any seed.


def _value(claim: str) -> str:
    """A claim's number for a metric (its range, if any, goes in the caption under the metrics)."""
    return lesson.claim(claim).split(" (")[0]


def _short(claim: str) -> str:
    """A claim's number (or range) without its seed count: "100 % on 5 of 5 seeds" is "100 %" in a
    metric, which a phone's third of a screen shows whole ("100 % on 5 …" was cut); the count is in
    the metric's help and the sentences under the chart."""
    return claim.split(" on ")[0].split(" over ")[0]


def _ranges(claims: Sequence[tuple[str, str]]) -> None:
    """One caption with the range of every (name, claim) whose seeds disagree by more than 20 %."""
    parts = [f"{name} {lesson.claim(c).split(' (', 1)[1].rstrip(')')}" for name, c in claims if " (" in lesson.claim(c)]
    if parts:
        st.caption("Spread over the seeds: " + "; ".join(parts) + ".")


def _article(big: bool) -> None:
    t = lesson.signal_trace("Article recipe")
    n = len(t.seeds)
    logits, logits_color = logits_verdict(t.logits_std)
    loss, loss_color = loss_verdict(t.loss, t.num_classes, t.logits_std)
    numbers = _metrics(
        [
            (
                "fc1 multiplies the signal by",
                _value("fc1 gain, article"),
                "√2048 ≈ 45",
                "red",
                f"RMS of fc1's output over the RMS of its input, median over {n} seeds.",
            ),
            (
                "Logits std",
                _value("logits std, article"),
                logits,
                logits_color,
                f"Median over {n} seeds. About 1 is what a classifier wants at init "
                "(0.1 to 3 counts as healthy; above 30 the softmax saturates).",
            ),
            (
                "Loss at init",
                _value("loss at init, article"),
                loss,
                loss_color,
                f"Median over {n} seeds of the cross-entropy on 64 probe images with random labels. "
                "ln 10 = 2.30 is the loss of knowing nothing.",
            ),
        ]
    )
    _ranges([("logits std", "logits std, article"), ("loss", "loss at init, article")])
    _chart(1, big, numbers)
    _story(
        "The article fills every Linear weight with N(0, 1), whatever its fan_in: since E[y²] = fan_in · E[w²] · "
        f"E[x²], fc1 (fan_in 2048) multiplies the signal by {lesson.claim('fc1 gain, article')} (√2048 ≈ 45). "
        "The ReLU after it zeroes half the signal's power, and fc2 multiplies what is left by "
        f"{lesson.claim('fc2 gain, article')} (√512 ≈ 23): on the chart, {lesson.claim('fc2 over fc1, article')} "
        f"from fc1 to fc2. The logits' std reaches {lesson.claim('logits std, article')} and the loss "
        f"{lesson.claim('loss at init, article')}, {lesson.claim('loss over ln 10, article')} ln 10: the softmax "
        "is saturated before training even starts."
    )


def _kaiming(big: bool) -> None:
    t = lesson.signal_trace("Kaiming (He)")
    n = len(t.seeds)
    logits, logits_color = logits_verdict(t.logits_std)
    loss, loss_color = loss_verdict(t.loss, t.num_classes, t.logits_std)
    numbers = _metrics(
        [
            (
                "fc1 multiplies the signal by",
                _value("fc1 gain, Kaiming"),
                f"was {_value('fc1 gain, article')}",
                "green",
                f"RMS of fc1's output over the RMS of its input, median over {n} seeds.",
            ),
            (
                "Logits std",
                _value("logits std, Kaiming"),
                logits,
                logits_color,
                f"Median over {n} seeds. 0.1 to 3 counts as healthy; above 3 the network is already confident; "
                "above 30 the softmax saturates.",
            ),
            (
                "Loss at init",
                _value("loss at init, Kaiming"),
                loss,
                loss_color,
                f"Median over {n} seeds. ln 10 = 2.30 is the loss of knowing nothing.",
            ),
        ]
    )
    _ranges([("logits std", "logits std, Kaiming"), ("loss", "loss at init, Kaiming")])
    _chart(2, big, numbers)
    _story(
        "Kaiming (He et al. 2015) draws each weight with std √(2/fan_in): the 2 makes up for the ReLU that zeroes "
        "half the signal, so no layer multiplies it (the slow rise is max-pooling keeping the largest values). "
        f"The loss, {lesson.claim('loss at init, Kaiming')}, is {lesson.claim('loss over ln 10, Kaiming')} ln 10: "
        "confident but not absurd (a zero last layer would start at exactly ln 10)."
    )


def _depth(big: bool) -> None:
    d = lesson.depth_story()
    n, default = len(d.seeds), "PyTorch default"
    items: list[Metric] = []
    for scheme in ("Kaiming (He)", "Xavier (Glorot)"):
        per, pred = d.per_layer[scheme], d.predicted_per_layer[scheme]
        color: VerdictColour = "green" if abs(per - 1) < 0.05 else "red" if per < 0.8 else "orange"
        items.append(
            (
                f"{scheme}, per layer",
                _value(f"per layer, {scheme}"),
                f"formula ×{number(pred)}",
                color,
                f"The std's factor per layer, fc1 to fc{d.depth - 1}, median over {n} seeds, from "
                f"{number(min(d.per_layer_by_seed[scheme]))} to {number(max(d.per_layer_by_seed[scheme]))}; "
                "the curve is geometric, so one factor describes it.",
            )
        )
    items.append(
        (
            f"{default}: input's part below 1 %",
            f"from {_value(f'signal below 1 %, {default}')}",
            "input forgotten",  # "the output forgets the input" was cut on a phone
            "red",
            "The first layer whose outputs vary across inputs by less than 1 % of their size (the std across "
            f"inputs of each unit, averaged, over the RMS), median over {n} seeds "
            f"({lesson.claim(f'signal below 1 %, {default}')}).",
        )
    )
    numbers = _metrics(items)
    _ranges([(f"{default}: below 1 % from", f"signal below 1 %, {default}")])
    _chart(3, big, numbers)
    last = f"fc{d.depth - 1}"
    _story(
        f"Through {d.depth} ReLU layers Xavier loses √2 per layer ({lesson.claim('per layer, Xavier (Glorot)')}: "
        f"{lesson.claim('last over first, Xavier (Glorot)')} of its first layer's std by {last}), while Kaiming "
        f"stays level ({lesson.claim('per layer, Kaiming (He)')}). PyTorch's default shrinks the signal's variance "
        f"×1/6 per layer (std {lesson.claim(f'std fc1 to fc5 per layer, {default}')} per layer over fc1-fc5) and "
        "its std then stops falling: what is left is the biases' noise, the same for every input. The part of a "
        f"layer's output that depends on the input (dotted) is {lesson.claim(f'input share at fc5, {default}')} "
        f"at fc5, below 1 % from {lesson.claim(f'signal below 1 %, {default}')} on, and "
        f"{lesson.claim(f'input share at last hidden, {default}')} of the output at {last}: the signal is dead "
        "within a few layers, and the network's output no longer depends on its input."
    )


def _symmetry(big: bool) -> None:
    s = lesson.symmetry_story()
    counts = lesson.symmetry_counts()
    items: list[Metric] = []
    for scheme in s.schemes:
        n = min(counts[scheme])
        items.append(
            (
                f"{scheme}: distinct units",
                lesson.claim(f"distinct units, {scheme}"),
                "all copies" if n == 1 else "all different",
                "red" if n == 1 else "green",
                f"The fewest distinct units in any hidden layer after {s.steps} SGD steps (exact equality), "
                f"on each of {len(counts[scheme])} seeds.",
            )
        )
    numbers = _metrics(items)
    _chart(4, big, numbers)
    _story(
        "Give every weight the same value and every unit of a layer computes the same function and gets the same "
        f"gradient, so SGD keeps them identical: after {s.steps} steps each layer still has one distinct unit, as "
        f"if it were one unit wide. Random init breaks the tie: all {s.width} units differ."
    )


def _training(big: bool) -> None:
    story = lesson.training_story()
    n = len(story.seeds)
    items: list[Metric] = []
    for name, runs in story.runs_by_seed.items():
        overflowed = [r for r in runs if r.stop_reason == "non-finite loss"]
        if overflowed:
            items.append(
                (
                    name,
                    _short(lesson.claim(f"overflow step, {name}")),
                    "loss overflowed",
                    "red",
                    f"The step at which the loss became inf/NaN, over {n} seeds "
                    f"({lesson.claim(f'overflow step, {name}')}); the run ends there, before NaN reaches the weights.",
                )
            )
        else:
            worst = min(r.test_accuracy for r in runs)
            color: VerdictColour = "green" if worst >= 0.9 else "orange" if worst > 0.2 else "red"
            items.append(
                (
                    f"{name}: held-out accuracy",
                    _short(lesson.claim(f"held-out accuracy, {name}")),
                    f"after {story.settings.steps} steps",
                    color,
                    f"Accuracy on {story.settings.n_test} images the network never trained on, over {n} "
                    f"seeds (init and data order): {lesson.claim(f'held-out accuracy, {name}')}; 10% is chance.",
                )
            )
    numbers = _metrics(items)
    _chart(5, big, numbers)
    c = story.settings
    table = lesson.step_claims(5)
    survived = table[table["claim"] == "held-out accuracy, Article recipe"]
    article = (
        lesson.claim("overflow step, Article recipe")
        if "overflow step, Article recipe" in set(table["claim"])
        else "never"
    )
    rest = f" (held-out accuracy {survived['shown'].iloc[0]})" if len(survived) and "overflow" in article else ""
    _story(
        f"Same data, same order, only the init differs; {n} seeds (init and data order). Kaiming reaches "
        f"{lesson.claim('held-out accuracy, Kaiming (He)')}; the article's recipe overflows {article}{rest}. "
        f"PyTorch's default barely leaves chance ({lesson.claim('held-out accuracy, PyTorch default')}) at this "
        f"learning rate ({c.lr:g}) and length ({c.steps} steps): its signal shrinks at every ReLU layer, and so "
        "do its gradients (the chart draws seed 0's runs; ▶ Replay redraws them)."
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
    room.push(_step())  # a class follows at once (nothing when this session presents none)


def _step() -> int:
    value = st.session_state.get(STEP_KEY, 1)
    try:
        step = int(value)
    except (TypeError, ValueError):
        step = 1
    return step if 1 <= step <= len(STEPS) else 1


def _from_link() -> int:
    """The link's ?step=, or step 1 with a warning in words if it is not a step (5,000 digits included)."""
    raw = st.query_params.get(STEP_KEY, "1")
    if raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= len(STEPS):
        return int(raw)
    st.warning(
        escape(f"The link's step={quote(raw, 20)} is not a step of this lesson (1 to {len(STEPS)}); showing step 1.")
    )
    return 1


def nav_ui(big: bool) -> int:
    """Back, the steps, Next (and the QR code in presenter mode). The step is kept in the link as ?step=N."""
    if st.session_state.get(STEP_KEY) not in range(1, len(STEPS) + 1):
        st.session_state[STEP_KEY] = _from_link()
    if room.following() is not None and _step() < room.HAND_OVER_STEP:  # the teacher leads: no Back/Next
        if st.query_params.get(STEP_KEY) != str(_step()):
            st.query_params[STEP_KEY] = str(_step())
        return _step()
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
        room.push(_step())  # the class (if this session presents one) is where the projector is
        label, icon = room.button_label()
        with row.popover(label, icon=icon, help="The QR code students scan; 'Open a class' makes their phones follow."):
            room.presenter_ui(_step())
            qr_ui(320, state.applied(), room.room_code(), {STEP_KEY: str(_step())})
    return _step()


def lesson_view(big: bool = False) -> None:
    """The lesson's current step. `big`: presenter mode (larger chart text)."""
    lesson.start_warming()  # every student asks for the same numbers: compute them all once, now
    n = nav_ui(big)
    if not big:
        room.follower_ui(n)  # a phone following the teacher: the class, the poll, the way out
    step = STEPS[n - 1]
    with st.spinner("Computing the lesson's numbers over its seeds (once per server)…"):
        step.draw(big)
    # One-handed: the next step under the thumb, too (not while the teacher's steps lead).
    if sidebar.is_phone() and step is not STEPS[-1] and room.following() is None:
        st.button(
            "Next step", key="lesson.next.bottom", type="primary", on_click=_move, args=(1,), use_container_width=True
        )
