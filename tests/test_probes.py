"""pinit.probes: probe batches, activation and gradient statistics, the predicted trend."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

import pinit
from pinit.lab.probes import (
    activation_second_moment,
    activation_stats,
    gradient_stats,
    predicted_std_trend,
    probe_batch,
    probe_targets,
)

HE = {
    "rules": {"Linear": {"weight": {"scheme": "kaiming_normal", "nonlinearity": "relu"}, "bias": {"scheme": "zeros"}}}
}
XAVIER = {"rules": {"Linear": {"weight": {"scheme": "xavier_normal"}, "bias": {"scheme": "zeros"}}}}
SIMPLE_CNN_LEAVES = [
    ("layer1.conv1", "Conv2d", (8, 32, 32, 32)),
    ("layer1.relu1", "ReLU", (8, 32, 32, 32)),
    ("layer1.pool1", "MaxPool2d", (8, 32, 16, 16)),
    ("layer2.conv2", "Conv2d", (8, 64, 16, 16)),
    ("layer2.relu2", "ReLU", (8, 64, 16, 16)),
    ("layer2.pool2", "MaxPool2d", (8, 64, 8, 8)),
    ("layer3.conv3", "Conv2d", (8, 128, 8, 8)),
    ("layer3.relu3", "ReLU", (8, 128, 8, 8)),
    ("layer3.pool3", "MaxPool2d", (8, 128, 4, 4)),
    ("layer4.fc1", "Linear", (8, 512)),
    ("layer4.fc_relu1", "ReLU", (8, 512)),
    ("layer4.fc2", "Linear", (8, 64)),
    ("layer4.fc_relu2", "ReLU", (8, 64)),
    ("layer4.fc3", "Linear", (8, 10)),
]


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks for m in model.modules())


# ---------------------------------------------------------------- probe batches


def test_probe_batch_is_seeded_and_leaves_the_global_rng_alone() -> None:
    model = pinit.build_model("SimpleCNN", seed=0)
    state = torch.get_rng_state()
    a = probe_batch(model, 16, seed=3)
    b = probe_batch(model, 16, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert a.shape == (16, 3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, probe_batch(model, 16, seed=4))
    assert torch.equal(a, torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(3)))
    mlp = pinit.build_model("DeepMLP", depth=3, width=8)
    assert probe_batch(mlp, 5).shape == (5, 256)


def test_probe_targets_cover_the_classes_reproducibly() -> None:
    model = pinit.build_model("SimpleCNN", seed=0)
    y = probe_targets(model, 200, seed=0)
    assert y.dtype == torch.int64 and y.shape == (200,)
    assert set(y.tolist()) == set(range(10))
    assert torch.equal(y, probe_targets(model, 200, seed=0))


@pytest.mark.parametrize("n", [0, -1, 1.5, True, 5000])
def test_probe_batch_refuses_bad_sizes(n) -> None:
    with pytest.raises(ValueError, match="n must be a whole number"):
        probe_batch(pinit.build_model("SimpleCNN"), n)


def test_probe_batch_infers_a_linear_input_and_else_asks_for_input_shape() -> None:
    assert probe_batch(nn.Linear(3, 4), 5).shape == (5, 3)  # a Linear first reads vectors of in_features
    assert int(probe_targets(nn.Linear(3, 4), 50).max()) <= 3  # the last Linear's out_features are the classes
    with pytest.raises(ValueError, match="LSTM has no `input_shape` attribute and pinit cannot infer its input"):
        probe_batch(nn.LSTM(3, 4))
    with pytest.raises(ValueError, match="set model.input_shape"):
        probe_batch(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="no `num_classes` attribute"):
        probe_targets(nn.Sequential(nn.ReLU()))


# ---------------------------------------------------------------- activation_stats


def test_activation_stats_rows_follow_the_forward_pass() -> None:
    model = pinit.build_model("SimpleCNN", seed=0)
    x = probe_batch(model, 8)
    df = activation_stats(model, x, bins=20)
    assert [(r.layer, r.type, r.shape) for r in df.itertuples()] == SIMPLE_CNN_LEAVES
    assert df["depth"].tolist() == list(range(1, 15))
    with torch.no_grad():
        conv1 = model.layer1.conv1(x).double()
        relu1 = torch.relu(conv1)
    first = df.iloc[0]
    # pinit.stats reduces big tensors in float32 (pairwise): ~1e-7 relative, not 1e-15
    assert first["std"] == pytest.approx(float(conv1.std()), rel=1e-6)
    assert first["mean"] == pytest.approx(float(conv1.mean()), rel=1e-6, abs=1e-9)
    assert first["zero_fraction"] == 0.0
    assert df.iloc[1]["zero_fraction"] == pytest.approx(float((relu1 == 0).double().mean()), abs=1e-12)
    assert 0.4 < df.iloc[1]["zero_fraction"] < 0.6  # a ReLU zeroes about half its input
    for row in df.itertuples():
        assert len(row.counts) == 20 and len(row.edges) == 21
        assert sum(row.counts) == math.prod(row.shape)
        assert row.edges[0] == pytest.approx(row.min) and row.edges[-1] == pytest.approx(row.max)
    assert df.attrs["input_std"] == pytest.approx(float(x.double().std()))


def test_activation_stats_restores_modes_and_hooks_and_grad_mode() -> None:
    model = pinit.build_model("SimpleCNN", seed=0)
    model.train()
    model.layer4.eval()  # a mixed state must come back as it was
    before = {name: m.training for name, m in model.named_modules()}
    activation_stats(model, probe_batch(model, 2))
    assert {name: m.training for name, m in model.named_modules()} == before
    assert no_hooks(model)
    assert torch.is_grad_enabled()


def test_activation_stats_removes_hooks_when_the_forward_pass_fails() -> None:
    model = pinit.build_model("SimpleCNN", seed=0)
    model.train()
    with pytest.raises(RuntimeError):
        activation_stats(model, torch.zeros(2, 5, 32, 32))  # 5 channels: conv1 refuses
    assert no_hooks(model) and model.training


class _Emit(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([[1.0, math.nan, math.inf, -math.inf, 2.0, 0.0]])


def test_activation_stats_counts_nan_and_inf_instead_of_binning_them() -> None:
    row = activation_stats(_Emit(), torch.zeros(1)).iloc[0]
    assert row["layer"] == "(model)" and row["type"] == "_Emit"
    assert row["nonfinite"] == 3
    assert sum(row["counts"]) == 3  # 1, 2 and 0
    assert row["min"] == 0.0 and row["max"] == 2.0
    assert row["zero_fraction"] == pytest.approx(1 / 6)


def test_activation_stats_flags_a_constant_output() -> None:
    model = pinit.build_model("DeepMLP", depth=3, width=16)
    pinit.apply_plan(model, {"rules": {"Linear": {"weight": {"scheme": "zeros"}, "bias": {"scheme": "zeros"}}}})
    df = activation_stats(model, probe_batch(model, 4))
    assert df["constant"].all() and (df["zero_fraction"] == 1.0).all() and (df["std"] == 0).all()
    edges, counts = df.iloc[0]["edges"], df.iloc[0]["counts"]
    assert edges[-1] - edges[0] == pytest.approx(1.0)  # one unit wide around the value
    spike = counts.index(max(counts))  # every entry in one bin, with 0 in its middle
    assert max(counts) == sum(counts) and (edges[spike] + edges[spike + 1]) / 2 == pytest.approx(0.0)


class _Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(self.act(x)))


def test_a_module_called_twice_gives_two_rows() -> None:
    df = activation_stats(_Twice(), torch.randn(3, 4, generator=torch.Generator().manual_seed(0)))
    assert df["layer"].tolist() == ["act", "fc", "act"]
    assert df["depth"].tolist() == [1, 2, 3]


def test_the_article_listing_computes_the_same_signal_under_other_names() -> None:
    ours, article = pinit.build_model("SimpleCNN", seed=0), pinit.build_model("ArticleSimpleCNN")
    with torch.no_grad():
        for (_, p), (_, q) in zip(ours.named_parameters(), article.named_parameters()):
            q.copy_(p)
    x = probe_batch(ours, 4)
    a, b = activation_stats(ours, x), activation_stats(article, x)
    assert b["layer"].tolist()[3] == "layer1.conv2" and "layer4.fc2 " in b["layer"].tolist()
    assert b["layer"].tolist()[8] == "layer3.poo13"
    assert a["std"].tolist() == pytest.approx(b["std"].tolist(), rel=1e-6)


@pytest.mark.parametrize("bins", [0, 501, 2.5, True])
def test_activation_stats_refuses_bad_bins(bins) -> None:
    with pytest.raises(ValueError, match="bins must be a whole number from 1 to 500"):
        activation_stats(nn.Linear(2, 2), torch.zeros(1, 2), bins=bins)


# ---------------------------------------------------------------- gradient_stats


def test_gradient_stats_matches_a_plain_backward_pass_and_touches_nothing() -> None:
    model = pinit.build_model("SimpleCNN", seed=0)
    pinit.apply_plan(model, pinit.PRESETS["Kaiming (He)"].plan, seed=0)
    x, y = probe_batch(model, 8), probe_targets(model, 8)
    reference = copy.deepcopy(model)
    loss = nn.functional.cross_entropy(reference.eval()(x), y)
    loss.backward()
    expected = {n: p.grad for n, p in reference.named_parameters()}

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    df = gradient_stats(model, x, y)
    assert df["name"].tolist() == [n for n, _ in model.named_parameters()]
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert df.attrs["loss"] == pytest.approx(loss.item(), rel=1e-6)
    for row in df.itertuples():
        g = expected[row.name].double()
        assert row.grad_norm == pytest.approx(float(g.norm()), rel=1e-5)
        assert row.grad_mean == pytest.approx(float(g.mean()), rel=1e-4, abs=1e-12)
        assert row.grad_std == pytest.approx(float(g.std()), rel=1e-5)
        assert row.weight_std == pytest.approx(float(before[row.name].double().std()), rel=1e-6)
    bias = df.set_index("name").loc["layer1.conv1.bias"]
    assert bias["weight_std"] == 0.0 and math.isnan(bias["grad_to_weight"])  # zero-init bias
    w = df.set_index("name").loc["layer1.conv1.weight"]
    assert w["grad_to_weight"] == pytest.approx(w["grad_std"] / w["weight_std"])


def test_gradient_stats_keeps_existing_grads() -> None:
    model = pinit.build_model("DeepMLP", depth=3, width=8, seed=0)
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    gradient_stats(model, probe_batch(model, 4), probe_targets(model, 4))
    assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in model.parameters())


class _Partial(nn.Module):
    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(2, 3)
        self.unused = nn.Linear(2, 3)
        self.frozen = nn.Parameter(torch.ones(3), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x) + self.frozen


def test_gradient_stats_unused_and_frozen_parameters() -> None:
    df = gradient_stats(_Partial(), torch.ones(4, 2), torch.tensor([0, 1, 2, 0])).set_index("name")
    assert df.loc["unused.weight", "grad_norm"] == 0.0
    assert math.isnan(df.loc["frozen", "grad_norm"])
    assert df.loc["used.weight", "grad_norm"] > 0


def test_gradient_stats_refuses_bad_targets() -> None:
    model = pinit.build_model("DeepMLP", depth=2, width=8)
    with pytest.raises(ValueError, match="targets must lie in 0..9"):
        gradient_stats(model, probe_batch(model, 2), torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="targets must be int64"):
        gradient_stats(model, probe_batch(model, 2), torch.tensor([0.0, 1.0]))


# ---------------------------------------------------------------- the predicted trend


def test_predicted_trend_he_relu_is_level() -> None:
    model = pinit.build_model("DeepMLP", depth=6, width=256, activation="relu")
    trend = predicted_std_trend(model, HE)
    assert trend["layer"].tolist() == [f"layers.fc{i}" for i in range(1, 7)]
    assert trend["activation_in"].tolist() == ["none"] + ["ReLU"] * 5
    assert trend["multiplier"].tolist() == pytest.approx([2, 1, 1, 1, 1, 1])  # fc1: 256 * 2/256 * 1
    assert trend["predicted_std"].tolist() == pytest.approx([math.sqrt(2)] * 6)
    assert (trend["source"] == "plan").all()


def test_predicted_trend_xavier_relu_halves() -> None:
    model = pinit.build_model("DeepMLP", depth=6, width=256, activation="relu")
    trend = predicted_std_trend(model, XAVIER)
    last = 256 * 2 / (256 + 10) / 2  # fc6 maps 256 -> 10: Xavier's Var(w) is 2/266 there
    assert trend["multiplier"].tolist() == pytest.approx([1, 0.5, 0.5, 0.5, 0.5, last])


def test_predicted_trend_tanh_standard_and_xavier() -> None:
    model = pinit.build_model("DeepMLP", depth=5, width=256, activation="tanh")
    standard = {
        "rules": {"Linear": {"weight": {"scheme": "uniform", "a": -1 / 16, "b": 1 / 16}, "bias": {"scheme": "zeros"}}}
    }
    s = predicted_std_trend(model, standard)
    assert s["multiplier"].iloc[0] == pytest.approx(1 / 3)
    assert (s["multiplier"].iloc[1:] < 1 / 3).all()
    x = predicted_std_trend(model, XAVIER)["multiplier"].tolist()
    assert x[1] == pytest.approx(0.39429, abs=1e-4)  # E[tanh(z)^2], z ~ N(0, 1)
    assert x[1] < x[2] < x[3] < 1  # smaller signals are squashed less (x[4]: fc5 is 256 -> 10)


def test_predicted_trend_uses_the_tensors_when_no_plan_reaches_them() -> None:
    model = pinit.build_model("DeepMLP", depth=3, width=512, activation="relu")
    pinit.apply_plan(model, HE, seed=0)
    trend = predicted_std_trend(model)
    assert (trend["source"] == "measured").all()
    assert trend["weight_m2"].iloc[1] == pytest.approx(2 / 512, rel=0.02)
    assert trend["predicted_std"].iloc[1] == pytest.approx(math.sqrt(2), rel=0.02)


def test_predicted_trend_zero_and_constant_weights() -> None:
    model = pinit.build_model("DeepMLP", depth=3, width=16, activation="tanh")
    zeros = {"rules": {"Linear": {"weight": {"scheme": "zeros"}, "bias": {"scheme": "zeros"}}}}
    assert (predicted_std_trend(model, zeros)["predicted_std"] == 0).all()
    const = {"rules": {"Linear": {"weight": {"scheme": "constant", "val": 0.1}, "bias": {"scheme": "zeros"}}}}
    trend = predicted_std_trend(model, const)
    assert trend["predicted_std"].isna().all()
    assert "layers.fc1.weight has mean 0.1" in trend["note"].iloc[0]


def test_predicted_trend_refuses_what_it_cannot_predict() -> None:
    with pytest.raises(ValueError, match="layer1.conv1 is a Conv2d"):
        predicted_std_trend(pinit.build_model("SimpleCNN"))
    with pytest.raises(ValueError, match="at most one activation"):
        predicted_std_trend(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Tanh(), nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="input_std must be a positive finite number"):
        predicted_std_trend(nn.Linear(2, 2), input_std=0)


def _gauss_reference(f, q: float) -> float:
    """E[f(y)^2], y ~ N(0, q), by the trapezoid rule on 400,001 points over +-12 std."""
    y = torch.linspace(-12, 12, 400_001, dtype=torch.float64) * math.sqrt(q)
    density = torch.exp(-y * y / (2 * q)) / math.sqrt(2 * math.pi * q)
    return float(torch.trapezoid(f(y) ** 2 * density, y))


@pytest.mark.parametrize("q", [0.01, 0.5, 1.0, 4.0])
@pytest.mark.parametrize("activation", [nn.Tanh(), nn.Sigmoid(), nn.GELU()], ids=lambda a: type(a).__name__)
def test_activation_second_moment_against_direct_integration(activation: nn.Module, q: float) -> None:
    assert activation_second_moment(activation, q) == pytest.approx(_gauss_reference(activation, q), rel=1e-5)


def test_activation_second_moment_exact_cases() -> None:
    assert activation_second_moment(nn.ReLU(), 3.0) == 1.5
    assert activation_second_moment(nn.LeakyReLU(0.1), 2.0) == pytest.approx(1.01)
    assert activation_second_moment(nn.Identity(), 2.0) == 2.0
    assert activation_second_moment(nn.Sigmoid(), 0.0) == pytest.approx(0.25)  # sigmoid(0)^2
    assert activation_second_moment(nn.Tanh(), 1e-6) / 1e-6 == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="Linear is not an elementwise activation"):
        activation_second_moment(nn.Linear(2, 2), 1.0)
