"""The classic init results, reproduced through pinit's public API with real numbers.

Networks are DeepMLP (width 256 or 512, in_features 256) fed pinit.probe_batch
(iid N(0, 1) inputs); "std" is the std of every entry of a Linear layer's output
over the probe batch, as activation_stats measures it.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import pinit
from pinit.lab.data import make_dataset
from pinit.lab.lsuv import lsuv
from pinit.lab.probes import activation_stats, predicted_std_trend, probe_batch
from pinit.lab.train import evaluate, train


def linear_plan(weight: dict) -> dict:
    return {"rules": {"Linear": {"weight": weight, "bias": {"scheme": "zeros"}}}}


HE = linear_plan({"scheme": "kaiming_normal", "mode": "fan_in", "nonlinearity": "relu"})
XAVIER = linear_plan({"scheme": "xavier_normal", "gain": 1.0})
STANDARD = linear_plan({"scheme": "uniform", "a": -1 / 16, "b": 1 / 16})  # U(+-1/sqrt(n)), n = 256


def linear_stds(depth: int, width: int, activation: str, plan: dict, seed: int = 0, n: int = 128) -> list[float]:
    model = pinit.build_model("DeepMLP", depth=depth, width=width, activation=activation)
    pinit.apply_plan(model, plan, seed)
    stats = activation_stats(model, probe_batch(model, n, seed=0))
    return stats[stats["type"] == "Linear"]["std"].tolist()


# ---------------------------------------------------------------- He et al. 2015


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_he_init_keeps_relu_signal_level_through_30_layers(seed: int) -> None:
    # Var(y_l) = fan_in * (2 / fan_in) * Var(y_{l-1}) / 2 = Var(y_{l-1}). Measured last/first
    # std ratios for seeds 0, 1, 2: 0.69, 0.84, 0.63 (a finite-width net wanders: log-ratio
    # spread ~ sqrt(5 depth / width) / 2 = 0.27, Hanin 2018). Compare the 29th layer (the last
    # hidden one, 512 units) with the first.
    stds = linear_stds(30, 512, "relu", HE, seed)
    assert stds[0] == pytest.approx(math.sqrt(2), rel=0.02)  # fc1: 256 * (2/256) * E[x^2] = 2
    ratio = stds[-2] / stds[0]
    assert 0.5 <= ratio <= 2.0, ratio


def test_xavier_halves_relu_variance_at_every_layer() -> None:
    # Xavier with fan_in = fan_out = 512: Var(w) = 1/512, so Var(y_l) = Var(y_{l-1}) / 2 and the
    # std falls by 2^(-1/2) per layer: from fc1 to fc29 by 2^(-14) = 6.1e-5 (measured 4.2e-5).
    stds = linear_stds(30, 512, "relu", XAVIER, seed=0)
    model = pinit.build_model("DeepMLP", depth=30, width=512, activation="relu")
    predicted = predicted_std_trend(model, XAVIER)["predicted_std"].tolist()
    measured_log = math.log(stds[-2] / stds[0])
    predicted_log = math.log(predicted[-2] / predicted[0])
    assert predicted_log == pytest.approx(-14 * math.log(2), rel=1e-2)  # fc1 has fan_in 256, so tiny offset
    assert abs(measured_log - predicted_log) < 1.0, (measured_log, predicted_log)  # of -9.7
    per_layer = math.exp(measured_log / 28)
    assert per_layer == pytest.approx(2**-0.5, abs=0.02)  # measured 0.698
    # He draws the same normals scaled up: by sqrt(3) at fc1 (256 -> 512: 2/256 against 2/768)
    # and by sqrt(2) at each 512 -> 512 layer. ReLU is positively homogeneous and the biases
    # are zero, so the outputs scale by exactly the product: sqrt(3) * sqrt(2)^28 at fc29.
    he = linear_stds(30, 512, "relu", HE, seed=0)
    assert he[-2] / stds[-2] == pytest.approx(math.sqrt(3) * math.sqrt(2) ** 28, rel=1e-4)


# ---------------------------------------------------------------- Glorot & Bengio 2010


def test_standard_init_shrinks_tanh_activations_layer_by_layer() -> None:
    # U(+-1/sqrt(n)): Var(w) = 1/(3n), so n Var(w) = 1/3, and tanh passes at most all of it:
    # the std falls by at least sqrt(3) = 1.73x per layer. Measured over fc1..fc5 (Glorot's
    # five hidden layers): 0.577, 0.265, 0.143, 0.080, 0.046 (fc5 / fc1 = 0.079); fc10 / fc1 = 0.0051.
    stds = linear_stds(11, 256, "tanh", STANDARD)
    assert stds[0] == pytest.approx(1 / math.sqrt(3), rel=0.02)
    for before, after in itertools.pairwise(stds[:10]):
        assert after / before < 1 / math.sqrt(3) * 1.03
    assert stds[4] / stds[0] < 0.12
    assert stds[9] / stds[0] < 0.01


def test_xavier_keeps_tanh_activations_roughly_level() -> None:
    # Var(w) = 1/n: the only loss is tanh's own saturation, E[tanh(y)^2] < E[y^2]. Measured
    # fc1..fc5: 0.999, 0.628, 0.483, 0.412, 0.363 (fc5 / fc1 = 0.36 against 0.079 above);
    # fc10 / fc1 = 0.24 against 0.005. The mean-field prediction follows within 2%.
    stds = linear_stds(11, 256, "tanh", XAVIER)
    model = pinit.build_model("DeepMLP", depth=11, width=256, activation="tanh")
    predicted = predicted_std_trend(model, XAVIER)["predicted_std"].tolist()
    for measured, expected in zip(stds[:10], predicted[:10]):
        assert measured == pytest.approx(expected, rel=0.05)
    assert stds[4] / stds[0] > 0.3
    assert stds[9] / stds[0] > 0.2
    standard = linear_stds(11, 256, "tanh", STANDARD)
    assert stds[9] / stds[0] > 30 * standard[9] / standard[0]


def test_xavier_with_tanh_gain_is_truly_level() -> None:
    # gain 5/3 (torch.nn.init.calculate_gain("tanh")) puts the variance map's fixed point at
    # std 1.09: measured fc5..fc29 all within 1.07..1.11.
    plan = linear_plan({"scheme": "xavier_normal", "gain": 5 / 3})
    stds = linear_stds(30, 256, "tanh", plan)
    level = stds[4:-1]
    assert max(level) / min(level) < 1.1
    assert min(level) > 1.0 and max(level) < 1.2


# ---------------------------------------------------------------- symmetry


@pytest.mark.parametrize("weight", [{"scheme": "zeros"}, {"scheme": "constant", "val": 0.05}])
def test_constant_init_never_breaks_symmetry(weight: dict) -> None:
    # Every hidden unit of a layer computes the same function, gets the same gradient row,
    # and so stays identical to its neighbours after any number of SGD steps.
    plan = {"rules": {"Linear": {"weight": weight, "bias": {"scheme": "zeros"}}}}
    model = pinit.build_model("DeepMLP", depth=4, width=32, activation="tanh")
    pinit.apply_plan(model, plan, seed=0)
    x = probe_batch(model, 64)
    y = torch.arange(64) % 10

    stats = activation_stats(model, x)
    hidden = [m for name, m in model.layers.named_children() if name in ("fc1", "fc2", "fc3")]
    outs = []
    hooks = [m.register_forward_hook(lambda m, a, o: outs.append(o.detach())) for m in hidden]
    logits = model(x)
    for h in hooks:
        h.remove()
    for out in outs:  # (batch, units): every column equals the first
        assert torch.equal(out, out[:, :1].expand_as(out))
    torch.nn.functional.cross_entropy(logits, y).backward()
    for m in hidden:
        g = m.weight.grad  # (units, fan_in): every row equals the first
        assert torch.equal(g, g[:1].expand_as(g))
    model.zero_grad(set_to_none=True)
    assert stats[stats["type"] == "Linear"]["constant"].iloc[0] == (weight["scheme"] == "zeros")

    images = torch.randn(256, 256, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(256) % 10
    log = train(model, images, labels, steps=20, batch_size=32, lr=0.05)
    assert len(log) == 20
    for m in hidden:
        w = m.weight.detach()
        assert torch.equal(w, w[:1].expand_as(w)), "hidden units drifted apart"


# ---------------------------------------------------------------- Mishkin & Matas 2015


def test_lsuv_gives_unit_variance_at_every_layer_of_simplecnn() -> None:
    model = pinit.build_model("SimpleCNN", seed=0)
    x = probe_batch(model, 32)
    log = lsuv(model, x, tol=0.1, max_iters=10, seed=0)
    assert log["layer"].tolist() == [
        "layer1.conv1",
        "layer2.conv2",
        "layer3.conv3",
        "layer4.fc1",
        "layer4.fc2",
        "layer4.fc3",
    ]
    assert log["converged"].all()
    assert log["iterations"].max() <= 2  # measured: 1 everywhere (0 where already within tol)
    stats = activation_stats(model, x)
    for std in stats[stats["type"].isin(["Conv2d", "Linear"])]["std"]:
        assert abs(std**2 - 1) < 0.1


def test_lsuv_rescues_a_deep_relu_net_that_xavier_starves() -> None:
    model = pinit.build_model("DeepMLP", depth=30, width=256, activation="relu")
    x = probe_batch(model, 128)
    log = lsuv(model, x, tol=0.05)
    assert len(log) == 30 and log["converged"].all()
    stds = activation_stats(model, x).query("type == 'Linear'")["std"]
    assert stds.between(math.sqrt(0.95), math.sqrt(1.05)).all()


# ---------------------------------------------------------------- training


def test_good_init_trains_and_bad_inits_do_not() -> None:
    # 60 SGD steps of 32 on the synthetic gratings (noise 0.5), held-out accuracy on 500
    # images: Kaiming 0.968; zeros 0.100 (chance: only the last bias moves, loss stays
    # ln 10); N(0, 1) everywhere: logits of std 7e6 at init, loss 1.2e7, then 4e21, then inf
    # at step 3, where the run stops.
    images, labels = make_dataset(2000, seed=0, noise=0.5)
    test_images, test_labels = make_dataset(500, seed=1, noise=0.5)
    results = {}
    for name in ("Kaiming (He)", "Zeros (the symmetry trap)", "Too large: N(0, 1)"):
        model = pinit.build_model("SimpleCNN", seed=0)
        pinit.apply_plan(model, pinit.PRESETS[name].plan, seed=0)
        log = train(model, images, labels, steps=60, batch_size=32, lr=0.002, seed=0)
        results[name] = (log, evaluate(model, test_images, test_labels)["accuracy"])
    kaiming_log, kaiming_acc = results["Kaiming (He)"]
    zeros_log, zeros_acc = results["Zeros (the symmetry trap)"]
    big_log, big_acc = results["Too large: N(0, 1)"]
    assert kaiming_log.attrs["stop_reason"] == "completed" and len(kaiming_log) == 60
    assert kaiming_acc > 0.6
    assert zeros_acc < 0.2
    assert zeros_log["loss"].iloc[-1] == pytest.approx(math.log(10), abs=0.05)
    assert big_log.attrs["stop_reason"] == "non-finite loss" or big_acc < 0.2
    assert kaiming_acc > zeros_acc + 0.4 and kaiming_acc > big_acc + 0.4
