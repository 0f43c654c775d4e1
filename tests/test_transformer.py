"""Beyond SimpleCNN, part 2: TinyGPT, its presets and the residual-stream law (pinit.lab.transformer).

The law (pinit.lab.transformer's docstring): with pre-LayerNorm blocks, x_l = x_{l-1} + f_l(LN(x_{l-1})),

  1. contributions add in variance: cov(x_{l-1}, f_l) = 0 in expectation over the init, because f_l ends
     in a zero-mean weight matrix drawn independently of x_{l-1}; so var(x_L) = var(x_0) + Σ_l c_l;
  2. c_l = var(f_l) does not depend on the stream's scale (LN divides it out), so every block adds a
     comparable c and var(x_L) ≈ var(x_0) + L·c: the std grows like √L;
  3. GPT-2's 1/√(2·n_layer) on the two residual projections divides c by 2·n_layer, so the top of the
     stream, var(x_0) + Σ c_l / (2·n_layer), no longer grows with depth.

Tolerances: over S seeds, a mean is compared with its prediction within T·SE, SE = sample std / √S and
T = 5, above Student's t 99.95% quantile for S - 1 = 9 degrees of freedom (4.78): a false alarm in
fewer than 1 run in 1000 per assertion, while a real violation of the law (e.g. a 10% bias) fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import pinit
from pinit.lab.transformer import (
    attention_stats,
    gpt2_plan,
    layernorm_summary,
    mup_plan,
    pytorch_default_plan,
    residual_projections,
    residual_stream_std,
    transformer_presets,
    transformer_report,
)
from pinit.models import TinyGPT
from pinit.setup import Setup

SEEDS = range(10)
T = 5.0


def gpt(n_layer: int, plan: dict, seed: int, **options) -> TinyGPT:
    model = pinit.build_model("TinyGPT", seed=seed, n_layer=n_layer, **options)
    pinit.apply_plan(model, plan, seed)
    return model


def stream(model: TinyGPT, x: torch.Tensor) -> list[torch.Tensor]:
    """x_0 (embeddings) and x_l after each block, in float64."""
    seen: list[torch.Tensor] = []
    hooks = [model.blocks[0].register_forward_pre_hook(lambda m, a: seen.append(a[0].double()))]
    hooks += [b.register_forward_hook(lambda m, a, o: seen.append(o.double())) for b in model.blocks]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


def mean_se(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


# --- the model ------------------------------------------------------------------------------------


def test_tinygpt_names_ties_and_probes():
    model = pinit.build_model("TinyGPT", seed=0)
    names = [n for n, _ in model.named_parameters()]
    assert names[:2] == ["wte.weight", "wpe.weight"] and "head.weight" not in names  # tied: listed once
    assert model.head.weight is model.wte.weight
    for name in residual_projections(4):
        assert name in names
    assert residual_projections(2) == [
        "blocks.0.attn.proj.weight",
        "blocks.0.mlp.fc2.weight",
        "blocks.1.attn.proj.weight",
        "blocks.1.mlp.fc2.weight",
    ]
    assert sum(p.numel() for p in model.parameters()) == 834_304
    x = pinit.probe_batch(model, 4, seed=0)
    assert x.dtype == torch.int64 and x.shape == (4, 64) and int(x.max()) < 256
    assert model(x).shape == (4, 64, 256)
    acts = pinit.activation_stats(model, x)
    assert acts["layer"].iloc[0] == "wte" and acts["layer"].iloc[-1] == "head"
    assert TinyGPT(tie_weights=False).head.weight is not TinyGPT(tie_weights=False).wte.weight


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"d_model": 130, "n_head": 4}, "d_model (130) must be divisible by n_head (4)"),
        ({"n_layer": 0}, "n_layer must be a whole number from 1 to 48, got 0"),
        ({"vocab": 1}, "vocab must be a whole number from 2 to 65536"),
    ],
)
def test_tinygpt_refuses_bad_options_in_words(options, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        TinyGPT(**options)


def test_gpt2_plan_reaches_every_parameter_with_the_stated_stds():
    model = pinit.build_model("TinyGPT", seed=0, n_layer=3)
    table = pinit.parameter_table(gpt(3, gpt2_plan(3), 0), gpt2_plan(3)).set_index("name")
    assert (table["scheme"] != "untouched").all()
    small = 0.02 / math.sqrt(6)
    for name in residual_projections(3):
        assert table.loc[name, "expected_std"] == pytest.approx(small)
        assert table.loc[name, "std"] == pytest.approx(small, rel=0.05)  # 16,384 or 65,536 draws: SE < 0.6%
    assert table.loc["blocks.0.attn.q.weight", "expected_std"] == 0.02
    assert table.loc["wte.weight", "expected_std"] == 0.02 and table.loc["wte.weight", "type"] == "Embedding"
    assert not pinit.check_plan(model, pytorch_default_plan())


def test_presets_are_plain_plans_and_mup_zeroes_query_and_only_an_untied_readout():
    presets = transformer_presets(4)
    assert list(presets) == [
        "GPT-2",
        "N(0, 0.02), no residual scaling",
        "PyTorch default",
        "μP: zero query (+ zero readout)",
    ]
    for p in presets.values():
        assert pinit.InitPlan.from_dict(p.plan).to_dict()["rules"]  # JSON-able, parses
    tied, note = mup_plan(2, tie_weights=True)
    assert "blocks.1.attn.q.weight" in tied["overrides"] and "head.weight" not in tied["overrides"]
    assert "cannot be zero without zeroing every token" in note
    untied, _ = mup_plan(2, tie_weights=False)
    model = TinyGPT(n_layer=2, tie_weights=False)
    pinit.apply_plan(model, untied, seed=0)
    x = pinit.probe_batch(model, 4, 0)
    with torch.no_grad():
        assert float(model(x).abs().max()) == 0.0  # zero readout: logits exactly 0
        assert float(model.loss(x)) == pytest.approx(math.log(256), rel=1e-6)


# --- the residual-stream law ----------------------------------------------------------------------


def test_block_contributions_add_in_variance():
    """Law 1: 2·cov(x_{l-1}, f_l) / var(f_l) has mean 0 over init draws (8 unscaled blocks, 10 seeds)."""
    per_seed = []
    for seed in SEEDS:
        model = gpt(8, gpt2_plan(8, scaled=False), seed)
        xs = stream(model, pinit.probe_batch(model, 8, seed))
        terms = []
        for prev, cur in zip(xs[:-1], xs[1:]):
            f = cur - prev
            cov = ((prev - prev.mean()) * (f - f.mean())).mean()
            terms.append(float(2 * cov / f.var()))
        per_seed.append(np.mean(terms))
    mean, se = mean_se(per_seed)
    assert abs(mean) < T * se, (mean, se)  # measured +0.01 ± 0.01


def test_layernorm_makes_a_blocks_contribution_independent_of_the_streams_scale():
    """Law 2: scale the embeddings by 10 and block 1 adds the same variance, up to LN's eps.

    LN(x) = (x - mean) / √(var + eps): the scale cancels except through eps = 1e-5 next to the
    stream's var(x_0) ≈ 2 · 0.02² = 8e-4, which changes LN's output by at most eps / (2·var) = 0.6%,
    so var(f_1) by at most twice that.
    """
    model = gpt(2, gpt2_plan(2, scaled=False), 0)
    x = pinit.probe_batch(model, 8, 0)
    xs = stream(model, x)
    c1 = float((xs[1] - xs[0]).var())
    var0 = float(xs[0].var())
    with torch.no_grad():
        model.wte.weight.mul_(10)
        model.wpe.weight.mul_(10)
    xs10 = stream(model, x)
    c1_big = float((xs10[1] - xs10[0]).var())
    bound = 2 * 1e-5 / (2 * var0)
    assert abs(c1_big / c1 - 1) < bound, (c1, c1_big, bound)


@pytest.mark.parametrize("n_layer", [2, 8])
def test_gpt2_scaling_divides_a_blocks_added_variance_by_2_n_layer(n_layer):
    """Law 3, at block 1 (same embeddings in both models): c_1(scaled) · 2·n_layer = c_1(unscaled)."""
    ratios = []
    for seed in SEEDS:
        c = []
        for scaled in (True, False):
            model = gpt(n_layer, gpt2_plan(n_layer, scaled=scaled), seed)
            xs = stream(model, pinit.probe_batch(model, 8, seed))
            c.append(float((xs[1] - xs[0]).var()))
        ratios.append(c[0] * 2 * n_layer / c[1])
    mean, se = mean_se(ratios)
    assert abs(mean - 1) < T * se, (mean, se)  # measured 0.998 ± 0.002 (n_layer 2), 0.997 ± 0.003 (8)


def _final_std(n_layer: int, scaled: bool) -> tuple[list[float], list[list[float]]]:
    """Per seed: the std at the top of the stream, and each block's added variance c_l."""
    tops, incs = [], []
    for seed in SEEDS:
        model = gpt(n_layer, gpt2_plan(n_layer, scaled=scaled), seed)
        df = residual_stream_std(model, pinit.probe_batch(model, 8, seed))
        tops.append(float(df["std"].iloc[-1]))
        incs.append(np.diff(df["var"].to_numpy()).tolist())
    return tops, incs


