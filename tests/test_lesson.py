"""pinit.lab.lesson: the lesson's numbers, from the backend, over several seeds, with derived tolerances."""

from __future__ import annotations

import math
import statistics
import threading

import pytest
import torch

from pinit.lab import lesson, story_cache
from pinit.lab.signal import LOGITS_EXPLODING, logits_verdict, loss_verdict
from pinit.text import number


@pytest.fixture(scope="module")
def article() -> lesson.SignalTrace:
    return lesson.signal_trace("Article recipe")


@pytest.fixture(scope="module")
def kaiming() -> lesson.SignalTrace:
    return lesson.signal_trace("Kaiming (He)")


def test_the_article_recipe_multiplies_fc1s_signal_by_sqrt_fan_in(article):
    assert article.layers == ("input", "conv1", "conv2", "conv3", "fc1", "fc2", "fc3")
    assert len(article.rms_by_seed) == len(lesson.LESSON_SEEDS) == 20
    # E[y^2] = fan_in E[w^2] E[x^2] with w ~ N(0, 1): fc1's output RMS is √2048 = 45.25 times its input's.
    # Per seed, the 512 x 64 squared outputs average chi-square draws whose rows share an input, so the
    # ratio wanders by a few percent; the median of the seeds stays within 5%.
    assert article.gain_of("fc1") == pytest.approx(math.sqrt(2048), rel=0.05)
    assert article.gain_of("fc2") == pytest.approx(math.sqrt(512), rel=0.1)  # fed by a ReLU: half the mass is 0
    # on the chart, fc1 -> fc2 is less: the ReLU between them halves the signal's power (x √512/√2 = 16)
    assert statistics.median(article.step_by_seed("fc1", "fc2")) == pytest.approx(math.sqrt(256), rel=0.1)
    assert article.logits_std > 1000  # measured 1.15e4
    assert article.loss > 1000 * article.chance_loss  # measured 1.84e4 against ln 10 = 2.30
    assert logits_verdict(article.logits_std) == (f"exploding (> {LOGITS_EXPLODING:g})", "red")


def test_kaiming_keeps_the_signal_within_a_small_factor_and_its_loss_is_not_called_near_chance(kaiming, article):
    assert kaiming.gain_of("fc1") == pytest.approx(math.sqrt(2), rel=0.05)  # √2 makes up for the ReLU before it
    assert max(kaiming.rms) / kaiming.rms[0] < 10  # the article's reached 10^4
    assert 1 < kaiming.logits_std < 10  # measured 3.98 (median), 3.04-6.25 over the seeds
    ratio = kaiming.loss / kaiming.chance_loss
    assert 1.5 < ratio < 10  # measured 2.87: confident, not "near 2.3"
    text, color = loss_verdict(kaiming.loss, kaiming.num_classes, kaiming.logits_std)
    assert text == f"{number(ratio, 2)}× ln 10" and color == "orange"  # two digits: it varies over seeds
    assert kaiming.rms[0] == article.rms[0]  # the same probe batch for both plans


def test_verdicts_state_their_thresholds_and_tell_the_truth():
    assert loss_verdict(math.log(10), 10, 0.0) == ("exactly ln 10: all tie", "gray")
    assert loss_verdict(2.5, 10, 0.5)[1] == "green"
    assert loss_verdict(math.inf, 10)[0] == "not finite"
    assert logits_verdict(0.0)[0] == "zero: every class ties"
    assert logits_verdict(1.0) == ("healthy (0.1 to 3)", "green")
    assert logits_verdict(0.05)[0] == "small (< 0.1)"
    assert logits_verdict(math.nan)[0].startswith("overflowed")


