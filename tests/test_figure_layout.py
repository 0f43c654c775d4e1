"""Figure layout for every screen: panels that fit a phone, titles that wrap, legends under the plot,
presenter text of 16 px and more, and each weight's signal gain on its panel."""

from __future__ import annotations

import math

import pytest

import pinit
from pinit.figures import GAIN_FAR, gain_far, gain_text, histogram_grid_figure
from pinit.report import inspect_model
from pinit.setup import Setup
from pinit.style import PHONE_WIDTH, PRESENTER_MIN, TICK_COLOR, fit_width, presenter, wrap


@pytest.fixture(scope="module")
def article():
    return inspect_model(Setup(plan=pinit.PRESETS["Article recipe"].plan), bins=40)


@pytest.mark.parametrize("cols", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 5, 6])
def test_the_grid_is_a_valid_figure_at_every_column_count(article, cols, n):
    # Validated by plotly (tests/conftest.py): one column of six rows put a domain at -5.6e-17 once.
    fig = histogram_grid_figure(article.histograms[:n], cols=cols, narrow=cols == 1)
    domains = [
        v for k, a in fig.to_plotly_json()["layout"].items() if k.startswith(("xaxis", "yaxis")) for v in a["domain"]
    ]
    assert all(0 <= v <= 1 for v in domains)


def test_each_panel_states_its_gain_marked_when_far_from_one(article):
    gains = dict(zip(article.table["name"], article.table["signal_gain"]))
    fc1 = next(h for h in article.histograms if h.name == "layer4.fc1.weight")
    conv1 = next(h for h in article.histograms if h.name == "layer1.conv1.weight")
    text = {a["text"].split("</b>")[0][3:]: a["text"] for a in
            histogram_grid_figure([fc1, conv1], gains=gains).to_plotly_json()["layout"]["annotations"]}  # fmt: skip
    assert math.isclose(gains["layer4.fc1.weight"], math.sqrt(2048), rel_tol=0.02)
    assert f"<b>{gain_text(gains['layer4.fc1.weight'])}</b>" in text["layer4.fc1.weight"]
    assert "gain ×1.4" in text["layer1.conv1.weight"] and "<b>gain" not in text["layer1.conv1.weight"]
    assert gain_far(45.0) and gain_far(0.0) and gain_far(1 / (GAIN_FAR + 0.1))
    assert not gain_far(math.sqrt(2)) and not gain_far(1.0) and not gain_far(float("nan")) and not gain_far(None)


def test_on_a_phone_the_two_switches_sit_on_two_rows():
    r = inspect_model(Setup(plan=pinit.PRESETS["Kaiming (He)"].plan), bins=40)
    wide = histogram_grid_figure(r.histograms[:6], cols=3).to_plotly_json()["layout"]["updatemenus"]
    narrow = histogram_grid_figure(r.histograms[:6], cols=1, narrow=True).to_plotly_json()["layout"]["updatemenus"]
    assert wide[0]["y"] == wide[1]["y"]
    assert narrow[1]["y"] > narrow[0]["y"] and narrow[0]["x"] == narrow[1]["x"] == 0


def test_wrap_breaks_at_spaces_to_the_width_and_keeps_breaks():
    text = "1. The seed article's recipe: N(0, 1) on every Linear weight"
    lines = wrap(text, 200, 15).split("<br>")
    assert len(lines) >= 3 and " ".join(lines) == text
    assert all(len(line) <= 200 / (0.56 * 15) for line in lines)
    assert wrap("a<br>b", 900, 12) == "a<br>b"


def spec_with_legend(names, xtitle="layer"):
    return {
        "data": [{"type": "scatter", "x": [1, 2], "y": [1, 2], "name": n} for n in names],
        "layout": {
            "height": 330,
            "title": {"text": "<b>A title that is long enough to wrap on a phone, surely</b>",
                      "subtitle": {"text": "a subtitle " * 8}},
            "xaxis": {"title": {"text": xtitle}},
            "legend": {"orientation": "v", "x": 0.99, "y": 0.04, "bgcolor": "white"},
            "margin": {"l": 70, "r": 20, "t": 64, "b": 36},
        },
    }  # fmt: skip