def test_residual_std_grows_like_sqrt_depth_without_scaling_and_stays_level_with_it():
    """var(x_L) = var_0 + Σ c_l with every c_l in [c_lo, c_hi] (the measured spread of the blocks'
    contributions, widened by T·SE): so std_L / std_1 must lie in √((var_0 + L·c_lo) / (var_0 + c_1)) ..
    √((var_0 + L·c_hi) / (var_0 + c_1)), around √L; with GPT-2's scaling c_l → c_l / (2·n_layer) and the
    top of the stream stays within √((var_0 + c_lo/2) / (var_0 + c_hi/2)) .. its inverse for every depth."""
    depths = (1, 4, 16)
    top = {(n, s): _final_std(n, s) for n in depths for s in (False, True)}
    var0 = 2 * 0.02**2  # wte + wpe, both N(0, 0.02²)
    # Unscaled: the blocks' contributions in the 16-block model, per block mean over seeds.
    incs = np.array(top[(16, False)][1])
    c_mean = incs.mean(axis=0)
    c_se = incs.std(axis=0, ddof=1) / math.sqrt(len(SEEDS))
    c_lo, c_hi = float((c_mean - T * c_se).min()), float((c_mean + T * c_se).max())
    c1 = float(c_mean[0])
    std1 = np.mean(top[(1, False)][0])
    for n in (4, 16):
        ratio = np.mean(top[(n, False)][0]) / std1
        low, high = math.sqrt((var0 + n * c_lo) / (var0 + c1)), math.sqrt((var0 + n * c_hi) / (var0 + c1))
        assert low < ratio < high, (n, ratio, low, high)
        assert ratio > 0.75 * math.sqrt(n)  # measured 2.0 at 4 blocks, 4.1 at 16 (√L: 2 and 4)
    # Scaled: 2·n_layer·c_l spans the same kind of range; the top std is level across depth.
    spread = np.concatenate([np.array(top[(n, True)][1]).mean(axis=0) * 2 * n for n in depths])
    lo, hi = spread.min() - T * c_se.max(), spread.max() + T * c_se.max()
    band = math.sqrt((var0 + lo / 2) / (var0 + hi / 2))
    level = [np.mean(top[(n, True)][0]) for n in depths]
    for value in level[1:]:
        assert band < value / level[0] < 1 / band, (level, band)  # measured 0.0478, 0.0489, 0.0490
    assert np.mean(top[(16, False)][0]) / level[-1] > 4  # 16 blocks: 0.254 unscaled against 0.049 scaled


