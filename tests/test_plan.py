"""pinit.plan: InitPlan parsing and validation, and apply_plan's seeding and atomicity."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch
from torch import nn

import pinit
from pinit import (
    PRESETS,
    SCHEMES,
    InitPlan,
    PlanError,
    Rule,
    apply_plan,
    assignments,
    build_model,
    check_plan,
    param_seed,
)
from pinit.plan import MAX_SEED

KAIMING = PRESETS["Kaiming (He)"].plan
CNN_NAMES = [n for n, _ in pinit.SimpleCNN().named_parameters()]


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit for bit (0.0 and -0.0 differ, NaN equals the same NaN)."""
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(torch.int32), b.view(torch.int32))


def unchanged(model: nn.Module, snap: dict[str, torch.Tensor]) -> list[str]:
    """Names of the parameters that differ from `snap` (empty: bit-identical)."""
    return [n for n, p in model.named_parameters() if not bits_equal(p.detach(), snap[n])]


# --- apply_plan: seeding --------------------------------------------------------------------

ALL_RANDOM = {
    "rules": {
        "Conv2d": {"weight": {"scheme": "orthogonal", "gain": 1.5}, "bias": {"scheme": "default"}},
        "Linear": {"weight": {"scheme": "xavier_normal"}, "bias": {"scheme": "uniform", "a": -0.1, "b": 0.1}},
    },
    "overrides": {"layer4.fc3.weight": {"scheme": "sparse", "sparsity": 0.2, "std": 0.5}},
}


@pytest.mark.parametrize("plan", [KAIMING, ALL_RANDOM], ids=["kaiming", "all-random"])
def test_same_model_plan_and_seed_give_bit_identical_parameters(plan):
    a = apply_plan(build_model("SimpleCNN", seed=1), plan, seed=42)
    b = apply_plan(build_model("SimpleCNN", seed=2), plan, seed=42)  # different starting values
    sa, sb = snapshot(a), snapshot(b)
    assert all(bits_equal(sa[n], sb[n]) for n in CNN_NAMES)
    apply_plan(a, plan, seed=42)  # re-applying is idempotent
    assert unchanged(a, sa) == []


def test_different_seeds_give_different_draws():
    a = snapshot(apply_plan(build_model("SimpleCNN", seed=0), ALL_RANDOM, seed=1))
    b = snapshot(apply_plan(build_model("SimpleCNN", seed=0), ALL_RANDOM, seed=2))
    for n in CNN_NAMES:
        assert not torch.equal(a[n], b[n]), n


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_global_rng_is_never_touched(scheme):
    model = build_model("SimpleCNN", seed=0)
    plan = {
        "overrides": {n: {"scheme": scheme} for n in CNN_NAMES if not check_plan(model, {"overrides": {n: scheme}})}
    }
    assert plan["overrides"]
    torch.manual_seed(2024)
    state, initial = torch.get_rng_state(), torch.initial_seed()
    apply_plan(model, plan, seed=9)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.initial_seed() == initial == 2024


def test_global_rng_state_does_not_change_the_result():
    torch.manual_seed(1)
    a = snapshot(apply_plan(build_model("SimpleCNN", seed=0), ALL_RANDOM, seed=5))
    torch.manual_seed(2)
    b = snapshot(apply_plan(build_model("SimpleCNN", seed=0), ALL_RANDOM, seed=5))
    assert all(bits_equal(a[n], b[n]) for n in CNN_NAMES)


def test_changing_the_linear_rule_never_rerolls_conv2d():
    base = {
        "rules": {
            "Conv2d": {"weight": {"scheme": "kaiming_normal", "nonlinearity": "relu"}, "bias": {"scheme": "default"}},
            "Linear": {"weight": {"scheme": "normal", "std": 1.0}},
        }
    }
    other = json.loads(json.dumps(base))
    other["rules"]["Linear"]["weight"] = {"scheme": "xavier_uniform"}
    a = snapshot(apply_plan(build_model("SimpleCNN", seed=0), base, seed=3))
    b = snapshot(apply_plan(build_model("SimpleCNN", seed=0), other, seed=3))
    for n in CNN_NAMES:
        if "conv" in n:
            assert bits_equal(a[n], b[n]), n
        elif n.endswith("weight"):
            assert not torch.equal(a[n], b[n]), n
        else:  # Linear biases: no rule in either plan
            assert bits_equal(a[n], b[n]), n


