"""Through training: two plans' weights over SGD steps, TensorBoard's histograms with the init's law at step 0.

Both plans train SimpleCNN with the Train tab's configuration (pinit.lab.history), in the
Train tab's gate (one run at a time on the server, the same plan never twice at once), with
a progress bar; Stop (or any widget) reruns the script, which interrupts the run at its next
progress call. Finished runs are cached with st.cache_data by value (plan, seed, steps,
record interval), so a class pressing the same button computes once and the view opens at
once for anyone after. The step slider and Play are in the figure (plotly frames): moving
through the steps never reaches the server.
"""

from __future__ import annotations

import json

import streamlit as st

import pinit
from pinit.lab.history import WeightHistory, training_config, weight_history, what_to_look_for
from pinit.lab.history_figures import ridgeline_figure, update_ratio_figure
from pinit.plan import InitPlan
from pinit.setup import Setup

from .chart import chart
from .common import applied_label, look_for
from .state import CACHE_TTL
from .train_view import APPLIED, GATE, _applied_plan_problem

STEP_CHOICES = [20, 50, 100, 200]
RECORDS = 20  # histograms per run (plus steps 0 and 1): enough for a smooth slider, a small payload
BINS = 40  # the Weights tab's default bin request, so step 0 is its histogram
MODES = {"offset": "Ridgeline (offset)", "overlay": "Overlay"}
DEFAULT_A, DEFAULT_B = "Article recipe", "Kaiming (He)"
DEFAULT_PARAM = "layer4.fc1.weight"


class _NotCached(Exception):
    pass


@st.cache_data(max_entries=32, ttl=CACHE_TTL, show_spinner=False)
def _finished(key: str, _run: WeightHistory | None = None) -> WeightHistory:
    """The finished run stored under `key`; called with `_run` to store it, without to look it up
    (raising _NotCached, which is never cached, when nobody has trained it yet)."""
    if _run is None:
        raise _NotCached(key)
    return _run


def _cached(key: str) -> WeightHistory | None:
    try:
        return _finished(key)
    except _NotCached:
        return None


