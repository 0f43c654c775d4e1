"""pinit.export (standalone init script) and pinit.plan_io (plan files)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

import pinit
from pinit.errors import PlanError
from pinit.setup import Setup
from pinit.share.export import export_code, setup_to_script
from pinit.share.plan_io import PLAN_VERSION, load_plan_file, plan_to_json

FIXTURES = Path(__file__).resolve().parent / "fixtures"


# --- helpers --------------------------------------------------------------------------


def bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bits of a float32 tensor, so -0.0 != 0.0 and NaN == NaN compare as stored."""
    assert t.dtype == torch.float32
    return t.detach().contiguous().view(torch.int32)


def assert_bit_identical(a: torch.nn.Module, b: torch.nn.Module) -> None:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    assert list(pa) == list(pb)
    for name in pa:
        assert torch.equal(bits(pa[name]), bits(pb[name])), f"{name} differs"


def run_script(src: str) -> dict:
    ns: dict = {"__name__": "exported_init"}
    exec(compile(src, "<exported init>", "exec"), ns)
    return ns


def imported_modules(src: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0] if node.level == 0 else ".")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("__import__", "exec", "eval"):
            roots.add(node.func.id)
    return roots


def check_export(plan, seed: int, model_name: str = "SimpleCNN", **options) -> str:
    """Export, run the script on one fresh model and apply_plan on an identical one: same bits."""
    src = export_code(plan, seed, model_name, model_options=options or None)
    assert imported_modules(src) <= {"torch", "math"}
    init_weights = run_script(src)["init_weights"]
    ours = pinit.build_model(model_name, seed=123, **options)
    theirs = pinit.build_model(model_name, seed=123, **options)
    before = {n: p.detach().clone() for n, p in ours.named_parameters()}
    assert init_weights(ours) is ours
    pinit.apply_plan(theirs, plan, seed)
    assert_bit_identical(ours, theirs)
    # Not vacuous: every parameter a rule reaches was actually redrawn or set.
    for a in pinit.assignments(ours, plan):
        if a.rule is not None and a.rule.scheme_obj.random:
            assert not torch.equal(before[a.name], a.param), f"{a.name} was not re-initialized"
    return src


# --- export_code: bit-identical to apply_plan ---------------------------------------------


@pytest.mark.parametrize("preset", list(pinit.PRESETS))
def test_every_preset_exports_bit_identical(preset):
    check_export(pinit.PRESETS[preset].plan, seed=11)


