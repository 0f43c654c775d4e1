"""Named plans that set every layer type in one click, each with what it teaches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PRESETS", "Preset"]


@dataclass(frozen=True)
class Preset:
    name: str
    lesson: str
    plan: dict[str, Any]


def _both(weight: dict[str, Any], bias: dict[str, Any] | None) -> dict[str, Any]:
    """The same rule for Conv2d and Linear (bias None: left untouched)."""
    slots = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
    return {"rules": {"Conv2d": dict(slots), "Linear": dict(slots)}, "overrides": {}}


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "PyTorch default",
            "What you get without calling any init: U(+-1/sqrt(fan_in)), std 1/sqrt(3 fan_in). "
            "Safe but a little small for ReLU networks (gain 1/sqrt(3) below He's sqrt(2)).",
            _both({"scheme": "default"}, {"scheme": "default"}),
        ),
        Preset(
            "As built",
            "The constructor's own draw: nothing is re-drawn. For pinit's models that is PyTorch's default; "
            "for your own model whatever it does (Hugging Face's post_init N(0, 0.02), timm's trunc_normal). "
            "pinit does not know that scheme, so the histograms show no law curve.",
            {"rules": {}, "overrides": {}},
        ),
        Preset(
            "Article recipe",
            "The seed article: Conv2d kaiming_normal weights and zero bias; Linear weight.normal_() = N(0, 1) "
            "with the bias untouched. N(0, 1) on fc1 (fan_in 2048) multiplies the signal's std "
            "by about sqrt(2048) = 45.",
            {
                "rules": {
                    "Conv2d": {"weight": {"scheme": "kaiming_normal"}, "bias": {"scheme": "zeros"}},
                    "Linear": {"weight": {"scheme": "normal", "mean": 0.0, "std": 1.0}},
                },
                "overrides": {},
            },
        ),
        Preset(
            "Xavier (Glorot)",
            "std = sqrt(2 / (fan_in + fan_out)): level variance for tanh and linear layers; "
            "through ReLUs the variance halves at every layer.",
            _both({"scheme": "xavier_uniform", "gain": 1.0}, {"scheme": "zeros"}),
        ),
        Preset(
            "Kaiming (He)",
            "std = sqrt(2 / fan_in): the ReLU-aware init; activations keep their scale through 30+ ReLU layers.",
            _both({"scheme": "kaiming_normal", "mode": "fan_in", "nonlinearity": "relu"}, {"scheme": "zeros"}),
        ),
        Preset(
            "Too small: N(0, 0.01)",
            "A fixed small std: each layer shrinks the signal, so activations and gradients vanish with depth.",
            _both({"scheme": "normal", "mean": 0.0, "std": 0.01}, {"scheme": "zeros"}),
        ),
        Preset(
            "Too large: N(0, 1)",
            "A fixed std of 1 ignores fan_in: each layer multiplies the signal's scale by about sqrt(fan_in).",
            _both({"scheme": "normal", "mean": 0.0, "std": 1.0}, {"scheme": "zeros"}),
        ),
        Preset(
            "Zeros (the symmetry trap)",
            "Every weight 0: every unit of a layer computes the same thing and gets the same gradient, "
            "so symmetry is never broken and the network cannot learn.",
            _both({"scheme": "zeros"}, {"scheme": "zeros"}),
        ),
    )
}
