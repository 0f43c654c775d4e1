"""The Train view: SimpleCNN trained from several plans on the same synthetic data, curves overlaid.

Not a fragment on purpose: pressing Stop (or any widget) reruns the script, which
interrupts the training loop at its next st.* call (the progress bar). Each step's
numbers are written to st.session_state before that call, so the partial curves
survive the interruption. Finished runs are cached with st.cache_data by value
(plan, seed, steps, data settings), so a class pressing the same button computes once.
The curves are redrawn as they grow (every REDRAW_S seconds of a run, and when a run ends),
so every finished plan's curve stays on the page while the next one trains.

The lesson's worker (pinit.lab.lesson.training_story, started with the server) trains the
lesson's three presets with this tab's configuration on seeds 0-4: a run of one of those
plans, seeds and step counts is the same run, taken from the worker once it has arrived
instead of being trained again (`_lesson_run`).
"""

from __future__ import annotations

import json
import math
import time

import pandas as pd
import streamlit as st

import pinit
from pinit.budget import RunGate
from pinit.lab import lesson
from pinit.lab.figures import filter_grid_figure, train_curves_figure
from pinit.lab.pictures import filter_grid
from pinit.lab.training import TRAIN_DEFAULTS, TrainRun, train_data, train_run
from pinit.plan import InitPlan
from pinit.setup import Setup
from pinit.text import number

from .chart import chart
from .common import applied_label, look_for
from .state import CACHE_TTL, session_id

STEP_CHOICES = [5, 10, 25, 50, 100, 200, 400, 800]
APPLIED = "A: applied plan"
DATA_SEED = 0  # the gratings are the same for every plan and every seed: only the init differs
REDRAW_S = 1.0  # seconds of training between live redraws of the curves


class _NotCached(Exception):
    pass


@st.cache_data(max_entries=64, ttl=CACHE_TTL, show_spinner=False)
def _finished_run(key: str, _run: TrainRun | None = None) -> TrainRun:
    """The finished run stored under `key` (plain values: plan json, seed, steps, data settings).

    Called with `_run` to store a run that was just trained (with progress shown outside the
    cache); called without it to look one up, raising _NotCached (exceptions are never
    cached) when nobody has trained it yet.
    """
    if _run is None:
        raise _NotCached(key)
    return _run


def _key(plan: dict, seed: int, steps: int) -> str:
    d = TRAIN_DEFAULTS
    return json.dumps(
        {
            "model": "SimpleCNN",
            "plan": InitPlan.from_dict(plan).to_dict(),
            "seed": seed,
            "steps": steps,
            "batch_size": d["batch_size"],
            "lr": d["lr"],
            "n_train": d["n_train"],
            "n_test": d["n_test"],
            "noise": d["noise"],
            "data_seed": DATA_SEED,
        },
        sort_keys=True,
    )


def _lesson_run(plan: dict, seed: int, steps: int) -> TrainRun | None:
    """This run from the lesson's worker, if the worker has trained it already (never waits, never computes).

    The lesson trains LESSON_TRAIN_PLANS on TRAIN_SEEDS with LESSON_TRAIN, which is this tab's
    configuration (TRAIN_DEFAULTS) on the same data (DATA_SEED 0): the same plan, seed and step
    count is the same call of train_run."""
    c, d = lesson.LESSON_TRAIN, TRAIN_DEFAULTS
    if steps != c.steps or DATA_SEED != 0 or seed not in lesson.TRAIN_SEEDS:
        return None
    if (d["batch_size"], d["lr"], d["n_train"], d["n_test"], d["noise"]) != (
        c.batch_size,
        c.lr,
        c.n_train,
        c.n_test,
        c.noise,
    ):
        return None
    story = lesson.ready("training_story")
    if story is None:
        return None
    wanted = InitPlan.from_dict(plan).to_dict()
    for name, runs in story.runs_by_seed.items():
        if InitPlan.from_dict(pinit.PRESETS[name].plan).to_dict() == wanted and seed in story.seeds:
            run: TrainRun = runs[story.seeds.index(seed)]
            return run
    return None


def _applied_plan_problem(setup: Setup) -> str | None:
    """Why the applied plan cannot train SimpleCNN, or None."""
    problems = setup.replace(model="SimpleCNN", options={}).problems()
    return "; ".join(problems) if problems else None


def _plans(setup: Setup) -> dict[str, dict]:
    out = {}
    if _applied_plan_problem(setup) is None:
        out[APPLIED] = setup.plan_dict
    out.update({name: p.plan for name, p in pinit.PRESETS.items()})
    return out


