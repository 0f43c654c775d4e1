"""The page, driven through streamlit.testing.v1.AppTest: widgets in, the numbers on screen out.

Every change in the sidebar applies at once (there is no Re-initialize button): these tests
change a widget and read the weights the page shows right after.
"""

from __future__ import annotations

import math

import pytest

import pinit
from pinit.style import PRESENTER_FONT
from tests.app_driver import applied, captions, charts, errors, panels, preset, settled, specs, start, table


@pytest.fixture
def at():
    return start("Weights", rules=True)


def test_first_load_shows_every_parameter_with_default_init(at):
    t = table(at)
    assert len(t) == 12 and list(t.index)[:2] == ["layer1.conv1.weight", "layer1.conv1.bias"]
    assert int(t["numel"].sum()) == 1_175_818
    assert set(t["scheme"]) == {"default"}
    # PyTorch default: std 1/sqrt(3 fan_in); fc1 has fan_in 2048 (the table shows 4 decimals).
    assert t.loc["layer4.fc1.weight", "expected_std"] == pytest.approx(1 / math.sqrt(3 * 2048), abs=5e-5)
    assert t.loc["layer4.fc1.weight", "std"] == pytest.approx(1 / math.sqrt(3 * 2048), rel=0.01)
    assert at.sidebar.selectbox(key="preset").value == "PyTorch default"
    assert not at.error


def test_distributions_are_one_figure_of_panels_titled_by_name_and_shape(at):
    p = panels(at)
    assert list(p) == [
        "layer1.conv1.weight", "layer1.conv1.bias", "layer2.conv2.weight",
        "layer2.conv2.bias", "layer3.conv3.weight", "layer3.conv3.bias",
    ]  # fmt: skip
    assert len(specs(at)) == 1  # one chart for the browser to draw, not one per parameter
    conv2 = p["layer2.conv2.weight"]
    assert "(64, 32, 3, 3)" in conv2["text"] and "expected 0.034" in conv2["text"]
    assert sum(conv2["counts"]) == 18_432
    # The law's expected counts over the drawn range: all but the sliver of U(±1/√288) beyond the sample's extremes.
    assert 0.99 * 18_432 < sum(conv2["expected"]) <= 18_432
    at.pagination(key="hist_page").set_value(2).run()
    assert (
        next(iter(panels(at))) == "layer4.fc1.weight" and sum(panels(at)["layer4.fc1.weight"]["counts"]) == 512 * 2048
    )


def test_a_preset_applies_at_once_and_shows_the_exploding_fc1(at):
    preset(at, "Article recipe")
    assert at.sidebar.selectbox(key="Conv2d.weight.scheme").value == "kaiming_normal"
    assert at.sidebar.selectbox(key="Linear.bias.scheme").value == "untouched"
    t = table(at)
    assert t.loc["layer1.conv1.weight", "scheme"] == "kaiming_normal"
    assert t.loc["layer1.conv1.bias", "std"] == 0.0
    assert t.loc["layer4.fc1.weight", "std"] == pytest.approx(1.0, rel=0.01)
    assert t.loc["layer4.fc1.bias", "scheme"] == "untouched"
    # N(0, 1) with fan_in 2048 multiplies the signal's RMS by about sqrt(2048) = 45.
    assert t.loc["layer4.fc1.weight", "signal_gain"] == pytest.approx(math.sqrt(2048), rel=0.02)


def test_changing_a_scheme_or_a_parameter_applies_at_once_and_the_preset_box_says_custom(at):
    preset(at, "Kaiming (He)")
    at.sidebar.selectbox(key="Linear.weight.scheme").set_value("normal").run()
    assert at.sidebar.selectbox(key="preset").value == "(custom)"  # the moment it differs from the preset
    at.sidebar.number_input(key="Linear.weight.std").set_value(0.05).run()
    t = table(at)
    assert t.loc["layer4.fc1.weight", "scheme"] == "normal"
    assert t.loc["layer4.fc1.weight", "std"] == pytest.approx(0.05, rel=0.01)
    assert t.loc["layer4.fc1.weight", "expected_std"] == pytest.approx(0.05)
    assert t.loc["layer1.conv1.weight", "scheme"] == "kaiming_normal"  # the Conv2d rule is untouched
    # Back to the preset's own rule: the box names the preset again.
    at.sidebar.selectbox(key="Linear.weight.scheme").set_value("kaiming_normal").run()
    at.sidebar.selectbox(key="Linear.weight.nonlinearity").set_value("relu").run()
    assert at.sidebar.selectbox(key="preset").value == "Kaiming (He)"


def test_kaiming_formula_is_filled_in_with_the_layers_numbers(at):
    preset(at, "Kaiming (He)")
    at.segmented_control(key="weights.show").set_value("Formula").run()
    at.selectbox(key="formula_param").set_value("layer1.conv1.weight").run()
    latex = at.latex[0].value
    assert r"\sqrt{27}" in latex and "0.272" in latex


