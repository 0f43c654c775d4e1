"""pinit.stats: the parameter table and the server-side histograms, against torch's own numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import pinit
from pinit import apply_plan, build_model, histogram, parameter_histograms, parameter_table, summarize
from pinit.distributions import Normal, PointMass
from pinit.stats import bins_for, describe

BASE_COLUMNS = [
    "name",
    "layer",
    "type",
    "shape",
    "numel",
    "fan_in",
    "fan_out",
    "mean",
    "std",
    "min",
    "max",
    "nonfinite",
    "signal_gain",
]
PLAN_COLUMNS = BASE_COLUMNS + ["scheme", "expected_std", "std_ratio"]
KAIMING = pinit.PRESETS["Kaiming (He)"].plan


def _close(measured: float, reference: float, numel: int) -> bool:
    # Tensors over 65,536 values are reduced in float32 (pairwise), ~1e-6 relative.
    rel = 1e-12 if numel <= 65536 else 1e-5
    return math.isclose(measured, reference, rel_tol=rel, abs_tol=rel * 1e-3)


def test_table_columns_order_and_torchs_numbers():
    model = build_model("SimpleCNN", seed=0)
    df = parameter_table(model)
    assert list(df.columns) == BASE_COLUMNS
    params = list(model.named_parameters())
    assert df["name"].tolist() == [n for n, _ in params]
    for row, (name, p) in zip(df.itertuples(index=False), params):
        x = p.detach().double()
        assert row.numel == p.numel()
        assert _close(row.mean, float(x.mean()), p.numel()), name
        # The table's std is the population std (divides by n), like the law's σ it is compared with.
        assert _close(row.std, float(x.std(correction=0)), p.numel()), name
        assert row.min == float(x.min()) and row.max == float(x.max()), name
        assert row.nonfinite == 0
    first = df.iloc[0]
    assert (first["layer"], first["type"], first["shape"]) == ("layer1.conv1", "Conv2d", "(32, 3, 3, 3)")
    assert df.iloc[1]["shape"] == "(32,)"
    fc1 = df.set_index("name").loc["layer4.fc1.weight"]
    assert (fc1["type"], fc1["numel"], fc1["fan_in"], fc1["fan_out"]) == ("Linear", 1_048_576, 2048, 512)
    conv1 = df.set_index("name").loc["layer1.conv1.weight"]
    assert (conv1["fan_in"], conv1["fan_out"]) == (27, 288)
    assert df.set_index("name")["fan_in"].isna().tolist() == [n.endswith(".bias") for n, _ in params]
    assert str(df["fan_in"].dtype) == "Int64"


def test_table_counts_nan_and_inf_and_summarizes_the_finite_rest():
    model = build_model("SimpleCNN", seed=0)
    with torch.no_grad():
        w = model.layer4.fc3.weight
        w[0, 0], w[0, 1], w[0, 2], w[5, 5] = math.nan, math.inf, -math.inf, math.nan
        model.layer4.fc3.bias.fill_(math.nan)
    df = parameter_table(model).set_index("name")
    row = df.loc["layer4.fc3.weight"]
    assert row["nonfinite"] == 4
    finite = w.detach().double()[torch.isfinite(w.detach())]
    assert finite.numel() == 636
    assert row["mean"] == pytest.approx(float(finite.mean()), rel=1e-12)
    assert row["std"] == pytest.approx(float(finite.std(correction=0)), rel=1e-12)
    assert (row["min"], row["max"]) == (float(finite.min()), float(finite.max()))
    bias = df.loc["layer4.fc3.bias"]
    assert bias["nonfinite"] == 10 and math.isnan(bias["mean"]) and math.isnan(bias["std"])
    s = summarize(w)
    assert (s.nan, s.posinf, s.neginf, s.finite, s.nonfinite) == (2, 1, 1, 636, 4)


def test_table_with_a_plan_shows_scheme_expected_std_and_ratio():
    model = apply_plan(build_model("SimpleCNN", seed=0), KAIMING, seed=0)
    df = parameter_table(model, KAIMING)
    assert list(df.columns) == PLAN_COLUMNS
    t = df.set_index("name")
    assert t.loc["layer1.conv1.weight", "scheme"] == "kaiming_normal"
    assert t.loc["layer1.conv1.weight", "expected_std"] == pytest.approx(math.sqrt(2 / 27), rel=1e-14)
    assert t.loc["layer4.fc1.weight", "expected_std"] == pytest.approx(math.sqrt(2 / 2048), rel=1e-14)
    assert t.loc["layer4.fc1.weight", "std_ratio"] == pytest.approx(1.0, abs=0.005)  # 1M values: SE 0.07%
    for name in ["layer2.conv2.weight", "layer3.conv3.weight", "layer4.fc2.weight"]:
        assert t.loc[name, "std_ratio"] == pytest.approx(1.0, abs=0.03), name
    bias = t.loc["layer4.fc1.bias"]
    assert (bias["scheme"], bias["expected_std"], bias["std"]) == ("zeros", 0.0, 0.0)
    assert math.isnan(bias["std_ratio"])  # 0 / 0 is not a ratio


def test_table_marks_parameters_no_rule_reaches_as_untouched():
    plan = {"rules": {"Conv2d": {"weight": {"scheme": "kaiming_normal", "nonlinearity": "relu"}}}}
    model = apply_plan(build_model("SimpleCNN", seed=0), plan, seed=0)
    t = parameter_table(model, plan).set_index("name")
    reached = [n for n in t.index if n.startswith("layer") and "conv" in n and n.endswith("weight")]
    assert reached == ["layer1.conv1.weight", "layer2.conv2.weight", "layer3.conv3.weight"]
    for name in t.index:
        if name in reached:
            assert t.loc[name, "scheme"] == "kaiming_normal"
        else:
            assert t.loc[name, "scheme"] == "untouched", name
            assert math.isnan(t.loc[name, "expected_std"]) and math.isnan(t.loc[name, "std_ratio"])


def test_signal_gain_shows_the_article_recipe_blowing_up_fc1():
    plan = pinit.PRESETS["Article recipe"].plan
    model = apply_plan(build_model("SimpleCNN", seed=0), plan, seed=0)
    t = parameter_table(model, plan).set_index("name")
    # N(0, 1) weights with fan_in 2048 scale the signal's RMS by sqrt(2048) = 45.25.
    assert t.loc["layer4.fc1.weight", "signal_gain"] == pytest.approx(math.sqrt(2048), rel=0.005)
    w = model.layer4.fc2.weight.detach().double()
    # (from the unbiased std, so E[w^2] only to ~1/n)
    assert t.loc["layer4.fc2.weight", "signal_gain"] == pytest.approx(math.sqrt(512 * float(w.pow(2).mean())), rel=1e-4)
    assert math.isnan(t.loc["layer4.fc1.bias", "signal_gain"])


def test_table_of_the_article_listing_shows_its_quirky_names():
    t = parameter_table(build_model("ArticleSimpleCNN", seed=0))
    assert "layer4.fc2 .weight" in t["name"].tolist()
    assert t.set_index("name").loc["layer1.conv2.weight", "layer"] == "layer1.conv2"
    assert t.set_index("name").loc["layer4.fc2 .weight", "layer"] == "layer4.fc2 "


# --- histograms ------------------------------------------------------------------------------


def _chi_square(counts: list[int], expected: list[float]) -> tuple[float, int]:
    stat, df = 0.0, 0
    for o, e in zip(counts, expected):
        if e >= 5:
            stat += (o - e) ** 2 / e
            df += 1
    return stat, df


def test_histogram_of_a_big_normal_tensor_matches_its_law():
    x = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0))
    h = histogram(x, bins=40, law=Normal(0.0, 1.0))
    assert h.bins == 40 and len(h.edges) == 41
    assert sum(h.counts) == 1_000_000 == h.summary.finite
    assert h.edges[0] == float(x.min()) and h.edges[-1] == float(x.max())
    steps = [b - a for a, b in zip(h.edges, h.edges[1:])]
    assert max(steps) - min(steps) < 1e-12
    # Expected counts cover [min, max] only: the law's mass outside it is ~2.6 values here.
    inside = Normal(0.0, 1.0).cdf(h.edges[-1]) - Normal(0.0, 1.0).cdf(h.edges[0])
    assert sum(h.expected) == pytest.approx(1_000_000 * inside, rel=1e-9)
    assert 0 < 1_000_000 * (1 - inside) < 10
    for o, e in zip(h.counts, h.expected):
        assert abs(o - e) <= 5 * math.sqrt(e) + 2
    stat, df = _chi_square(h.counts, h.expected)
    assert df >= 25
    assert stat < df + 5 * math.sqrt(2 * df)
    assert (h.expected_mean, h.expected_std) == (0.0, 1.0)
    # And the counts are torch's own binning.
    assert h.counts == torch.histc(x, bins=40, min=h.edges[0], max=h.edges[-1]).long().tolist()


def test_parameter_histograms_expected_counts_follow_the_plan():
    model = apply_plan(build_model("SimpleCNN", seed=0), KAIMING, seed=0)
    hists = {h.name: h for h in parameter_histograms(model, KAIMING)}
    assert list(hists) == [n for n, _ in model.named_parameters()]
    fc1 = hists["layer4.fc1.weight"]
    assert fc1.scheme == "kaiming_normal" and fc1.bins == 40
    assert fc1.expected_std == pytest.approx(math.sqrt(2 / 2048))
    stat, df = _chi_square(fc1.counts, fc1.expected)
    assert stat < df + 5 * math.sqrt(2 * df)
    # A zero bias is a point mass: every value, and every expected count, in the bin holding 0.
    bias = hists["layer4.fc1.bias"]
    assert bias.summary.constant and bias.expected == pytest.approx(bias.counts, abs=1e-9)
    assert bias.bins == bins_for(512, 40) == 40


@pytest.mark.parametrize(
    "scheme, name",
    [
        ("eye", "layer4.fc3.weight"),
        ("dirac", "layer2.conv2.weight"),
        ("zeros", "layer4.fc2.weight"),
        ("constant", "layer1.conv1.bias"),
    ],
)
def test_point_mass_laws_predict_the_exact_counts(scheme, name):
    plan = {"overrides": {name: {"scheme": scheme}}}
    model = apply_plan(build_model("SimpleCNN", seed=0), plan, seed=0)
    h = {h.name: h for h in parameter_histograms(model, plan)}[name]
    assert h.expected == pytest.approx(h.counts, abs=1e-9)
    assert sum(h.counts) == h.summary.numel


def test_constant_tensor_is_flagged_and_shown_with_a_visible_range():
    h = histogram(torch.zeros(100), bins=41, law=PointMass(0.0))
    assert h.summary.constant
    assert (h.edges[0], h.edges[-1]) == (-0.5, 0.5)
    assert h.counts[20] == 100 and sum(h.counts) == 100  # the middle bin, where 0 is
    assert h.expected == pytest.approx(h.counts)
    h = histogram(torch.full((7,), 3.0), bins=40)
    assert h.summary.constant and h.edges[0] < 3.0 < h.edges[-1]
    i = next(i for i, c in enumerate(h.counts) if c)
    assert h.edges[i] <= 3.0 < h.edges[i + 1] and h.counts[i] == 7
    assert (h.edges[i] + h.edges[i + 1]) / 2 == pytest.approx(3.0)  # drawn on its value, not beside it
    h = histogram(torch.zeros(32), bins=10)
    i = next(i for i, c in enumerate(h.counts) if c)
    assert h.counts[i] == 32 and h.edges[i] == pytest.approx(-h.edges[i + 1])


def test_nan_and_inf_are_counted_not_binned():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(1))
    x[:5] = math.nan
    x[5:8] = math.inf
    x[8:10] = -math.inf
    h = histogram(x, bins=20)
    assert (h.summary.nan, h.summary.posinf, h.summary.neginf) == (5, 3, 2)
    assert sum(h.counts) == 990 == h.summary.finite
    finite = x[10:]
    assert (h.edges[0], h.edges[-1]) == (float(finite.min()), float(finite.max()))
    assert h.summary.std == pytest.approx(float(finite.double().std()), rel=1e-12)


def test_all_nan_tensor_has_an_empty_histogram():
    h = histogram(torch.full((6,), math.nan), bins=10, law=Normal(0.0, 1.0))
    assert h.counts == [0] * 10 and h.summary.finite == 0 and h.summary.nan == 6
    assert (h.edges[0], h.edges[-1]) == (-0.5, 0.5)
    assert h.expected == [0.0] * 10


@pytest.mark.parametrize("bins", [0, -3, 501, 2.5, True, "40", None])
def test_bins_are_validated(bins):
    with pytest.raises(ValueError) as exc:
        histogram(torch.randn(10), bins=bins)
    assert "bins must be a whole number from 1 to 500" in str(exc.value)
    assert repr(bins) in str(exc.value)


def test_one_and_max_bins_are_allowed():
    x = torch.arange(1000.0)
    assert histogram(x, bins=1).counts == [1000]
    assert sum(histogram(x, bins=500).counts) == 1000


def test_bins_for_small_tensors():
    assert bins_for(10, 40) == 5  # at most ceil(2 sqrt(10)) = 7, and a divisor of 40
    assert bins_for(1, 40) == 2
    assert bins_for(1_000_000, 40) == 40
    assert bins_for(100, 5) == 5
    assert bins_for(864, 200) == 50  # cap 59: the largest divisor of 200 under it
    assert bins_for(7, 7) == 6  # cap ceil(2 sqrt(7)) = 6; 7 has no divisor from 2 to 6, so the cap itself
    for n in (5, 10, 32, 64, 512, 864, 10**6):  # every count the page offers is an exact merge of the base
        base = bins_for(n, 200)
        assert base <= math.ceil(2 * math.sqrt(n)) and (base == 200 or 200 % base == 0 or base < 2)


def test_histogram_of_extreme_finite_values_keeps_every_count():
    h = histogram(torch.tensor([-3e38, 0.0, 3e38]), bins=10)
    assert sum(h.counts) == 3 == h.summary.finite
    assert h.counts[0] == 1 and h.counts[-1] == 1


@pytest.mark.parametrize("value", [1e8, 1e30, -2.5e38])
def test_constant_huge_tensor_still_gets_a_visible_range(value):
    t = torch.full((5,), value)
    v = float(t[0])
    h = histogram(t, bins=40)
    assert h.summary.constant and h.edges[0] < v < h.edges[-1]
    assert all(math.isfinite(e) for e in h.edges)
    i = next(i for i, c in enumerate(h.counts) if c)
    assert h.counts[i] == 5
    assert h.edges[i] - h.width <= v <= h.edges[i + 1] + h.width  # the spike sits where the value is


def test_float64_values_closer_than_float32_can_tell_apart():
    t = torch.tensor([1.0, 1.0 + 1e-12, 1.0 + 2e-12], dtype=torch.float64)
    h = histogram(t, bins=2)
    assert h.counts == [1, 2]
    assert (h.edges[0], h.edges[-1]) == (1.0, 1.0 + 2e-12)


def test_summarize_edge_cases():
    s = summarize(torch.tensor([2.5]))
    assert (s.mean, s.std, s.min, s.max, s.constant) == (2.5, 0.0, 2.5, 2.5, True)
    s = summarize(torch.empty(0))
    assert s.numel == 0 and math.isnan(s.mean) and not s.constant


def test_describe_is_the_table_and_the_histograms_in_one_pass():
    model = apply_plan(build_model("SimpleCNN", seed=0), KAIMING, seed=0)
    df, hists = describe(model, KAIMING, bins=40)
    assert df.equals(parameter_table(model, KAIMING))
    assert [h.counts for h in hists] == [h.counts for h in parameter_histograms(model, KAIMING)]
    df2, none = describe(model, None, bins=None)
    assert none == [] and list(df2.columns) == BASE_COLUMNS


def test_histograms_work_on_an_arbitrary_module():
    model = nn.Sequential(nn.Linear(20, 30), nn.BatchNorm1d(30), nn.ReLU(), nn.Linear(30, 5))
    hists = parameter_histograms(model)
    assert [h.name for h in hists] == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    bn = hists[2]
    assert bn.summary.constant and sum(bn.counts) == 30  # BatchNorm's weight starts at 1


def test_table_std_is_compared_with_the_law_like_with_like():
    """eye on a 3x3 weight: 3 ones among 9 entries. The law's σ is sqrt(p(1 - p)) with p = 1/3;
    an unbiased std would read sqrt(9/8) = 1.06 times it, the table's population std exactly 1."""
    layer = torch.nn.Linear(3, 3)
    apply_plan(layer, {"rules": {"Linear": {"weight": {"scheme": "eye"}}}}, 0)
    df = parameter_table(layer, {"rules": {"Linear": {"weight": {"scheme": "eye"}}}})
    row = df.set_index("name").loc["weight"]
    assert row["expected_std"] == pytest.approx(math.sqrt(1 / 3 * 2 / 3), rel=1e-12)
    assert row["std"] == pytest.approx(row["expected_std"], rel=1e-12)
    assert row["std_ratio"] == pytest.approx(1.0, rel=1e-12)


def test_figures_are_validated_in_the_tests_and_a_bad_spec_is_caught():
    import pinit.figures

    assert pinit.figures.VALIDATE  # tests/conftest.py: every figure the suite draws is checked by plotly
    with pytest.raises(ValueError):
        pinit.figures.build({"data": [{"type": "bar", "x": [1], "colour": "red"}], "layout": {}})