# One plan per scheme on SimpleCNN, with non-default arguments where the scheme takes any,
# so the script must pass every argument exactly as pinit does.
SCHEME_PLANS = {
    "default": {
        "Conv2d": {"weight": {"scheme": "default"}, "bias": {"scheme": "default"}},
        "Linear": {"weight": {"scheme": "default"}, "bias": {"scheme": "default"}},
    },
    "uniform": {
        "Conv2d": {"weight": {"scheme": "uniform", "a": -0.3, "b": 0.1}, "bias": {"scheme": "uniform"}},
        "Linear": {"bias": {"scheme": "uniform", "a": -1e-3, "b": 2e-3}},
    },
    "normal": {"Linear": {"weight": {"scheme": "normal", "mean": 0.1, "std": 0.02}, "bias": {"scheme": "normal"}}},
    "trunc_normal": {
        "Conv2d": {"weight": {"scheme": "trunc_normal", "mean": 0.05, "std": 0.3, "a": -0.2, "b": 0.4}},
        "Linear": {"bias": {"scheme": "trunc_normal"}},
    },
    "constant": {
        "Conv2d": {"bias": {"scheme": "constant", "val": 0.1}},
        "Linear": {"weight": {"scheme": "constant", "val": -0.003}},
    },
    "ones": {"Conv2d": {"bias": {"scheme": "ones"}}, "Linear": {"weight": {"scheme": "ones"}}},
    "zeros": {"Conv2d": {"weight": {"scheme": "zeros"}}, "Linear": {"bias": {"scheme": "zeros"}}},
    "eye": {"Linear": {"weight": {"scheme": "eye"}}},
    "dirac": {"Conv2d": {"weight": {"scheme": "dirac", "groups": 2}}},
    "xavier_uniform": {
        "Conv2d": {"weight": {"scheme": "xavier_uniform", "gain": 5 / 3}},
        "Linear": {"weight": {"scheme": "xavier_uniform"}},
    },
    "xavier_normal": {
        "Conv2d": {"weight": {"scheme": "xavier_normal"}},
        "Linear": {"weight": {"scheme": "xavier_normal", "gain": 0.7}},
    },
    "kaiming_uniform": {
        "Conv2d": {"weight": {"scheme": "kaiming_uniform", "a": 0.2, "mode": "fan_out"}},
        "Linear": {"weight": {"scheme": "kaiming_uniform", "nonlinearity": "relu"}},
    },
    "kaiming_normal": {
        "Conv2d": {"weight": {"scheme": "kaiming_normal", "mode": "fan_out", "nonlinearity": "relu"}},
        "Linear": {"weight": {"scheme": "kaiming_normal", "a": 0.1}},
    },
    "lecun_normal": {
        "Conv2d": {"weight": {"scheme": "lecun_normal"}},
        "Linear": {"weight": {"scheme": "lecun_normal"}},
    },
    "orthogonal": {
        "Conv2d": {"weight": {"scheme": "orthogonal", "gain": 1.5}},
        "Linear": {"weight": {"scheme": "orthogonal"}},
    },
    "sparse": {"Linear": {"weight": {"scheme": "sparse", "sparsity": 0.3, "std": 0.05}}},
}


def test_scheme_plans_cover_every_scheme_and_every_scheme_has_code():
    assert set(SCHEME_PLANS) == set(pinit.SCHEMES)
    for name, scheme in pinit.SCHEMES.items():
        # The body of `_fill(tensor, scheme, p, layer_fan_in, generator)` in the script: it must parse there.
        body = "\n".join("    " + line for line in scheme.export_source.splitlines())
        ast.parse(f"def _fill(tensor, scheme, p, layer_fan_in, generator):\n{body}\n")
        assert "tensor" in scheme.export_source, name


# torch.nn.init.sparse_ picks its zeros with torch.randperm from the *global* RNG (it
# ignores `generator` there); pinit's sparse fill and the exported script both draw
# every random number from the parameter's generator instead, so sparse is covered too.
@pytest.mark.parametrize("scheme", list(SCHEME_PLANS))
def test_every_scheme_exports_bit_identical(scheme):
    rules = SCHEME_PLANS[scheme]
    assert {r["scheme"] for slots in rules.values() for r in slots.values()} == {scheme}
    check_export({"rules": rules}, seed=2024)


@pytest.mark.parametrize("scheme", list(SCHEME_PLANS))
def test_the_script_on_more_threads_matches_the_page_on_one(scheme):
    """The page computes on one torch thread; a script runs on torch's default (the core
    count). Same bits on 2 and 4 threads, orthogonal's QR included."""
    plan = {"rules": SCHEME_PLANS[scheme]}
    page = pinit.apply_plan(pinit.build_model("SimpleCNN", seed=0), plan, seed=4)  # conftest: one thread
    init_weights = run_script(export_code(plan, 4, "SimpleCNN"))["init_weights"]
    before = torch.get_num_threads()
    try:
        for threads in (2, 4):
            torch.set_num_threads(threads)
            script = init_weights(pinit.build_model("SimpleCNN", seed=0))
            assert torch.get_num_threads() == threads
            assert_bit_identical(script, page)
    finally:
        torch.set_num_threads(before)