def test_a_refused_change_keeps_the_last_good_weights_and_says_why(at):
    good = table(at)["std"].copy()
    at.segmented_control(key="weights.show").set_value("Distributions").run()
    at.sidebar.selectbox(key="Linear.weight.scheme").set_value("uniform").run()
    at.sidebar.number_input(key="Linear.weight.a").set_value(2.0).run()  # a=2 > b=1: refused
    assert errors(at) and "uniform needs a < b" in errors(at)[0] and "last good" in errors(at)[0]
    assert applied(at).plan.rules["Linear"]["weight"].scheme == "uniform"  # the last good: a=0, b=1
    at.sidebar.number_input(key="Linear.weight.b").set_value(3.0).run()
    assert not at.error
    t = table(at)
    assert t.loc["layer4.fc1.weight", "expected_std"] == pytest.approx(1 / math.sqrt(12), abs=5e-5)  # 4 decimals
    assert (t.loc["layer1.conv1.weight", "std"] == good.loc["layer1.conv1.weight"]).all()


def test_shape_problems_are_named_per_parameter(at):
    at.sidebar.selectbox(key="Conv2d.weight.scheme").set_value("dirac").run()
    at.sidebar.number_input(key="Conv2d.weight.groups").set_value(3).run()
    text = errors(at)[0]
    assert "dirac needs size(0) divisible by groups" in text and "layer1.conv1.weight has shape (32, 3, 3, 3)" in text


def test_slots_only_offer_schemes_their_shapes_can_take(at):
    bias_options = at.sidebar.selectbox(key="Conv2d.bias.scheme").options
    assert "kaiming_normal" not in bias_options and "xavier_uniform" not in bias_options
    assert {"untouched", "zeros", "normal", "default"} <= set(bias_options)
    conv_w = at.sidebar.selectbox(key="Conv2d.weight.scheme").options
    assert "dirac" in conv_w and "eye" not in conv_w and "sparse" not in conv_w
    lin_w = at.sidebar.selectbox(key="Linear.weight.scheme").options
    assert "eye" in lin_w and "sparse" in lin_w and "dirac" not in lin_w


def test_parameters_named_a_say_which_a_they_are(at):
    at.sidebar.selectbox(key="Linear.weight.scheme").set_value("kaiming_normal").run()
    # A slot's change reruns that slot's fragment alone: settled() shows the other slots again.
    settled(at).sidebar.selectbox(key="Conv2d.weight.scheme").set_value("uniform").run()
    slope = settled(at).sidebar.number_input(key="Linear.weight.a").label
    bound = at.sidebar.number_input(key="Conv2d.weight.a").label
    assert slope != bound and "slope" in slope.lower() and "bound" in bound.lower()


def test_seed_reproduces_and_new_draw_changes_the_weights(at):
    first = table(at)["std"].copy()
    at.sidebar.text_input(key="seed").input("7").run()
    seven = table(at)["std"].copy()
    assert not (seven == first).all()
    at.sidebar.text_input(key="seed").input("0").run()
    assert (table(at)["std"] == first).all()
    at.sidebar.button[0].click().run()  # New draw: a fresh seed, the same plan
    assert applied(at).seed != 0 and at.sidebar.text_input(key="seed").value == str(applied(at).seed)
    assert not (table(at)["std"] == first).all()


def test_a_seed_past_2_31_is_kept_and_a_bad_seed_is_refused_in_words(at):
    at.sidebar.text_input(key="seed").input("3000000000").run()
    assert applied(at).seed == 3_000_000_000 and at.query_params["seed"] == "3000000000"
    settled(at).sidebar.text_input(key="seed").input("seven").run()
    assert errors(at) and "is not a whole number" in errors(at)[0]
    assert applied(at).seed == 3_000_000_000  # the last good seed stays


def test_overrides_win_for_their_parameters(at):
    at.sidebar.multiselect(key="overrides").select("layer4.fc3.weight").select("layer1.conv1.bias").run()
    at.sidebar.selectbox(key="override.layer4.fc3.weight.scheme").set_value("orthogonal").run()
    settled(at).sidebar.selectbox(key="override.layer1.conv1.bias.scheme").set_value("constant").run()
    at.sidebar.number_input(key="override.layer1.conv1.bias.val").set_value(0.5).run()
    t = table(settled(at))
    assert t.loc["layer4.fc3.weight", "scheme"] == "orthogonal"
    assert t.loc["layer4.fc3.weight", "expected_std"] == pytest.approx(1 / math.sqrt(64))
    assert t.loc["layer1.conv1.bias", "mean"] == 0.5 and t.loc["layer1.conv1.bias", "std"] == 0
    assert t.loc["layer4.fc2.weight", "scheme"] == "default"
    assert at.sidebar.selectbox(key="preset").value == "(custom)"
    # Bias slots are not offered 2-D-only schemes even as an override.
    assert "orthogonal" not in at.sidebar.selectbox(key="override.layer1.conv1.bias.scheme").options