# --- attention at init ----------------------------------------------------------------------------


def test_attention_logit_std_follows_sigma_q_sigma_k_sqrt_d_head_times_scale():
    """std(q·k·scale) = σ_q σ_k √d_head · scale for independent q, k entries; 1/d_head is √d_head smaller."""
    ratios = []
    for seed in SEEDS:
        model = gpt(2, gpt2_plan(2), seed)
        x = pinit.probe_batch(model, 4, seed)
        a = attention_stats(model, x, "1/sqrt(d_head)")
        b = attention_stats(model, x, "1/d_head")
        d_head = 32
        predicted = a["q_std"] * a["k_std"] * math.sqrt(d_head) / math.sqrt(d_head)
        ratios.extend((a["logit_std"] / predicted).tolist())
        assert np.allclose(b["logit_std"] * math.sqrt(d_head), a["logit_std"], rtol=1e-9)
    mean, se = mean_se(ratios)
    assert abs(mean - 1) < T * se, (mean, se)


def test_attention_entropy_is_near_uniform_for_small_logits_and_exactly_uniform_for_zero_query():
    """For iid logits of small variance s² over n keys, H ≈ ln n − (s²/2)(1 − 1/n) (second-order expansion)."""
    model = gpt(2, gpt2_plan(2), 0)
    x = pinit.probe_batch(model, 8, 0)
    a = attention_stats(model, x)
    n = torch.arange(1, 65, dtype=torch.float64)
    predicted_deficit = (a["logit_std"] ** 2 / 2 * float((1 - 1 / n).mean())).to_numpy()
    measured_deficit = (a["max_entropy"] - a["entropy"]).to_numpy()
    # Third-order terms are O(s) relative to the s² term, s ≈ 0.05 here: allow 25% (measured within 7%).
    assert np.allclose(measured_deficit, predicted_deficit, rtol=0.25), (measured_deficit, predicted_deficit)
    assert a["max_entropy"].iloc[0] == pytest.approx(float(torch.log(n).mean()))
    zero_q = gpt(2, mup_plan(2)[0], 0)
    z = attention_stats(zero_q, x)
    assert (z["logit_std"] == 0).all() and np.allclose(z["entropy"], z["max_entropy"], rtol=1e-12)
    with pytest.raises(ValueError, match="scale must be one of 1/sqrt\\(d_head\\), 1/d_head"):
        attention_stats(model, x, "sqrt")


