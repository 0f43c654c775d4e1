"""The "Through training" view driven through AppTest: plans, steps, Train, parameter, mode and axis in; charts out."""

from __future__ import annotations

import pytest

from pinit.lab.training import TRAIN_DEFAULTS
from tests.app_driver import captions, charts, start

RIDGE = "layer4.fc1.weight (512, 2048) through training"
RATIO = "How big is one step? The update ratio of each layer"


@pytest.fixture
def small_data(monkeypatch):
    monkeypatch.setitem(TRAIN_DEFAULTS, "n_train", 256)
    monkeypatch.setitem(TRAIN_DEFAULTS, "n_test", 32)


def _trained(steps: int = 20, fresh: bool = False):
    if fresh:
        from pinit.dashboard.history_view import _finished

        _finished.clear()
    at = start("Through training")
    at.select_slider(key="history.steps").set_value(steps).run()
    if fresh:
        assert any("Not trained yet" in i.value for i in at.info) and not charts(at)
    at.button(key="history.go").click().run()
    assert not at.exception and not at.error
    return at


def test_train_both_draws_the_ridgeline_with_frames_the_law_and_the_update_ratios(small_data):
    at = _trained(fresh=True)
    c = charts(at)
    assert set(c) == {RIDGE, RATIO}
    ridge = c[RIDGE]
    slider = ridge["layout"]["sliders"][0]
    steps = [int(s["label"]) for s in slider["steps"]]
    # Kaiming records 0, 1, every 1 (20 steps / 20 records) to 20; the article recipe overflows in a few steps
    assert steps == list(range(21))
    assert [f["name"] for f in ridge["frames"]] == [str(s) for s in steps]
    assert ridge["layout"]["updatemenus"][0]["buttons"][0]["label"] == "▶ Play"
    assert any(t.get("name") == "step 0 expected under the scheme's law" for t in ridge["data"])
    notes = " ".join(a["text"] for a in ridge["layout"]["annotations"])
    assert "A: Article recipe" in notes and "B: Kaiming (He)" in notes and "the loss overflowed" in notes
    assert ridge["layout"]["xaxis"]["range"] == ridge["layout"]["xaxis2"]["range"]  # same axis by default
    ratio = c[RATIO]
    assert {t["name"] for t in ratio["data"]} >= {"layer1.conv1.weight", "layer4.fc1.weight"}
    assert ratio["layout"]["shapes"][0]["y0"] < 1e-3 < ratio["layout"]["shapes"][0]["y1"]
    looks = [t for t in captions(at) if t.startswith("**What to look for:** **")]
    assert len(looks) == 2
    assert "the least of any layer" in looks[0] and "the loss overflows" in looks[0]
    assert "median update ratio per layer" in looks[1]


def test_the_widgets_drive_the_view_and_a_second_student_gets_the_cached_runs(small_data):
    at = _trained()
    at.selectbox(key="history.param").set_value("layer1.conv1.weight").run()
    c = charts(at)
    assert "layer1.conv1.weight (32, 3, 3, 3) through training" in c
    ridge = c["layer1.conv1.weight (32, 3, 3, 3) through training"]
    assert ridge["layout"]["yaxis"]["title"]["text"] == "training step"
    at.segmented_control(key="history.mode").set_value("overlay").run()
    ridge = charts(at)["layer1.conv1.weight (32, 3, 3, 3) through training"]
    assert ridge["layout"]["yaxis"]["title"]["text"] == "density"
    assert "overlay" in ridge["layout"]["title"]["subtitle"]["text"]
    at.checkbox(key="history.shared").uncheck().run()
    ridge = charts(at)["layer1.conv1.weight (32, 3, 3, 3) through training"]
    assert "range" not in ridge["layout"]["xaxis"]
    # Another tab with the same choices opens with the charts: nothing to train.
    other = start("Through training")
    other.select_slider(key="history.steps").set_value(20).run()
    assert RIDGE in charts(other) and not other.info
    # Another pair that nobody trained yet: the view says so and offers the button.
    other.selectbox(key="history.b").set_value("Zeros (the symmetry trap)").run()
    assert any("Not trained yet" in i.value and "Zeros" in i.value for i in other.info)


def test_stop_clears_the_request_and_says_so(small_data):
    at = start("Through training")
    at.session_state["history.request"] = None
    at.button(key="history.stop").click().run()
    assert not at.exception
    assert any(i.value.startswith("Stopped") for i in at.info)
