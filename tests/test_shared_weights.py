"""The Weights view's panels are built once per server for everyone shown the same weights
(pinit.dashboard.shared_figure.by_value): what it shares is what each tab would have built, a
new setup is never served another's panels, an uploaded checkpoint is never shared, and the
store is bounded. Its speed is measured by bench/bench_latency.py, not here."""

from __future__ import annotations

import json

import pytest
import torch

import pinit
from pinit.dashboard import shared_figure, state, weights
from tests.app_driver import goto, plain, preset, specs, start


@pytest.fixture
def empty_store():
    shared_figure._by_value.clear()
    yield
    shared_figure._by_value.clear()


def test_by_value_builds_once_per_key_and_shares_the_result(empty_store):
    calls: list[str] = []

    def build(tag: str) -> tuple[str, str]:
        calls.append(tag)
        return (f"spec {tag}", f"label {tag}")

    first = shared_figure.by_value(("grid", "a", 40), lambda: build("a"))
    for _ in range(30):  # a class on the same weights
        assert shared_figure.by_value(("grid", "a", 40), lambda: build("a")) is first
    assert calls == ["a"]
    assert shared_figure.by_value(("grid", "a", 20), lambda: build("a20")) == ("spec a20", "label a20")
    assert calls == ["a", "a20"]


def test_by_value_is_bounded_and_drops_the_least_recently_used(empty_store):
    shared_figure.by_value("kept", lambda: "first")
    for i in range(shared_figure.MAX_BY_VALUE + 40):
        shared_figure.by_value("kept", lambda: "never built again")  # used: stays
        shared_figure.by_value(i, lambda i=i: str(i))
    assert len(shared_figure._by_value) == shared_figure.MAX_BY_VALUE
    assert shared_figure.by_value("kept", lambda: "rebuilt") == "first"
    assert 0 not in shared_figure._by_value  # the oldest unused entries went first


def grid(at) -> dict:
    return next(s for s in specs(at) if s["layout"].get("updatemenus"))


def test_two_tabs_on_the_same_weights_get_one_build_and_the_panels_each_would_have_drawn(empty_store, monkeypatch):
    built: list[int] = []
    real = weights.grid_parts

    def counting(report, bins, page, big, phone):
        built.append(bins)
        return real(report, bins, page, big, phone)

    monkeypatch.setattr(weights, "grid_parts", counting)
    a = start("Weights")
    assert built == [40]
    b = start("Weights")  # a second student, same default setup
    assert built == [40], "the second tab built the panels again"
    assert grid(a) == grid(b)
    # What is shared is what a tab builds for itself.
    own, _, _ = real(state.report_for(a.session_state["applied"], weights.BASE_BINS), 40, 1, False, False)
    assert json.loads(own) == grid(a)
    # Another preset is other weights: built anew, and its panels differ.
    preset(b, "Xavier (Glorot)")
    assert len(built) == 2
    assert grid(b) != grid(a)
    preset(a, "Xavier (Glorot)")  # the first student follows: served the panels b's pick built
    assert len(built) == 2
    assert grid(a) == grid(b)


def test_an_uploaded_checkpoint_is_never_shared(empty_store):
    """A student's uploaded file is theirs: its panels are built on their page, never stored for others."""
    m = pinit.build_model("SimpleCNN", seed=1)
    with torch.no_grad():
        m.layer4.fc3.weight.fill_(0.25)
    at = start("Share and export")
    at.file_uploader(key="ckpt_upload").upload("mine.pt", pinit.save_state_dict(m), "application/octet-stream").run()
    assert not at.exception and not at.error
    shared_figure._by_value.clear()
    goto(at, "Weights")
    assert any("mine.pt" in plain(w.value) for w in at.warning)  # the checkpoint is on screen
    assert grid(at)["data"], "no panels drawn"
    assert not shared_figure._by_value, "an uploaded checkpoint's panels were stored for every tab"