def _label(choice: str, setup: Setup) -> str:
    return applied_label(setup) if choice == APPLIED else choice


def _start(setup: Setup) -> None:
    plans = _plans(setup)
    seed, steps = setup.seed, st.session_state["train.steps"]
    runs, seen = [], set()
    for choice in st.session_state.get("train.plans", []):
        if choice not in plans:
            continue
        key = _key(plans[choice], seed, steps)
        if key in seen:
            continue
        seen.add(key)
        runs.append({"label": _label(choice, setup), "key": key, "plan": plans[choice], "steps": steps})
    st.session_state["train.request"] = {"runs": runs, "seed": seed, "steps": steps} if runs else None
    st.session_state["train.shown"] = runs
    st.session_state["train.active"] = None
    notes = st.session_state.setdefault("train.notes", {})
    partial = st.session_state.setdefault("train.partial", {})
    for r in runs:
        notes.pop(r["key"], None)
        partial.pop(r["key"], None)


def _stop() -> None:
    active = st.session_state.get("train.active")
    if active:  # the step count is read when drawn: the interrupted run may log one more step before it stops
        st.session_state.setdefault("train.notes", {})[active] = "stopped by you"
    st.session_state["train.request"] = None
    st.session_state["train.active"] = None


def _note(note: str, rows: list) -> str:
    return f"{note} after {len(rows)} steps"


