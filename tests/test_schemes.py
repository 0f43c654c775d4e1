"""pinit.schemes and pinit.distributions: every scheme against its formula and against torch.

The statistical checks use fixed seeds, so they are deterministic; the tolerances are
still the honest ones (5 standard errors of the estimate, estimated from the sample
itself), so a wrong formula fails and a right one never does.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch.nn import init

from pinit import SCHEMES, TensorInfo, apply_plan, assignments, build_model, fans, gain, get_scheme, param_seed
from pinit.distributions import Mixture, Normal, PointMass, TruncNormal, Uniform

# SimpleCNN's parameters: name -> (shape, fan_in of the owning layer's weight).
CNN = {
    "layer1.conv1.weight": ((32, 3, 3, 3), 27),
    "layer1.conv1.bias": ((32,), 27),
    "layer2.conv2.weight": ((64, 32, 3, 3), 288),
    "layer2.conv2.bias": ((64,), 288),
    "layer3.conv3.weight": ((128, 64, 3, 3), 576),
    "layer3.conv3.bias": ((128,), 576),
    "layer4.fc1.weight": ((512, 2048), 2048),
    "layer4.fc1.bias": ((512,), 2048),
    "layer4.fc2.weight": ((64, 512), 512),
    "layer4.fc2.bias": ((64,), 512),
    "layer4.fc3.weight": ((10, 64), 64),
    "layer4.fc3.bias": ((10,), 64),
}
RANDOM = [name for name, s in SCHEMES.items() if s.random]
DETERMINISTIC = [name for name, s in SCHEMES.items() if not s.random]


def test_registry_holds_every_torch_init_scheme():
    assert set(RANDOM) == {
        "default",
        "uniform",
        "normal",
        "trunc_normal",
        "xavier_uniform",
        "xavier_normal",
        "kaiming_uniform",
        "kaiming_normal",
        "lecun_normal",
        "orthogonal",
        "sparse",
    }
    assert set(DETERMINISTIC) == {"constant", "ones", "zeros", "eye", "dirac"}
    for name, scheme in SCHEMES.items():
        assert scheme.name == name
        assert get_scheme(name) is scheme
        if name not in ("default", "lecun_normal"):
            assert hasattr(init, name + "_"), name  # named after torch.nn.init's function


def test_fans_and_gains_are_torchs():
    assert fans((32, 3, 3, 3)) == (27, 288)
    assert fans((512, 2048)) == (2048, 512)
    assert fans((64, 32, 3, 3)) == (288, 576)
    assert fans((10,)) is None and fans(()) is None
    for shape in [(32, 3, 3, 3), (512, 2048), (7, 5, 2, 3, 4)]:
        assert fans(shape) == init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert gain("linear") == 1 and gain("conv2d") == 1 and gain("sigmoid") == 1
    assert gain("relu") == pytest.approx(math.sqrt(2), rel=1e-15)
    assert gain("tanh") == pytest.approx(5 / 3, rel=1e-15)
    assert gain("selu") == pytest.approx(0.75, rel=1e-15)
    assert gain("leaky_relu") == pytest.approx(math.sqrt(2), rel=1e-15)  # a = 0: plain ReLU
    assert gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04), rel=1e-15)


# --- measured std and mean against the formula, on every big parameter ------------------

STAT_CASES = [(name, {}) for name in RANDOM] + [
    ("uniform", {"a": -3.0, "b": 1.0}),
    ("normal", {"mean": 0.1, "std": 0.02}),
    ("trunc_normal", {"mean": 0.5, "std": 2.0, "a": -1.0, "b": 3.0}),
    ("trunc_normal", {"mean": 0.0, "std": 1.0, "a": 1.0, "b": 3.0}),  # one tail: torch's other sampler
    ("xavier_uniform", {"gain": 5 / 3}),
    ("xavier_normal", {"gain": 2.0}),
    ("kaiming_uniform", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal", {"nonlinearity": "relu"}),
    ("kaiming_normal", {"a": 0.2, "mode": "fan_out", "nonlinearity": "leaky_relu"}),
    ("kaiming_normal", {"nonlinearity": "tanh"}),
    ("orthogonal", {"gain": 2.0}),
    ("sparse", {"sparsity": 0.5, "std": 1.0}),
]
BIG = [name for name, (shape, _) in CNN.items() if math.prod(shape) >= 1000]
SMALL_BIG = [name for name in BIG if math.prod(CNN[name][0]) <= 40_000]  # conv2 and fc2 weights


def _fill(scheme: str, params: dict, name: str, seed: int = 0) -> tuple[torch.Tensor, TensorInfo, dict]:
    """`scheme` drawn into a fresh tensor shaped like SimpleCNN's `name` (cached: don't mutate)."""
    return _cached_fill(scheme, tuple(sorted(params.items())), name, seed)


@functools.lru_cache(maxsize=64)
def _cached_fill(scheme: str, params: tuple, name: str, seed: int) -> tuple[torch.Tensor, TensorInfo, dict]:
    params = dict(params)
    shape, layer_fan_in = CNN[name]
    s = get_scheme(scheme)
    resolved = s.resolve(params)
    info = TensorInfo(shape, layer_fan_in)
    t = torch.empty(shape)
    with torch.no_grad():
        s.fill(t, resolved, info, torch.Generator().manual_seed(param_seed(seed, name)))
    return t, info, resolved


def test_cnn_table_is_simple_cnns_parameters_as_pinit_sees_them():
    """CNN, the shapes these tests draw into, is what pinit reports for the real SimpleCNN:
    every parameter's name, shape and owning layer's fan_in (which sizes default's bias)."""
    model = build_model("SimpleCNN")
    seen = {a.name: (a.info.shape, a.info.layer_fan_in) for a in assignments(model, {"rules": {}})}
    assert seen == CNN
    big = [name for name, p in model.named_parameters() if p.numel() >= 1000]
    assert big == BIG == ["layer2.conv2.weight", "layer3.conv3.weight", "layer4.fc1.weight", "layer4.fc2.weight"]


@pytest.mark.parametrize("scheme, params", STAT_CASES, ids=[f"{s}-{p}" for s, p in STAT_CASES])
def test_measured_std_and_mean_match_the_formula(scheme, params):
    checked = 0
    # Default parameters on every big tensor; the variants on the two smaller ones, to keep the run fast.
    for name in BIG if not params else SMALL_BIG:
        shape, fan_in = CNN[name]
        s = get_scheme(scheme)
        if s.check_tensor(TensorInfo(shape, fan_in), s.resolve(params)):
            continue
        t, info, resolved = _fill(scheme, params, name)
        law = s.distribution(info, resolved)
        expected_std = s.expected_std(shape, params, layer_fan_in=fan_in)
        assert expected_std == law.std > 0
        x = t.double().reshape(-1)
        n = x.numel()
        mean, std = float(x.mean()), float(x.std())
        m4 = float(((x - mean) ** 4).mean())
        # Standard error of the sample std, relative: sqrt(kurtosis - 1) / (2 sqrt(n)).
        se_rel = 0.5 * math.sqrt(max(m4 / std**4 - 1, 0.0) / n)
        tol = 5 * se_rel
        assert tol < 0.05, (name, tol)  # "within a few percent" is really what is checked
        assert abs(std / expected_std - 1) <= tol, (name, std, expected_std, tol)
        assert abs(mean - law.mean) <= 5 * std / math.sqrt(n) + 1e-12, (name, mean, law.mean)
        checked += 1
    # Every random scheme takes at least the 2-D fc weights.
    assert checked >= (2 if not params else 1)


# --- hand-computed values ----------------------------------------------------------------


def test_kaiming_normal_relu_on_conv1():
    s = get_scheme("kaiming_normal")
    expected = math.sqrt(2) / math.sqrt(27)
    assert expected == pytest.approx(0.2722, abs=5e-5)
    assert s.expected_std((32, 3, 3, 3), {"nonlinearity": "relu"}) == pytest.approx(expected, rel=1e-14)
    # kaiming's default nonlinearity is leaky_relu with a = 0, which is the same gain.
    assert s.expected_std((32, 3, 3, 3)) == pytest.approx(expected, rel=1e-14)
    assert s.expected_std((32, 3, 3, 3), {"nonlinearity": "relu", "mode": "fan_out"}) == pytest.approx(
        math.sqrt(2 / 288), rel=1e-14
    )


def test_default_is_pytorchs_uniform_not_lecun():
    s = get_scheme("default")
    assert s.expected_std((512, 2048)) == pytest.approx(1 / math.sqrt(3 * 2048), rel=1e-14)
    assert s.expected_std((32, 3, 3, 3)) == pytest.approx(1 / 9, rel=1e-14)  # 1/sqrt(3*27)
    # A bias has no fan of its own: it uses its layer's weight fan_in.
    assert s.expected_std((512,), layer_fan_in=2048) == pytest.approx(1 / math.sqrt(3 * 2048), rel=1e-14)
    assert s.expected_std((32,), layer_fan_in=27) == pytest.approx(1 / 9, rel=1e-14)
    law = s.distribution(TensorInfo((10,), 64))
    assert (law.low, law.high) == (-1 / 8, 1 / 8)
    assert get_scheme("lecun_normal").expected_std((512, 2048)) == pytest.approx(1 / math.sqrt(2048), rel=1e-14)


@pytest.mark.parametrize(
    "module", [lambda: torch.nn.Linear(64, 10), lambda: torch.nn.Conv2d(3, 32, 3, padding=1)], ids=["Linear", "Conv2d"]
)
def test_default_draws_exactly_what_reset_parameters_draws(module):
    """reset_parameters() draws weight then bias from the global RNG; pinit's default,
    from a generator seeded the same way, draws the same numbers."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(42)
        ref = module()
    w, b = torch.empty_like(ref.weight), torch.empty_like(ref.bias)
    w_info = TensorInfo(tuple(w.shape))
    g = torch.Generator().manual_seed(42)
    s = get_scheme("default")
    s.fill(w, {}, w_info, g)
    s.fill(b, {}, TensorInfo(tuple(b.shape), w_info.fan_in), g)
    assert torch.equal(w, ref.weight.detach())
    assert torch.equal(b, ref.bias.detach())


def test_trunc_normal_std_is_smaller_than_its_std_parameter():
    s = get_scheme("trunc_normal")
    assert s.expected_std((10, 10)) == pytest.approx(0.8796, abs=5e-5)
    assert s.expected_std((10, 10)) == pytest.approx(0.8796256610, rel=1e-9)
    assert s.expected_std((10, 10), {"std": 0.02}) == pytest.approx(0.02, rel=1e-12)  # bounds far away


def test_uniform_xavier_and_bounds():
    assert get_scheme("uniform").expected_std((5,), {"a": -3.0, "b": 1.0}) == pytest.approx(4 / math.sqrt(12))
    xu = get_scheme("xavier_uniform")
    std = math.sqrt(2 / (512 + 64))
    assert xu.expected_std((64, 512)) == pytest.approx(std, rel=1e-14)
    assert get_scheme("xavier_normal").expected_std((64, 512), {"gain": 5 / 3}) == pytest.approx(5 / 3 * std)
    t, _, _ = _fill("xavier_uniform", {}, "layer4.fc2.weight")
    bound = math.sqrt(3) * std
    assert float(t.abs().max()) <= bound
    assert float(t.abs().max()) > 0.999 * bound


@pytest.mark.parametrize("name", [n for n, (shape, _) in CNN.items() if len(shape) >= 2])
def test_orthogonal_is_exactly_orthogonal(name):
    shape, _ = CNN[name]
    g = 1.0 if name == "layer4.fc1.weight" else 1.7  # fc1: share the (slow) default draw with the test above
    t, _, _ = _fill("orthogonal", {} if g == 1.0 else {"gain": g}, name)
    rows, cols = shape[0], math.prod(shape[1:])
    w = t.double().reshape(rows, cols)
    gram = w @ w.T if rows <= cols else w.T @ w
    eye = torch.eye(min(rows, cols), dtype=torch.float64)
    assert torch.allclose(gram, g**2 * eye, atol=2e-5)
    rms = float(w.pow(2).mean().sqrt())
    assert rms == pytest.approx(g / math.sqrt(max(rows, cols)), rel=1e-5)
    assert get_scheme("orthogonal").expected_std(shape, {"gain": g}) == pytest.approx(
        g / math.sqrt(max(rows, cols)), rel=1e-14
    )


@pytest.mark.parametrize(
    "name, sparsity, zeros_per_column",
    [
        ("layer4.fc2.weight", 0.1, 7),
        ("layer4.fc3.weight", 0.25, 3),
        ("layer4.fc3.weight", 0.1, 1),
        ("layer4.fc1.weight", 0.5, 256),
        ("layer4.fc3.weight", 0.0, 0),
        ("layer4.fc3.weight", 1.0, 10),
    ],
)
def test_sparse_zeroes_ceil_sparsity_times_rows_in_every_column(name, sparsity, zeros_per_column):
    t, info, p = _fill("sparse", {"sparsity": sparsity, "std": 1.0}, name)
    assert math.ceil(sparsity * info.shape[0]) == zeros_per_column
    assert (t == 0).sum(dim=0).tolist() == [zeros_per_column] * info.shape[1]
    law = get_scheme("sparse").distribution(info, p)
    f = zeros_per_column / info.shape[0]
    assert law.std == pytest.approx(math.sqrt(1 - f), rel=1e-14)


def test_sparse_draws_only_from_the_plan_generator():
    """torch.nn.init.sparse_ picks its zeros with torch.randperm from the global RNG even
    when given a generator; pinit's fill must not: same seed, same zeros, global RNG intact."""
    torch.manual_seed(5)
    before = torch.get_rng_state()
    a, _, _ = _fill("sparse", {"sparsity": 0.3, "std": 1.0}, "layer4.fc2.weight", seed=1)
    b, _, _ = _fill("sparse", {"sparsity": 0.3, "std": 1.0}, "layer4.fc2.weight", seed=1)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a, b)
    c, _, _ = _fill("sparse", {"sparsity": 0.3, "std": 1.0}, "layer4.fc2.weight", seed=2)
    assert not torch.equal((a == 0), (c == 0))
    # The values that are not zeroed are torch's own normal_ draw from the same generator.
    ref = torch.empty(64, 512).normal_(
        0, 1.0, generator=torch.Generator().manual_seed(param_seed(1, "layer4.fc2.weight"))
    )
    kept = a != 0
    assert torch.equal(a[kept], ref[kept])


