"""Beyond SimpleCNN, part 4: spectra of weight matrices (pinit.lab.spectra) against random-matrix theory,
a synthetic Pareto sample and WeightWatcher's α."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

import pinit
from pinit.lab.spectra import (
    edge_fluctuation,
    mp_cdf,
    mp_density,
    mp_edges,
    spectra_table,
    spectrum,
    tail_alpha,
    weight_matrices,
    weight_matrix,
)
from pinit.lab.train import train
from tests.app_driver import specs

# Tracy–Widom TW₁: mean −1.21, std 1.27 (Tracy & Widom 1996). λ_max − μ is allowed −1.21 ± 5·1.27 scales:
# 5 standard deviations of the limit law, far more than its finite-size corrections at N = 1000.
TW_MEAN, TW_STD, K = -1.21, 1.27, 5.0


def gaussian(rows: int, cols: int, seed: int, std: float = 1.0) -> torch.Tensor:
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed)) * std


@pytest.mark.parametrize(("rows", "cols"), [(1000, 500), (300, 1200)])
def test_mp_edges_match_the_extreme_eigenvalues_of_an_iid_gaussian_matrix(rows, cols):
    for seed in range(3):
        s = spectrum(gaussian(rows, cols, seed, std=0.05))
        f = edge_fluctuation(rows, cols, s.sigma2)
        # λ₊ and Johnstone's centring differ by O(σ²/N); the TW band is around the centring.
        for which, lam in (("max", s.evals[-1]), ("min", s.evals[0])):
            center, scale = f[f"{which}_center"], f[f"{which}_scale"]
            z = (lam - center) / scale
            if which == "max":
                assert TW_MEAN - K * TW_STD < z < TW_MEAN + K * TW_STD, (which, z)
            else:  # the soft lower edge, mirrored: its limit law is TW₁ of −(λ_min − μ)/s
                assert -(TW_MEAN + K * TW_STD) < z < -(TW_MEAN - K * TW_STD), (which, z)
            edge = s.lam_plus if which == "max" else s.lam_minus
            assert abs(lam - edge) < (abs(TW_MEAN) + K * TW_STD) * scale + abs(center - edge)
        assert s.n_outliers == 0
        assert s.q == min(rows, cols) / max(rows, cols)
        assert s.sigma2 == pytest.approx(0.05**2, rel=0.01)  # 5e5 entries: relative SE of a variance √(2/n) = 0.2%


def test_mp_density_is_a_density_and_the_esd_of_iid_entries_follows_it():
    q, sigma2 = 0.5, 2.0
    lo, hi = mp_edges(q, sigma2)
    assert (lo, hi) == pytest.approx((2 * (1 - math.sqrt(0.5)) ** 2, 2 * (1 + math.sqrt(0.5)) ** 2))
    x = np.linspace(lo, hi, 200_001)
    assert np.trapezoid(mp_density(x, q, sigma2), x) == pytest.approx(1.0, abs=1e-3)
    mean = np.trapezoid(x * mp_density(x, q, sigma2), x)
    assert mean == pytest.approx(sigma2, rel=1e-3)  # E[λ] = tr(WᵀW)/(N·M) = σ²
    assert mp_cdf(np.array([lo, hi]), q, sigma2) == pytest.approx([0.0, 1.0])
    iid = spectrum(gaussian(1000, 500, 0))
    # Eigenvalues are rigid (Erdős, Yau & Yin 2012): the ESD's CDF stays within O(log M / M) of the law.
    assert iid.mp_ks < 3 * math.log(500) / 500, iid.mp_ks


def test_orthogonal_collapses_to_its_gain_and_constant_is_rank_one():
    w = torch.nn.init.orthogonal_(torch.empty(300, 500), gain=2.0, generator=torch.Generator().manual_seed(0))
    s = spectrum(w)
    assert s.distinct == 1
    assert np.allclose(s.svals, 2.0, rtol=1e-5)  # float32 orthogonalization: ~1e-6
    assert np.allclose(s.evals, 4.0 / 500, rtol=2e-5)
    assert s.sigma2 == pytest.approx(4.0 / 500, rel=1e-3)  # entries' RMS gain/√max(rows, cols), mean ~0
    const = spectrum(torch.full((300, 500), 0.05))
    assert const.sigma2 == 0.0 and const.n_outliers == 1 and const.mp_ks == 1.0
    assert const.evals[-1] == pytest.approx(0.05**2 * 300 * 500 / 500, rel=1e-5)  # s = 0.05·√(300·500)


def test_sparse_init_departs_from_mp_only_when_most_entries_are_zero():
    model = torch.nn.Linear(500, 300)
    ks = {}
    for sparsity in (0.5, 0.99):
        pinit.apply_plan(model, {"rules": {"Linear": {"weight": {"scheme": "sparse", "sparsity": sparsity}}}}, 0)
        ks[sparsity] = spectrum(model.weight).mp_ks
    iid_bound = 3 * math.log(300) / 300
    assert ks[0.5] < iid_bound < ks[0.99], ks  # measured 0.007 and 0.10


def test_conv_kernels_are_reshaped_out_by_in_times_k_times_k():
    model = pinit.build_model("SimpleCNN", seed=0)
    assert tuple(weight_matrix(model.layer2.conv2.weight).shape) == (64, 32 * 9)
    table = spectra_table(model).set_index("name")
    assert table.loc["layer2.conv2.weight", "matrix"] == "64 × 288"
    assert math.isnan(table.loc["layer4.fc3.weight", "alpha"])  # 10 eigenvalues: too few for a tail fit
    with pytest.raises(ValueError, match=r"a spectrum needs a tensor of 2 or more dims, got shape \(32,\)"):
        spectrum(model.layer1.conv1.bias)


def test_vggstyles_largest_matrix_is_fc1():
    with torch.device("meta"):
        shapes = weight_matrices(pinit.build_model("VGGStyle"))
    largest = max(shapes, key=lambda n: math.prod(shapes[n]))
    assert largest == "classifier.fc1.weight" and shapes[largest] == (8192, 8192)


# --- the power-law tail -------------------------------------------------------------------------------


def test_tail_alpha_recovers_a_known_pareto_exponent():
    """Samples with density ∝ x^(−α) above 1: x = U^(−1/(α−1)). The MLE's SE is (α − 1)/√n_tail."""
    for alpha in (2.0, 3.5):
        rng = np.random.default_rng(1)
        x = rng.uniform(size=4000) ** (-1 / (alpha - 1))
        fit = tail_alpha(x)
        se = (fit.alpha - 1) / math.sqrt(fit.n_tail)
        assert abs(fit.alpha - alpha) < 5 * se, (alpha, fit)
        assert fit.n_tail > 1000  # a pure power law: x_min stays near the bottom
    assert "too few" in tail_alpha(np.arange(1, 10.0)).note