def test_hiding_the_rules_keeps_them(at):
    preset(at, "Kaiming (He)")
    at.sidebar.selectbox(key="Linear.weight.scheme").set_value("xavier_normal").run()
    at.sidebar.toggle(key="show_rules").set_value(False).run()
    settled(at).sidebar.text_input(key="seed").input("3").run()  # a change while the rules are hidden
    assert applied(at).plan.rules["Linear"]["weight"].scheme == "xavier_normal" and applied(at).seed == 3


def test_zero_preset_says_all_zero_in_words(at):
    preset(at, "Zeros (the symmetry trap)")
    assert "constant: all 864 values = 0" in panels(at)["layer1.conv1.weight"]["text"]
    at.segmented_control(key="weights.show").set_value("Overview").run()
    overview = charts(at)["Measured vs expected std"]
    assert "σ = 0" in overview["layout"]["title"]["subtitle"]["text"]


def test_signal_gain_bars_diverge_from_one(at):
    preset(at, "Too small: N(0, 0.01)")
    at.segmented_control(key="weights.show").set_value("Overview").run()
    bars = charts(at)["How much each layer scales the signal"]["data"][0]
    gains = {name: float(text.removeprefix("×")) for name, text in zip(bars["y"], bars["text"])}
    for name, x in zip(bars["y"], bars["x"]):  # a bar's length is |log10 gain|: ×0.05 longer than ×0.45
        assert x == pytest.approx(math.log10(gains[name]), abs=1e-2)
    assert bars["base"] == 0 and all(x < 0 for x in bars["x"])
    assert set(bars["marker"]["color"]) == {"#1f77b4"}  # every one shrinks the signal: one colour


def test_article_listing_model_shows_its_quirky_names(at):
    at.sidebar.selectbox(key="model").set_value("ArticleSimpleCNN").run()
    names = list(table(at).index)
    assert "layer1.conv2.weight" in names and "layer4.fc2 .weight" in names
    assert not any(n.startswith("layer2.") for n in names)


def test_a_new_model_keeps_the_preset(at):
    preset(at, "Kaiming (He)")
    at.sidebar.selectbox(key="model").set_value("DeepMLP").run()
    settled(at).sidebar.slider(key="model.depth").set_value(5).run()
    t = table(at)
    assert len(t) == 10 and set(t["type"]) == {"Linear"} and set(t["scheme"]) == {"kaiming_normal", "zeros"}
    assert at.sidebar.selectbox(key="preset").value == "Kaiming (He)"
    assert not [s for s in at.sidebar.selectbox if s.key.startswith("Conv2d.")]


def test_view_only_widgets_change_the_drawing_not_the_weights(at):
    before = applied(at)
    at.select_slider(key="bins").set_value(20).run()
    counts = panels(at)["layer2.conv2.weight"]["counts"]
    assert len(counts) == 20 and sum(counts) == 18_432
    assert applied(at) == before and not at.exception


def test_log_counts_and_a_shared_x_range_are_switches_the_browser_applies(at):
    (grid,) = specs(at)
    log, shared = grid["layout"]["updatemenus"]
    assert [b["label"] for b in log["buttons"]] == ["Linear counts", "Log counts"] and log["active"] == 0
    axes = ["yaxis"] + [f"yaxis{i}" for i in range(2, 7)]
    assert log["buttons"][1]["args"][0] == {f"{a}.{k}": v for a in axes for k, v in (("type", "log"), ("dtick", 1))}
    # whole decades on a log axis (1, 10, 100), and plotly's own ticks again when linear
    assert log["buttons"][0]["args"][0] == {
        f"{a}.{k}": v for a in axes for k, v in (("type", "linear"), ("dtick", None))
    }
    same = shared["buttons"][1]["args"][0]
    ranges = {tuple(v) for v in same.values()}
    assert len(same) == 6 and len(ranges) == 1  # one x range for all six panels...
    (lo, hi), names = next(iter(ranges)), list(panels(at))
    assert lo < 0 < hi  # ...spanning every panel's values
    assert names and all(k.endswith(".range") for k in same)


def test_models_with_many_tensors_are_paged(at):
    at.sidebar.selectbox(key="model").set_value("DeepMLP").run()  # depth 10: 20 tensors
    assert len(panels(at)) == 6 and next(iter(panels(at))) == "layers.fc1.weight"
    at.pagination(key="hist_page").set_value(4).run()
    assert list(panels(at)) == ["layers.fc10.weight", "layers.fc10.bias"]


