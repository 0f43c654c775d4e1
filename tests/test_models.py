"""pinit.models: the networks' exact parameter names and shapes, and build_model's seeding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pinit
from pinit import ArticleSimpleCNN, DeepMLP, SimpleCNN, build_model

# The table in DESIGN.md, in named_parameters() order.
SIMPLE_CNN = [
    ("layer1.conv1.weight", (32, 3, 3, 3), 864),
    ("layer1.conv1.bias", (32,), 32),
    ("layer2.conv2.weight", (64, 32, 3, 3), 18_432),
    ("layer2.conv2.bias", (64,), 64),
    ("layer3.conv3.weight", (128, 64, 3, 3), 73_728),
    ("layer3.conv3.bias", (128,), 128),
    ("layer4.fc1.weight", (512, 2048), 1_048_576),
    ("layer4.fc1.bias", (512,), 512),
    ("layer4.fc2.weight", (64, 512), 32_768),
    ("layer4.fc2.bias", (64,), 64),
    ("layer4.fc3.weight", (10, 64), 640),
    ("layer4.fc3.bias", (10,), 10),
]

# The article's listing as printed: conv2 sits in layer1, 'fc2 ' has a trailing space.
ARTICLE = [
    "layer1.conv1.weight",
    "layer1.conv1.bias",
    "layer1.conv2.weight",
    "layer1.conv2.bias",
    "layer3.conv3.weight",
    "layer3.conv3.bias",
    "layer4.fc1.weight",
    "layer4.fc1.bias",
    "layer4.fc2 .weight",
    "layer4.fc2 .bias",
    "layer4.fc3.weight",
    "layer4.fc3.bias",
]


def _article_name(simple_name: str) -> str:
    return simple_name.replace("layer2.conv2.", "layer1.conv2.").replace("layer4.fc2.", "layer4.fc2 .")


def test_simple_cnn_names_shapes_and_total_match_the_design_table():
    params = list(SimpleCNN().named_parameters())
    assert [(n, tuple(p.shape), p.numel()) for n, p in params] == SIMPLE_CNN
    assert sum(p.numel() for _, p in params) == 1_175_818
    assert sum(numel for _, _, numel in SIMPLE_CNN) == 1_175_818


def test_simple_cnn_forward_takes_3x32x32_to_10_logits():
    model = build_model("SimpleCNN", seed=0)
    out = model(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 10)
    # The conv blocks take 32x32 to 128x4x4 = 2048 features, which fc1 expects.
    feats = model.layer3(model.layer2(model.layer1(torch.zeros(1, 3, 32, 32))))
    assert feats.shape == (1, 128, 4, 4)


def test_article_listing_names_keep_the_quirks():
    model = ArticleSimpleCNN()
    names = [n for n, _ in model.named_parameters()]
    assert names == ARTICLE
    assert "layer4.fc2 .weight" in names  # trailing space in the module name
    assert not any(n.startswith("layer2.") for n in names)
    assert list(model.layer2.parameters()) == []
    assert "layer3.poo13" in dict(model.named_modules())
    # Same shapes as the intended network, parameter by parameter.
    assert [tuple(p.shape) for p in model.parameters()] == [shape for _, shape, _ in SIMPLE_CNN]


def test_article_listing_computes_the_same_function_as_simple_cnn():
    simple = build_model("SimpleCNN", seed=3)
    article = ArticleSimpleCNN()
    renamed = {_article_name(k): v for k, v in simple.state_dict().items()}
    assert set(renamed) == set(ARTICLE)
    article.load_state_dict(renamed, strict=True)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, s = article(x), simple(x)
    assert torch.equal(a, s)
    assert float(s.abs().max()) > 0  # not a vacuous comparison of zeros


@pytest.mark.parametrize(
    "activation, cls",
    [
        ("relu", nn.ReLU),
        ("tanh", nn.Tanh),
        ("sigmoid", nn.Sigmoid),
        ("leaky_relu", nn.LeakyReLU),
        ("linear", nn.Identity),
    ],
)
def test_deep_mlp_depth_width_activation(activation, cls):
    model = build_model("DeepMLP", depth=5, width=32, activation=activation)
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert [n for n, _ in linears] == [f"layers.fc{i}" for i in range(1, 6)]
    assert [tuple(m.weight.shape) for _, m in linears] == [(32, 256), (32, 32), (32, 32), (32, 32), (10, 32)]
    acts = [m for n, m in model.named_modules() if n.startswith("layers.act")]
    assert len(acts) == 4 and all(type(m) is cls for m in acts)  # none after the last Linear
    if activation == "leaky_relu":
        assert acts[0].negative_slope == 0.01
    assert model(torch.zeros(3, 256)).shape == (3, 10)


def test_deep_mlp_depth_one_is_a_single_linear():
    model = DeepMLP(depth=1, width=8)
    assert [(n, tuple(p.shape)) for n, p in model.named_parameters()] == [
        ("layers.fc1.weight", (10, 256)),
        ("layers.fc1.bias", (10,)),
    ]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"depth": 0}, ["depth", "from 1 to 100", "got 0"]),
        ({"depth": 2.5}, ["depth", "whole number", "got 2.5"]),
        ({"depth": True}, ["depth", "whole number", "got True"]),
        ({"depth": 101}, ["depth", "got 101"]),
        ({"width": 0}, ["width", "from 1 to 4096", "got 0"]),
        ({"width": 5000}, ["width", "got 5000"]),
        ({"activation": "gelu"}, ["activation", "'gelu'", "relu", "tanh"]),
    ],
)
def test_deep_mlp_refuses_bad_options(kwargs, words):
    with pytest.raises(ValueError) as exc:
        DeepMLP(**kwargs)
    for w in words:
        assert w in str(exc.value)
    with pytest.raises(ValueError):
        build_model("DeepMLP", **kwargs)


def test_build_model_refuses_unknown_names_and_options():
    with pytest.raises(ValueError, match=r"unknown model 'ResNet'.*SimpleCNN"):
        build_model("ResNet")
    with pytest.raises(ValueError, match=r"SimpleCNN takes no option \['depth'\]; allowed: none"):
        build_model("SimpleCNN", depth=3)
    with pytest.raises(ValueError, match=r"allowed: activation, depth, width"):
        build_model("DeepMLP", dropout=0.5)


def test_registry_builds_the_right_classes():
    assert {"SimpleCNN", "ArticleSimpleCNN", "DeepMLP"} <= set(pinit.MODELS)
    assert type(build_model("SimpleCNN")) is SimpleCNN
    assert type(build_model("ArticleSimpleCNN")) is ArticleSimpleCNN
    mlp = build_model("DeepMLP")
    assert (mlp.depth, mlp.width, mlp.activation) == (10, 256, "relu")


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", ["SimpleCNN", "ArticleSimpleCNN", "DeepMLP"])
def test_build_model_with_seed_is_reproducible_and_leaves_the_global_rng_alone(name):
    torch.manual_seed(1234)
    rng_before, initial_before = torch.get_rng_state(), torch.initial_seed()
    a = _state(build_model(name, seed=7))
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.initial_seed() == initial_before
    torch.manual_seed(999)  # a different global state must not matter
    b = _state(build_model(name, seed=7))
    c = _state(build_model(name, seed=8))
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(not torch.equal(a[k], c[k]) for k in a)


def test_build_model_seed_gives_torchs_own_default_init():
    """The seeded build is exactly nn.Module construction after torch.manual_seed(seed)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        reference = SimpleCNN()
    built = build_model("SimpleCNN", seed=11)
    for (n, p), (_, q) in zip(built.named_parameters(), reference.named_parameters()):
        assert torch.equal(p, q), n
    # And it is PyTorch's U(+-1/sqrt(fan_in)): fc1's bound is 1/sqrt(2048).
    bound = 2048**-0.5
    w = built.layer4.fc1.weight.detach()
    assert float(w.abs().max()) <= bound
    assert float(w.abs().max()) > 0.99 * bound