def _weightwatcher():
    try:
        import weightwatcher
    except Exception as e:
        if os.environ.get("CI"):
            pytest.fail(f"weightwatcher must be importable in CI (dev extra): {type(e).__name__}: {e}")
        pytest.skip(f"weightwatcher is not installed ({type(e).__name__}: {e})")
    return weightwatcher


@pytest.fixture(scope="module")
def trained_mlp() -> tuple[torch.nn.Module, torch.nn.Module]:
    """DeepMLP(3 layers, width 256) at init, and the same after 400 SGD steps on a linear teacher's labels,
    the trained one loaded through pinit.load_checkpoint."""
    g = torch.Generator().manual_seed(0)
    init = pinit.build_model("DeepMLP", seed=0, depth=3, width=256)
    model = pinit.build_model("DeepMLP", seed=0, depth=3, width=256)
    x = torch.randn(512, 256, generator=g)
    y = (x @ torch.randn(256, 10, generator=g)).argmax(1)
    train(model, x, y, steps=400, batch_size=64, lr=0.1, seed=0)
    loaded = pinit.build_model("DeepMLP", seed=1, depth=3, width=256)
    pinit.load_checkpoint(pinit.save_state_dict(model), loaded)
    return init, loaded


def test_trained_weights_grow_outliers_above_the_bulk_and_a_heavier_tail(trained_mlp):
    init, trained = trained_mlp
    before, after = spectra_table(init).set_index("name"), spectra_table(trained).set_index("name")
    for name in ("layers.fc1.weight", "layers.fc2.weight"):
        assert before.loc[name, "n_outliers"] == 0 and after.loc[name, "n_outliers"] >= 5  # measured 9 and 10
        assert after.loc[name, "alpha"] < before.loc[name, "alpha"] / 2  # measured 7.7 -> 2.9, 10.9 -> 2.3