def test_presenter_mode_enlarges_chart_text_and_keeps_it_in_the_link(at):
    (grid,) = specs(at)
    assert grid["layout"]["font"]["size"] < 16
    at.sidebar.toggle(key="present").set_value(True).run()
    assert at.query_params["present"] == "1"
    (grid,) = specs(at)
    assert grid["layout"]["font"]["size"] == PRESENTER_FONT and 16 <= PRESENTER_FONT <= 18
    # A link with ?present=1 opens in presenter mode.
    other = start("Weights", present="1")
    assert other.sidebar.toggle(key="present").value is True and specs(other)[0]["layout"]["font"]["size"] == 17


def test_the_weights_far_from_gain_one_open_page_one_with_their_gain_marked_and_a_scheme_change_shows_there(at):
    preset(at, "Article recipe")
    at.segmented_control(key="weights.show").set_value("Distributions").run()
    p = panels(at)
    # N(0, 1) on every Linear weight: fc1 ×√2048, fc2 ×√512, fc3 ×√64, all on page 1, fc1 first.
    assert list(p)[:3] == ["layer4.fc1.weight", "layer4.fc2.weight", "layer4.fc3.weight"]
    fc1 = p["layer4.fc1.weight"]["text"]
    gain = float(fc1.split("gain ×")[1].split("<")[0])
    assert 44 < gain < 46 and "color" in fc1.split("gain ×")[0].rsplit("·", 1)[1]  # marked: far from ×1
    conv1 = p["layer1.conv1.weight"]["text"]
    assert "gain ×1.4" in conv1 and "color" not in conv1.split("gain ×")[0].rsplit("·", 1)[1]  # Kaiming's √2
    assert any("change the signal more than ×2" in c.value for c in at.caption)
    # An orthogonal Linear weight has gain 1 (or under): fc1 leaves page 1's head, which now opens on the convs.
    at.sidebar.selectbox(key="Linear.weight.scheme").set_value("orthogonal").run()
    assert next(iter(panels(at))) != "layer4.fc1.weight"


def test_every_models_options_get_widgets_from_its_model_spec(at):
    """TinyGPT declares options but no ranges: number boxes from its ModelSpec; a refused
    combination is said in words and put back, not shown as a traceback."""
    at.sidebar.selectbox(key="model").set_value("TinyGPT").run()
    boxes = {w.key: w.value for w in settled(at).sidebar.number_input}
    assert boxes == {f"model.{k}": v for k, v in pinit.MODELS["TinyGPT"].options.items()}
    assert list(boxes) == ["model.n_layer", "model.d_model", "model.n_head", "model.vocab", "model.seq_len"]
    before = applied(at)
    assert before.model == "TinyGPT" and before.options["n_layer"] == 4
    at.sidebar.number_input(key="model.n_head").set_value(3).run()
    assert settled(at).sidebar.number_input(key="model.n_head").value == 4 and applied(at) == before
    assert any("TinyGPT cannot be built" in e and "n_head" in e for e in errors(at)) and not at.exception
    at.sidebar.number_input(key="model.n_layer").set_value(2).run()
    assert applied(at).options["n_layer"] == 2
    assert not any(n.startswith("blocks.2.") for n in table(at).index)


def test_deep_mlp_options_follow_its_declared_ranges(at):
    at.sidebar.selectbox(key="model").set_value("DeepMLP").run()
    depth = settled(at).sidebar.slider(key="model.depth")
    width = at.sidebar.number_input(key="model.width")
    assert (depth.min, depth.max) == (1, 100) and (width.min, width.max) == (1, 4096)
    assert at.sidebar.selectbox(key="model.activation").options == list(pinit.models.ACTIVATIONS)
    width.set_value(64).run()
    assert applied(at).options["width"] == 64 and int(table(at).loc["layers.fc2.weight", "numel"]) == 64 * 64


def test_a_presets_caption_states_its_rule_on_the_first_layer_of_the_model_on_screen(at):
    """The lessons quote the article's fc1 (fan_in 2048); on another model the caption adds what the
    preset's own normal rule does to that model's first layer, read from the plan."""
    at.sidebar.selectbox(key="model").set_value("DeepMLP").run()
    preset(settled(at), "Too small: N(0, 0.01)")
    fan_in = int(table(at).loc["layers.fc1.weight", "numel"]) // 256  # DeepMLP's default width: 256 outputs
    note = f"On DeepMLP's first layer (layers.fc1.weight, fan_in {fan_in}), N(0, 0.01) multiplies"
    assert any(note in c and f"{0.01 * fan_in**0.5:.3g}." in c for c in captions(at))
    preset(at, "Kaiming (He)")
    assert not any("first layer" in c for c in captions(at))
