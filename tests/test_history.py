"""pinit.lab.history: weights through training, checked against the init report and plain torch."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import pinit
from pinit.lab.history import HEALTHY_UPDATE_RATIO, training_config, weight_history, what_to_look_for
from pinit.lab.training import train_data
from pinit.models import build_model
from pinit.plan import apply_plan
from pinit.report import inspect_model
from pinit.setup import Setup

KAIMING = pinit.PRESETS["Kaiming (He)"].plan
ZEROS = pinit.PRESETS["Zeros (the symmetry trap)"].plan
ARTICLE = pinit.PRESETS["Article recipe"].plan
CONSTANT = {
    "rules": {
        t: {"weight": {"scheme": "constant", "val": 0.05}, "bias": {"scheme": "zeros"}} for t in ("Conv2d", "Linear")
    },
    "overrides": {},
}
HIDDEN = ["layer1.conv1.weight", "layer2.conv2.weight", "layer3.conv3.weight", "layer4.fc1.weight", "layer4.fc2.weight"]


@pytest.fixture(scope="module")
def data():
    return train_data(96, 16, 0.5, seed=0)


def _inside(h, step, name):
    rows = h.histograms[(h.histograms["step"] == step) & (h.histograms["name"] == name)]
    finite = rows["left"].map(math.isfinite) & rows["right"].map(math.isfinite)
    return rows[finite], rows[~finite]


@pytest.mark.parametrize("plan", [KAIMING, ZEROS, ARTICLE], ids=["kaiming", "zeros", "article"])
def test_step0_histograms_equal_the_init_report(plan, data):
    h = weight_history("SimpleCNN", plan, seed=3, steps=1, every=1, bins=40, data=data)
    report = inspect_model(Setup("SimpleCNN", plan=plan, seed=3), bins=40)
    assert [x.name for x in report.histograms] == h.names
    for rh in report.histograms:
        inside, outside = _inside(h, 0, rh.name)
        assert inside["count"].tolist() == rh.counts
        assert inside["left"].tolist() == rh.edges[:-1]
        assert inside["right"].tolist() == rh.edges[1:]
        assert outside["count"].tolist() == [0, 0]
        assert outside["left"].iloc[0] == -math.inf and outside["right"].iloc[-1] == math.inf
        law = h.laws[h.laws["name"] == rh.name]["expected"].tolist()
        assert law == (rh.expected or [])
        std0 = h.stats[(h.stats["step"] == 0) & (h.stats["name"] == rh.name)]["std"].item()
        assert std0 == pytest.approx(rh.summary.population_std, rel=1e-12, abs=0)


def test_every_step_keeps_the_same_bins_and_counts_every_value(data):
    h = weight_history("SimpleCNN", KAIMING, seed=0, steps=6, every=2, data=data)
    assert h.recorded_steps == [0, 1, 2, 4, 6]
    for name, numel in zip(h.params["name"], h.params["numel"]):
        edges0 = _inside(h, 0, name)[0][["left", "right"]].to_numpy().tolist()
        for step in h.recorded_steps:
            inside, outside = _inside(h, step, name)
            assert inside[["left", "right"]].to_numpy().tolist() == edges0
            assert int(inside["count"].sum() + outside["count"].sum()) == numel


def test_zeros_never_break_the_symmetry(data):
    h = weight_history("SimpleCNN", ZEROS, seed=0, steps=8, every=2, data=data)
    st = h.stats[h.stats["name"].isin(HIDDEN + ["layer4.fc3.weight"])]
    assert (st["std"] == 0).all() and (st["min"] == 0).all() and (st["max"] == 0).all()
    assert (st[st["step"] > 0]["grad_std"] == 0).all()
    assert "every weight is still exactly 0" in what_to_look_for(h)


def test_a_constant_init_moves_every_hidden_unit_together(data):
    """Constant weights: each hidden unit's incoming weights move, and stay identical to every other unit's."""
    model = build_model("SimpleCNN", seed=0)
    h = weight_history(model, CONSTANT, seed=0, steps=6, every=1, data=data)
    params = dict(model.named_parameters())
    for name in HIDDEN:
        rows = params[name].detach().reshape(params[name].shape[0], -1)
        assert torch.equal(rows, rows[:1].expand_as(rows)), name
        units = params[name].shape[0]
        for step in h.recorded_steps:
            inside, outside = _inside(h, step, name)
            # identical rows: every value occurs a multiple of `units` times, so does every bin count
            assert all(c % units == 0 for c in inside["count"].tolist() + outside["count"].tolist()), (name, step)
    moved = h.stats[(h.stats["name"] == "layer4.fc1.weight") & (h.stats["step"] == 6)]
    assert moved["update_ratio"].item() > 0


def test_update_ratio_and_gradient_std_match_plain_torch(data):
    cfg = training_config()
    steps, seed = 5, 4
    h = weight_history("SimpleCNN", KAIMING, seed=seed, steps=steps, every=1, data=data)
    model = build_model("SimpleCNN", seed=seed)
    apply_plan(model, KAIMING, seed)
    (images, labels), _ = data
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9)
    order = torch.Generator().manual_seed(seed)
    perm, pos, n, bs = torch.randperm(len(images), generator=order), 0, len(images), cfg["batch_size"]
    model.train()
    for step in range(1, steps + 1):
        if pos + bs > n:
            perm, pos = torch.randperm(n, generator=order), 0
        idx = perm[pos : pos + bs]
        pos += bs
        before = {k: p.detach().clone() for k, p in model.named_parameters()}
        opt.zero_grad()
        F.cross_entropy(model(images[idx]), labels[idx]).backward()
        opt.step()
        got = h.stats[h.stats["step"] == step].set_index("name")
        for k, p in model.named_parameters():
            want = float((p.detach() - before[k]).double().norm() / before[k].double().norm())
            if before[k].abs().max() == 0:
                assert math.isinf(got.loc[k, "update_ratio"]) or math.isnan(got.loc[k, "update_ratio"])
            else:
                assert got.loc[k, "update_ratio"] == pytest.approx(want, rel=1e-4), (step, k)
            assert got.loc[k, "grad_std"] == pytest.approx(float(p.grad.double().std(correction=0)), rel=1e-4)
            assert got.loc[k, "std"] == pytest.approx(float(p.detach().double().std(correction=0)), rel=1e-6)


def test_bit_identical_for_a_seed(data):
    a = weight_history("SimpleCNN", KAIMING, seed=7, steps=4, every=2, data=data)
    b = weight_history("SimpleCNN", KAIMING, seed=7, steps=4, every=2, data=data)
    c = weight_history("SimpleCNN", KAIMING, seed=8, steps=4, every=2, data=data)
    pd.testing.assert_frame_equal(a.histograms, b.histograms, check_exact=True)
    pd.testing.assert_frame_equal(a.stats, b.stats, check_exact=True)
    pd.testing.assert_frame_equal(a.loss, b.loss, check_exact=True)
    assert not a.stats["std"].equals(c.stats["std"])


def test_stop_keeps_what_was_recorded_and_the_last_step(data):
    seen = []
    h = weight_history(
        "SimpleCNN",
        KAIMING,
        seed=0,
        steps=50,
        every=10,
        data=data,
        callback=lambda step, loss: seen.append(step),
        should_stop=lambda: len(seen) >= 3,
    )
    assert h.stop_reason == "stopped"
    assert h.recorded_steps == [0, 1, 3]
    assert seen == [1, 2, 3]


def test_the_article_recipe_story_holds_on_several_seeds():
    """fc1 (N(0, 1)) moves least of any layer in step 1, yet far above 1e-3, and the loss overflows early."""
    data = train_data(256, 16, 0.5, seed=0)
    for seed in range(3):
        h = weight_history("SimpleCNN", ARTICLE, seed=seed, steps=40, every=10, data=data)
        assert h.stop_reason == "non-finite loss"
        r1 = h.stats[(h.stats["step"] == 1) & h.stats["name"].str.endswith("weight")].set_index("name")["update_ratio"]
        assert r1.idxmin() == "layer4.fc1.weight"
        assert r1.min() > 10 * HEALTHY_UPDATE_RATIO
        assert h.loss["loss"].iloc[0] > 1000
        assert "the least of any layer" in what_to_look_for(h)


def test_bad_arguments_are_refused_in_words(data):
    with pytest.raises(ValueError, match="every"):
        weight_history("SimpleCNN", KAIMING, steps=5, every=0, data=data)
    with pytest.raises(ValueError, match="steps"):
        weight_history("SimpleCNN", KAIMING, steps=0, data=data)


def test_tensorboard_event_files_read_back(tmp_path, data):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    h = weight_history("SimpleCNN", KAIMING, seed=0, steps=4, every=2, data=data)
    logdir = h.to_tensorboard(tmp_path / "run")
    acc = EventAccumulator(str(logdir), size_guidance={"histograms": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    assert sorted(tags["histograms"]) == sorted(f"weights/{n}" for n in h.names)
    for name in h.names:
        events = acc.Histograms(f"weights/{name}")
        assert [e.step for e in events] == h.recorded_steps
        for e in events:
            rows = h.histograms[(h.histograms["step"] == e.step) & (h.histograms["name"] == name)]
            assert [int(c) for c in e.histogram_value.bucket] == rows["count"].tolist()
            assert e.histogram_value.num == int(h.params.set_index("name").loc[name, "numel"])
        ratios = acc.Scalars(f"update_ratio/{name}")
        want = h.stats[(h.stats["name"] == name) & (h.stats["step"] > 0)]["update_ratio"]
        assert len(ratios) == int(want.map(math.isfinite).sum())
    assert [e.step for e in acc.Scalars("loss")] == h.loss["step"].tolist()