def test_param_seed_is_sha256_of_seed_and_name():
    for seed, name in [(0, "layer1.conv1.weight"), (12345, "layer4.fc2 .weight"), (MAX_SEED, "x")]:
        digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
        assert param_seed(seed, name) == int.from_bytes(digest[:8], "big") & (2**63 - 1)
        assert 0 <= param_seed(seed, name) <= MAX_SEED
    assert param_seed(0, "a") != param_seed(0, "b") != param_seed(1, "b")


# --- apply_plan: what is and is not touched -------------------------------------------------


def test_untouched_parameters_keep_their_values():
    model = build_model("SimpleCNN", seed=0)
    before = snapshot(model)
    apply_plan(model, {"rules": {"Conv2d": {"weight": {"scheme": "zeros"}}}}, seed=0)
    changed = unchanged(model, before)
    assert changed == ["layer1.conv1.weight", "layer2.conv2.weight", "layer3.conv3.weight"]
    assert all(float(model.get_parameter(n).detach().abs().max()) == 0 for n in changed)


def test_overrides_win_over_rules():
    plan = {
        "rules": {"Linear": {"weight": {"scheme": "normal", "mean": 0.0, "std": 1.0}}},
        "overrides": {"layer4.fc3.weight": {"scheme": "constant", "val": 0.25}},
    }
    model = apply_plan(build_model("SimpleCNN", seed=0), plan, seed=0)
    assert torch.equal(model.layer4.fc3.weight.detach(), torch.full((10, 64), 0.25))
    assert float(model.layer4.fc1.weight.detach().std()) == pytest.approx(1.0, abs=0.005)
    src = {a.name: (a.source, a.rule.scheme if a.rule else None) for a in assignments(model, plan)}
    assert src["layer4.fc3.weight"] == ("override", "constant")
    assert src["layer4.fc1.weight"] == ("rule", "normal")
    assert src["layer4.fc1.bias"] == ("untouched", None)


def test_assignments_describe_every_parameter():
    model = build_model("SimpleCNN")
    rows = assignments(model, KAIMING)
    assert [a.name for a in rows] == CNN_NAMES
    a = rows[0]
    assert (a.layer, a.layer_type, a.slot, a.info.shape, a.info.layer_fan_in) == (
        "layer1.conv1",
        "Conv2d",
        "weight",
        (32, 3, 3, 3),
        27,
    )
    bias = rows[7]
    assert (bias.name, bias.info.shape, bias.info.layer_fan_in, bias.info.fan_in) == (
        "layer4.fc1.bias",
        (512,),
        2048,
        None,
    )


def test_apply_plan_works_on_any_module():
    model = nn.Sequential(nn.Linear(20, 30), nn.BatchNorm1d(30), nn.ReLU(), nn.Linear(30, 5))
    with torch.no_grad():
        model[1].weight.fill_(2.0)
        model[1].running_mean.fill_(0.5)
    plan = {
        "rules": {
            "Linear": {"weight": {"scheme": "xavier_normal"}, "bias": {"scheme": "zeros"}},
            "BatchNorm1d": {"weight": {"scheme": "ones"}, "bias": {"scheme": "constant", "val": 0.1}},
        },
        "overrides": {"3.weight": {"scheme": "eye"}},
    }
    apply_plan(model, plan, seed=0)
    assert torch.equal(model[1].weight.detach(), torch.ones(30))
    assert torch.equal(model[1].bias.detach(), torch.full((30,), 0.1))
    assert torch.equal(model[1].running_mean, torch.full((30,), 0.5))  # buffers are not parameters
    assert torch.equal(model[0].bias.detach(), torch.zeros(30)) and torch.equal(model[3].bias.detach(), torch.zeros(5))
    assert torch.equal(model[3].weight.detach(), torch.eye(5, 30))
    ref = torch.nn.init.xavier_normal_(
        torch.empty(30, 20), generator=torch.Generator().manual_seed(param_seed(0, "0.weight"))
    )
    assert torch.equal(model[0].weight.detach(), ref)
    # BatchNorm's 1-D weight has no fan_in: 'default' can't draw it, and says so.
    with pytest.raises(
        PlanError, match=r"default draws a 1-D tensor from its layer's weight fan_in.*1\.weight has shape \(30,\)"
    ):
        apply_plan(model, {"rules": {"BatchNorm1d": {"weight": {"scheme": "default"}}}})