def test_layernorm_summary_and_the_report():
    model = gpt(2, gpt2_plan(2), 0)
    ln = layernorm_summary(model)
    assert list(ln["layer"]) == ["blocks.0.ln1", "blocks.0.ln2", "blocks.1.ln1", "blocks.1.ln2", "ln_f"]
    assert ln["default"].all() and (ln["weight_mean"] == 1).all() and (ln["bias_std"] == 0).all()
    report = transformer_report(Setup("TinyGPT", plan=gpt2_plan(4)), n=8)
    assert list(report.residual["layer"]) == ["embeddings", "blocks.0", "blocks.1", "blocks.2", "blocks.3"]
    # GPT-2's small logits (std ~0.2): the loss is near ln(256) = 5.55 at step 0.
    assert abs(report.loss - report.chance_loss) < 0.1
    default = transformer_report(Setup("TinyGPT", plan=pytorch_default_plan()), n=8)
    # N(0, 1) embeddings tied to the head: logits of std ~√d_model · |LN output| ~ 11, loss far above chance.
    assert default.logits_std > 5 and default.loss > 10 * default.chance_loss
    with pytest.raises(ValueError, match="residual_stream_std needs a model like pinit.TinyGPT"):
        residual_stream_std(torch.nn.Linear(2, 2), torch.zeros(1, 2))