def test_sparse_export_is_reproducible_and_leaves_the_global_rng_alone():
    src = export_code({"rules": SCHEME_PLANS["sparse"]}, 1, "SimpleCNN")
    a, b = pinit.build_model("SimpleCNN", seed=0), pinit.build_model("SimpleCNN", seed=0)
    state = torch.get_rng_state()
    run_script(src)["init_weights"](a)
    assert torch.equal(torch.get_rng_state(), state)
    torch.rand(100)  # move the global RNG: the script must not care
    run_script(src)["init_weights"](b)
    assert_bit_identical(a, b)
    w = a.layer4.fc1.weight  # 512 rows: ceil(0.3 * 512) = 154 zeros in every column
    assert torch.equal((w == 0).sum(0), torch.full((2048,), 154))


def test_overrides_and_seed_matter():
    plan = {
        "rules": {"Linear": {"weight": {"scheme": "kaiming_normal", "nonlinearity": "relu"}}},
        "overrides": {
            "layer4.fc3.weight": {"scheme": "normal", "std": 0.01},
            "layer1.conv1.bias": {"scheme": "constant", "val": 0.5},
        },
    }
    src0 = check_export(plan, seed=0)
    src1 = check_export(plan, seed=1)
    assert src0 != src1
    m = pinit.build_model("SimpleCNN", seed=0)
    run_script(src0)["init_weights"](m)
    assert torch.all(m.layer1.conv1.bias == 0.5)
    assert float(m.layer4.fc3.weight.detach().std()) == pytest.approx(0.01, rel=0.15)


def test_article_model_name_with_trailing_space():
    plan = {
        "rules": pinit.PRESETS["Kaiming (He)"].plan["rules"],
        "overrides": {"layer4.fc2 .weight": {"scheme": "orthogonal", "gain": 2.0}},
    }
    src = check_export(plan, seed=5, model_name="ArticleSimpleCNN")
    assert "'layer4.fc2 .weight'" in src


def test_deep_mlp_with_options():
    plan = {"rules": {"Linear": {"weight": {"scheme": "xavier_normal", "gain": 5 / 3}, "bias": {"scheme": "default"}}}}
    src = check_export(plan, seed=9, model_name="DeepMLP", depth=4, width=32, activation="tanh")
    assert "depth=4" in src and "width=32" in src
    assert src.count("'layers.fc") == 8  # 4 weights + 4 biases, each with its own seed


def test_export_from_a_model_instance_and_embedded_seeds():
    model = pinit.build_model("SimpleCNN")
    plan = pinit.PRESETS["Xavier (Glorot)"].plan
    src = export_code(plan, 3, model=model)
    ns = run_script(src)
    assert ns["SEED"] == 3
    assert ns["PARAM_SEEDS"] == {n: pinit.param_seed(3, n) for n, _ in model.named_parameters()}
    assert ns["RULES"] == pinit.InitPlan.from_dict(plan).to_dict()["rules"]


def test_only_torch_and_math_are_imported():
    with_default = export_code(pinit.PRESETS["PyTorch default"].plan, 0, "SimpleCNN")
    without = export_code(pinit.PRESETS["Kaiming (He)"].plan, 0, "SimpleCNN")
    assert imported_modules(with_default) == {"torch", "math"}
    assert imported_modules(without) == {"torch"}  # math only when the default scheme needs it
    for src in (with_default, without):
        assert "pinit" not in {line.split()[1] for line in src.splitlines() if line.startswith(("import ", "from "))}
        assert "hashlib" not in src and "sha256" not in src


def test_script_leaves_the_global_rng_alone():
    src = export_code(pinit.PRESETS["Too large: N(0, 1)"].plan, 0, "SimpleCNN")
    model = pinit.build_model("SimpleCNN")
    torch.manual_seed(77)
    state = torch.get_rng_state()
    run_script(src)["init_weights"](model)
    assert torch.equal(torch.get_rng_state(), state)