def _partial_log(rows: list[tuple[int, float, float]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["step", "loss", "accuracy"])
    df["running_accuracy"] = df["accuracy"].rolling(20, min_periods=1).mean()
    return df


def controls_ui(setup: Setup) -> None:
    plans = _plans(setup)
    problem = _applied_plan_problem(setup)
    choices = list(plans)
    if "train.plans" not in st.session_state:
        st.session_state["train.plans"] = [c for c in (APPLIED, "Kaiming (He)", "Article recipe") if c in choices]
    st.session_state["train.plans"] = [c for c in st.session_state["train.plans"] if c in choices]
    st.session_state.setdefault("train.steps", TRAIN_DEFAULTS["steps"])
    c1, c2 = st.columns([3, 1])
    c1.multiselect(
        "Plans to train",
        choices,
        key="train.plans",
        format_func=lambda c: (
            applied_label(setup) + ("" if "Settings" in applied_label(setup) else " (from Settings)")
            if c == APPLIED
            else c
        ),
        help="Each plan trains its own SimpleCNN from the same data, in the same order.",
    )
    c2.select_slider(
        "SGD steps",
        STEP_CHOICES,
        key="train.steps",
        help=f"{TRAIN_DEFAULTS['steps']} steps (the default) take 3-5 s per plan on one core; more when the "
        "server is busy.",
    )
    d = TRAIN_DEFAULTS
    st.caption(
        f"SimpleCNN, seed {setup.seed} (init and data order). Data: {d['n_train']:,} synthetic gratings, "
        f"10 classes (orientation × frequency, noise {d['noise']}), held-out {d['n_test']:,}. SGD, "
        f"momentum 0.9, lr {d['lr']}, batch {d['batch_size']}: no Adam, no clipping, so the init's scale "
        "shows."
        + (
            ""
            if setup.model == "SimpleCNN"
            else f" The applied plan's rules are applied to SimpleCNN (Settings shows {setup.model})."
        )
    )
    if problem:
        st.caption(f"The applied plan is not offered: it does not fit SimpleCNN ({problem}).")
    b1, b2, b3 = st.columns([1, 1, 3], vertical_alignment="center")
    b1.button(
        "Train",
        type="primary",
        key="train.go",
        on_click=_start,
        args=(setup,),
        use_container_width=True,
        disabled=not st.session_state["train.plans"],
    )
    b2.button(
        "Stop",
        key="train.stop",
        on_click=_stop,
        use_container_width=True,
        help="Ends the run in progress; its curve so far stays on the page.",
    )
    b3.caption(
        "What a short run can show depends on the learning rate and the number of steps: a plan that learns "
        "slowly here (PyTorch's default starts with small gradients) is not broken; more steps or a larger "
        "learning rate train it too."
    )


def _draw(loss_area, acc_area, shown: list[dict], results: dict, partial: dict, notes: dict, steps: int) -> None:
    logs, marks = {}, {}
    for r in shown:
        if r["key"] in results:
            logs[r["label"]] = results[r["key"]].log
        elif partial.get(r["key"]):
            logs[r["label"]] = _partial_log(partial[r["key"]])
        if r["key"] in notes and r["key"] not in results:
            marks[r["label"]] = _note(notes[r["key"]], partial.get(r["key"], []))
    if not logs:
        return
    n = st.session_state["train.draws"] = st.session_state.get("train.draws", 0) + 1  # a fresh key per redraw
    chart(loss_area, train_curves_figure(logs, "loss", marks, steps), key=f"train.loss.{n}")
    chart(acc_area, train_curves_figure(logs, "running_accuracy", None, steps), key=f"train.acc.{n}")


# One training run at a time on the server: SimpleCNN uses one core, the other stays for everyone's pages.
GATE = RunGate(slots=1)


def _cached(key: str) -> TrainRun | None:
    try:
        return _finished_run(key)
    except _NotCached:
        return None


def _run_request(req: dict, results: dict, partial: dict, notes: dict, status, loss_area, acc_area) -> None:
    d = TRAIN_DEFAULTS
    data = None
    total = len(req["runs"])
    shown = st.session_state["train.shown"]
    for i, r in enumerate(req["runs"], start=1):
        key = r["key"]
        if key in results:
            continue
        known = _cached(key) or _lesson_run(r["plan"], req["seed"], req["steps"])
        if known is not None:  # trained before, by another tab or by the lesson's worker
            results[key] = known
            _finished_run(key, known)
            _draw(loss_area, acc_area, shown, results, partial, notes, req["steps"])
            continue
        bar = status.progress(0.0, text=f"Run {i} of {total}, {r['label']}: starting")
        with GATE.enter(
            key,
            # Both closures and the callback below run within this iteration only.
            lambda msg: bar.progress(0.0, text=f"Run {i} of {total}, {r['label']}: {msg}"),  # noqa: B023
            lambda: _cached(key) is not None,  # noqa: B023
            who=session_id(),
        ) as mine:
            if not mine:
                results[key] = _cached(key)
                continue
            if data is None:
                with st.spinner("Drawing the synthetic gratings…"):
                    data = train_data(d["n_train"], d["n_test"], d["noise"], DATA_SEED)  # once per process
            st.session_state["train.active"] = key
            rows = partial[key] = []
            steps = req["steps"]
            drawn = [time.monotonic()]

            def callback(step: int, loss: float, acc: float) -> None:
                rows.append((step, loss, acc))  # noqa: B023 - saved before the st.* call that a Stop interrupts
                text = f"Run {i} of {total}, {r['label']}: step {step} / {steps}, loss {loss:.4g}"  # noqa: B023
                bar.progress(step / steps, text=text)  # noqa: B023
                # Others in line: after a turn of TRAIN_SLICE_S s, wait at the back of the line (the bar says where).
                GATE.share(lambda msg: bar.progress(step / steps, text=f"{text}. {msg}"))  # noqa: B023
                if time.monotonic() - drawn[0] >= REDRAW_S:  # noqa: B023
                    _draw(loss_area, acc_area, shown, results, partial, notes, steps)  # noqa: B023
                    drawn[0] = time.monotonic()  # noqa: B023 - the drawing's own time is not training time

            run = train_run(r["plan"], req["seed"], steps, d["batch_size"], d["lr"], data, callback=callback)
            st.session_state["train.active"] = None
            results[key] = run
            if run.stop_reason in ("completed", "non-finite loss"):
                _finished_run(key, run)
            partial.pop(key, None)
            if i < total:  # the finished curve in full while the next plan trains
                _draw(loss_area, acc_area, shown, results, partial, notes, steps)
    status.empty()
    st.session_state["train.request"] = None


def results_ui(shown: list[dict], results: dict, partial: dict, notes: dict) -> None:
    rows = []
    for r in shown:
        run = results.get(r["key"])
        if run is not None:
            status = {"completed": "completed", "non-finite loss": "loss not finite: run ended", "stopped": "stopped"}[
                run.stop_reason
            ]
            rows.append(
                {
                    "plan": r["label"],
                    "status": status,
                    "steps": run.steps_done,
                    "held-out accuracy": run.test_accuracy,
                    "held-out loss": run.test_loss,
                    "accuracy at init": run.init_test_accuracy,
                    "seconds": run.seconds,
                }
            )
        elif partial.get(r["key"]):
            rows.append(
                {
                    "plan": r["label"],
                    "status": _note(notes.get(r["key"], "not finished"), partial[r["key"]]),
                    "steps": len(partial[r["key"]]),
                    "held-out accuracy": math.nan,
                    "held-out loss": math.nan,
                    "accuracy at init": math.nan,
                    "seconds": math.nan,
                }
            )
    if not rows:
        return
    num = st.column_config.NumberColumn
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="train.results",
        column_config={
            "held-out accuracy": num(format="percent"),
            "accuracy at init": num(format="percent"),
            "held-out loss": num(format="%.4g"),
            "seconds": num("train time (s)", format="%.1f"),
        },
    )
    look_for(
        "held-out accuracy: images the network never trained on. 10% is chance. A good init reaches high "
        "accuracy within these steps; a slow one is still near chance (give it more steps before calling it "
        "broken); an exploding one ends in a non-finite loss."
    )
    for r in shown:
        run = results.get(r["key"])
        if run is not None and run.stop_reason == "non-finite loss":
            last = run.log["loss"].iloc[-1]
            before = run.log["loss"].iloc[0]
            st.warning(
                f"**{r['label']}**: the loss was {number(before, 4)} at step 1 and became {last} at step "
                f"{run.steps_done}, so the run ended there (before a NaN could reach the weights). The init "
                "made the logits so large that the softmax overflowed: an exploding init is the lesson, "
                "not a crash."
            )