def test_eye_and_dirac_exact_values():
    t, info, p = _fill("eye", {}, "layer4.fc3.weight")
    assert torch.equal(t, torch.eye(10, 64))
    law = get_scheme("eye").distribution(info, p)
    assert law.mean == pytest.approx(10 / 640) and law.std == pytest.approx(math.sqrt(10 / 640 * 630 / 640))

    t, info, p = _fill("dirac", {}, "layer2.conv2.weight")  # (64, 32, 3, 3)
    assert int(t.sum()) == 32 and int((t != 0).sum()) == 32
    for i in range(64):
        for j in range(32):
            assert t[i, j, 1, 1] == (1.0 if i == j else 0.0)
    assert get_scheme("dirac").distribution(info, p).mean == pytest.approx(32 / 18432)

    t, info, p = _fill("dirac", {"groups": 2}, "layer2.conv2.weight")
    assert int(t.sum()) == 64
    assert all(t[g * 32 + d, d, 1, 1] == 1 for g in range(2) for d in range(32))
    assert get_scheme("dirac").distribution(info, p).mean == pytest.approx(64 / 18432)

    t, _, _ = _fill("dirac", {}, "layer1.conv1.weight")  # (32, 3, 3, 3): only 3 input channels
    assert int(t.sum()) == 3 and all(t[d, d, 1, 1] == 1 for d in range(3))