def test_script_refuses_a_model_it_has_no_seeds_for_and_changes_nothing():
    plan = {
        "rules": {"Linear": {"weight": {"scheme": "zeros"}}},
        "overrides": {"layer4.fc2.weight": {"scheme": "ones"}},
    }
    init_weights = run_script(export_code(plan, 0, "SimpleCNN"))["init_weights"]
    other = pinit.build_model("ArticleSimpleCNN", seed=0)
    before = {n: p.detach().clone() for n, p in other.named_parameters()}
    with pytest.raises(ValueError) as e:
        init_weights(other)
    assert "'layer4.fc2 .weight' has no seed" in str(e.value)
    assert "override names 'layer4.fc2.weight'" in str(e.value)
    for n, p in other.named_parameters():
        assert torch.equal(p, before[n])


def test_export_needs_a_model_and_a_fitting_plan():
    with pytest.raises(ValueError, match="model=<nn.Module> or model_name"):
        export_code(pinit.PRESETS["Kaiming (He)"].plan, 0)
    with pytest.raises(PlanError) as e:
        export_code({"rules": {"Conv2d": {"weight": {"scheme": "eye"}}}}, 0, "SimpleCNN")
    assert any("eye needs a 2-D tensor" in p for p in e.value.problems)
    with pytest.raises(PlanError, match="seed"):
        export_code(pinit.PRESETS["Kaiming (He)"].plan, -1, "SimpleCNN")
    with pytest.raises(ValueError, match="unknown model"):
        export_code(pinit.PRESETS["Kaiming (He)"].plan, 0, "NoSuchNet")


# --- plan files -----------------------------------------------------------------------


def test_plan_file_round_trip_with_meta():
    model = pinit.build_model("DeepMLP", depth=3, width=16, activation="tanh")
    plan = pinit.InitPlan.from_dict(
        {
            "rules": {"Linear": {"weight": {"scheme": "xavier_uniform", "gain": 5 / 3}}},
            "overrides": {"layers.fc3.bias": {"scheme": "constant", "val": 0.1}},
        }
    )
    text = plan_to_json(plan, seed=42, model=model)
    doc = json.loads(text)
    assert doc["format"] == "pinit-plan" and doc["version"] == PLAN_VERSION == 1
    assert doc["model"] == "DeepMLP" and doc["model_options"] == {"depth": 3, "width": 16, "activation": "tanh"}
    # Every parameter is spelled out, defaults included.
    assert doc["rules"]["Linear"]["weight"] == {"scheme": "xavier_uniform", "gain": 5 / 3}
    loaded, meta = load_plan_file(text.encode())
    assert loaded == plan
    assert meta == {
        "version": 1,
        "seed": 42,
        "model": "DeepMLP",
        "model_options": {"depth": 3, "width": 16, "activation": "tanh"},
        "warnings": [],
    }
    # str input, and the model check, pass as well.
    assert load_plan_file(text, model=model)[0] == plan


def test_plan_file_of_every_preset_round_trips():
    for preset in pinit.PRESETS.values():
        plan, meta = load_plan_file(plan_to_json(preset.plan))
        assert plan == pinit.InitPlan.from_dict(preset.plan)
        assert meta["seed"] is None and meta["model"] is None


def test_committed_plan_fixture_loads_and_applies():
    plan, meta = load_plan_file((FIXTURES / "plan_v1.json").read_bytes(), model=pinit.build_model("SimpleCNN"))
    assert meta["seed"] == 7 and meta["model"] == "SimpleCNN" and meta["warnings"] == []
    assert plan.overrides["layer4.fc3.weight"].params == {"mean": 0.0, "std": 0.01}
    assert plan.rules["Conv2d"]["weight"].params == {"a": 0.0, "mode": "fan_in", "nonlinearity": "relu"}


def test_bare_hand_written_plan_is_accepted_and_a_bom_is_fine():
    plan, meta = load_plan_file(b'\xef\xbb\xbf{"rules": {"Linear": {"weight": "zeros"}}}')
    assert plan.rules["Linear"]["weight"].scheme == "zeros"
    assert meta["version"] is None and meta["seed"] is None


