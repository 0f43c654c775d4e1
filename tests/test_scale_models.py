"""The scale-test models: exact parameter counts and shapes, checked on the meta device.

Building a 105M-parameter model for real allocates 402 MiB and draws 105M random
numbers, so these tests build on the meta device (shapes only, nothing allocated,
nothing drawn); one real WideMLP build checks the registry's seeded path end to end.
"""

from __future__ import annotations

import pytest
import torch

import pinit
from pinit.models import MODELS, VGGStyle, WideMLP, build_model
from pinit.report import layer_slots

EXPECTED = {
    "WideMLP": (WideMLP, 25_194_506, 8),
    "VGGStyle": (VGGStyle, 105_401_930, 22),
}


def _meta(name: str) -> torch.nn.Module:
    with torch.device("meta"):
        return build_model(name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exact_parameter_count_on_the_meta_device(name):
    cls, total, tensors = EXPECTED[name]
    model = _meta(name)
    assert type(model) is cls
    params = list(model.parameters())
    assert all(p.is_meta for p in params)
    assert sum(p.numel() for p in params) == total
    assert len(params) == tensors
    assert MODELS[name].factory is cls and MODELS[name].options == {}
    assert f"{total:,}" in MODELS[name].description
    assert f"{total:,}" in cls.__doc__


def test_wide_mlp_takes_simplecnns_input_and_gives_logits():
    model = _meta("WideMLP")
    assert model.input_shape == (3, 32, 32) and model.num_classes == 10
    fcs = [m for m in model.layers if isinstance(m, torch.nn.Linear)]
    assert fcs[0].in_features == 3 * 32 * 32 and fcs[-1].out_features == 10
    assert all(a.out_features == b.in_features for a, b in zip(fcs, fcs[1:]))


def test_vgg_style_takes_simplecnns_input_and_gives_logits():
    """Conv blocks run for real (4.7M parameters, uninitialized storage: only shapes
    matter); the 100M head is checked by its Linear sizes. (A meta-device forward would
    work too but imports torch's meta registrations, ~3 s once.)"""
    model = _meta("VGGStyle")
    assert model.input_shape == (3, 32, 32) and model.num_classes == 10
    blocks = torch.nn.Sequential(model.block1, model.block2, model.block3, model.block4).to_empty(device="cpu")
    with torch.no_grad():
        features = blocks(torch.zeros(1, *model.input_shape)).flatten(1)
    assert tuple(features.shape) == (1, model.classifier.fc1.in_features) == (1, 8192)
    fcs = [m for m in model.classifier if isinstance(m, torch.nn.Linear)]
    assert fcs[-1].out_features == 10 and all(a.out_features == b.in_features for a, b in zip(fcs, fcs[1:]))


def test_wide_mlp_shapes():
    shapes = {n: tuple(p.shape) for n, p in _meta("WideMLP").named_parameters()}
    assert shapes == {
        "layers.fc1.weight": (4096, 3072),
        "layers.fc1.bias": (4096,),
        "layers.fc2.weight": (2048, 4096),
        "layers.fc2.bias": (2048,),
        "layers.fc3.weight": (2048, 2048),
        "layers.fc3.bias": (2048,),
        "layers.fc4.weight": (10, 2048),
        "layers.fc4.bias": (10,),
    }


def test_vgg_style_shapes():
    shapes = {n: tuple(p.shape) for n, p in _meta("VGGStyle").named_parameters()}
    assert shapes["block1.conv1.weight"] == (64, 3, 3, 3)
    assert shapes["block4.conv2.weight"] == (512, 512, 3, 3)
    assert shapes["classifier.fc1.weight"] == (8192, 8192)
    assert shapes["classifier.fc2.weight"] == (4096, 8192)
    assert shapes["classifier.fc3.weight"] == (10, 4096)
    conv = sum(torch.Size(s).numel() for n, s in shapes.items() if n.startswith("block"))
    assert conv == 4_685_376


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_layer_slots_and_plan_checks_are_cheap_for_big_models(name):
    """The sidebar's slot list and the plan check only need shapes: meta device, no draw."""
    slots = layer_slots(name)
    assert set(slots["Linear"]) == {"weight", "bias"}
    assert ("Conv2d" in slots) == (name == "VGGStyle")
    for preset in pinit.PRESETS.values():
        assert pinit.check_plan(_meta(name), preset.plan) == []


def test_one_real_wide_mlp_build_and_reinit():
    """The only real allocation here (96 MiB, ~1 s): the seeded build and a preset reach every tensor."""
    model = build_model("WideMLP", seed=3)
    pinit.apply_plan(model, pinit.PRESETS["Kaiming (He)"].plan, seed=3)
    assert sum(p.numel() for p in model.parameters()) == 25_194_506
    assert abs(float(model.layers.fc1.weight.detach().std()) - (2 / 3072) ** 0.5) < 1e-4
    assert abs(float(model.layers.fc4.weight.detach().std()) - (2 / 2048) ** 0.5) < 3e-3
    assert all(float(m.bias.detach().abs().max()) == 0.0 for m in model.layers if isinstance(m, torch.nn.Linear))