@pytest.mark.parametrize(
    "scheme, params, value", [("zeros", {}, 0.0), ("ones", {}, 1.0), ("constant", {"val": -2.5}, -2.5)]
)
def test_constant_fills(scheme, params, value):
    t, info, p = _fill(scheme, params, "layer4.fc2.weight")
    assert torch.equal(t, torch.full((64, 512), value))
    law = get_scheme(scheme).distribution(info, p)
    assert (law.mean, law.std) == (value, 0.0)


# --- bit-identical to torch.nn.init with the same seed ---------------------------------------


def _torch_reference(scheme: str, params: dict, shape: tuple, layer_fan_in: int, seed: int) -> torch.Tensor:
    t = torch.empty(shape)
    g = torch.Generator().manual_seed(seed)
    if scheme == "default":
        if len(shape) >= 2:
            init.kaiming_uniform_(t, a=math.sqrt(5), generator=g)
        else:
            bound = 1 / math.sqrt(layer_fan_in)
            init.uniform_(t, -bound, bound, generator=g)
    elif scheme == "lecun_normal":
        init.kaiming_normal_(t, mode="fan_in", nonlinearity="linear", generator=g)
    elif SCHEMES[scheme].random:
        getattr(init, scheme + "_")(t, **params, generator=g)
    else:
        getattr(init, scheme + "_")(t, **params)
    return t