def every_for(steps: int) -> int:
    return max(1, steps // RECORDS)


def _key(plan: dict, seed: int, steps: int) -> str:
    cfg = {k: v for k, v in training_config().items() if not callable(v)}
    return json.dumps(
        {
            "model": "SimpleCNN",
            "plan": InitPlan.from_dict(plan).to_dict(),
            "seed": seed,
            "steps": steps,
            "every": every_for(steps),
            "bins": BINS,
            "train": cfg,
        },
        sort_keys=True,
    )


def _plans(setup: Setup) -> dict[str, dict]:
    out = {name: p.plan for name, p in pinit.PRESETS.items()}
    if _applied_plan_problem(setup) is None:
        out[APPLIED] = setup.plan_dict
    return out


def _label(choice: str, setup: Setup) -> str:
    return applied_label(setup) + " (sidebar)" if choice == APPLIED else choice


def controls_ui(setup: Setup) -> tuple[list[tuple[str, str, dict]], int]:
    """The two plans and the number of steps: [(label, cache key, plan)], steps."""
    plans = _plans(setup)
    choices = list(plans)
    for slot, default in (("history.a", DEFAULT_A), ("history.b", DEFAULT_B)):
        if st.session_state.get(slot) not in choices:
            st.session_state[slot] = default
    st.session_state.setdefault("history.steps", training_config()["steps"])
    c1, c2, c3 = st.columns([2, 2, 1.4])
    fmt = lambda c: _label(c, setup)
    c1.selectbox("Plan A", choices, key="history.a", format_func=fmt, help="A preset or the sidebar's plan.")
    c2.selectbox("Plan B", choices, key="history.b", format_func=fmt, help="Drawn beside A on the same axes.")
    c3.select_slider(
        "SGD steps",
        STEP_CHOICES,
        key="history.steps",
        help=f"A histogram every {RECORDS}th of the run, plus steps 0 and 1.",
    )
    steps, seed = int(st.session_state["history.steps"]), setup.seed
    chosen = []
    for slot, prefix in (("history.a", "A"), ("history.b", "B")):
        choice = st.session_state[slot]
        chosen.append((f"{prefix}: {_label(choice, setup)}", _key(plans[choice], seed, steps), plans[choice]))
    cfg = training_config()
    st.caption(
        f"SimpleCNN, seed {seed}, the Train tab's run: SGD with momentum 0.9, lr {cfg['lr']}, batch "
        f"{cfg['batch_size']}, {cfg['n_train']:,} synthetic gratings. A histogram of every parameter "
        + ("at every step" if every_for(steps) == 1 else f"every {every_for(steps)} steps")
        + " on the bins of step 0 (the Weights tab's), with two overflow bins, so "
        "nothing is dropped."
        + ("" if _applied_plan_problem(setup) is None else " The sidebar's plan does not fit SimpleCNN.")
    )
    return chosen, steps


def _start(runs: list[tuple[str, str, dict]], seed: int, steps: int) -> None:
    st.session_state["history.request"] = {
        "runs": [{"label": label, "key": key, "plan": plan} for label, key, plan in runs],
        "seed": seed,
        "steps": steps,
    }


def _stop() -> None:
    st.session_state["history.request"] = None
    st.session_state["history.stopped"] = True


def _train(req: dict, status) -> None:
    total = len(req["runs"])
    data = None
    for i, r in enumerate(req["runs"], start=1):
        key, label, steps = r["key"], r["label"], req["steps"]
        bar = status.progress(0.0, text=f"Run {i} of {total}, {label}: starting")
        with GATE.enter(
            key,
            lambda msg: bar.progress(0.0, text=f"Run {i} of {total}, {label}: {msg}"),  # noqa: B023
            lambda: _cached(key) is not None,  # noqa: B023
        ) as mine:
            if not mine:
                continue
            if data is None:
                data = training_config()["data"]()

            def progress(step: int, loss: float) -> None:
                text = f"Run {i} of {total}, {label}: step {step} / {steps}, loss {loss:.4g}"  # noqa: B023
                bar.progress(min(step / steps, 1.0), text=text)  # noqa: B023

            run = weight_history(
                "SimpleCNN", r["plan"], req["seed"], steps, every_for(steps), BINS, data=data, callback=progress
            )
            _finished(key, run)
    status.empty()
    st.session_state["history.request"] = None


def charts_ui(runs: list[tuple[str, WeightHistory]], big: bool) -> None:
    names = runs[0][1].names
    if st.session_state.get("history.param") not in names:
        st.session_state["history.param"] = DEFAULT_PARAM if DEFAULT_PARAM in names else names[0]
    c1, c2, c3 = st.columns([2, 1.6, 1.2], vertical_alignment="bottom")
    name = c1.selectbox("Parameter", names, key="history.param")
    mode = c2.segmented_control(
        "Mode", list(MODES), key="history.mode", default="offset", format_func=lambda m: MODES[m]
    )
    shared = c3.checkbox(
        "Same x axis",
        value=True,
        key="history.shared",
        help="Both plans on one weight axis (the honest comparison); off: each plan on its own range.",
    )
    fig = ridgeline_figure(runs, name, mode or "offset", shared_x=shared, height=600 if big else 560, big=big)
    chart(st, fig, key="history.ridge", config={"displayModeBar": False})
    look_for(
        "step 0 against the red law (the init is what the scheme promises), then press ▶ Play or drag the "
        "slider: a layer that learns changes its histogram a little; one that explodes leaves its step-0 "
        "bins at once (counted under the chart)."
    )
    chart(st, update_ratio_figure(runs, height=400 if big else 380, big=big), key="history.ratio")
    for label, h in runs:
        look_for(f"**{label}**: {what_to_look_for(h)}")


def history_view(setup: Setup) -> None:
    chosen, steps = controls_ui(setup)
    b1, b2, b3 = st.columns([1, 1, 3], vertical_alignment="center")
    b1.button(
        "Train both",
        type="primary",
        key="history.go",
        on_click=_start,
        args=(chosen, setup.seed, steps),
        use_container_width=True,
    )
    b2.button("Stop", key="history.stop", on_click=_stop, use_container_width=True, help="Ends the run in progress.")
    status = b3.empty()
    req = st.session_state.get("history.request")
    if req:
        st.session_state["history.stopped"] = False
        _train(req, status)
    runs = [(label, _cached(key)) for label, key, _ in chosen]
    done = [(label, h) for label, h in runs if h is not None]
    if len(done) < len(runs):
        missing = ", ".join(label for label, h in runs if h is None)
        stopped = st.session_state.get("history.stopped")
        st.info(
            ("Stopped: nothing of an unfinished run is kept. " if stopped else "")
            + f"Not trained yet for seed {setup.seed} and {steps} steps: {missing}. Press **Train both** "
            "(each run takes a few seconds to a minute; finished runs come back at once)."
        )
        if not done:
            return
    charts_ui(done, bool(st.session_state.get("present")))