def test_a_model_with_tied_weights_is_filled_once():
    lin = nn.Linear(8, 8)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    apply_plan(model, {"rules": {"Linear": {"weight": "orthogonal"}}}, seed=0)
    w = lin.weight.detach()
    assert torch.allclose(w @ w.T, torch.eye(8), atol=1e-5)


# --- every scheme on every slot: finite, or refused with nothing changed --------------------

SLOTS = [("Conv2d", "weight"), ("Conv2d", "bias"), ("Linear", "weight"), ("Linear", "bias")]


def _expected_refusal(scheme: str, ndim: int) -> bool:
    """From DESIGN.md: which tensor dims each scheme takes (independent of schemes.py)."""
    if scheme in ("default", "uniform", "normal", "trunc_normal", "constant", "ones", "zeros"):
        return False  # any dims ('default' uses the layer's weight fan_in for a bias)
    if scheme in ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "lecun_normal", "orthogonal"):
        return ndim < 2
    if scheme in ("eye", "sparse"):
        return ndim != 2
    if scheme == "dirac":
        return not 3 <= ndim <= 5
    raise AssertionError(f"scheme {scheme} missing from this test")


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_every_scheme_on_every_slot_is_finite_or_refused_atomically(scheme):
    model = build_model("SimpleCNN", seed=0)
    for layer_type, slot in SLOTS:
        reached = [
            (n, p)
            for n, p in model.named_parameters()
            if n.endswith(slot) and (("conv" in n) == (layer_type == "Conv2d"))
        ]
        ndim = reached[0][1].dim()
        before = snapshot(model)
        plan = {"rules": {layer_type: {slot: {"scheme": scheme}}}}
        if _expected_refusal(scheme, ndim):
            with pytest.raises(PlanError) as exc:
                apply_plan(model, plan, seed=0)
            assert unchanged(model, before) == []
            problems = exc.value.problems
            assert len(problems) == len(reached)  # one problem per parameter, all reported at once
            for problem, (name, p) in zip(problems, reached):
                assert problem.startswith(f"{scheme} needs a ")
                assert f"; {name} has shape {tuple(p.shape)}" in problem
            assert check_plan(model, plan) == problems
        else:
            apply_plan(model, plan, seed=0)
            for name, p in reached:
                assert bool(torch.isfinite(p).all()), (scheme, name)
            assert check_plan(model, plan) == []
            changed = set(unchanged(model, before))
            assert changed <= {n for n, _ in reached}


def test_eye_on_a_conv_weight_names_parameter_scheme_and_problem():
    model = build_model("SimpleCNN", seed=0)
    with pytest.raises(PlanError) as exc:
        apply_plan(model, {"overrides": {"layer1.conv1.weight": {"scheme": "eye"}}})
    assert exc.value.problems == ["eye needs a 2-D tensor; layer1.conv1.weight has shape (32, 3, 3, 3)"]
    with pytest.raises(PlanError) as exc:
        apply_plan(model, {"overrides": {"layer1.conv1.bias": {"scheme": "kaiming_normal"}}})
    assert exc.value.problems == [
        "kaiming_normal needs a 2-D or higher tensor (fan_in and fan_out need 2 dims); "
        "layer1.conv1.bias has shape (32,)"
    ]
    with pytest.raises(PlanError) as exc:
        apply_plan(model, {"overrides": {"layer4.fc1.weight": {"scheme": "dirac"}}})
    assert exc.value.problems == ["dirac needs a 3-D to 5-D tensor; layer4.fc1.weight has shape (512, 2048)"]
    with pytest.raises(PlanError) as exc:
        apply_plan(model, {"overrides": {"layer1.conv1.weight": {"scheme": "dirac", "groups": 5}}})
    assert exc.value.problems == [
        "dirac needs size(0) divisible by groups; size(0) = 32, groups = 5; layer1.conv1.weight has shape (32, 3, 3, 3)"
    ]


# --- refusals: each a PlanError (a ValueError) that echoes the value and says what is allowed --