TORCH_CASES = [(n, {}) for n in SCHEMES if n != "sparse"] + [
    ("trunc_normal", {"mean": 0.0, "std": 1.0, "a": 1.0, "b": 3.0}),
    ("kaiming_uniform", {"a": 0.3, "mode": "fan_out", "nonlinearity": "leaky_relu"}),
    ("orthogonal", {"gain": 0.5}),
    ("constant", {"val": 3.25}),
    ("dirac", {"groups": 2}),
]


@pytest.mark.parametrize("scheme, params", TORCH_CASES, ids=[f"{s}-{p}" for s, p in TORCH_CASES])
def test_apply_plan_fill_is_bit_identical_to_torch_init(scheme, params):
    model = build_model("SimpleCNN", seed=0)
    s = get_scheme(scheme)
    names = [n for n, (shape, fi) in CNN.items() if s.check_tensor(TensorInfo(shape, fi), s.resolve(params)) is None]
    if params:  # the default-parameter cases cover every tensor; the variants skip the two biggest, for speed
        names = [n for n in names if n not in ("layer4.fc1.weight", "layer3.conv3.weight")]
    assert names
    apply_plan(model, {"overrides": {n: {"scheme": scheme, **params} for n in names}}, seed=123)
    got = dict(model.named_parameters())
    for n in names:
        shape, fan_in = CNN[n]
        ref = _torch_reference(scheme, s.resolve(params), shape, fan_in, param_seed(123, n))
        assert torch.equal(got[n].detach().view(torch.int32), ref.view(torch.int32)), n