def test_fit_width_puts_the_legend_under_the_plot_with_room_for_its_rows_and_the_axis():
    names = [f"Scheme number {i}: ×1.000 per layer (formula ×1.000)" for i in range(3)]
    wide = fit_width(spec_with_legend(names))["layout"]
    phone = fit_width(spec_with_legend(names), PHONE_WIDTH)["layout"]
    for lay in (wide, phone):
        assert lay["legend"]["orientation"] == "h" and lay["legend"]["yref"] == "container"
        assert lay["legend"]["y"] == 0 and lay["legend"]["yanchor"] == "bottom" and "bgcolor" not in lay["legend"]
    assert phone["margin"]["b"] > wide["margin"]["b"] > 36  # three rows on a phone, fewer on a projector
    assert phone["title"]["text"].count("<br>") >= 1 and phone["margin"]["t"] > wide["margin"]["t"]
    assert phone["title"]["pad"]["t"] > 6  # plotly lifts a title of several lines: padded back down


def test_presenter_text_is_16_px_or_more_and_ticks_are_dark_enough():
    spec = spec_with_legend(["a", "b"])
    spec["layout"]["yaxis"] = {"title": {"text": "y"}}
    spec["layout"]["annotations"] = [{"text": "note", "font": {"size": 11}}]
    spec["layout"]["updatemenus"] = [{"buttons": []}]
    spec["data"][0]["text"] = ["1", "2"]
    lay = presenter(spec)["layout"]
    sizes = [lay["font"]["size"], lay["legend"]["font"]["size"], lay["title"]["subtitle"]["font"]["size"]]
    sizes += [lay[a]["tickfont"]["size"] for a in ("xaxis", "yaxis")] + [
        lay[a]["title"]["font"]["size"] for a in ("xaxis", "yaxis")
    ]
    sizes += [
        lay["annotations"][0]["font"]["size"],
        lay["updatemenus"][0]["font"]["size"],
        spec["data"][0]["textfont"]["size"],
    ]
    assert min(sizes) >= PRESENTER_MIN
    assert lay["xaxis"]["tickfont"]["color"] == TICK_COLOR


def test_a_lesson_chart_keeps_its_plot_area_on_a_phone_and_its_height_in_presenter_mode():
    """A phone's chart grows by its wider margins (its plot area was a 90 px strip), and so does a
    projector's: its plot area is never smaller than on the page (it was 103 px against 137); its
    legend stands right of the plot, so the step still fits one screen (tests/browser/
    test_lesson_browser.py)."""
    from pinit.lab.lesson import DepthStory
    from pinit.lab.lesson_figures import depth_story_figure

    schemes = ("Kaiming (He)", "Xavier (Glorot)", "PyTorch default")
    std = {s: tuple(0.7**i for i in range(30)) for s in schemes}
    story = DepthStory(
        30, 512, "relu", (0, 1, 2), schemes, std, std, dict.fromkeys(schemes, 0.7),
        {s: (0.7, 0.7, 0.7) for s in schemes}, dict.fromkeys(schemes, 0.7), dict.fromkeys(schemes, 1e-4),
        dict.fromkeys(schemes, 1e-4),
        std, {k: tuple(1.0 for _ in v) for k, v in std.items()}, {s: (std[s],) * 3 for s in schemes},
        {s: (std[s],) * 3 for s in schemes},
    )  # fmt: skip

    def plot_height(**kw):
        heading = "3. Thirty layers deep: He, Xavier and PyTorch's default"
        lay = depth_story_figure(story, height=330, heading=heading, **kw).to_plotly_json()["layout"]
        return lay["height"] - lay["margin"]["t"] - lay["margin"]["b"]

    plain = plot_height()
    assert plot_height(narrow=True) >= plain
    assert plot_height(big=True) >= plain
    big = depth_story_figure(story, height=330, big=True).to_plotly_json()["layout"]
    assert big["legend"]["orientation"] == "v" and big["legend"]["x"] > 1  # right of the plot, off the data