REFUSED = [
    ({"scheme": "he_normal"}, ["unknown scheme 'he_normal'", "known schemes:", "kaiming_normal"]),
    ({"scheme": None}, ["unknown scheme None"]),
    ({"scheme": ["normal"]}, ["unknown scheme ['normal']"]),
    ({"scheme": "normal", "sd": 1.0}, ["normal has no parameter 'sd'", "it takes mean, std"]),
    ({"scheme": "zeros", "val": 1.0}, ["zeros has no parameter 'val'", "no parameters"]),
    ({"scheme": "normal", "std": -1.0}, ["std=-1 is out of range", "[0, 10000]"]),
    ({"scheme": "normal", "std": math.nan}, ["std=nan is not finite", "[0, 10000]"]),
    ({"scheme": "normal", "std": math.inf}, ["std=inf is not finite"]),
    ({"scheme": "normal", "std": -math.inf}, ["std=-inf is not finite"]),
    ({"scheme": "normal", "std": 1e5}, ["std=100000 is out of range", "[0, 10000]"]),
    ({"scheme": "normal", "std": 10**400}, ["std is a 1329-bit integer, out of range", "[0, 10000]"]),
    ({"scheme": "normal", "std": "1"}, ["std='1' is not a number", "[0, 10000]"]),
    ({"scheme": "normal", "std": True}, ["std=True is not a number"]),
    ({"scheme": "normal", "std": None}, ["std=None is not a number"]),
    ({"scheme": "xavier_uniform", "gain": -2.0}, ["gain=-2 is out of range", "[0, 10000]"]),
    ({"scheme": "xavier_normal", "gain": math.nan}, ["gain=nan is not finite"]),
    ({"scheme": "orthogonal", "gain": math.inf}, ["gain=inf is not finite"]),
    ({"scheme": "orthogonal", "gain": 1e300}, ["gain=1×10³⁰⁰ is out of range"]),
    ({"scheme": "uniform", "a": 1.0, "b": 1.0}, ["uniform needs a < b; got a=1, b=1"]),
    ({"scheme": "uniform", "a": 2.0, "b": -1.0}, ["uniform needs a < b; got a=2, b=-1"]),
    ({"scheme": "trunc_normal", "a": 2.0, "b": -2.0}, ["trunc_normal needs a < b; got a=2, b=-2"]),
    ({"scheme": "trunc_normal", "a": 0.5, "b": 0.5}, ["trunc_normal needs a < b; got a=0.5, b=0.5"]),
    ({"scheme": "trunc_normal", "std": 0.0}, ["std=0 is out of range", "(0, 10000]"]),
    ({"scheme": "trunc_normal", "mean": 10.0}, ["mean within 2 std of [a, b] = [-2, 2]", "got mean=10, std=1"]),
    # One tail 99 std wide: torch's rejection sampler keeps 0.66% of its draws (73 s on fc1).
    (
        {"scheme": "trunc_normal", "a": 1.0, "b": 100.0},
        ["keeps only 0.66% of torch's draws", "at least 20%", "[a, b] = [1, 100]"],
    ),
    ({"scheme": "sparse", "sparsity": 1.5}, ["sparsity=1.5 is out of range", "[0, 1]"]),
    ({"scheme": "sparse", "sparsity": -0.1}, ["sparsity=-0.1 is out of range", "[0, 1]"]),
    ({"scheme": "kaiming_normal", "mode": "fan_avg"}, ["mode='fan_avg' is not allowed", "one of fan_in, fan_out"]),
    ({"scheme": "kaiming_uniform", "nonlinearity": "gelu"}, ["nonlinearity='gelu' is not allowed", "relu", "tanh"]),
    ({"scheme": "kaiming_uniform", "a": -0.1}, ["a=-0.1 is out of range"]),
    ({"scheme": "dirac", "groups": 1.5}, ["groups=1.5 is not a whole number", "a whole number in [1, 4096]"]),
    ({"scheme": "dirac", "groups": 0}, ["groups=0 is out of range"]),
    ({"scheme": "constant", "val": math.nan}, ["val=nan is not finite"]),
]