# --- worked formulas carry the numbers --------------------------------------------------------


def test_worked_formulas_show_this_tensors_numbers():
    conv1 = TensorInfo((32, 3, 3, 3))
    text = get_scheme("kaiming_normal").worked(conv1, {"nonlinearity": "relu"})
    assert "0.272" in text and "27" in text and r"\sqrt{2}" in text
    text = get_scheme("kaiming_uniform").worked(conv1, {"nonlinearity": "relu"})
    assert "0.272" in text and "0.471" in text  # bound sqrt(3) * 0.2722
    text = get_scheme("default").worked(TensorInfo((512, 2048)))
    assert "2048" in text and "0.0221" in text and "0.0128" in text
    text = get_scheme("default").worked(TensorInfo((512,), 2048))
    assert "2048" in text and "0.0128" in text
    text = get_scheme("xavier_normal").worked(TensorInfo((64, 512)))
    assert "512 + 64" in text and "0.0589" in text
    text = get_scheme("trunc_normal").worked(TensorInfo((10, 10)))
    assert "0.88" in text
    text = get_scheme("sparse").worked(TensorInfo((64, 512)), {"sparsity": 0.1, "std": 1.0})
    assert "0.109" in text and "0.944" in text  # 7/64 zeros; sqrt(1 - 7/64)
    text = get_scheme("orthogonal").worked(TensorInfo((10, 64)))
    assert "64" in text and "0.125" in text
    text = get_scheme("lecun_normal").worked(TensorInfo((10, 64)))
    assert "0.125" in text
    text = get_scheme("eye").worked(TensorInfo((10, 64)))
    assert "10" in text and "640" in text


# --- distributions ---------------------------------------------------------------------------

