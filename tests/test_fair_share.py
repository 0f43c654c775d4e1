"""Fair share of the server's shared slots (issue 17, item 6): order, places in line, one place per session.

These assert who goes when and what a waiting tab is told, never how long anything takes
(bench/bench_fairness.py measures another student's click time under each abuse).
"""

from __future__ import annotations

import threading
import time

import pytest

from pinit import budget
from pinit.budget import FairSlot, RunGate, Superseded, nth


def wait_until(condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def test_nth_words():
    assert [nth(k) for k in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
        "111th",
    ]


class Holder:
    """A thread that takes a turn of `slot` as `who` and holds it until released."""

    def __init__(self, slot: FairSlot, who: str, order: list[str]) -> None:
        self.release = threading.Event()
        self.places: list[int] = []
        self.error: BaseException | None = None

        def run() -> None:
            try:
                with slot.turn(who, self.places.append):
                    order.append(who)
                    self.release.wait(10)
            except BaseException as e:
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()


def test_fair_slot_serves_first_come_first_served_and_tells_each_waiter_its_place():
    slot = FairSlot("big-model slot", poll=0.01)
    order: list[str] = []
    a = Holder(slot, "a", order)
    wait_until(lambda: slot.place("a") == 0)
    b = Holder(slot, "b", order)
    wait_until(lambda: slot.place("b") == 1)
    c = Holder(slot, "c", order)
    wait_until(lambda: slot.place("c") == 2)
    wait_until(lambda: 2 in c.places and 1 in b.places)  # each waiter was told its place
    assert slot.waiting() == 2 and slot.holding() == 1
    a.release.set()
    wait_until(lambda: slot.place("b") == 0)
    wait_until(lambda: 1 in c.places)  # c moved up
    b.release.set()
    c.release.set()
    for h in (a, b, c):
        h.thread.join(5)
        assert h.error is None
    assert order == ["a", "b", "c"]
    assert slot.waiting() == 0 and slot.holding() == 0


def test_one_place_in_line_per_session():
    slot = FairSlot("download slot", poll=0.01)
    order: list[str] = []
    a = Holder(slot, "a", order)
    wait_until(lambda: slot.place("a") == 0)
    first = Holder(slot, "tab", order)
    wait_until(lambda: slot.place("tab") == 1)
    other = Holder(slot, "other", order)
    wait_until(lambda: slot.place("other") == 2)
    again = Holder(slot, "tab", order)  # the same tab asks again: it takes over its place, adds none
    first.thread.join(5)
    assert isinstance(first.error, Superseded)
    assert slot.waiting() == 2 and slot.place("tab") == 1 and slot.place("other") == 2
    for h in (a, again, other):
        h.release.set()
    for h in (a, again, other):
        h.thread.join(5)
        assert h.error is None
    assert order == ["a", "tab", "other"]


def test_a_waiter_that_is_stopped_gives_up_its_place():
    slot = FairSlot("big-model slot", poll=0.01)
    order: list[str] = []
    a = Holder(slot, "a", order)
    wait_until(lambda: slot.place("a") == 0)

    def stopped(place: int) -> None:
        raise KeyboardInterrupt  # on the page: Streamlit stopping a rerun at the st.* call

    with pytest.raises(KeyboardInterrupt), slot.turn("b", stopped):
        pass
    assert slot.waiting() == 0 and slot.place("b") is None
    a.release.set()
    a.thread.join(5)


def test_a_thread_holding_the_slot_enters_again_at_once():
    slot = FairSlot("big-model slot", poll=0.01)
    with slot.turn("a"), slot.turn("a-inner", lambda place: pytest.fail("waited on itself")):
        assert slot.holding() == 1


def test_a_long_holder_hands_the_slot_on_after_its_slice_and_waits_at_the_back():
    slot = FairSlot("training worker", poll=0.01)
    events: list[str] = []
    told: list[int] = []
    started = threading.Event()

    def long_run() -> None:
        with slot.turn("long"):
            started.set()
            wait_until(lambda: slot.waiting() == 1)
            events.append("long: step 1")
            assert slot.pause_if_waited(told.append, slice_s=0.0)  # someone waits: hand on
            events.append("long: step 2")
            assert not slot.pause_if_waited(told.append, slice_s=0.0)  # nobody waits now: keep going

    t = threading.Thread(target=long_run)
    t.start()
    started.wait(5)
    with slot.turn("short"):
        events.append("short: run")
    t.join(5)
    assert events == ["long: step 1", "short: run", "long: step 2"]
    assert told and set(told) <= {1, 2}  # the paused run was told its place: behind the short one


def test_a_holder_within_its_slice_keeps_the_slot():
    slot = FairSlot("training worker", poll=0.01)
    with slot.turn("long"):
        waiter = Holder(slot, "short", [])
        wait_until(lambda: slot.waiting() == 1)
        assert not slot.pause_if_waited(lambda place: None, slice_s=3600.0)
        assert slot.place("long") == 0
    waiter.release.set()
    waiter.thread.join(5)


def test_run_gate_tells_a_queued_train_its_place_and_lets_it_in_between_slices():
    gate = RunGate(slots=1, poll=0.01, slice_s=0.0)
    messages: dict[str, list[str]] = {"b": [], "c": []}
    order: list[str] = []
    holding = threading.Event()

    def long_train() -> None:
        with gate.enter("long-run", lambda m: None, lambda: False, who="abuser") as mine:
            assert mine
            holding.set()
            wait_until(lambda: gate.place("c") == 2)
            for step in range(3):
                order.append(f"long {step}")
                gate.share(lambda m: None)

    def short_train(name: str) -> None:
        with gate.enter(f"{name}-run", messages[name].append, lambda: False, who=name) as mine:
            assert mine
            order.append(name)

    long = threading.Thread(target=long_train)
    long.start()
    holding.wait(5)
    b = threading.Thread(target=short_train, args=("b",))
    b.start()
    wait_until(lambda: gate.place("b") == 1)
    c = threading.Thread(target=short_train, args=("c",))
    c.start()
    for t in (long, b, c):
        t.join(10)
    assert any("1st in line for the training worker" in m for m in messages["b"])
    assert any("2nd in line for the training worker" in m for m in messages["c"])
    # The long run trained one slice, then the two waiting tabs had their turns, in order.
    assert order.index("b") < order.index("c") < order.index("long 2")
    assert order[0] == "long 0"


def test_the_big_model_is_defined_once_by_the_budget_module():
    from pinit.dashboard import signal, state

    assert state.BIG_MODEL_PARAMS is budget.BIG_MODEL_PARAMS
    assert not hasattr(signal, "BIG_MODELS")
    assert budget.is_big("VGGStyle") and budget.is_big("WideMLP")
    assert budget.is_big("DeepMLP", {"depth": 100, "width": 1024})
    assert not budget.is_big("SimpleCNN") and not budget.is_big("TinyGPT")


def test_a_tab_keeps_a_bounded_number_of_finished_runs():
    from pinit.dashboard.train_view import KEPT_RUNS, _forget_old_runs

    results = {f"run{i}": object() for i in range(KEPT_RUNS + 40)}
    shown = [{"key": "run0"}, {"key": "run1"}]  # the oldest two are on screen: they stay
    _forget_old_runs(results, shown)
    assert len(results) == KEPT_RUNS + 2
    assert {"run0", "run1", f"run{KEPT_RUNS + 39}"} <= set(results) and "run2" not in results
