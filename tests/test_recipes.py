"""pinit.recipes: one label, one plan, one colour and line style, in every figure that draws it."""

from __future__ import annotations

import pandas as pd
import pytest

import pinit
from pinit.lab.depth import DEPTH_SCHEMES, depth_plan
from pinit.lab.figures import depth_std_figure, train_curves_figure
from pinit.lab.lesson import SymmetryStory
from pinit.lab.lesson_figures import symmetry_story_figure
from pinit.recipes import AS_BUILT, OKABE_ITO, RECIPES, recipe, recipe_style
from pinit.style import SCHEME_COLORS


def test_every_recipe_has_an_okabe_ito_colour_and_its_own_second_cue():
    assert all(r.colour in OKABE_ITO.values() for r in RECIPES.values())
    styles = [(r.colour, r.dash) for r in RECIPES.values()]
    assert len(set(styles)) == len(styles)  # colour and dash together tell every recipe apart
    markers = [r.marker for r in RECIPES.values()]
    assert len(set(markers)) == len(markers)


def test_presets_are_a_view_of_the_registry():
    for name, preset in pinit.PRESETS.items():
        assert RECIPES[name].preset and preset.plan == RECIPES[name].plan and preset.lesson == RECIPES[name].caption
    # a copy: a caller that edits a preset's plan does not edit the registry
    assert pinit.PRESETS["Kaiming (He)"].plan["rules"] is not RECIPES["Kaiming (He)"].plan["rules"]


def test_xavier_means_one_plan_in_the_presets_and_the_depth_lab():
    preset_rule = pinit.PRESETS["Xavier (Glorot)"].plan["rules"]["Linear"]["weight"]
    depth_rule = depth_plan("Xavier (Glorot)")["rules"]["Linear"]["weight"]
    assert preset_rule == depth_rule == {"scheme": "xavier_uniform", "gain": 1.0}
    for label, scheme in DEPTH_SCHEMES.items():  # every depth-lab scheme is a recipe, with the same rules
        r = recipe(label)
        if r.linear is not None:
            assert scheme.weight == r.linear["weight"] and scheme.bias == r.linear["bias"]


def test_as_built_is_an_empty_plan_that_leaves_the_constructors_draw():
    r = RECIPES[AS_BUILT]
    assert r.plan == {"rules": {}, "overrides": {}} and r.preset  # the default for a user's model
    model = pinit.build_model("SimpleCNN", seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pinit.apply_plan(model, r.plan, seed=0)
    assert all(before[k].equal(v) for k, v in model.state_dict().items())


def test_the_default_is_described_as_shrinking_the_variance_by_one_sixth_per_relu_layer():
    caption = RECIPES["PyTorch default"].caption
    assert "1/6" in caption and "a little small" not in caption
    # fan_in · Var(U(±1/√fan_in)) · 1/2 = fan_in · 1/(3 fan_in) · 1/2
    fan_in = 512
    assert fan_in * (1 / (3 * fan_in)) * 0.5 == pytest.approx(1 / 6)


def _colours(fig) -> dict[str, str]:
    out = {}
    for trace in fig.data:
        name = trace.name or ""
        color = (trace.line.color if trace.type == "scatter" else None) or trace.marker.color
        out.setdefault(name.replace(" (measured)", ""), color)
    return out


def test_a_recipe_has_the_same_colour_in_the_depth_lab_the_train_tab_and_the_lesson():
    rows = pd.DataFrame(
        {
            "scheme": ["Xavier (Glorot)", "Kaiming (He)"],
            "layer": ["fc1", "fc1"],
            "index": [1, 1],
            "std": [0.5, 1.0],
            "predicted_std": [0.5, 1.0],
            "nonfinite": [0, 0],
            "zero_fraction": [0.5, 0.5],
        }
    )
    depth = _colours(depth_std_figure(rows))
    log = pd.DataFrame({"step": [1, 2], "loss": [2.3, 2.2], "accuracy": [0.1, 0.2], "running_accuracy": [0.1, 0.15]})
    train = _colours(train_curves_figure({"Kaiming (He)": log, "Xavier (Glorot)": log}))
    story = SymmetryStory(
        5, 64, "tanh", 20, ("Xavier (Glorot)",), ("fc1",), {"Xavier (Glorot)": (64,)}, {"Xavier (Glorot)": (64,)}
    )
    lesson = _colours(symmetry_story_figure(story))
    expected = RECIPES["Xavier (Glorot)"].colour
    assert depth["Xavier (Glorot)"] == train["Xavier (Glorot)"] == lesson["Xavier (Glorot)"] == expected
    assert (
        depth["Kaiming (He)"]
        == train["Kaiming (He)"]
        == SCHEME_COLORS["Kaiming (He)"]
        == RECIPES["Kaiming (He)"].colour
    )
    assert SCHEME_COLORS["N(0, 1)"] == SCHEME_COLORS["Too large: N(0, 1)"]  # a short label is the same recipe


def test_a_label_that_is_no_recipe_gets_a_fallback_style_and_recipe_names_the_choices():
    assert recipe_style("Plan A", 0) != recipe_style("Plan B", 1)
    with pytest.raises(ValueError, match="unknown recipe 'nope'; choose one of"):
        recipe("nope")