LAWS = [
    (Uniform(-1.0, 2.0), -1.0, 2.0),
    (Normal(0.3, 2.0), -30.0, 30.0),
    (TruncNormal(0.0, 1.0, -2.0, 2.0), -2.0, 2.0),
    (TruncNormal(0.5, 2.0, -1.0, 3.0), -1.5, 3.5),
    (PointMass(0.0), -1.0, 1.0),
    (PointMass(1.0), 0.0, 1.0),  # on the last edge: the last bin is closed
    (PointMass(0.0), 0.0, 1.0),  # on the first edge
    (Mixture(((0.25, PointMass(0.0)), (0.75, Normal(0.0, 0.01)))), -0.2, 0.2),
    (Mixture(((0.3, Normal(1.0, 2.0)), (0.7, Uniform(-1.0, 3.0)))), -30.0, 30.0),
]


@pytest.mark.parametrize("law, lo, hi", LAWS)
@pytest.mark.parametrize("bins", [1, 7, 40])
def test_bin_probabilities_sum_to_one_over_a_covering_range(law, lo, hi, bins):
    edges = [lo + (hi - lo) * i / bins for i in range(bins)] + [hi]
    probs = law.bin_probabilities(edges)
    assert len(probs) == bins
    assert all(p >= 0 for p in probs)
    assert sum(probs) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("value, index", [(-1.0, 0), (-0.75, 0), (-0.5, 1), (0.0, 2), (0.49, 2), (0.5, 3), (1.0, 3)])
def test_point_mass_lands_in_its_bin(value, index):
    edges = [-1.0, -0.5, 0.0, 0.5, 1.0]
    probs = PointMass(value).bin_probabilities(edges)
    assert probs == [1.0 if i == index else 0.0 for i in range(4)]
    # The same bin torch.histc puts the value in.
    counts = torch.histc(torch.tensor([value]), bins=4, min=-1.0, max=1.0)
    assert int(counts[index]) == 1


def test_mixture_of_point_masses_splits_its_weight():
    law = Mixture(((0.9, PointMass(0.0)), (0.1, PointMass(1.0))))
    probs = law.bin_probabilities([0.0, 0.25, 0.5, 0.75, 1.0])
    assert probs == pytest.approx([0.9, 0.0, 0.0, 0.1])
    assert law.mean == pytest.approx(0.1) and law.std == pytest.approx(0.3)


def _trunc_moments(mu: float, sigma: float, a: float, b: float, n: int = 400_001) -> tuple[float, float]:
    """Mean and std of N(mu, sigma^2) on [a, b] by the trapezoid rule, in float64."""
    x = torch.linspace(a, b, n, dtype=torch.float64)
    w = torch.exp(-0.5 * ((x - mu) / sigma) ** 2)
    z = torch.trapezoid(w, x)
    m = torch.trapezoid(x * w, x) / z
    v = torch.trapezoid((x - m) ** 2 * w, x) / z
    return float(m), float(v.sqrt())


@pytest.mark.parametrize(
    "mu, sigma, a, b",
    [
        (0.0, 1.0, -2.0, 2.0),
        (0.5, 2.0, -1.0, 3.0),
        (0.0, 1.0, 1.0, 3.0),
        (1.0, 0.5, -4.0, 6.0),
        (0.0, 1.0, 0.0, 0.5),
        (0.0, 1.0, 0.0, 0.01),  # narrow: the closed form cancels catastrophically here
        (0.0, 1.0, 0.3, 0.300001),
        (0.0, 1.0, 1.9, 1.9 + 1e-9),
        (2.0, 1.0, 0.0, 1e-12),
    ],
)
def test_trunc_normal_moments_against_numerical_integration(mu, sigma, a, b):
    law = TruncNormal(mu, sigma, a, b)
    m, s = _trunc_moments(mu, sigma, a, b)
    assert law.std == pytest.approx(s, rel=1e-6)
    # The mean to 1e-6 of the interval's width, or to double precision of mu and sigma.
    assert law.mean == pytest.approx(m, rel=1e-9, abs=1e-6 * (b - a) + 1e-15 * (abs(mu) + sigma))
    assert a <= law.mean <= b
    edges = [a + (b - a) * i / 10 for i in range(10)] + [b]
    probs = law.bin_probabilities(edges)
    assert sum(probs) == pytest.approx(1.0, abs=1e-9)


def test_trunc_normal_on_an_interval_narrower_than_float_precision_of_the_cdf():
    law = TruncNormal(0.0, 1.0, 0.0, 1e-17)
    assert law.std == pytest.approx(1e-17 / math.sqrt(12), rel=1e-6)
    assert law.cdf(0.5e-17) == pytest.approx(0.5, rel=1e-6)