def test_alpha_equals_weightwatchers(trained_mlp):
    ww = _weightwatcher()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        heavy = torch.distributions.StudentT(torch.tensor(2.0)).sample((1000, 500))
    _, trained = trained_mlp
    cases = [("heavy", heavy), ("trained fc2", trained.layers.fc2.weight.detach())]
    for label, w in cases:
        layer = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            layer.weight.copy_(w)
        details = ww.WeightWatcher(model=torch.nn.Sequential(layer)).analyze(plot=False, randomize=False, mp_fit=False)
        ours = spectrum(w).tail
        n = max(w.shape)
        assert ours.alpha == pytest.approx(float(details["alpha"].iloc[0]), rel=1e-6), label
        assert ours.xmin * n == pytest.approx(float(details["xmin"].iloc[0]), rel=1e-6), label  # ww: λ = s², no 1/N
        assert ours.n_tail == int(details["num_pl_spikes"].iloc[0]), label


def test_a_gaussian_inits_spectrum_has_no_plausible_power_law_tail_and_a_pareto_sample_has_one():
    """Clauset-Shalizi-Newman's likelihood ratio against an exponential tail (Vuong's p)."""
    implausible = 0
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        fit = spectrum(torch.randn(512, 2048, generator=g) * 0.02).tail
        assert math.isfinite(fit.alpha) and math.isfinite(fit.loglik_ratio) and 0 <= fit.p_value <= 1
        if not fit.plausible:
            implausible += 1
            assert fit.loglik_ratio < 0 and fit.p_value < 0.1 and "no power-law tail" in fit.note
    assert implausible >= 4  # measured 5 of 5 (p from 2e-11 to 0.02)
    for seed in range(5):
        x = np.random.default_rng(seed).pareto(2.5, 1000) + 1  # density ∝ x^(−3.5) above 1
        fit = tail_alpha(x)
        assert fit.plausible and fit.loglik_ratio > 0 and fit.note == "", fit
        assert fit.alpha == pytest.approx(3.5, abs=0.5)


def test_the_likelihood_ratio_matches_a_direct_computation():
    from pinit.lab.spectra import power_vs_exponential

    x = np.array([1.0, 1.5, 2.0, 4.0, 9.0])
    alpha, xmin = 2.2, 1.0
    lp = np.log((alpha - 1) / xmin) - alpha * np.log(x / xmin)
    mu = 1 / (x.mean() - xmin)
    le = np.log(mu) - mu * (x - xmin)
    r, p = power_vs_exponential(x, alpha, xmin)
    assert r == pytest.approx(float((lp - le).sum()))
    assert p == pytest.approx(math.erfc(abs(r) / (np.std(lp - le) * math.sqrt(2 * len(x)))))


def test_a_trained_layer_against_its_init_what_the_tail_test_says(trained_mlp):
    """This fixture's 400 SGD steps on a teacher's labels (one run, deterministic): measured, not promised."""
    init, trained = trained_mlp
    for name in ("fc1", "fc2"):
        before = spectrum(getattr(init.layers, name).weight).tail
        after = spectrum(getattr(trained.layers, name).weight).tail
        assert not before.plausible  # measured R -0.87 (p 0.014) and -0.38 (p 0.07)
        assert after.plausible and after.loglik_ratio > 0  # measured R 4.7 (p 0.054) and 17.7 (p 0.0007)


# --- a trained layer as the contrast: the lesson's training runs, fc1 before and after -------------------


def test_tail_verdict_names_what_the_likelihood_ratio_test_says():
    from pinit.lab.spectra import TailFit, tail_verdict

    assert tail_verdict(TailFit(2.5, 1.0, 50, 0.05, "", 4.0, 0.01)) == "power law"
    assert tail_verdict(TailFit(12.0, 1.0, 50, 0.1, "", -1.3, 4e-5)) == "exponential"
    assert tail_verdict(TailFit(16.0, 1.0, 22, 0.08, "", 0.39, 0.4)) == "undecided"
    assert tail_verdict(TailFit(math.nan, math.nan, 0, math.nan, "too few")) == "no fit"


def test_the_no_tail_note_writes_its_numbers_one_way():
    fit = spectrum(torch.randn(512, 2048, generator=torch.Generator().manual_seed(0)) * 0.02).tail
    assert not fit.plausible and "e-" not in fit.note and "p = " in fit.note


