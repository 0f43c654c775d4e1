"""What keeps a class's move cheap on the server: each lesson chart built once and shared
(pinit.dashboard.shared_figure), and a claim looked up in a dict, not a DataFrame filter.
Their speed is measured by bench/bench_follow.py; here, that they return what they replace."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import pytest

from pinit.dashboard import shared_figure
from pinit.lab import lesson


@dataclass
class Story:
    values: list[float]


class Fig:
    def __init__(self, payload: dict) -> None:
        self.payload = payload

    def to_json(self) -> str:
        return json.dumps(self.payload)


@pytest.fixture
def builds():
    calls: list[tuple] = []

    def build(story: Story, big: bool = False, heading: str = "", height: int = 290) -> Fig:
        calls.append((id(story), big, heading, height))
        return Fig({"data": story.values, "big": big, "heading": heading, "height": height})

    shared_figure._figures.clear()
    yield build, calls
    shared_figure._figures.clear()


def test_a_figure_is_built_once_per_story_and_layout_and_is_the_same_json(builds):
    build, calls = builds
    story = Story([1.0, 2.0])
    first = shared_figure.shared(build, story, big=True, heading="3. Depth", height=290)
    assert first == build(story, big=True, heading="3. Depth", height=290).to_json()
    calls.clear()
    for _ in range(30):  # thirty followers' pages
        assert shared_figure.shared(build, story, big=True, heading="3. Depth", height=290) == first
    assert calls == []
    shared_figure.shared(build, story, big=False, heading="3. Depth", height=290)  # another layout: built
    shared_figure.shared(build, story, big=True, heading="3. Depth", height=250)
    assert len(calls) == 2


def test_a_new_story_object_is_never_served_an_old_figure(builds):
    build, _ = builds
    old = Story([1.0])
    before = shared_figure.shared(build, old)
    new = Story([5.0])  # e.g. the story recomputed after its cache was cleared
    after = shared_figure.shared(build, new)
    assert json.loads(after)["data"] == [5.0] and after != before


def test_the_shared_figures_are_bounded(builds):
    build, _ = builds
    story = Story([0.0])
    for h in range(shared_figure.MAX_ENTRIES + 40):
        shared_figure.shared(build, story, height=h)
    assert len(shared_figure._figures) == shared_figure.MAX_ENTRIES


def test_claim_reads_the_first_row_of_its_name_and_follows_a_recomputed_table(monkeypatch):
    tables = {
        1: pd.DataFrame({"claim": ["a", "b", "a"], "shown": ["×45", "1.0", "wrong"]}),
        2: pd.DataFrame({"claim": ["c"], "shown": ["3 of 64"]}),
    }
    monkeypatch.setattr(lesson, "LESSON_STEPS_WITH_NUMBERS", (1, 2))
    monkeypatch.setattr(lesson, "step_claims", lambda step: tables[step])
    monkeypatch.setattr(lesson, "_SHOWN", {})
    assert [lesson.claim(n) for n in ("a", "b", "c")] == ["×45", "1.0", "3 of 64"]
    tables[2] = pd.DataFrame({"claim": ["c"], "shown": ["4 of 64"]})  # a new table object: read again
    assert lesson.claim("c") == "4 of 64"
    monkeypatch.setattr(lesson, "claims", lambda: pd.concat(tables.values()))
    with pytest.raises(ValueError, match="no claim 'z'"):
        lesson.claim("z")
