"""A link is read part by part and never raises; a part that is not used is said in words (issue 10).

Item 8: `state_from_query` promised never to raise, but ``seed=²`` (str.isdigit() is True for
superscripts), a 1 MB seed or deeply nested ``opts`` raised, and the page dropped the whole
link instead of the bad part. Item 9: values the backend accepts but the page could not show
were changed silently; the allowed values now live in one place (MAX_SEED, ModelSpec) and
every requested value that is not used gets a warning.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pinit
from pinit.models import MODELS
from pinit.plan import MAX_SEED
from pinit.setup import Setup
from pinit.share.urlstate import encode_plan, state_from_query

KAIMING = encode_plan(pinit.PRESETS["Kaiming (He)"].plan)
GOOD = {"model": "DeepMLP", "opts": '{"depth": 3}', "seed": "42", "plan": KAIMING}


def read(params: dict[str, str]) -> tuple[Setup, list[str]]:
    setup, warnings = state_from_query(params)
    assert isinstance(setup, Setup) and all(isinstance(w, str) and w for w in warnings)
    return setup, warnings


def assert_good_parts_kept(setup: Setup, except_: str) -> None:
    if except_ != "model":
        assert setup.model == "DeepMLP"
    if except_ not in ("model", "opts"):
        assert setup.options == {"depth": 3}
    if except_ != "seed":
        assert setup.seed == 42
    if except_ not in ("model", "opts", "plan"):
        assert setup.plan == pinit.InitPlan.from_dict(pinit.PRESETS["Kaiming (He)"].plan)


# --- item 8: never raises, and only the bad part is dropped -------------------------------------------------


@pytest.mark.parametrize(
    "part, value",
    [
        ("seed", "²"),  # "²".isdigit() is True; int("²") raises
        ("seed", "١٢"),  # Arabic-Indic digits: int() reads 12, but a link's seed is 0-9
        ("seed", "9" * 1_000_000),  # int() refuses more than 4,300 digits
        ("seed", "+5"),
        ("seed", " 5"),
        ("seed", "5_000"),
        ("opts", "[" * 100_000 + "]" * 100_000),  # json.loads: RecursionError
        ("opts", '{"depth": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("opts", '{"depth": 1e999}'),
        ("opts", '{"activation": ["relu"]}'),
        ("opts", "x" * 1_000_000),
        ("plan", "x" * 1_000_000),
        ("model", "\x00" * 1000),
    ],
)
def test_a_bad_part_is_dropped_with_a_warning_and_the_rest_kept(part, value):
    setup, warnings = read({**GOOD, part: value})
    assert warnings, "a part that is not used must be said"
    assert sum(map(len, warnings)) < 2_000
    assert_good_parts_kept(setup, except_=part)


part_text = st.text(max_size=60) | st.text(alphabet='0123456789[]{}":, ²', max_size=60)


@given(
    model=st.none() | st.sampled_from(list(MODELS)) | part_text,
    opts=st.none() | st.sampled_from(['{"depth": 3}', '{"width": 48}', "{}"]) | part_text,
    seed=st.none() | st.integers(0, MAX_SEED).map(str) | part_text,
    plan=st.none() | st.just(KAIMING) | part_text,
    other=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_text_in_any_part_never_raises_and_valid_parts_survive(model, opts, seed, plan, other):
    params = {
        **other,
        **{k: v for k, v in {"model": model, "opts": opts, "seed": seed, "plan": plan}.items() if v is not None},
    }
    setup, _warnings = read(params)
    if model in MODELS:
        assert setup.model == model
    if seed is not None and seed.isascii() and seed.isdigit() and int(seed) <= MAX_SEED:
        assert setup.seed == int(seed)
    if model == "DeepMLP" and opts in ('{"depth": 3}', '{"width": 48}'):
        assert setup.options == json.loads(opts)
    if plan == KAIMING and (model in MODELS or model is None):
        assert setup.plan == pinit.InitPlan.from_dict(pinit.PRESETS["Kaiming (He)"].plan)


# --- item 9: one range per value, and no silent change ----------------------------------------------------


def test_every_seed_the_backend_takes_a_link_keeps():
    for seed in (0, 2**31, 3_000_000_000, MAX_SEED):
        setup, warnings = read({"seed": str(seed)})
        assert setup.seed == seed and not warnings
    setup, warnings = read({"seed": str(MAX_SEED + 1)})
    assert setup.seed == 0 and warnings == [
        f"ignored seed='{MAX_SEED + 1}' from the link: a seed is a whole number from 0 to {MAX_SEED}"
    ]


def test_deep_mlp_options_are_stated_once_and_any_allowed_width_is_kept():
    spec = MODELS["DeepMLP"]
    assert spec.option_ranges == {"depth": (1, 100), "width": (1, 4096)}
    assert spec.option_choices == {"activation": tuple(pinit.models.ACTIVATIONS)}
    setup, warnings = read({"model": "DeepMLP", "opts": '{"width": 48}'})
    assert setup.options == {"width": 48} and not warnings
    for name, (low, high) in spec.option_ranges.items():
        with pytest.raises(ValueError, match=f"{name} must be a whole number from {low} to {high}"):
            pinit.build_model("DeepMLP", **{name: high + 1})


def test_one_bad_option_is_named_and_the_others_kept():
    setup, warnings = read({"model": "DeepMLP", "opts": '{"depth": 5, "width": 99999, "colour": "red"}'})
    assert setup.options == {"depth": 5}
    assert warnings == [
        "ignored part of the model options in the link: width=99999 (width must be a whole number from 1 to 4096, "
        "got 99999); colour='red' (DeepMLP has no option 'colour'; its options are depth, width, activation)"
    ]


def test_unknown_link_parameters_are_named():
    setup, warnings = read({"sed": "5", "view": "Weights"})
    assert setup.seed == 0
    assert warnings == ["ignored sed='5' from the link: a link's parameters are model, opts, seed, plan and view"]


def test_options_for_a_model_the_link_could_not_use_are_named():
    setup, warnings = read({"model": "Nope", "opts": '{"depth": 5}'})
    assert setup.model == "SimpleCNN" and setup.options == {}
    assert len(warnings) == 2 and "SimpleCNN has no option 'depth'" in warnings[1]