def test_trained_tail_says_what_it_cannot_train():
    from pinit.lab.spectra import trained_tail

    with pytest.raises(ValueError, match="unknown preset"):
        trained_tail("No such preset")
    with pytest.raises(ValueError, match="is not a weight matrix of SimpleCNN"):
        trained_tail("Kaiming (He)", "layer4.fc1.bias")


@pytest.mark.slow
def test_the_trained_contrast_is_the_lessons_training_run_with_its_tail_fit_before_and_after():
    """trained_tail() trains what the lesson's step 5 trains (same init, config, data and seeds): its
    held-out accuracies are the training story's, seed by seed. What the tail test says is measured, not
    promised; the init's fc1 is not a plausible power law on at least 4 of 5 seeds (a Gaussian-like matrix)."""
    from pinit.lab import lesson
    from pinit.lab.spectra import TRAINED_LAYER, TailFit, TrainedTail, tail_verdict, trained_tail

    tt = trained_tail()
    assert isinstance(tt, TrainedTail) and tt.seeds == lesson.TRAIN_SEEDS and tt.layer == TRAINED_LAYER
    assert tt.settings == lesson.LESSON_TRAIN
    story = lesson.training_story()
    runs = story.runs_by_seed[tt.preset]
    assert list(tt.test_accuracy) == pytest.approx([r.test_accuracy for r in runs], abs=1e-9)
    assert len(tt.init) == len(tt.trained) == len(tt.seeds)
    for before, after in zip(tt.init, tt.trained):
        assert isinstance(after, TailFit) and math.isfinite(after.alpha) and 0 <= after.p_value <= 1
        assert math.isfinite(before.alpha) and math.isfinite(before.loglik_ratio)
    assert tt.plausible_init <= 1
    assert all(0 < c < 1 for c in tt.change)  # training moved fc1, by less than its own size
    table = tt.table()
    assert len(table) == len(tt.seeds)
    assert list(table["trained: tail"]) == [tail_verdict(f) for f in tt.trained]
    assert (tt.spectrum.rows, tt.spectrum.cols) == (512, 2048) and tt.spectrum.tail == tt.trained[0]
    assert lesson.story("trained_tail") is trained_tail  # the warm-up worker computes it once per server


@pytest.mark.slow
def test_the_spectra_page_shows_the_trained_layer_beside_the_init():

    from pinit.dashboard.spectra import trained_text
    from pinit.lab.spectra import trained_tail
    from tests.test_app_beyond import cfg_of, run

    tt = trained_tail()  # computed (or read from the cache) before the page asks: the page only peeks
    at = run("spectra", cfg_of("SimpleCNN", {}))
    assert not [b for b in at.button if b.key == "spec.trained"]  # ready: no button, no training
    texts = [m.value for m in at.markdown]
    assert trained_text(tt) in texts
    assert "A trained layer, for contrast" in trained_text(tt)
    (frame,) = at.dataframe  # the page's one table: the trained contrast, a row per seed
    shown = frame.value
    assert len(shown) == len(tt.seeds) and list(shown["trained: tail"]) == list(tt.table()["trained: tail"])
    titles = [spec["layout"]["title"]["text"] for spec in specs(at)]
    assert any("layer4.fc1.weight after training (seed 0)" in t for t in titles), titles


def test_the_spectra_page_offers_the_trained_layer_without_training_per_click(monkeypatch, tmp_path):
    """Not computed yet (an empty cache): a button, and nothing trained until it is pressed."""
    from pinit.lab import lesson, spectra, story_cache
    from tests.test_app_beyond import cfg_of, run

    monkeypatch.setenv(story_cache.CACHE_ENV, str(tmp_path))
    # Nothing from a warm-up worker either (a test before this one may have started one in this process).
    monkeypatch.setattr(lesson, "_ARRIVED", {})
    monkeypatch.setattr(lesson, "_FROM_WORKER", {})
    spectra.trained_tail.cache_clear()
    calls = []
    monkeypatch.setattr(spectra, "train", lambda *a, **k: calls.append(1))
    at = run("spectra", cfg_of("SimpleCNN", {}))
    assert at.button(key="spec.trained") and not calls
    assert any("A trained layer, for contrast" in c.value for c in at.caption)