def filters_after_ui(shown: list[dict], results: dict) -> None:
    done = [
        (r["label"], results[r["key"]]) for r in shown if r["key"] in results and results[r["key"]].conv1 is not None
    ]
    if not done:
        return
    with st.expander("conv1's 32 filters after training"):
        cols = st.columns(min(len(done), 3))
        for i, (label, run) in enumerate(done):
            img, _ = filter_grid(run.conv1, "filter", cols=8)
            change = run.conv1_change
            moved = "—" if math.isnan(change) else f"{change:.1%}" if change < 1 else f"{change:.3g} times its own size"
            chart(
                cols[i % len(cols)],
                filter_grid_figure(
                    img,
                    label,
                    f"after {run.steps_done} steps: moved {moved}<br>from the init "
                    "(‖Δw‖ / ‖w₀‖); each filter on its own scale",
                    height=270,
                ),
                key=f"train.filters.{i}",
            )
        look_for(
            "how little conv1 moves in a short run (the % in each title): a few hundred small SGD steps change "
            "its weights by a few percent, so the pictures still look much like the init (compare the Filters "
            "tab). Good accuracy does not need visibly different first-layer filters. An exploding init is "
            "the exception: its huge gradients throw conv1 far from where it started within a few steps."
        )


KEPT_RUNS = 24  # finished runs a tab keeps besides those on screen (each ~50 kB: its log and conv1)


def _forget_old_runs(results: dict, shown: list[dict]) -> None:
    """Bound what a tab keeps: the runs on screen and the KEPT_RUNS most recent others (the rest come
    back from the server's cache if asked for again)."""
    on_screen = {r["key"] for r in shown}
    others = [k for k in results if k not in on_screen]
    for key in others[: max(0, len(others) - KEPT_RUNS)]:
        del results[key]


def train_view(setup: Setup) -> None:
    controls_ui(setup)
    results = st.session_state.setdefault("train.results_by_key", {})
    partial = st.session_state.setdefault("train.partial", {})
    notes = st.session_state.setdefault("train.notes", {})
    active = st.session_state.get("train.active")
    if active:  # the last script run was interrupted mid-training by something other than Stop
        notes[active] = "interrupted by a rerun"
        st.session_state["train.active"] = None
        st.session_state["train.request"] = None
        st.info(
            "Training was interrupted because the page reran (a widget or tab was used). The curves so far "
            "are kept; press **Train** to start again (finished runs come back at once)."
        )
    req = st.session_state.get("train.request")
    shown = st.session_state.get("train.shown", [])
    _forget_old_runs(results, shown)
    if not shown:  # before the run's elements: a click's run replaces this hint instead of leaving it below
        st.info("Pick the plans to compare and press **Train**.")
        return
    status = st.empty()
    loss_col, acc_col = st.columns(2)
    loss_area, acc_area = loss_col.empty(), acc_col.empty()
    if req:
        _run_request(req, results, partial, notes, status, loss_area, acc_area)
    _draw(loss_area, acc_area, shown, results, partial, notes, max(r["steps"] for r in shown))
    with loss_col:
        look_for(
            "where each loss starts (ln 10 = 2.3 is an unsure network; thousands means exploding logits) "
            "and how fast it falls. ✕ on the top edge marks a loss above 100 or one that became inf or NaN."
        )
    with acc_col:
        look_for("which plan leaves 10% (chance) first, and which never does.")
    results_ui(shown, results, partial, notes)
    filters_after_ui(shown, results)