@pytest.mark.parametrize("rule, words", REFUSED, ids=[repr(r) for r, _ in REFUSED])
def test_bad_rules_are_refused_in_words_and_nothing_changes(rule, words):
    model = build_model("SimpleCNN", seed=0)
    before = snapshot(model)
    plan = {"rules": {"Linear": {"weight": rule}}}
    with pytest.raises(PlanError) as exc:
        apply_plan(model, plan, seed=0)
    assert isinstance(exc.value, ValueError)
    msg = str(exc.value)
    assert msg.startswith("Linear.weight: ")  # where the bad rule is
    for w in words:
        assert w in msg, (w, msg)
    assert unchanged(model, before) == []
    assert check_plan(model, plan) == exc.value.problems


EXTREME_BUT_ALLOWED = [
    ({"scheme": "normal", "mean": 1e4, "std": 1e4}, None),
    ({"scheme": "normal", "std": 0.0}, (0.0, 0.0)),
    ({"scheme": "uniform", "a": -1e4, "b": 1e4}, (-1e4, 1e4)),
    ({"scheme": "uniform", "a": 0.0, "b": 5e-324}, (0.0, 0.0)),  # rounds to a constant in float32
    ({"scheme": "trunc_normal", "std": 5e-324}, (0.0, 0.0)),  # a and b are 1e308 sigma away
    ({"scheme": "trunc_normal", "mean": 0.0, "std": 1.0, "a": 0.0, "b": 1e-6}, (0.0, 1e-6)),
    ({"scheme": "trunc_normal", "mean": 1e4, "std": 1e4, "a": -1e4, "b": 1e4}, (-1e4, 1e4)),
    ({"scheme": "orthogonal", "gain": 1e4}, None),
    ({"scheme": "orthogonal", "gain": 0.0}, (0.0, 0.0)),
    ({"scheme": "xavier_uniform", "gain": 1e4}, None),
    ({"scheme": "kaiming_normal", "a": 1e4, "nonlinearity": "leaky_relu"}, None),
    ({"scheme": "kaiming_uniform", "mode": "fan_out", "nonlinearity": "selu"}, None),
    ({"scheme": "sparse", "sparsity": 1.0, "std": 1e4}, (0.0, 0.0)),
    ({"scheme": "sparse", "sparsity": 0.0, "std": 0.0}, (0.0, 0.0)),
    ({"scheme": "constant", "val": -1e4}, (-1e4, -1e4)),
]


@pytest.mark.parametrize("rule, bounds", EXTREME_BUT_ALLOWED, ids=[repr(r) for r, _ in EXTREME_BUT_ALLOWED])
def test_extreme_but_allowed_rules_give_finite_weights_and_a_finite_law(rule, bounds):
    model = build_model("SimpleCNN", seed=0)
    name = "layer4.fc2.weight"
    apply_plan(model, {"overrides": {name: rule}}, seed=0)
    w = model.get_parameter(name).detach()
    assert bool(torch.isfinite(w).all())
    if bounds is not None:
        assert bounds[0] <= float(w.min()) and float(w.max()) <= bounds[1]
    row = pinit.parameter_table(model, {"overrides": {name: rule}}).set_index("name").loc[name]
    assert math.isfinite(row["expected_std"]) and row["expected_std"] >= 0


def test_trunc_normal_tail_that_torch_samples_quickly_is_accepted():
    # N(0, 1) on [1, 3]: torch keeps 32.5% of its draws; allowed, and the law is right.
    rule = Rule.from_dict({"scheme": "trunc_normal", "a": 1.0, "b": 3.0}, "x")
    assert rule.params == {"mean": 0.0, "std": 1.0, "a": 1.0, "b": 3.0}
    model = apply_plan(build_model("SimpleCNN", seed=0), {"overrides": {"layer4.fc2.weight": rule.to_dict()}}, seed=0)
    w = model.layer4.fc2.weight.detach()
    assert float(w.min()) >= 1.0 and float(w.max()) <= 3.0


def test_every_problem_is_reported_at_once():
    plan = {
        "rules": {"Linear": {"weight": {"scheme": "normal", "std": -1}, "bias": {"scheme": "nope"}}},
        "overrides": {"layer9.weight": "zeros", "layer4.fc1.weight": {"scheme": "uniform", "a": 1, "b": 0}},
    }
    with pytest.raises(PlanError) as exc:
        InitPlan.from_dict(plan)
    assert len(exc.value.problems) == 3  # the unknown override name is a problem of plan vs model
    assert str(exc.value) == "\n".join(exc.value.problems)
    fixed = dict(plan, rules={})
    fixed["overrides"] = {"layer9.weight": "zeros", "layer4.fc1.weight": "eye"}
    with pytest.raises(PlanError) as exc:
        apply_plan(build_model("SimpleCNN"), fixed)
    (problem,) = exc.value.problems
    assert problem.startswith(
        "override names 'layer9.weight', which is not a parameter of SimpleCNN; its parameters are: "
    )
    assert "layer1.conv1.weight" in problem and "layer4.fc3.bias" in problem