def problems_of(data, **kw) -> list[str]:
    with pytest.raises(PlanError) as e:
        load_plan_file(data, **kw)
    assert e.value.problems and all(isinstance(p, str) and p for p in e.value.problems)
    return e.value.problems


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"\xff\xfe{\x00}", "not UTF-8 text (byte 0xff at position 0)"),
        (b"caf\xe9", "not UTF-8 text (byte 0xe9 at position 3)"),
        (b"", "the plan file is empty"),
        (b"   \n", "the plan file is empty"),
        (b'{"rules": ', "not valid JSON"),
        (b"rules: {}", "not valid JSON: Expecting value at line 1, column 1"),
        (b'{"rules": {"Linear": {"weight": {"scheme": "normal", "std": NaN}}}}', "NaN is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[1, 2]", "got a list"),
        (b'"rules"', "got a string"),
        (b"null", "got a null"),
        (b'{"rules": [1]}', "'rules' must map layer types"),
        (b'{"overrides": "zeros"}', "'overrides' must map parameter names"),
        (b'{"rules": {"Linear": "zeros"}}', "rules['Linear'] must map slots"),
        (b'{"rules": {"Linear": {"weight": 3}}}', "Linear.weight: a rule must be an object with a 'scheme' key"),
        (
            b'{"rules": {"Linear": {"weight": {"std": 1}}}}',
            "Linear.weight: a rule must be an object with a 'scheme' key",
        ),
        (b'{"rules": {"Linear": {"weight": {"scheme": "he"}}}}', "Linear.weight: unknown scheme 'he'"),
        (b'{"rules": {"Linear": {"weight": {"scheme": ["zeros"]}}}}', "unknown scheme ['zeros']"),
        (b'{"rule": {}}', "unknown key(s) ['rule']"),
        (b'{"version": 2, "rules": {}}', "plan file version 2 is not supported"),
        (b'{"version": "1", "rules": {}}', "'version' must be a whole number"),
        (b'{"format": "other", "rules": {}}', "'format' must be 'pinit-plan'"),
        (b'{"seed": -1, "rules": {}}', "seed must be a whole number from 0 to"),
        (b'{"seed": 1.5, "rules": {}}', "got 1.5"),
        (b'{"seed": true, "rules": {}}', "got True"),
        (b'{"seed": 9223372036854775808, "rules": {}}', "got 9223372036854775808"),
        (b'{"model": 3, "rules": {}}', "'model' must be a model name"),
        (
            b'{"model": "DeepMLP", "model_options": {"heads": 2}, "rules": {}}',
            "model DeepMLP takes no option(s) ['heads']",
        ),
        (b'{"model_options": [1], "rules": {}}', "'model_options' must be an object"),
        (
            b'{"overrides": {"layer4.fc3.weight": {"scheme": "normal", "std": -1}}}',
            "override layer4.fc3.weight: normal: std=-1 is out of range",
        ),
        (b'{"overrides": {"x": {"scheme": "normal", "std": 1e300}}}', "std=1×10³⁰⁰ is out of range"),
        (b'{"overrides": {"x": {"scheme": "uniform", "a": 1, "b": 0}}}', "uniform needs a < b"),
        (
            b'{"overrides": {"x": {"scheme": "kaiming_normal", "mode": "fan_avg"}}}',
            "mode='fan_avg' is not allowed; use one of fan_in, fan_out",
        ),
        (b'{"overrides": {"x": {"scheme": "dirac", "groups": 1.5}}}', "groups=1.5 is not a whole number"),
        (b'{"overrides": {"x": {"scheme": "normal", "std": "1"}}}', "std='1' is not a number"),
    ],
)
def test_invalid_plan_files_are_refused_in_words(data, expected):
    problems = problems_of(data)
    assert any(expected in p for p in problems), problems


def test_every_problem_is_listed_separately():
    problems = problems_of((FIXTURES / "plan_bad.json").read_bytes())
    assert len(problems) == 4, problems
    assert "seed must be a whole number from 0 to 9223372036854775807 (or null), got -3" in problems
    assert "Conv2d.weight: unknown scheme 'kaiming_normall'; known schemes: " + ", ".join(pinit.SCHEMES) in problems
    assert any(p.startswith("Linear.weight: normal: std=-1 is out of range") for p in problems)
    assert "Linear.bias: zeros has no parameter 'val'; it takes no parameters" in problems


