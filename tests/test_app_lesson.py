"""The Lesson view through AppTest: steps in the link, Back/Next, and every number from the backend."""

from __future__ import annotations

import math

import pytest

from pinit.lab import lesson
from pinit.lab.lesson_figures import SIGNAL_AXIS
from tests.app_driver import applied, specs, start


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_page_opens_on_the_lesson_and_the_step_is_in_the_link():
    at = start("Lesson")
    assert at.segmented_control(key="step").value == 1 and at.query_params["step"] == "1"
    assert len(specs(at)) == 1  # one chart per step
    at.button(key="lesson.next").click().run()
    assert at.segmented_control(key="step").value == 2 and at.query_params["step"] == "2"
    at.button(key="lesson.prev").click().run()
    assert at.query_params["step"] == "1"
    assert start("Lesson", step="4").segmented_control(key="step").value == 4  # a link opens the class's step
    assert start("Lesson", step="99").segmented_control(key="step").value == 1  # a bad step: the first


def test_steps_1_and_2_show_the_backends_numbers_on_one_fixed_axis():
    at = start("Lesson", step="1")
    t = lesson.signal_trace("Article recipe")
    m = metrics(at)
    assert m["fc1 multiplies the signal by"] == lesson.claim("fc1 gain, article") and len(t.seeds) == 20
    assert m["Logits std"] == lesson.claim("logits std, article").split(" (")[0]
    assert m["Loss at init"] == lesson.claim("loss at init, article").split(" (")[0]
    assert any("Spread over the seeds: logits std" in c.value for c in at.caption)  # the range, beside the median
    (one,) = specs(at)
    at.button(key="lesson.next").click().run()
    (two,) = specs(at)
    axis = [math.log10(SIGNAL_AXIS[0]), math.log10(SIGNAL_AXIS[1])]
    assert one["layout"]["yaxis"]["range"] == two["layout"]["yaxis"]["range"] == pytest.approx(axis)
    names = [d.get("name", "") for d in two["data"]]
    assert any(n.startswith("Article recipe (step 1") for n in names)  # the article's line kept, faded
    assert any(n.startswith("Kaiming (He)") for n in names)
    assert metrics(at)["Loss at init"] == lesson.claim("loss at init, Kaiming").split(" (")[0]
    assert any("× ln 10" in m.proto.delta for m in at.metric)  # 6.6 is 2.9x ln 10, not "near 2.3"


def test_step_3_depth_numbers_are_medians_over_seeds():
    at = start("Lesson", step="3")
    d = lesson.depth_story()
    assert metrics(at)["Kaiming (He), per layer"] == lesson.claim("per layer, Kaiming (He)")
    assert "PyTorch default, per layer" not in metrics(at)  # its curve is not geometric: no one factor
    assert (
        metrics(at)["PyTorch default: input's part below 1 %"]
        == "from " + lesson.claim("signal below 1 %, PyTorch default").split(" (")[0]
    )
    (fig,) = specs(at)
    solid = [t for t in fig["data"] if t["line"].get("dash") not in ("dash", "dot")]
    dotted = [t for t in fig["data"] if t["line"].get("dash") == "dot"]  # the part that depends on the input
    assert len(solid) == 3 == len(dotted) and all(len(t["y"]) == d.depth == 30 for t in solid + dotted)


def test_step_4_symmetry_and_step_5_training():
    at = start("Lesson", step="4")
    assert metrics(at)["Zeros: distinct units"] == "1 of 64"
    assert metrics(at)["Xavier (Glorot): distinct units"] == "64 of 64"
    at.button(key="lesson.next").click().run()
    story = lesson.training_story()
    # the metric shows the number whole ("100 %"); its seed count is in the sentences under the chart
    kaiming = lesson.claim("held-out accuracy, Kaiming (He)")
    assert metrics(at)["Kaiming (He): held-out accuracy"] == kaiming.split(" on ")[0] == "100 %"
    assert any(kaiming in m.value for m in at.markdown)
    assert len(story.seeds) == 5
    (fig,) = specs(at)
    assert len(fig["frames"]) == 12  # the replay runs in the browser, not on the server
    assert fig["layout"]["yaxis"]["range"][1] == pytest.approx(2.0)  # capped at loss 100: good runs stay readable
    assert any("overflowed at step" in (t.get("text") or [""])[0] for t in fig["data"])


def test_the_last_step_hands_over_to_free_play():
    at = start("Lesson", step="6")
    at.button(key="lesson.open.Zeros (the symmetry trap)").click().run()  # the tab switch: test_lesson_browser.py
    assert not at.exception
    assert at.sidebar.selectbox(key="preset").value == "Zeros (the symmetry trap)"
    assert applied(at).model == "SimpleCNN"
