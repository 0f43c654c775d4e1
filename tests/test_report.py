"""`inspect_model`'s model: the same bits as building the model and applying the plan.

`fresh_model` skips the constructor's own init when the plan overwrites every parameter
(a speed-up of the page's most expensive click, a new seed); these tests hold it to the
slow path's result bit for bit, for every registered model and preset, and check that
a plan leaving a parameter untouched still gets the constructor's value.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pinit
from pinit import InitPlan, apply_plan, build_model
from pinit.lab.transformer import transformer_presets
from pinit.models import ModelSpec
from pinit.report import fresh_model, inspect_model
from pinit.setup import Setup

SMALL = {"VGGStyle": {}, "DeepMLP": {"depth": 6, "width": 64}, "WideMLP": {}, "TinyGPT": {"n_layer": 2}}


def slow(model_name: str, plan: InitPlan, seed: int, options: dict) -> nn.Module:
    model = build_model(model_name, seed=seed, **options)
    apply_plan(model, plan, seed)
    return model


def assert_same_bits(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def cases():
    for model_name in pinit.MODELS:
        options = SMALL.get(model_name, {})
        if model_name == "TinyGPT":
            plans = {label: p.plan for label, p in transformer_presets(options["n_layer"]).items()}
        else:
            plans = {label: p.plan for label, p in pinit.PRESETS.items()}
        plans["only Linear weights"] = {"rules": {"Linear": {"weight": {"scheme": "xavier_normal"}}}}
        for label, plan in plans.items():
            yield pytest.param(model_name, options, plan, id=f"{model_name}-{label}")


@pytest.mark.parametrize("model_name, options, plan", list(cases()))
@pytest.mark.parametrize("seed", [0, 7])
def test_fresh_model_then_plan_is_bit_identical_to_build_then_plan(model_name, options, plan, seed):
    plan = InitPlan.from_dict(plan)
    fast = fresh_model(Setup(model_name, options, plan, seed))
    apply_plan(fast, plan, seed)
    assert_same_bits(fast, slow(model_name, plan, seed, options))


def test_a_plan_that_reaches_every_parameter_skips_the_constructor(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the constructor's draw was not needed")

    monkeypatch.setattr(pinit.report, "build_model", refuse)
    report = inspect_model(Setup("SimpleCNN", plan=pinit.PRESETS["Kaiming (He)"].plan, seed=3))
    assert report.total_params == 1_175_818


def test_an_untouched_parameter_keeps_the_constructors_draw():
    plan = InitPlan.from_dict({"rules": {"Conv2d": {"weight": {"scheme": "zeros"}}}})
    model = fresh_model(Setup("SimpleCNN", plan=plan, seed=5))
    apply_plan(model, plan, 5)
    built = build_model("SimpleCNN", seed=5)
    assert torch.equal(model.layer4.fc1.weight, built.layer4.fc1.weight)
    assert model.layer4.fc1.weight.std() > 0.005  # the constructor's kaiming_uniform(a=√5), not empty memory


def test_tied_weights_stay_tied():
    plan = InitPlan.from_dict(transformer_presets(2)["GPT-2"].plan)
    model = fresh_model(Setup("TinyGPT", {"n_layer": 2}, plan))
    assert model.head.weight is model.wte.weight  # one tensor, two names: initialized once
    assert model.head.weight.data_ptr() == model.wte.weight.data_ptr()


class _Masked(nn.Module):
    """A mask kept as a plain tensor attribute (not a buffer): it must hold its values, not meta's."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.mask = torch.ones(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(x) * self.mask
        return out


def test_a_plain_tensor_attribute_builds_as_usual(monkeypatch):
    monkeypatch.setitem(pinit.MODELS, "_Masked", ModelSpec("_Masked", "masked", _Masked, "a test model"))
    setup = Setup("_Masked", plan={"rules": {"Linear": {"weight": {"scheme": "ones"}, "bias": {"scheme": "zeros"}}}})
    model = setup.build()
    assert model.mask.device.type == "cpu" and torch.equal(model(torch.ones(1, 4)), torch.full((1, 4), 4.0))