def test_depth_story_he_xavier_and_the_real_default_over_seeds():
    d = lesson.depth_story()
    assert (d.depth, d.width, d.activation, d.seeds) == (30, 512, "relu", lesson.LESSON_SEEDS)
    assert d.predicted_per_layer["Kaiming (He)"] == pytest.approx(1.0, abs=1e-9)
    assert d.predicted_per_layer["Xavier (Glorot)"] == pytest.approx(2**-0.5, rel=1e-6)
    # Each seed's factor is a product of 28 random layer factors; at width 512 a layer's factor has a
    # relative spread of about 1/sqrt(512 / 2) = 6%, so the per-layer average wanders by ~1%: median within 3%.
    assert d.per_layer["Kaiming (He)"] == pytest.approx(1.0, abs=0.03)
    assert d.per_layer["Xavier (Glorot)"] == pytest.approx(2**-0.5, abs=0.02)
    assert all(len(v) == 20 for v in d.per_layer_by_seed.values())
    assert len(d.std["Kaiming (He)"]) == 30 == len(d.predicted["Kaiming (He)"])
    # PyTorch's default: the std stops falling at the biases' noise, and the part of the output that
    # depends on the input falls below 1 % by fc9 and to float32's rounding (~6e-8) at the end
    assert d.ratio["PyTorch default"] == pytest.approx(d.predicted_ratio["PyTorch default"], rel=0.1)
    assert max(d.signal_gone_at("PyTorch default")) <= 10
    assert d.input_share["PyTorch default"][-2] < 1e-6 < d.input_share["Kaiming (He)"][-2]
    assert d.input_share["Kaiming (He)"][-2] > 0.1  # He's signal still depends on the input at fc29


def test_input_dependence_matches_plain_torch_on_a_few_seeds():
    """The depth story's input-dependent part, recomputed with nn.Linear's own init and no pinit code."""
    from torch import nn

    from pinit.lab.depth import depth_sweep

    for seed in (0, 1, 2):
        rows, _ = depth_sweep(12, 128, "relu", ["PyTorch default"], seed, 64)
        torch.manual_seed(seed)
        x = torch.randn(64, 128)
        layers = [nn.Linear(128, 128) for _ in range(12)]  # reset_parameters: U(±1/√fan_in), bias too
        h, shares = x, []
        with torch.no_grad():
            for layer in layers:
                y = layer(h)
                shares.append(float(y.double().std(0, correction=0).mean() / y.double().pow(2).mean().sqrt()))
                h = torch.relu(y)
        ours = rows["input_share"].tolist()[:11]  # fc1..fc11 (pinit's fc12 maps to 10 classes)
        # different draws of the same law: the same decay, layer by layer, within the seeds' spread
        for k in (0, 2, 5, 8):
            assert ours[k] == pytest.approx(shares[k], rel=0.6), (seed, k, ours[k], shares[k])
        assert ours[10] < 0.01 and shares[10] < 0.01


def test_symmetry_story_counts_one_distinct_unit_for_constant_inits():
    s = lesson.symmetry_story()
    assert s.layers == ("fc1", "fc2", "fc3", "fc4")
    for scheme in ("Zeros", "Constant 0.05"):
        assert s.distinct_at_init[scheme] == s.distinct_after[scheme] == (1, 1, 1, 1)
    assert s.distinct_after["Xavier (Glorot)"] == (64, 64, 64, 64)


def test_training_story_kaiming_learns_on_every_seed_the_article_overflows_the_default_is_slower():
    story = lesson.training_story()
    assert story.settings == lesson.LESSON_TRAIN and story.seeds == lesson.TRAIN_SEEDS
    assert list(story.runs_by_seed) == ["Kaiming (He)", "PyTorch default", "Article recipe"]
    kaiming, default = story.runs_by_seed["Kaiming (He)"], story.runs_by_seed["PyTorch default"]
    assert all(r.stop_reason == "completed" and r.test_accuracy >= 0.99 for r in kaiming)
    assert max(r.test_accuracy for r in default) < min(r.test_accuracy for r in kaiming)
    assert sum(r.stop_reason == "non-finite loss" for r in story.runs_by_seed["Article recipe"]) >= 3
    assert story.runs["Kaiming (He)"] is kaiming[0]


def test_computed_once_computes_once_when_two_threads_ask_at_once(monkeypatch, tmp_path):
    # An empty story cache: a run before this one stored slow(3) in the user's cache folder.
    monkeypatch.setenv(story_cache.CACHE_ENV, str(tmp_path))
    calls = []
    started = threading.Event()

    @lesson.computed_once
    def slow(x: int) -> int:
        calls.append(x)
        started.set()
        threading.Event().wait(0.2)
        return x * 2

    results = []
    threads = [threading.Thread(target=lambda: results.append(slow(3))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert results == [6, 6, 6, 6] and calls == [3]


def test_the_lessons_results_are_frozen_so_no_student_can_change_anothers():
    t = lesson.signal_trace("Article recipe")
    with pytest.raises(AttributeError):
        t.logits_std = 0.0  # type: ignore[misc]
    assert isinstance(t.rms, tuple) and isinstance(t.rms_by_seed[0], tuple)