@pytest.mark.parametrize("sigma", [5e-324, 1e-310, 1e-300])
def test_trunc_normal_with_a_subnormal_sigma_is_a_point_at_the_mean(sigma):
    # (a - mu) / sigma overflows to -inf: the closed form must not turn inf * 0 into NaN.
    law = TruncNormal(0.0, sigma, -2.0, 2.0)
    assert law.std == pytest.approx(sigma, rel=1e-6, abs=1e-323) and law.mean == 0.0
    assert get_scheme("trunc_normal").expected_std((10, 10), {"std": sigma}) == law.std


def test_trunc_normal_and_mixture_std_against_monte_carlo():
    n = 1_000_000
    g = torch.Generator().manual_seed(0)
    x = init.trunc_normal_(torch.empty(n, dtype=torch.float64), 0.5, 2.0, -1.0, 3.0, generator=g)
    law = TruncNormal(0.5, 2.0, -1.0, 3.0)
    assert float(x.std()) == pytest.approx(law.std, rel=5 * 0.5 * math.sqrt(0.8 / n) * 2)
    assert float(x.mean()) == pytest.approx(law.mean, abs=5 * law.std / math.sqrt(n))

    mix = Mixture(((0.3, Normal(1.0, 2.0)), (0.7, Uniform(-1.0, 3.0))))
    assert mix.mean == pytest.approx(1.0)
    assert mix.std == pytest.approx(math.sqrt(0.3 * 5 + 0.7 * (16 / 12 + 1) - 1), rel=1e-14)
    pick = torch.rand(n, generator=g, dtype=torch.float64) < 0.3
    y = torch.where(
        pick,
        torch.randn(n, generator=g, dtype=torch.float64) * 2 + 1,
        torch.rand(n, generator=g, dtype=torch.float64) * 4 - 1,
    )
    assert float(y.std()) == pytest.approx(mix.std, rel=5 / math.sqrt(n) * 2)
    assert float(y.mean()) == pytest.approx(mix.mean, abs=5 * mix.std / math.sqrt(n))


def test_uniform_and_normal_laws():
    u = Uniform(-1.0, 3.0)
    assert (u.mean, u.std) == (1.0, pytest.approx(4 / math.sqrt(12)))
    assert (u.cdf(-2.0), u.cdf(0.0), u.cdf(3.0), u.cdf(9.0)) == (0.0, 0.25, 1.0, 1.0)
    n = Normal(1.0, 2.0)
    assert n.cdf(1.0) == 0.5 and n.cdf(3.0) == pytest.approx(0.8413447460685429)
    degenerate = Normal(1.0, 0.0)  # normal with std 0 is a point mass
    assert degenerate.bin_probabilities([0.0, 1.0, 2.0]) == [0.0, 1.0]


# --- the same bits whatever torch's thread count -----------------------------------------------


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _fill_every_tensor(scheme: str) -> dict[str, torch.Tensor]:
    """`scheme` (default parameters) drawn into every SimpleCNN-shaped tensor it can fill."""
    s = get_scheme(scheme)
    out = {}
    for name, (shape, fan_in) in CNN.items():
        info = TensorInfo(shape, fan_in)
        if s.check_tensor(info, s.resolve()) is None:
            t = torch.empty(shape)
            with torch.no_grad():
                s.fill(t, s.resolve(), info, torch.Generator().manual_seed(param_seed(7, name)))
            out[name] = t
    return out


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_every_fill_is_the_same_on_1_2_and_4_threads(scheme, restore_threads):
    """The page runs one torch thread; an exported script or a notebook runs torch's default
    (the core count). The weights must not depend on it: torch's QR (orthogonal) rounds
    differently with 1 and 2 threads, so pinit computes it on one."""
    draws = {}
    for threads in (1, 2, 4):
        torch.set_num_threads(threads)
        draws[threads] = _fill_every_tensor(scheme)
        assert torch.get_num_threads() == threads  # the caller's count is left as it was
    assert draws[1]
    for threads in (2, 4):
        for name, t in draws[1].items():
            assert torch.equal(t.view(torch.int32), draws[threads][name].view(torch.int32)), (scheme, threads, name)
