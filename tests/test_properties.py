"""Property tests over random plans: finite weights or a PlanError, never anything else.

Plans are drawn from every scheme name (and garbage names), every parameter (and
garbage keys) with values that are valid, negative, zero, NaN, inf, huge, strings or
None, on every layer type and slot of SimpleCNN (and ones it does not have). A refused
plan must leave the model bit-identical.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pinit
from pinit import SCHEMES, PlanError, TensorInfo, apply_plan, assignments, check_plan
from pinit.plan import MAX_SEED
from pinit.schemes import NONLINEARITIES

MODEL = pinit.build_model("SimpleCNN", seed=0)  # shared: every example starts from the last one's result
NAMES = [n for n, _ in MODEL.named_parameters()]
SHAPES = {
    n: (tuple(p.shape), fi) for n, p, fi in [(a.name, a.param, a.info.layer_fan_in) for a in assignments(MODEL, {})]
}
LAYER_TYPES = ["Conv2d", "Linear", "ReLU", "MaxPool2d", "Sequential", "SimpleCNN", "BatchNorm1d"]
PARAM_NAMES = sorted({p.name for s in SCHEMES.values() for p in s.params})
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

nasty_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            0,
            0.0,
            -0.0,
            1,
            -1,
            2,
            0.5,
            -0.5,
            1e-300,
            5e-324,
            1e4,
            1e4 + 1e-9,
            -1e4,
            1e5,
            1e300,
            math.nan,
            math.inf,
            -math.inf,
            2**63,
            10**400,
        ]
    ),
    st.integers(min_value=-(10**6), max_value=10**6),
)
nasty_values = st.one_of(
    nasty_numbers,
    st.text(max_size=4),
    st.booleans(),
    st.none(),
    st.sampled_from(list(NONLINEARITIES) + ["fan_in", "fan_out", "Relu", "", "fan_avg"]),
    st.lists(st.integers(), max_size=2),
)


def valid_value(param) -> st.SearchStrategy:
    if param.kind == "choice":
        return st.sampled_from(param.choices)
    if param.kind == "int":
        return st.integers(int(param.low), int(param.high))
    return st.floats(param.low, param.high, exclude_min=param.low_open)


@st.composite
def rules(draw):
    name = draw(
        st.one_of(
            st.sampled_from(list(SCHEMES)),
            st.sampled_from(list(SCHEMES)),
            st.sampled_from(list(SCHEMES)),
            st.text(max_size=8),
            st.none(),
            st.integers(),
        )
    )
    scheme = SCHEMES.get(name) if isinstance(name, str) else None
    params = list(scheme.params) if scheme else []
    rule = {"scheme": name}
    well_formed = draw(st.booleans())  # half the rules only use valid values, so many plans pass
    for p in params:  # the scheme's own parameters: left out, valid, or nasty
        how = draw(st.sampled_from(["default", "valid"] if well_formed else ["default", "valid", "nasty", "nasty"]))
        if how == "valid":
            rule[p.name] = draw(valid_value(p))
        elif how == "nasty":
            rule[p.name] = draw(nasty_values)
    if not well_formed:
        for key in draw(st.lists(st.one_of(st.sampled_from(PARAM_NAMES), st.text(max_size=4)), max_size=2)):
            rule.setdefault(key, draw(nasty_values))  # other schemes' parameters, or garbage keys
    shape = draw(st.sampled_from(["dict", "dict", "dict", "string", "garbage"] if not well_formed else ["dict"]))
    if shape == "string":
        return name
    if shape == "garbage":
        return draw(st.one_of(st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2)))
    return rule


plans = st.fixed_dictionaries(
    {},
    optional={
        "rules": st.dictionaries(
            st.one_of(st.sampled_from(LAYER_TYPES), st.text(max_size=5)),
            st.dictionaries(st.one_of(st.sampled_from(["weight", "bias"]), st.text(max_size=3)), rules(), max_size=2),
            max_size=3,
        ),
        "overrides": st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=6)), rules(), max_size=3),
    },
)
seeds = st.one_of(
    st.integers(0, MAX_SEED),
    st.integers(0, MAX_SEED),
    st.integers(0, MAX_SEED),
    st.integers(0, MAX_SEED),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
)


_BUFFERS = {n: torch.empty_like(p) for n, p in MODEL.named_parameters()}  # reused: no 4.7 MB allocation per example


def snapshot() -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return {n: _BUFFERS[n].copy_(p) for n, p in MODEL.named_parameters()}


def changed_since(snap: dict[str, torch.Tensor]) -> set[str]:
    """Parameters that differ bit for bit from `snap`."""
    return {
        n
        for n, p in MODEL.named_parameters()
        if not torch.equal(p.detach().view(torch.int32), snap[n].view(torch.int32))
    }


@SETTINGS
@given(plan=plans, seed=seeds)
def test_a_random_plan_gives_finite_weights_or_a_plan_error_and_nothing_else(plan, seed):
    before = snapshot()
    try:
        apply_plan(MODEL, plan, seed=seed)
    except PlanError as e:
        assert e.problems and all(isinstance(p, str) and p for p in e.problems)
        assert changed_since(before) == set(), "a refused plan changed the model"
        seed_ok = isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED
        if seed_ok:
            assert check_plan(MODEL, plan) == e.problems  # the page can ask before it applies
        return
    assert check_plan(MODEL, plan) == []
    reached = [a for a in assignments(MODEL, plan) if a.rule is not None]
    assert changed_since(before) <= {a.name for a in reached}, "a parameter no rule reaches changed"
    for a in reached:  # (the others did not change, and every example before left them finite)
        assert bool(torch.isfinite(a.param).all()), (a.name, a.rule)
        # What the page shows next must be computable: the law's expected mean and std.
        law = a.rule.scheme_obj.distribution(a.info, a.rule.params)
        assert math.isfinite(law.mean) and math.isfinite(law.std) and law.std >= 0, (a.name, a.rule)


@settings(max_examples=300, deadline=None)
@given(rule=rules(), name=st.sampled_from(NAMES))
def test_a_random_rule_resolves_to_a_sane_law_or_a_plan_error(rule, name):
    """The scheme layer alone (no tensors): parameters within their ranges, and a law whose
    mean, std and bin probabilities are finite, for any tensor the scheme accepts."""
    try:
        parsed = pinit.Rule.from_dict(rule, "rule")
    except PlanError as e:
        assert e.problems and all(p.startswith("rule: ") for p in e.problems)
        return
    scheme = SCHEMES[parsed.scheme]
    for p in scheme.params:
        v = parsed.params[p.name]
        if p.kind == "choice":
            assert v in p.choices
        else:
            assert math.isfinite(v) and p.low <= v <= p.high
    shape, fan_in = SHAPES[name]
    info = TensorInfo(shape, fan_in)
    if scheme.check_tensor(info, parsed.params):
        return
    law = scheme.distribution(info, parsed.params)
    assert math.isfinite(law.mean) and math.isfinite(law.std) and law.std >= 0
    spread = max(law.std, 1.0)
    edges = [law.mean - 12 * spread + i * 24 * spread / 40 for i in range(40)] + [law.mean + 12 * spread]
    probs = law.bin_probabilities(edges)
    assert all(0 <= q <= 1 + 1e-12 for q in probs)
    # The bins hold the law's mass between the outer edges: ±12 of the law's std is not all of
    # it for a mixture (sparse: a point mass at 0 and a normal with a larger std), so compare
    # with the law's own cdf, and ask for nearly all of it.
    inside = law.cdf(edges[-1]) - law.cdf_left(edges[0])
    assert abs(sum(probs) - inside) < 1e-9
    assert inside > 1 - 1e-4