def test_plan_for_the_wrong_model_is_refused_when_a_model_is_given():
    data = json.dumps(
        {
            "rules": {"Conv2d": {"weight": {"scheme": "sparse"}}},
            "overrides": {"layer4.fc2 .weight": {"scheme": "zeros"}},
        }
    )
    # Without a model only the file itself is checked: fine.
    load_plan_file(data)
    problems = problems_of(data, model=pinit.build_model("SimpleCNN"))
    assert any(
        p.startswith("override names 'layer4.fc2 .weight', which is not a parameter of SimpleCNN") for p in problems
    )
    assert sum("sparse needs a 2-D tensor" in p for p in problems) == 3  # one per Conv2d weight
    assert len(problems) == 4
    # The article's listing has that name, but still no 2-D conv weight.
    problems = problems_of(data, model=pinit.build_model("ArticleSimpleCNN"))
    assert len(problems) == 3


def test_warnings_for_allowed_but_probably_unmeant_plans():
    data = json.dumps({"model": "DeepMLP", "rules": {"Conv3d": {"weight": "zeros"}, "Linear": {"gamma": "ones"}}})
    _, meta = load_plan_file(data, model=pinit.build_model("SimpleCNN"))
    assert meta["warnings"] == [
        "the plan was saved for model DeepMLP; it is applied to SimpleCNN",
        "rules for Conv3d reach nothing: SimpleCNN has no Conv3d layer with parameters "
        "(its layer types: Conv2d, Linear)",
        "rule Linear.gamma reaches nothing: Linear has parameters bias, weight",
    ]


def test_oversized_or_non_bytes_input_is_refused():
    assert "at most 100 bytes" in problems_of(b" " * 101, max_bytes=100)[0]
    assert "a plan file is bytes or text, got dict" in problems_of({"rules": {}})[0]


def test_garbage_never_raises_anything_but_plan_error():
    import random

    rng = random.Random(0)
    valid = (FIXTURES / "plan_v1.json").read_bytes()
    for _ in range(300):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            load_plan_file(bytes(data))
        except PlanError as e:
            assert e.problems


def test_plan_to_json_refuses_what_it_could_not_read_back():
    with pytest.raises(PlanError, match="seed must be a whole number"):
        plan_to_json(pinit.PRESETS["Kaiming (He)"].plan, seed=-5)
    with pytest.raises(PlanError, match="override names 'nope'"):
        plan_to_json({"overrides": {"nope": "zeros"}}, model=pinit.build_model("SimpleCNN"))
    text = plan_to_json(pinit.PRESETS["Kaiming (He)"].plan, seed=1, model="SimpleCNN")
    assert json.loads(text)["model"] == "SimpleCNN"


@pytest.mark.parametrize(
    "setup",
    [
        Setup("SimpleCNN", plan=pinit.PRESETS["Kaiming (He)"].plan, seed=3),
        Setup("DeepMLP", {"depth": 3, "width": 16, "activation": "tanh"}, pinit.PRESETS["Xavier (Glorot)"].plan, 1),
    ],
)
def test_setup_to_script_is_export_code_of_the_setup(setup):
    """The Setup form (what the page and the CLI call) writes the very script export_code writes
    for the built model, though it reads the names from the meta-device model."""
    built = pinit.build_model(setup.model, seed=setup.seed, **setup.options)
    assert setup_to_script(setup) == export_code(setup.plan, setup.seed, model=built)


def test_setup_to_script_refuses_a_plan_that_does_not_fit():
    bad = Setup("SimpleCNN", plan={"overrides": {"nope.weight": {"scheme": "zeros"}}})
    with pytest.raises(PlanError, match="nope.weight"):
        setup_to_script(bad)
