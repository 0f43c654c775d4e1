"""The page, driven through streamlit.testing.v1.AppTest: widgets in, table and chart data out."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def at() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    assert not app.exception, app.exception
    return app


def table(at: AppTest):
    return at.dataframe[0].value.set_index("name")


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly figure specs by title text (the histogram titles start with <b>name</b>)."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        title = spec["layout"]["title"]["text"]
        out[title.split("</b>")[0].removeprefix("<b>")] = spec
    return out


def reinit(at: AppTest) -> AppTest:
    at.sidebar.button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_first_load_shows_every_parameter_with_default_init(at):
    t = table(at)
    assert len(t) == 12 and list(t.index)[:2] == ["layer1.conv1.weight", "layer1.conv1.bias"]
    assert int(t["numel"].sum()) == 1_175_818
    assert set(t["scheme"]) == {"default"}
    # PyTorch default: std 1/sqrt(3 fan_in); fc1 has fan_in 2048.
    assert t.loc["layer4.fc1.weight", "expected_std"] == pytest.approx(1 / math.sqrt(3 * 2048))
    assert t.loc["layer4.fc1.weight", "std"] == pytest.approx(1 / math.sqrt(3 * 2048), rel=0.01)
    c = charts(at)
    # 12 histograms + 2 overview charts, each titled by name and shape.
    assert len(at.get("plotly_chart")) == 14
    assert "layer4.fc1.weight" in c and "(512, 2048)" in c["layer4.fc1.weight"]["layout"]["title"]["text"]
    assert not at.error


def test_article_preset_sets_rules_and_shows_the_exploding_fc1(at):
    at.sidebar.selectbox(key="preset").set_value("Article recipe").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="Conv2d.weight.scheme").value == "kaiming_normal"
    assert at.sidebar.selectbox(key="Linear.bias.scheme").value == "untouched"
    t = table(at)
    assert t.loc["layer1.conv1.weight", "scheme"] == "kaiming_normal"
    assert t.loc["layer1.conv1.bias", "std"] == 0.0
    assert t.loc["layer4.fc1.weight", "std"] == pytest.approx(1.0, rel=0.01)
    assert t.loc["layer4.fc1.bias", "scheme"] == "untouched"
    # N(0, 1) with fan_in 2048 multiplies the signal's RMS by about sqrt(2048) = 45.
    assert t.loc["layer4.fc1.weight", "signal_gain"] == pytest.approx(math.sqrt(2048), rel=0.02)
    spec = charts(at)["layer4.fc1.weight"]
    assert "expected σ 1" in spec["layout"]["title"]["subtitle"]["text"]


def test_changing_a_scheme_and_its_parameters_then_reinitializing(at):
    before = charts(at)["layer4.fc1.weight"]["data"][0]["y"]
    at.sidebar.selectbox(key="Linear.weight.scheme").set_value("normal").run()
    at.sidebar.number_input(key="Linear.weight.std").set_value(0.05).run()
    # Not applied until the button is pressed, and the page says so.
    assert table(at).loc["layer4.fc1.weight", "scheme"] == "default"
    assert any("not applied yet" in i.value for i in at.info)
    reinit(at)
    t = table(at)
    assert t.loc["layer4.fc1.weight", "scheme"] == "normal"
    assert t.loc["layer4.fc1.weight", "std"] == pytest.approx(0.05, rel=0.01)
    assert t.loc["layer4.fc1.weight", "expected_std"] == pytest.approx(0.05)
    assert t.loc["layer1.conv1.weight", "scheme"] == "default"  # Conv2d rule untouched
    spec = charts(at)["layer4.fc1.weight"]
    assert spec["data"][0]["y"] != before
    assert sum(spec["data"][0]["y"]) == 512 * 2048
    assert not any("not applied yet" in i.value for i in at.info)


def test_kaiming_formula_is_filled_in_with_the_layers_numbers(at):
    at.sidebar.selectbox(key="Conv2d.weight.scheme").set_value("kaiming_normal").run()
    at.sidebar.selectbox(key="Conv2d.weight.nonlinearity").set_value("relu").run()
    reinit(at)
    at.selectbox(key="formula_param").set_value("layer1.conv1.weight").run()
    latex = at.latex[0].value
    assert r"\sqrt{27}" in latex and "0.272" in latex


def test_invalid_choice_shows_an_error_and_keeps_the_last_good_weights(at):
    good = table(at)["std"].copy()
    at.sidebar.selectbox(key="Linear.weight.scheme").set_value("uniform").run()
    at.sidebar.number_input(key="Linear.weight.a").set_value(2.0).run()
    at.sidebar.number_input(key="Linear.weight.b").set_value(1.0).run()
    reinit(at)
    assert at.error and "uniform needs a < b" in at.error[0].value
    assert "last good" in at.error[0].value
    assert (table(at)["std"] == good).all()
    assert len(at.get("plotly_chart")) == 14


def test_shape_problems_are_named_per_parameter(at):
    at.sidebar.selectbox(key="Conv2d.weight.scheme").set_value("dirac").run()
    at.sidebar.number_input(key="Conv2d.weight.groups").set_value(3).run()
    reinit(at)
    text = at.error[0].value
    assert "dirac needs size(0) divisible by groups" in text and "layer1.conv1.weight has shape (32, 3, 3, 3)" in text


def test_slots_only_offer_schemes_their_shapes_can_take(at):
    bias_options = at.sidebar.selectbox(key="Conv2d.bias.scheme").options
    assert "kaiming_normal" not in bias_options and "xavier_uniform" not in bias_options
    assert {"untouched", "zeros", "normal", "default"} <= set(bias_options)
    conv_w = at.sidebar.selectbox(key="Conv2d.weight.scheme").options
    assert "dirac" in conv_w and "eye" not in conv_w and "sparse" not in conv_w
    lin_w = at.sidebar.selectbox(key="Linear.weight.scheme").options
    assert "eye" in lin_w and "sparse" in lin_w and "dirac" not in lin_w


def test_seed_reproduces_and_changes_the_draw(at):
    first = table(at)["std"].copy()
    at.sidebar.number_input(key="seed").set_value(7).run()
    reinit(at)
    seven = table(at)["std"].copy()
    assert not (seven == first).all()
    at.sidebar.number_input(key="seed").set_value(0).run()
    reinit(at)
    assert (table(at)["std"] == first).all()


def test_overrides_win_for_their_parameters(at):
    at.sidebar.multiselect(key="overrides").select("layer4.fc3.weight").select("layer1.conv1.bias").run()
    at.sidebar.selectbox(key="override.layer4.fc3.weight.scheme").set_value("orthogonal").run()
    at.sidebar.selectbox(key="override.layer1.conv1.bias.scheme").set_value("constant").run()
    at.sidebar.number_input(key="override.layer1.conv1.bias.val").set_value(0.5).run()
    reinit(at)
    t = table(at)
    assert t.loc["layer4.fc3.weight", "scheme"] == "orthogonal"
    assert t.loc["layer4.fc3.weight", "expected_std"] == pytest.approx(1 / math.sqrt(64))
    assert t.loc["layer1.conv1.bias", "mean"] == 0.5 and t.loc["layer1.conv1.bias", "std"] == 0
    assert t.loc["layer4.fc2.weight", "scheme"] == "default"
    # Bias slots are not offered 2-D-only schemes even as an override.
    assert "orthogonal" not in at.sidebar.selectbox(key="override.layer1.conv1.bias.scheme").options


def test_zero_preset_flags_constant_tensors(at):
    at.sidebar.selectbox(key="preset").set_value("Zeros (the symmetry trap)").run()
    spec = charts(at)["layer1.conv1.weight"]
    assert "constant: all 864 values = 0" in spec["layout"]["title"]["subtitle"]["text"]
    overview = next(
        json.loads(e.proto.spec)
        for e in at.get("plotly_chart")
        if "Measured vs expected" in json.loads(e.proto.spec)["layout"]["title"]["text"]
    )
    assert "σ = 0" in overview["layout"]["title"]["subtitle"]["text"]


def test_article_listing_model_shows_its_quirky_names(at):
    at.sidebar.selectbox(key="model").set_value("ArticleSimpleCNN").run()
    names = list(table(at).index)
    assert "layer1.conv2.weight" in names and "layer4.fc2 .weight" in names
    assert not any(n.startswith("layer2.") for n in names)


def test_deep_mlp_depth_changes_the_table(at):
    at.sidebar.selectbox(key="model").set_value("DeepMLP").run()
    at.sidebar.slider(key="model.depth").set_value(5).run()
    t = table(at)
    assert len(t) == 10 and set(t["type"]) == {"Linear"}
    assert at.sidebar.selectbox(key="Linear.weight.scheme")  # only Linear rules remain
    assert not [s for s in at.sidebar.selectbox if s.key.startswith("Conv2d.")]


def test_bins_change_only_the_view(at):
    std = table(at)["std"].copy()
    at.slider(key="bins").set_value(20).run()
    assert (table(at)["std"] == std).all()
    spec = charts(at)["layer4.fc1.weight"]
    assert len(spec["data"][0]["y"]) == 20


def test_models_with_many_tensors_are_paged(at):
    at.sidebar.selectbox(key="model").set_value("DeepMLP").run()  # depth 10: 20 tensors
    assert len(table(at)) == 20
    first = [n for n in charts(at) if n.startswith("layers.")]
    assert len(first) == 12 and first[0] == "layers.fc1.weight"
    at.number_input(key="hist_page").set_value(2).run()
    second = [n for n in charts(at) if n.startswith("layers.")]
    assert len(second) == 8 and second[-1] == "layers.fc10.bias"