def test_unknown_override_name_changes_nothing():
    model = build_model("SimpleCNN", seed=0)
    before = snapshot(model)
    plan = {
        "rules": {"Linear": {"weight": "zeros"}},
        "overrides": {"layer4.fc2.weight": "ones", "layer4.fc4.weight": "zeros"},
    }
    with pytest.raises(PlanError, match="override names 'layer4.fc4.weight'"):
        apply_plan(model, plan, seed=0)
    assert unchanged(model, before) == []


@pytest.mark.parametrize("bad", [None, [], "rules", 3])
def test_a_plan_must_be_an_object(bad):
    with pytest.raises(PlanError, match="a plan must be an object"):
        InitPlan.from_dict(bad)


@pytest.mark.parametrize(
    "plan, words",
    [
        ({"rule": {}}, ["unknown keys: ['rule']"]),
        ({"rules": []}, ["'rules' must map layer types"]),
        ({"rules": {"Linear": "zeros"}}, ["rules['Linear'] must map slots"]),
        ({"overrides": ["x"]}, ["'overrides' must map parameter names"]),
        ({"rules": {"Linear": {"weight": 5}}}, ["Linear.weight: a rule must be an object with a 'scheme' key, got 5"]),
        ({"rules": {"Linear": {"weight": {"std": 1.0}}}}, ["a rule must be an object with a 'scheme' key"]),
    ],
)
def test_malformed_plans_are_refused(plan, words):
    with pytest.raises(PlanError) as exc:
        apply_plan(build_model("SimpleCNN"), plan)
    for w in words:
        assert w in str(exc.value)


@pytest.mark.parametrize("seed", [-1, True, False, 1.5, 3.0, "3", None, 2**63, 10**400])
def test_bad_seeds_are_refused(seed):
    model = build_model("SimpleCNN", seed=0)
    before = snapshot(model)
    with pytest.raises(PlanError) as exc:
        apply_plan(model, KAIMING, seed=seed)
    msg = str(exc.value)
    assert "seed must be a whole number from 0 to 9223372036854775807" in msg
    # A huge int is described by its size: repr() of one past 4,300 digits would itself fail.
    assert msg.endswith("got an integer of 1329 bits" if seed == 10**400 else f"got {seed!r}")
    assert unchanged(model, before) == []
    with pytest.raises(PlanError):
        param_seed(seed, "layer1.conv1.weight")


def test_extreme_good_seeds_are_accepted():
    for seed in (0, MAX_SEED):
        model = apply_plan(build_model("SimpleCNN", seed=0), KAIMING, seed=seed)
        assert bool(torch.isfinite(model.layer4.fc1.weight).all())