def test_for_phone_wraps_the_title_puts_the_legend_under_angled_names_and_keeps_the_plot_area():
    from pinit.style import for_phone, text_px

    names = [f"layer{i}.conv{i} (Conv2d)" for i in range(12)]
    spec = {
        "data": [{"x": names, "y": list(range(12)), "name": "measured"}, {"x": names, "y": [1] * 12, "name": "law"}],
        "layout": {
            "height": 420,
            "margin": {"l": 60, "r": 20, "t": 90, "b": 70},
            "title": {"text": "<b>Activation std, layer by layer</b>", "subtitle": {"text": "word " * 40}},
            "xaxis": {"tickangle": -45},
        },
    }
    for_phone(spec)
    lay = spec["layout"]
    chars = PHONE_WIDTH / (0.56 * 12)
    assert all(len(line) <= chars for line in lay["title"]["subtitle"]["text"].split("<br>"))
    assert lay["legend"]["orientation"] == "h" and lay["legend"]["yref"] == "container" and lay["legend"]["y"] == 0
    reach = max(text_px(n, 12) for n in names) * math.sin(math.radians(45))
    assert lay["margin"]["b"] >= reach + 2 * (11 * 1.35 + 6)  # the names' reach, then the legend's rows
    # The plot area (height less top and bottom margins) is what the figure's own layout gave it.
    assert lay["height"] - lay["margin"]["t"] - lay["margin"]["b"] == 420 - 90 - 70


def test_for_phone_leaves_a_figure_of_panels_its_layout_and_wraps_only_its_title():
    from pinit.style import for_phone

    spec = {
        "data": [],
        "layout": {
            "height": 400,
            "margin": {"t": 60, "b": 50},
            "title": {"text": "Coordinate check: standard parametrization (PyTorch default init, Adam)"},
            "xaxis": {"domain": [0, 0.45]},
            "xaxis2": {"domain": [0.55, 1]},
            "legend": {"x": 1},
        },
    }
    for_phone(spec)
    lay = spec["layout"]
    assert "<br>" in lay["title"]["text"] and lay["legend"] == {"x": 1} and lay["margin"]["b"] == 50
    assert lay["height"] - lay["margin"]["t"] == 400 - 60


def test_the_coord_check_on_a_phone_is_two_panels_a_row_with_the_legend_under_them():
    import pandas as pd

    from pinit.lab.beyond_figures import coord_check_figure

    layers = ["layers.fc1", "layers.act1", "layers.fc2", "layers.act2", "layers.fc3"]
    df = pd.DataFrame(
        [
            dict(step=s, layer=layer, width=w, l1=0.1 * (1 + s * w / 2048))
            for s in range(4)
            for layer in layers
            for w in (128, 256, 512, 1024, 2048)
        ]
    )
    slopes = pd.DataFrame([dict(step=3, layer="layers.fc3", slope=0.75, l1_min_width=0.1, l1_max_width=0.4)])
    lay = coord_check_figure(df, slopes, "SP", narrow=True).to_plotly_json()["layout"]
    xs = [tuple(lay[f"xaxis{a}"]["domain"]) for a in ("", "2", "3", "4")]
    ys = [tuple(lay[f"yaxis{a}"]["domain"]) for a in ("", "2", "3", "4")]
    assert xs[0] == xs[2] and xs[1] == xs[3] and xs[0][1] < xs[1][0]  # two columns
    assert ys[0] == ys[1] and ys[2] == ys[3] and ys[2][1] < ys[0][0]  # two rows, the first on top
    assert all(0 <= v <= 1 for d in xs + ys for v in d)
    assert lay["legend"]["yref"] == "container" and lay["legend"]["y"] == 0
    assert lay["margin"]["b"] >= 55 + 24 * 3  # the x axis's title, then three rows of legend
    wide = coord_check_figure(df, slopes, "SP").to_plotly_json()["layout"]
    assert len({tuple(wide[f"xaxis{a}"]["domain"]) for a in ("", "2", "3", "4")}) == 4  # one row of four
