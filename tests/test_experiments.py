"""pinit.lab (depth, signal, compare, training, pictures), the lab's backend glue, with the numbers it measures.

Networks are pinit's own (DeepMLP, SimpleCNN) on pinit.probe_batch; the numbers in the
comments were measured on torch 2.13 CPU, one thread, seed 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import pinit
from pinit.lab.compare import compare_activations, compare_gradients, density
from pinit.lab.depth import DEPTH_SCHEMES, depth_plan, depth_summary, depth_sweep, symmetry_table
from pinit.lab.pictures import downsample, filter_grid, weight_pictures
from pinit.lab.signal import signal_flow
from pinit.lab.training import train_data, train_run
from pinit.setup import Setup


def by_scheme(summary):
    return summary.set_index("scheme")


# ---------------------------------------------------------------- depth lab


@pytest.fixture(scope="module")
def he_sweep():
    schemes = ["Kaiming (He)", "Xavier (Glorot)", "PyTorch default, biases 0", "PyTorch default"]
    return depth_sweep(30, 512, "relu", schemes, seed=0, n=128)


def test_he_2015_kaiming_level_xavier_halves_default_loses_more(he_sweep):
    rows, logs = he_sweep
    assert logs == {}
    assert rows.groupby("scheme").size().tolist() == [30, 30, 30, 30]
    s = by_scheme(depth_summary(rows))
    # Kaiming: fc1 gets 256 * (2/256) * E[x^2] = 2, std sqrt(2); fc29 / fc1 measured 0.686 (prediction 1).
    assert rows.query("scheme == 'Kaiming (He)' and layer == 'fc1'")["std"].item() == pytest.approx(
        math.sqrt(2), rel=0.02
    )
    assert s.loc["Kaiming (He)", "last"] == "fc29"
    assert 0.5 <= s.loc["Kaiming (He)", "ratio"] <= 2.0
    assert s.loc["Kaiming (He)", "predicted_per_layer"] == pytest.approx(1.0, abs=1e-9)
    assert s.loc["Kaiming (He)", "per_layer"] == pytest.approx(1.0, abs=0.03)  # measured 0.987
    # Xavier: variance halves per ReLU layer, std x 2^-1/2 (measured 0.698).
    assert s.loc["Xavier (Glorot)", "predicted_per_layer"] == pytest.approx(2**-0.5, rel=1e-6)
    assert s.loc["Xavier (Glorot)", "per_layer"] == pytest.approx(2**-0.5, abs=0.02)
    assert s.loc["Xavier (Glorot)", "ratio"] < 1e-3
    # PyTorch's default weights with zero biases: variance x 1/(3 fan_in) * fan_in / 2 = 1/6 per layer
    # (measured 0.408).
    assert s.loc["PyTorch default, biases 0", "predicted_per_layer"] == pytest.approx(6**-0.5, rel=1e-6)
    assert s.loc["PyTorch default, biases 0", "per_layer"] == pytest.approx(6**-0.5, abs=0.02)
    assert s.loc["PyTorch default, biases 0", "ratio"] < 1e-9  # measured 1.2e-11
    # nn.Linear's real default draws the bias too, U(±1/√fan_in): its variance 1/(3 fan_in) is added
    # at every layer, q' = q/6 + 1/(3·512), so the signal settles at a floor instead of vanishing:
    # fc29/fc1 = 0.047 measured against 0.048 predicted.
    assert s.loc["PyTorch default", "predicted_ratio"] == pytest.approx(0.0483, rel=0.01)
    assert s.loc["PyTorch default", "ratio"] == pytest.approx(s.loc["PyTorch default", "predicted_ratio"], rel=0.1)
    assert (s["note"] == "").all()


def test_glorot_2010_standard_shrinks_tanh_xavier_declines_slowly_gain_5_3_is_level():
    standard = "PyTorch default, biases 0"  # Glorot & Bengio's "standard" init U(±1/√n), biases 0
    rows, _ = depth_sweep(11, 256, "tanh", [standard, "Xavier (Glorot)", "Xavier, tanh gain 5/3"])
    s = by_scheme(depth_summary(rows))
    assert s.loc[standard, "last"] == "fc10"
    assert s.loc[standard, "ratio"] < 0.01  # measured 0.0051
    assert 0.2 < s.loc["Xavier (Glorot)", "ratio"] < 0.3  # measured 0.236: not level, but 47x the standard init's
    assert 0.9 < s.loc["Xavier, tanh gain 5/3", "per_layer"] < 1.0  # measured 0.953: fc2..fc10 sit at 1.08-1.2
    xavier = rows[rows["scheme"] == "Xavier (Glorot)"]
    for measured, predicted in zip(xavier["std"], xavier["predicted_std"]):
        assert measured == pytest.approx(predicted, rel=0.05)


def test_lsuv_makes_every_layer_unit_std_and_logs_each_layer():
    rows, logs = depth_sweep(12, 128, "relu", ["LSUV"], seed=0, n=128)
    assert rows["std"].to_numpy() == pytest.approx(np.ones(12), abs=0.01)
    assert rows["predicted_std"].isna().all()  # LSUV measures; it has no formula
    log = logs["LSUV"]
    assert log["layer"].tolist() == [f"layers.fc{i}" for i in range(1, 13)]
    assert log["converged"].all() and log["iterations"].max() <= 2


def test_overflow_and_underflow_are_named_not_hidden():
    rows, _ = depth_sweep(50, 256, "relu", ["N(0, 1)", "N(0, 0.01)"])
    s = by_scheme(depth_summary(rows))
    # N(0, 1): std x sqrt(256 / 2) = 11.3 per layer, past float32's 3.4e38 near layer 37.
    assert s.loc["N(0, 1)", "predicted_per_layer"] == pytest.approx(math.sqrt(128), rel=1e-6)
    assert s.loc["N(0, 1)", "note"].startswith("overflowed to ±inf from fc3")
    assert math.isinf(s.loc["N(0, 1)", "ratio"])
    # N(0, 0.01): std x 0.113 per layer, exactly 0 (below 1.4e-45) from about layer 48.
    assert "exactly 0 from fc4" in s.loc["N(0, 0.01)", "note"]
    zeros, _ = depth_sweep(3, 16, "relu", ["Zeros"])
    assert depth_summary(zeros)["note"].item() == "every output is exactly 0 (zero weights)"


def test_zero_and_constant_init_never_break_symmetry_random_init_does():
    for scheme in ("Zeros", "Constant 0.05"):
        t = symmetry_table(5, 64, "tanh", scheme, seed=0)
        assert t["layer"].tolist() == ["fc1", "fc2", "fc3", "fc4"]
        assert (t["units"] == 64).all()
        assert (t[["distinct_outputs", "distinct_grad_rows", "distinct_after_training"]] == 1).all().all(), t
    t = symmetry_table(5, 64, "tanh", "Xavier (Glorot)", seed=0)
    assert (t[["distinct_outputs", "distinct_grad_rows", "distinct_after_training"]] == 64).all().all()


def test_depth_lab_refuses_bad_input_in_words():
    with pytest.raises(ValueError, match="depth must be a whole number from 1 to 100"):
        depth_sweep(0, 64, "relu", ["Kaiming (He)"])
    with pytest.raises(ValueError, match="unknown depth-lab scheme"):
        depth_sweep(3, 64, "relu", ["He"])
    with pytest.raises(ValueError, match="LSUV is not a plan"):
        depth_plan("LSUV")
    assert depth_plan("Kaiming (He)")["rules"]["Linear"]["bias"] == {"scheme": "zeros"}
    assert all(s.weight is None or pinit.InitPlan.from_dict(depth_plan(s.label)) for s in DEPTH_SCHEMES.values())


# ---------------------------------------------------------------- signal flow


@pytest.fixture(scope="module")
def flows():
    return {
        name: signal_flow(Setup("SimpleCNN", plan=pinit.PRESETS[name].plan), n=64)
        for name in ("Article recipe", "Kaiming (He)", "Zeros (the symmetry trap)")
    }


def test_signal_flow_article_recipe_explodes_the_logits_kaiming_keeps_them_order_one(flows):
    art, kai = flows["Article recipe"], flows["Kaiming (He)"]
    # Measured: article logits std 1.03e4, loss 1.84e4; Kaiming 3.55 and 6.61 (ln 10 = 2.30).
    assert art.logits_std > 1000 and art.loss > 1000
    assert 0.3 < kai.logits_std < 10 and kai.loss < 20
    a, k = art.activations.set_index("layer"), kai.activations.set_index("layer")
    # The conv layers share Kaiming's rule (and seed): identical until fc1, where N(0, 1) multiplies by ~45.
    assert a.loc["layer3.pool3", "std"] == k.loc["layer3.pool3", "std"]
    # Both draw fc1 from the same seeded normals, scaled by 1 and by sqrt(2/2048): outputs differ by sqrt(1024) = 32
    # (measured 32.00; the article's untouched bias, std 0.013, is lost in a std of 127).
    assert a.loc["layer4.fc1", "std"] / k.loc["layer4.fc1", "std"] == pytest.approx(32, rel=0.01)
    assert art.activations["layer"].tolist()[-1] == "layer4.fc3" and len(art.activations) == 14
    assert art.predicted is None and "No predicted trend for SimpleCNN" in art.predicted_note


def test_signal_flow_histograms_dead_units_and_gradients_add_up(flows):
    kai = flows["Kaiming (He)"]
    for row, outside, raw in zip(kai.heat_std, kai.std_outside, kai.heat_raw):
        assert sum(row) + outside == pytest.approx(1.0, abs=1e-9)
        assert sum(raw) == pytest.approx(1.0, abs=1e-9)
    relu = kai.activations["type"] == "ReLU"
    assert kai.activations.loc[relu, "zero_fraction"].between(0.4, 0.6).all()  # about half, as a ReLU should
    assert kai.activations.loc[relu, "dead_units"].between(0, 1).all()
    assert kai.activations.loc[~relu, "dead_units"].isna().all()
    assert len(kai.gradients) == 12 and (kai.gradients["grad_norm"] > 0).all()
    zeros = flows["Zeros (the symmetry trap)"]
    assert zeros.logits_std == 0 and zeros.loss == pytest.approx(math.log(10), abs=1e-4)
    assert all(math.isnan(v) for v in zeros.heat_std[0])  # a constant output has no std to measure in
    assert (zeros.activations.loc[zeros.activations["type"] == "ReLU", "dead_units"] == 1).all()
    nonzero = zeros.gradients[zeros.gradients["grad_norm"] > 0]["name"].tolist()
    assert nonzero == ["layer4.fc3.bias"]  # only the last bias learns: symmetry


def test_signal_flow_deep_mlp_has_the_predicted_trend_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    f = signal_flow(
        Setup("DeepMLP", {"depth": 6, "width": 128, "activation": "relu"}, pinit.PRESETS["Kaiming (He)"].plan), 64
    )
    assert torch.equal(torch.get_rng_state(), state)
    assert f.predicted["predicted_std"].tolist() == pytest.approx([math.sqrt(2)] * 6)
    assert (f.activations["type"] == "Linear").sum() == 6


def test_compare_tables_keep_forward_order_and_give_b_over_a(flows):
    art, kai = flows["Article recipe"], flows["Kaiming (He)"]
    t = compare_activations(art, kai)
    assert t["layer"].tolist() == art.activations["layer"].tolist()
    assert t["ratio"].iloc[:9].tolist() == [1.0] * 9  # conv blocks: the same rule and draws
    assert t.set_index("layer").loc["layer4.fc3", "ratio"] == pytest.approx(kai.logits_std / art.logits_std)
    g = compare_gradients(art, kai)
    assert g["name"].tolist() == art.gradients["name"].tolist()
    fc1 = g.set_index("name").loc["layer4.fc1.weight"]
    assert fc1["weight_std_ratio"] == pytest.approx(math.sqrt(2 / 2048), rel=0.02)  # Kaiming's std over N(0, 1)'s


def test_density_integrates_to_one_whatever_the_bins():
    x = torch.randn(10_000, generator=torch.Generator().manual_seed(0))
    for bins in (7, 40, 200):
        edges, d = density(pinit.histogram(x, bins))
        assert sum(v * (b - a) for v, a, b in zip(d, edges[:-1], edges[1:])) == pytest.approx(1.0)


# ---------------------------------------------------------------- weights as pictures


def test_filter_grid_tiles_filters_with_zero_grey_and_says_its_scale():
    w = torch.zeros(32, 3, 3, 3)
    w[0, 0, 0, 0] = 2.0  # filter 0: red +max at its top-left pixel
    w[1, 2, 1, 1] = -0.5  # filter 1: blue -max at its centre
    w[2, 1, 2, 2] = float("nan")
    img, scales = filter_grid(w, "filter", cols=8, pad=1)
    assert img.shape == (4 * 4 + 1, 8 * 4 + 1, 3) and img.dtype == np.uint8
    assert img[1, 1].tolist() == [255, 128, 128]  # +max red, 0 grey elsewhere
    assert img[2, 4 + 2].tolist() == [128, 128, 0]  # filter 1 scaled by its own 0.5: -max blue
    assert img[3, 8 + 3].tolist() == [255, 0, 255]  # NaN drawn magenta
    assert img[0].tolist() == [[255, 255, 255]] * img.shape[1]  # white padding
    assert scales[:2] == [2.0, 0.5]
    img, scales = filter_grid(w, "global")
    assert scales[:2] == [2.0, 2.0] and img[2, 6].tolist() == [128, 128, round(127.5 - 0.25 * 127.5)]
    with pytest.raises(ValueError, match=r"shape \(out, 3, kh, kw\)"):
        filter_grid(torch.zeros(4, 2, 3, 3))


def test_downsample_pools_big_matrices_to_at_most_128_by_128():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(512, 2048, generator=g) * 0.02
    mean, block = downsample(w, 128, "mean")
    assert mean.shape == (128, 128) and block == (4.0, 16.0)
    assert mean[3, 5] == pytest.approx(float(w[12:16, 80:96].double().mean()))
    rms, _ = downsample(w, 128, "rms")
    assert float(np.sqrt((rms**2).mean())) == pytest.approx(0.02, rel=0.01)
    small, block = downsample(torch.ones(10, 300), 128)
    assert small.shape == (10, 128) and block == (1.0, 300 / 128) and np.allclose(small, 1.0)
    with pytest.raises(ValueError, match="how must be"):
        downsample(w, 128, "max")


def test_weight_pictures_of_simplecnn():
    pics = weight_pictures(Setup("SimpleCNN", plan=pinit.PRESETS["Kaiming (He)"].plan))
    assert pics["rgb_conv"] == "layer1.conv1.weight" and pics["rgb_weight"].shape == (32, 3, 3, 3)
    assert list(pics["matrices"]) == [
        "layer1.conv1.weight",
        "layer2.conv2.weight",
        "layer3.conv3.weight",
        "layer4.fc1.weight",
        "layer4.fc2.weight",
        "layer4.fc3.weight",
    ]
    fc1 = pics["matrices"]["layer4.fc1.weight"]
    assert fc1["mean"].shape == (128, 128) and fc1["block"] == (4.0, 16.0)
    assert float(np.sqrt((fc1["rms"].astype(np.float64) ** 2).mean())) == pytest.approx(math.sqrt(2 / 2048), rel=0.01)
    assert pics["matrices"]["layer1.conv1.weight"]["mean"].shape == (32, 27)
    assert weight_pictures(Setup("DeepMLP", {"depth": 2, "width": 16}))["rgb_conv"] is None


# ---------------------------------------------------------------- training


def test_train_run_exploding_init_ends_cleanly_kaiming_completes():
    data = train_data(256, 100, 1.0)
    big = train_run(pinit.PRESETS["Too large: N(0, 1)"].plan, seed=0, steps=6, data=data)
    # N(0, 1) everywhere: loss 1.2e7 at step 1, 5.5e21 at step 2, NaN at step 3, where the run ends.
    assert big.stop_reason == "non-finite loss" and big.steps_done <= 4
    assert big.log["loss"].iloc[0] > 1e5 and not math.isfinite(big.log["loss"].iloc[-1])
    assert 0 <= big.test_accuracy <= 1
    kai = train_run(pinit.PRESETS["Kaiming (He)"].plan, seed=0, steps=3, data=data)
    assert kai.stop_reason == "completed" and kai.log["step"].tolist() == [1, 2, 3]
    assert kai.conv1.shape == (32, 3, 3, 3) and math.isfinite(kai.test_loss)
    assert 0 < kai.conv1_change < 0.05  # 3 small steps barely move conv1
    assert np.array_equal(
        kai.conv1_init, weight_pictures(Setup("SimpleCNN", plan=pinit.PRESETS["Kaiming (He)"].plan))["rgb_weight"]
    )
    again = train_run(pinit.PRESETS["Kaiming (He)"].plan, seed=0, steps=3, data=data)
    assert again.log["loss"].tolist() == kai.log["loss"].tolist()  # same init, same data order
