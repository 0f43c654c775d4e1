"""Beyond SimpleCNN, part 1: the backend on arbitrary nn.Modules, and load_factory for a user's own model.

Models (tests/fixtures/tiny_factory.py): an Embedding + LSTM classifier, a language model whose
output Linear shares the embedding's weight, and one with Conv1d, LayerNorm, MultiheadAttention
and ConvTranspose2d.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import pinit
from pinit.plan import param_seed
from pinit.registry import load_factory
from pinit.report import inspect_model
from pinit.schemes import Scheme
from pinit.setup import Setup
from pinit.share.export import export_code
from tests.fixtures.tiny_factory import EmbedLSTM, Mixed, TiedLM

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fresh(cls: type[nn.Module]) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        return cls()


def exported_init(plan: dict, seed: int, model: nn.Module):
    ns: dict = {"__name__": "exported"}
    exec(compile(export_code(plan, seed, model=model), "<export>", "exec"), ns)
    return ns["init_weights"]


def assert_same_parameters(a: nn.Module, b: nn.Module) -> None:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    assert list(pa) == list(pb)
    for name in pa:
        assert torch.equal(pa[name].detach(), pb[name].detach()), name


# --- (a) Embedding + LSTM ----------------------------------------------------------------------

LSTM_PLAN = {
    "rules": {
        "Embedding": {"weight": {"scheme": "normal", "std": 0.1}},
        "LSTM": {
            "weight_ih_l0": {"scheme": "xavier_uniform"},
            "weight_hh_l0": {"scheme": "orthogonal"},
            "bias_ih_l0": {"scheme": "zeros"},
            "bias_hh_l0": {"scheme": "constant", "val": 0.5},
        },
        "Linear": {"weight": {"scheme": "kaiming_normal"}, "bias": {"scheme": "zeros"}},
    }
}


def test_lstm_parameters_are_listed_by_their_own_slot_names_with_per_gate_fans():
    table = pinit.parameter_table(fresh(EmbedLSTM), LSTM_PLAN)
    rows = table.set_index("name")
    assert list(table["name"]) == [
        "embed.weight",
        "lstm.weight_ih_l0",
        "lstm.weight_hh_l0",
        "lstm.bias_ih_l0",
        "lstm.bias_hh_l0",
        "out.weight",
        "out.bias",
    ]
    assert rows.loc["lstm.weight_ih_l0", "shape"] == "(96, 16)"  # 4 gates x hidden 24, input 16
    # The table's fans are per gate (pinit.fans): each of the 4 stacked gates writes 24 units.
    assert rows.loc["lstm.weight_hh_l0", "fan_in"] == 24 and rows.loc["lstm.weight_hh_l0", "fan_out"] == 24
    # The law keeps torch's shape rule, which is what xavier_uniform_ itself uses: fan_out 96.
    assert rows.loc["lstm.weight_ih_l0", "expected_std"] == pytest.approx(math.sqrt(2 / (16 + 96)))
    assert rows.loc["lstm.weight_hh_l0", "expected_std"] == pytest.approx(1 / math.sqrt(96))  # orthogonal: 1/sqrt(max)
    assert set(table["scheme"]) >= {"xavier_uniform", "orthogonal", "zeros", "constant", "normal", "kaiming_normal"}


def test_lstm_plan_applies_and_matches_the_exported_script_bit_for_bit():
    model, copy = fresh(EmbedLSTM), fresh(EmbedLSTM)
    pinit.apply_plan(model, LSTM_PLAN, seed=3)
    w_hh = model.lstm.weight_hh_l0.detach()
    assert torch.allclose(w_hh.T @ w_hh, torch.eye(24), atol=1e-5)  # (96, 24): orthonormal columns
    assert torch.equal(model.lstm.bias_hh_l0.detach(), torch.full((96,), 0.5))
    exported_init(LSTM_PLAN, 3, copy)(copy)
    assert_same_parameters(model, copy)


def test_lstm_probes_take_token_ids_and_describe_every_layer():
    model = fresh(EmbedLSTM)
    x, y = pinit.probe_batch(model, 16, seed=0), pinit.probe_targets(model, 16, seed=0)
    assert x.dtype == torch.int64 and x.shape == (16, 12) and int(x.min()) >= 0 and int(x.max()) < 50
    acts = pinit.activation_stats(model, x)
    assert list(acts["layer"]) == ["embed", "lstm", "out"]
    assert acts.loc[1, "shape"] == (16, 12, 24)  # the LSTM's output sequence, not its (h, c) state
    # nn.Embedding's default init is N(0, 1): the embedded tokens have std ~1 (16 x 12 x 16 values of 50 rows).
    assert acts.loc[0, "std"] == pytest.approx(1.0, abs=0.25)
    assert acts.loc[1, "max"] <= 1.0  # h = o * tanh(c) lies in (-1, 1)
    grads = pinit.gradient_stats(model, x, y)
    assert list(grads["name"]) == list(dict(model.named_parameters()))
    assert (grads["grad_norm"] > 0).all() and grads["grad_nonfinite"].eq(0).all()
    assert grads.attrs["loss"] == pytest.approx(math.log(5), abs=0.5)  # 5 classes, small logits


def test_float_input_models_still_get_gaussian_probes():
    x = pinit.probe_batch(fresh(Mixed), 8, seed=0)
    assert x.dtype == torch.float32 and x.shape == (8, 4, 16)
    assert torch.equal(x, torch.randn((8, 4, 16), generator=torch.Generator().manual_seed(0)))


# --- (b) tied weights ---------------------------------------------------------------------------

TIED_PLAN = {
    "rules": {
        "Embedding": {"weight": {"scheme": "normal", "std": 0.02}},
        "Linear": {"weight": {"scheme": "zeros"}, "bias": {"scheme": "zeros"}},
    }
}


def test_a_tied_weight_is_shown_once_under_its_first_owner():
    model = fresh(TiedLM)
    assert model.out.weight is model.embed.weight
    table = pinit.parameter_table(model, TIED_PLAN)
    assert list(table["name"]) == ["embed.weight", "hidden.weight", "hidden.bias"]
    row = table.set_index("name").loc["embed.weight"]
    assert row["type"] == "Embedding" and row["scheme"] == "normal" and row["expected_std"] == 0.02
    assert int(table["numel"].sum()) == sum(p.numel() for p in model.parameters()) == 40 * 16 + 16 * 16 + 16


def test_a_tied_weight_is_initialized_once_by_its_first_owners_rule(monkeypatch):
    model = fresh(TiedLM)
    filled: list[int] = []
    real_fill = Scheme.fill

    def counting_fill(self, tensor, params, info, generator):
        filled.append(id(tensor))
        real_fill(self, tensor, params, info, generator)

    monkeypatch.setattr(Scheme, "fill", counting_fill)
    pinit.apply_plan(model, TIED_PLAN, seed=5)
    assert filled.count(id(model.embed.weight)) == 1 and len(filled) == 3  # embed.weight, hidden.weight, hidden.bias
    # The Embedding rule won: N(0, 0.02) drawn from embed.weight's own generator, not the Linear rule's zeros.
    ref = torch.empty(40, 16).normal_(0, 0.02, generator=torch.Generator().manual_seed(param_seed(5, "embed.weight")))
    assert torch.equal(model.out.weight.detach(), ref)
    assert torch.equal(model.hidden.weight.detach(), torch.zeros(16, 16))
    copy = fresh(TiedLM)
    exported_init(TIED_PLAN, 5, copy)(copy)
    assert_same_parameters(model, copy)
    assert copy.out.weight is copy.embed.weight


def test_an_override_reaches_a_tied_weight_only_by_its_listed_name():
    model = fresh(TiedLM)
    pinit.apply_plan(model, {"overrides": {"embed.weight": {"scheme": "zeros"}}}, seed=0)
    assert float(model.out.weight.detach().abs().sum()) == 0.0
    problems = pinit.check_plan(model, {"overrides": {"out.weight": {"scheme": "zeros"}}})
    assert len(problems) == 1 and "'out.weight', which is not a parameter of TiedLM" in problems[0]


def test_tied_model_probes():
    model = fresh(TiedLM)
    pinit.apply_plan(model, TIED_PLAN, seed=0)
    x, y = pinit.probe_batch(model, 32, 1), pinit.probe_targets(model, 32, 1)
    acts = pinit.activation_stats(model, x)
    assert list(acts["layer"]) == ["embed", "hidden", "out"]
    # hidden's weights and bias are 0, so tanh(0) = 0 reaches the head and every logit is exactly 0.
    assert acts.iloc[-1]["constant"] and acts.iloc[-1]["max"] == 0.0
    grads = pinit.gradient_stats(model, x, y).set_index("name")
    assert grads.attrs["loss"] == pytest.approx(math.log(40), rel=1e-6)
    # The head sees h = 0, so the tied weight gets no gradient from the head (dL/dW = g hᵀ = 0) nor from
    # the embedding side (dL/de = W_hiddenᵀ ... = 0); hidden still learns (dL/dW_hidden = W_outᵀ g eᵀ ≠ 0).
    assert grads.loc["embed.weight", "grad_norm"] == 0.0
    assert grads.loc["hidden.weight", "grad_norm"] > 0 and grads.loc["hidden.bias", "grad_norm"] > 0


# --- (c) LayerNorm, MultiheadAttention, Conv1d, ConvTranspose2d ---------------------------------

MIXED_PLAN = {
    "rules": {
        "Conv1d": {"weight": {"scheme": "kaiming_normal", "nonlinearity": "conv1d"}, "bias": {"scheme": "default"}},
        "LayerNorm": {"weight": {"scheme": "ones"}, "bias": {"scheme": "zeros"}},
        "MultiheadAttention": {"in_proj_weight": {"scheme": "xavier_uniform"}, "in_proj_bias": {"scheme": "zeros"}},
        "NonDynamicallyQuantizableLinear": {"weight": {"scheme": "orthogonal"}, "bias": {"scheme": "zeros"}},
        "ConvTranspose2d": {"weight": {"scheme": "dirac"}, "bias": {"scheme": "zeros"}},
        "Linear": {"weight": {"scheme": "lecun_normal"}},
    }
}


def test_mixed_layers_table_names_every_type_and_torch_fans():
    table = pinit.parameter_table(fresh(Mixed), MIXED_PLAN).set_index("name")
    assert table.loc["attn.in_proj_weight", "type"] == "MultiheadAttention"
    assert table.loc["attn.in_proj_weight", "shape"] == "(24, 8)"
    # MultiheadAttention's output projection is not an nn.Linear by name: a "Linear" rule never reaches it.
    assert table.loc["attn.out_proj.weight", "type"] == "NonDynamicallyQuantizableLinear"
    # ConvTranspose2d weight is (in, out, k, k): torch's fan_in is size(1) * k * k = 3 * 2 * 2.
    assert table.loc["up.weight", "fan_in"] == 12 and table.loc["up.weight", "fan_out"] == 32
    assert table.loc["conv.weight", "expected_std"] == pytest.approx(1 / math.sqrt(12))  # Conv1d gain 1, fan_in 4*3
    assert table.loc["conv.bias", "expected_std"] == pytest.approx(1 / math.sqrt(3 * 12))  # default: U(+-1/sqrt(12))
    assert list(table.index[table["scheme"] == "untouched"]) == ["head.bias"]  # the plan has no Linear bias rule


def test_mixed_plan_applies_and_exports_bit_for_bit():
    model, copy = fresh(Mixed), fresh(Mixed)
    pinit.apply_plan(model, MIXED_PLAN, seed=11)
    assert torch.equal(model.attn.in_proj_bias.detach(), torch.zeros(24))
    w = model.attn.out_proj.weight.detach()
    assert torch.allclose(w @ w.T, torch.eye(8), atol=1e-5)
    expected_dirac = torch.nn.init.dirac_(torch.empty(8, 3, 2, 2))
    assert torch.equal(model.up.weight.detach(), expected_dirac)
    exported_init(MIXED_PLAN, 11, copy)(copy)
    assert_same_parameters(model, copy)


def test_mixed_model_gradients_reach_every_parameter():
    model = fresh(Mixed)
    x, y = pinit.probe_batch(model, 16, 0), pinit.probe_targets(model, 16, 0)
    grads = pinit.gradient_stats(model, x, y)
    assert len(grads) == 12 and (grads["grad_norm"] > 0).all()  # in_proj and out_proj included
    acts = pinit.activation_stats(model, x)
    assert acts.set_index("layer").loc["norm", "std"] == pytest.approx(1.0, abs=0.01)  # LayerNorm: unit std rows


def test_activation_stats_records_multihead_attention_output():
    # MultiheadAttention computes with out_proj.weight and never calls out_proj: the attention
    # module itself is the call to describe, and out_proj (never called) is not in the table.
    model = fresh(Mixed)
    x = pinit.probe_batch(model, 4, 0)
    acts = pinit.activation_stats(model, x)
    assert "attn" in set(acts["layer"]) and "attn.out_proj" not in set(acts["layer"])
    seen = {}

    def keep_output(module, args, out):  # returns None: the output is left as it is
        seen["out"] = out[0].detach()

    model.attn.register_forward_hook(keep_output)
    with torch.no_grad():
        model.eval()(x)
    assert acts.set_index("layer").loc["attn", "std"] == pytest.approx(float(seen["out"].std()), rel=1e-5)


# --- torchvision's resnet18, when torchvision is there -----------------------------------------


def test_resnet18_table_plan_and_probes():
    try:
        from torchvision.models import resnet18
    except Exception as e:  # not installed, or a build that does not load beside this torch
        pytest.skip(f"torchvision is not usable here ({type(e).__name__}: {e}); PyPI's wheel needs its own torch")
    model = resnet18(num_classes=10)
    model.input_shape, model.num_classes = (3, 32, 32), 10
    plan = {"rules": {"Conv2d": {"weight": {"scheme": "kaiming_normal", "mode": "fan_out", "nonlinearity": "relu"}}}}
    pinit.apply_plan(model, plan, seed=0)
    table = pinit.parameter_table(model, plan)
    assert len(table) == 62 and int(table["numel"].sum()) == 11_181_642
    grads = pinit.gradient_stats(model, pinit.probe_batch(model, 4), pinit.probe_targets(model, 4))
    assert grads["grad_norm"].gt(0).all()


# --- load_factory ---------------------------------------------------------------------------------


@pytest.fixture
def fixtures_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    yield
    for name in [n for n in pinit.MODELS if n.startswith("tiny_factory:")]:
        del pinit.MODELS[name]


def test_load_factory_registers_a_users_model_with_its_options(fixtures_on_path):
    spec = load_factory("tiny_factory:make_lstm")
    assert pinit.MODELS["tiny_factory:make_lstm"] is spec
    assert spec.options == {"vocab": 50, "hidden": 24}
    assert spec.description == "An Embedding + LSTM sequence classifier."
    model = pinit.build_model("tiny_factory:make_lstm", seed=0, hidden=8)
    assert type(model).__name__ == "EmbedLSTM" and model.lstm.hidden_size == 8
    report = inspect_model(Setup("tiny_factory:make_lstm", {"hidden": 24}, LSTM_PLAN, 0))
    assert report.total_params == sum(p.numel() for p in pinit.build_model("tiny_factory:make_lstm").parameters())


def test_load_factory_without_registering_and_a_dotted_attribute(fixtures_on_path):
    spec = load_factory("tiny_factory:Factories.small", register=False, name="small")
    assert spec.name == "small" and "small" not in pinit.MODELS and spec.options == {}
    assert isinstance(spec.factory(), nn.Sequential)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("tiny_factory.make_lstm", "has no colon; use the form 'package.module:factory'"),
        ("a:b:c", "has more than one colon"),
        ("tiny_factory:", "'' is not a valid factory name"),
        ("no_such_module_xyz:f", "module 'no_such_module_xyz' not found: no module named 'no_such_module_xyz'"),
        ("tiny_factory:nope", "tiny_factory has no attribute 'nope'; its callables are: "),
        ("tiny_factory:NOT_CALLABLE", "tiny_factory:NOT_CALLABLE is a int, not a function or class"),
        ("tiny_factory:not_a_module", "tiny_factory:not_a_module() returned a int, not a torch.nn.Module"),
        ("tiny_factory:broken", "calling tiny_factory:broken() raised RuntimeError: this factory is broken on purpose"),
        ("tiny_factory:needs_width", "needs argument(s) width without defaults"),
    ],
)
def test_load_factory_refuses_a_bad_spec_in_words(fixtures_on_path, spec, words):
    with pytest.raises(ValueError) as e:
        load_factory(spec)
    assert words in str(e.value)
    assert spec not in pinit.MODELS


def test_load_factory_names_a_missing_dependency_of_the_users_module(tmp_path, monkeypatch):
    (tmp_path / "needs_missing.py").write_text("import not_installed_pkg_xyz\n\ndef f():\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="importing it failed: it imports 'not_installed_pkg_xyz'"):
        load_factory("needs_missing:f")
    sys.modules.pop("needs_missing", None)


def test_load_factory_never_replaces_a_builtin_model(fixtures_on_path):
    with pytest.raises(ValueError, match="'SimpleCNN' is one of pinit's built-in models"):
        load_factory("tiny_factory:make_tied", name="SimpleCNN")
    assert pinit.MODELS["SimpleCNN"].factory is pinit.SimpleCNN
    with pytest.raises(ValueError, match="got int"):
        load_factory(3)  # type: ignore[arg-type]
