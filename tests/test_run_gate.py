"""RunGate: one training run at a time per process, never the same run twice at once."""

from __future__ import annotations

import threading
import time

import pytest

from pinit.budget import RunGate


def test_run_gate_trains_a_plan_once_when_many_tabs_ask_and_queues_the_rest():
    gate = RunGate(slots=1, poll=0.01)
    finished: set[str] = set()
    log: list[tuple[str, object]] = []
    waits: dict[str, list[str]] = {}

    def tab(name: str, key: str, hold: float) -> None:
        with gate.enter(key, lambda m: waits.setdefault(name, []).append(m), lambda: key in finished) as mine:
            log.append((name, mine))
            if mine:
                time.sleep(hold)
                finished.add(key)

    first = threading.Thread(target=tab, args=("first", "kaiming", 0.3))
    first.start()
    time.sleep(0.05)
    others = [threading.Thread(target=tab, args=(f"same{i}", "kaiming", 0.0)) for i in range(5)]
    other_plan = threading.Thread(target=tab, args=("other", "xavier", 0.0))
    for t in others + [other_plan]:
        t.start()
    for t in [first, other_plan] + others:
        t.join(5)
    assert dict(log)["first"] is True and dict(log)["other"] is True
    assert all(dict(log)[f"same{i}"] is False for i in range(5))  # trained once, read five times
    assert any("same plan" in m for m in waits["same0"])
    assert any("Queued" in m for m in waits["other"])  # one slot: the other plan waited its turn
    # A run that fails (or a Stop) frees its slot and its claim.
    with pytest.raises(RuntimeError), gate.enter("boom", lambda m: None, lambda: False):
        raise RuntimeError
    with gate.enter("boom", lambda m: pytest.fail("still claimed"), lambda: False) as mine:
        assert mine