# --- InitPlan round trips ------------------------------------------------------------------


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_round_trips_through_dict_and_json(preset):
    plan = InitPlan.from_dict(PRESETS[preset].plan)
    assert InitPlan.from_dict(plan.to_dict()) == plan
    assert InitPlan.from_dict(json.loads(plan.to_json())) == plan
    assert json.loads(plan.to_json()) == plan.to_dict()
    assert InitPlan.from_dict(plan) is plan
    # And every preset fills each of the article's models and the MLP without a problem.
    for model_name in ("SimpleCNN", "ArticleSimpleCNN", "DeepMLP"):
        model = build_model(model_name, seed=0)
        assert check_plan(model, plan) == [], (preset, model_name)
        apply_plan(model, plan, seed=0)
        assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_from_dict_fills_in_defaults_and_reads_shorthand():
    plan = InitPlan.from_dict(PRESETS["Article recipe"].plan)
    conv_w = plan.rules["Conv2d"]["weight"]
    assert conv_w == Rule("kaiming_normal", {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu"})
    assert plan.rules["Linear"]["weight"].params == {"mean": 0.0, "std": 1.0}
    assert "bias" not in plan.rules["Linear"]  # the article leaves the Linear bias alone
    short = InitPlan.from_dict({"rules": {"Linear": {"bias": "zeros"}}, "overrides": {"layer4.fc3.weight": "eye"}})
    assert short.rules["Linear"]["bias"] == Rule("zeros", {})
    assert short.to_dict() == {
        "rules": {"Linear": {"bias": {"scheme": "zeros"}}},
        "overrides": {"layer4.fc3.weight": {"scheme": "eye"}},
    }
    # Numbers are stored as floats, whole numbers as ints.
    r = Rule.from_dict({"scheme": "dirac", "groups": 2.0}, "x")
    assert r.params == {"groups": 2} and type(r.params["groups"]) is int
    assert type(Rule.from_dict({"scheme": "normal", "std": 1}, "x").params["std"]) is float


def test_empty_plan_touches_nothing():
    model = build_model("SimpleCNN", seed=0)
    before = snapshot(model)
    for plan in ({}, {"rules": {}, "overrides": {}}, {"rules": None, "overrides": None}, InitPlan()):
        apply_plan(model, plan, seed=0)
    assert unchanged(model, before) == []


# --- atomic for every dtype (issue 10, item 10) ---------------------------------------------------------


def state_bytes(model: nn.Module) -> dict[str, bytes]:
    """Every state_dict entry as raw bytes, whatever its dtype: bit-identical means equal bytes."""
    return {k: v.detach().contiguous().view(torch.uint8).numpy().tobytes() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_orthogonal_on_half_precision_is_refused_before_anything_changes(dtype):
    model = build_model("SimpleCNN", seed=0).to(dtype)
    before = state_bytes(model)
    plan = {"rules": {"Conv2d": {"weight": "kaiming_normal"}, "Linear": {"weight": "orthogonal"}}}
    with pytest.raises(PlanError) as e:  # was NotImplementedError after the Conv2d weights were drawn
        apply_plan(model, plan, seed=0)
    assert state_bytes(model) == before
    assert e.value.problems[0] == (
        f"orthogonal needs a float32 or float64 tensor (torch's QR has no {dtype} kernel); "
        f"layer4.fc1.weight has dtype {dtype}"
    )
    assert len(e.value.problems) == 3 and check_plan(model, plan) == e.value.problems


def test_random_schemes_on_integer_parameters_are_refused_before_anything_changes():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    model[1].weight = nn.Parameter(torch.zeros(2, 3, dtype=torch.int64), requires_grad=False)
    before = state_bytes(model)
    with pytest.raises(PlanError) as e:
        apply_plan(model, {"rules": {"Linear": {"weight": "normal", "bias": "zeros"}}}, seed=0)
    assert state_bytes(model) == before
    assert e.value.problems == [
        "normal draws random numbers, so it needs a floating-point tensor; 1.weight has dtype torch.int64"
    ]
    apply_plan(model, {"overrides": {"1.weight": "ones"}}, seed=0)  # a deterministic fill is fine
    assert model[1].weight.tolist() == [[1, 1, 1], [1, 1, 1]]


# --- one model, several threads (issue 10, item 12) -----------------------------------------------------


def test_apply_plan_from_two_threads_on_one_model_never_gives_nan():
    """torch's in-place fills are not thread-safe: trunc_normal_ is uniform_, erfinv_, mul_, add_,
    clamp_ in turn, and another thread's erfinv_ on already-scaled values gives NaN. Two threads
    released together on one model left NaN in 27-29 of 30 models before apply_plan serialized
    its fills per model; the weights are checked after both threads finish (reading a model while
    another thread fills it is not safe, with or without the lock)."""
    import threading

    plan = {"rules": {"Linear": {"weight": "trunc_normal"}, "Conv2d": {"weight": "trunc_normal"}}}
    spoiled = 0
    for trial in range(20):
        model = build_model("SimpleCNN", seed=0)
        start = threading.Barrier(2)

        def work(seed: int, model: nn.Module = model, start: threading.Barrier = start) -> None:
            start.wait()
            apply_plan(model, plan, seed=seed)

        threads = [threading.Thread(target=work, args=(seed,)) for seed in (trial, trial + 1000)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        spoiled += not all(bool(torch.isfinite(p).all()) for p in model.parameters())
    assert spoiled == 0, f"{spoiled} of 20 models hold NaN/Inf"
