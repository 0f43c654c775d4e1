"""One registry of named init recipes: name -> plan -> colour -> dash/marker -> caption.

A recipe is what a teacher names out loud ("Kaiming", "PyTorch's default"): one plan,
one colour and one line style in every chart that draws it, one caption that says what it
teaches. The presets (pinit.presets.PRESETS), the depth lab's schemes
(pinit.lab.depth.DEPTH_SCHEMES), the lesson and every figure read it from here, so a label
cannot mean two plans or two colours in two places.

Colours are the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), safe for
the common colour-vision deficiencies; every recipe also has its own dash and marker, a
second cue that survives greyscale projectors and any colour vision. Recipes of one family
share a colour and differ in dash ("Xavier (Glorot)" and its tanh-gain variant).

"Xavier (Glorot)" is xavier_uniform everywhere (torch.nn.init.xavier_uniform_, gain 1):
std sqrt(2 / (fan_in + fan_out)), the same std as xavier_normal, so every std-based
number is the same for both; the normal form is not a recipe of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AS_BUILT",
    "FALLBACK",
    "OKABE_ITO",
    "RECIPES",
    "Recipe",
    "RecipeStyle",
    "recipe",
    "recipe_style",
]

# Okabe & Ito (2008): eight colours told apart under protanopia, deuteranopia and tritanopia.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
_C = OKABE_ITO


@dataclass(frozen=True)
class RecipeStyle:
    """How a chart draws one recipe: colour (hex), plotly line dash and marker symbol."""

    colour: str
    dash: str
    marker: str


@dataclass(frozen=True)
class Recipe:
    """One named init recipe.

    ``plan``: the whole-model plan (rules per layer type, as pinit.plan takes them); an empty
    ``rules`` keeps every parameter as the model's constructor drew it. ``linear``: the rules
    for a Linear layer's weight and bias on their own (the depth lab's DeepMLP); None where the
    recipe is not a plan (LSUV measures the network). ``short``: the depth lab's label where
    it is shorter than ``name``. ``preset``: offered in the sidebar's preset list.
    """

    name: str
    caption: str
    formula: str
    style: RecipeStyle
    linear: Mapping[str, Any] | None
    plan: Mapping[str, Any] = field(default_factory=dict)
    short: str | None = None
    preset: bool = False
    depth: bool = False

    @property
    def colour(self) -> str:
        return self.style.colour

    @property
    def dash(self) -> str:
        return self.style.dash

    @property
    def marker(self) -> str:
        return self.style.marker

    @property
    def label(self) -> str:
        """The name charts and the depth lab use (``short`` when there is one)."""
        return self.short or self.name


def _both(weight: dict[str, Any], bias: dict[str, Any]) -> dict[str, Any]:
    """The same weight and bias rules for Conv2d and Linear."""
    slots = {"weight": weight, "bias": bias}
    return {"rules": {"Conv2d": dict(slots), "Linear": dict(slots)}, "overrides": {}}


def _make(
    name: str,
    caption: str,
    formula: str,
    colour: str,
    dash: str,
    marker: str,
    weight: dict[str, Any] | None,
    bias: dict[str, Any] | None = None,
    plan: dict[str, Any] | None = None,
    short: str | None = None,
    preset: bool = False,
    depth: bool = False,
) -> Recipe:
    bias = {"scheme": "zeros"} if bias is None else bias
    linear = None if weight is None else {"weight": dict(weight), "bias": dict(bias)}
    if plan is None:
        plan = _both(dict(weight), dict(bias)) if weight is not None else {"rules": {}, "overrides": {}}
    return Recipe(name, caption, formula, RecipeStyle(colour, dash, marker), linear, plan, short, preset, depth)


AS_BUILT = "As built"

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        _make(
            "PyTorch default",
            "What you get without calling any init: weights and biases U(±1/√fan_in), std 1/√(3 fan_in). "
            "Too small for ReLU networks: each ReLU layer multiplies the signal's variance by "
            "fan_in · Var(w) · 1/2 = 1/6, so it fades within a few layers.",
            "weights and biases U(±1/√fan_in) (std 1/√(3 fan_in)), as nn.Linear draws them",
            _C["bluish green"],
            "dot",
            "diamond",
            {"scheme": "default"},
            {"scheme": "default"},
            preset=True,
            depth=True,
        ),
        _make(
            "Article recipe",
            "The seed article: Conv2d kaiming_normal weights and zero bias; Linear weight.normal_() = N(0, 1) "
            "with the bias untouched. N(0, 1) on fc1 (fan_in 2048) multiplies the signal's std "
            "by about √2048 = 45.",
            "Conv2d kaiming_normal, bias 0; Linear N(0, 1), bias untouched",
            _C["vermillion"],
            "solid",
            "cross",
            None,
            plan={
                "rules": {
                    "Conv2d": {"weight": {"scheme": "kaiming_normal"}, "bias": {"scheme": "zeros"}},
                    "Linear": {"weight": {"scheme": "normal", "mean": 0.0, "std": 1.0}},
                },
                "overrides": {},
            },
            preset=True,
        ),
        _make(
            "Xavier (Glorot)",
            "std = √(2 / (fan_in + fan_out)) (xavier_uniform): level variance for tanh and linear layers; "
            "through ReLUs the variance halves at every layer.",
            "U(±√(6/(fan_in + fan_out))), std √(2/(fan_in + fan_out)): xavier_uniform, gain 1",
            _C["orange"],
            "dash",
            "square",
            {"scheme": "xavier_uniform", "gain": 1.0},
            preset=True,
            depth=True,
        ),
        _make(
            "Kaiming (He)",
            "std = √(2 / fan_in): the ReLU-aware init; activations keep their scale through 30+ ReLU layers.",
            "N(0, 2/fan_in): kaiming_normal, nonlinearity relu",
            _C["blue"],
            "solid",
            "circle",
            {"scheme": "kaiming_normal", "mode": "fan_in", "nonlinearity": "relu"},
            preset=True,
            depth=True,
        ),
        _make(
            "Too small: N(0, 0.01)",
            "A fixed small std: each layer shrinks the signal, so activations and gradients vanish with depth.",
            "N(0, 0.01²): a fixed small std",
            _C["sky blue"],
            "dot",
            "triangle-down",
            {"scheme": "normal", "mean": 0.0, "std": 0.01},
            short="N(0, 0.01)",
            preset=True,
            depth=True,
        ),
        _make(
            "Too large: N(0, 1)",
            "A fixed std of 1 ignores fan_in: each layer multiplies the signal's scale by about √fan_in.",
            "N(0, 1): a fixed std that ignores fan_in",
            _C["vermillion"],
            "dash",
            "x",
            {"scheme": "normal", "mean": 0.0, "std": 1.0},
            short="N(0, 1)",
            preset=True,
            depth=True,
        ),
        _make(
            "Zeros (the symmetry trap)",
            "Every weight 0: every unit of a layer computes the same thing and gets the same gradient, "
            "so symmetry is never broken and the network cannot learn.",
            "every weight 0",
            _C["black"],
            "dot",
            "hexagon",
            {"scheme": "zeros"},
            short="Zeros",
            preset=True,
            depth=True,
        ),
        _make(
            "Xavier, tanh gain 5/3",
            "Xavier with tanh's gain 5/3 (calculate_gain('tanh')): keeps a tanh network's signal level.",
            "U(±(5/3)·√(6/(fan_in + fan_out))): xavier_uniform, gain 5/3",
            _C["orange"],
            "dashdot",
            "triangle-up",
            {"scheme": "xavier_uniform", "gain": 5 / 3},
            depth=True,
        ),
        _make(
            "PyTorch default, biases 0",
            "PyTorch's default weights with the biases set to 0: the signal alone, without bias noise.",
            'weights U(±1/√fan_in), std 1/√(3 fan_in) (Glorot & Bengio\'s "standard" init); biases set to 0',
            _C["bluish green"],
            "dashdot",
            "diamond-open",
            {"scheme": "default"},
            depth=True,
        ),
        _make(
            "LeCun",
            "std = 1/√fan_in (LeCun et al. 1998): level variance for linear layers; halves per ReLU layer.",
            "N(0, 1/fan_in): lecun_normal",
            _C["sky blue"],
            "dash",
            "triangle-left",
            {"scheme": "lecun_normal"},
            depth=True,
        ),
        _make(
            "Orthogonal",
            "Orthonormal rows or columns (Saxe et al. 2014): every direction keeps its length.",
            "orthonormal rows/columns, gain 1",
            _C["reddish purple"],
            "solid",
            "pentagon",
            {"scheme": "orthogonal", "gain": 1.0},
            depth=True,
        ),
        _make(
            "Constant 0.05",
            "Every weight the same non-zero value: the symmetry trap again, with a signal that moves.",
            "every weight 0.05",
            _C["reddish purple"],
            "dash",
            "star-diamond",
            {"scheme": "constant", "val": 0.05},
            depth=True,
        ),
        _make(
            "LSUV",
            "Layer-sequential unit variance (Mishkin & Matas 2015): orthogonal, then each layer rescaled "
            "until its output std is 1 on a batch.",
            "orthogonal, then each layer rescaled in turn until its output std is 1 "
            "on the probe batch (Mishkin & Matas 2015)",
            _C["black"],
            "solid",
            "x-thin",
            None,
            depth=True,
        ),
        _make(
            AS_BUILT,
            "The constructor's own draw: nothing is re-drawn. For pinit's models that is PyTorch's default; "
            "for your own model whatever it does (Hugging Face's post_init N(0, 0.02), timm's trunc_normal). "
            "pinit does not know that scheme, so the histograms show no law curve.",
            "each parameter as its constructor drew it (an empty plan)",
            _C["black"],
            "longdash",
            "star",
            None,
            preset=True,
        ),
    )
}

_BY_LABEL: dict[str, Recipe] = {**{r.label: r for r in RECIPES.values()}, **RECIPES}

# For a label no recipe names ("Plan A", a custom plan): the Okabe-Ito colours in turn, solid.
FALLBACK = tuple(_C[c] for c in ("blue", "orange", "bluish green", "reddish purple", "sky blue", "vermillion"))
_FALLBACK_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_FALLBACK_MARKERS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "pentagon")


def recipe(label: str) -> Recipe:
    """The recipe called `label` (its name, or its short depth-lab label such as "N(0, 1)")."""
    try:
        return _BY_LABEL[label]
    except KeyError:
        raise ValueError(f"unknown recipe {label!r}; choose one of {', '.join(RECIPES)}") from None


def recipe_style(label: str, index: int = 0) -> RecipeStyle:
    """How to draw `label`: its recipe's style, or the `index`-th fallback style for any other label."""
    r = _BY_LABEL.get(label)
    if r is not None:
        return r.style
    i = index % len(FALLBACK)
    return RecipeStyle(FALLBACK[i], _FALLBACK_DASHES[i], _FALLBACK_MARKERS[i])
