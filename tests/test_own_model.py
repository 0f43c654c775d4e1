"""Your own model (issue 20): the --model flag, "As built", probes on real models, strict plans.

Hugging Face GPT-2 and BERT are built from small configs (tests/fixtures/hf_models.py; nothing
is downloaded). timm and torchvision are tested only where they import: PyPI's torchvision
wheel (and timm, which needs it) is a CUDA build that does not install beside this CPU torch.
"""

from __future__ import annotations

import io
import json
import math
import sys
import warnings

import pytest
import torch
from torch import nn

import pinit
from pinit import registry, serve
from pinit.errors import PlanError
from pinit.figures import AS_BUILT_NOTE, histogram_figure
from pinit.lab.capture import model_output, probe_mode
from pinit.lab.probes import DEFAULT_IMAGE_SIZE, activation_stats, gradient_stats, infer_input, probe_batch
from pinit.lab.signal import signal_flow
from pinit.plan import check_plan, unmatched_rules
from pinit.setup import Setup
from pinit.share.cli import main
from pinit.share.plan_io import setup_from_plan_file
from pinit.share.urlstate import state_from_query

GPT2 = "tests.fixtures.hf_models:gpt2_small"
BERT = "tests.fixtures.hf_models:bert_small"
LSTM = "tests.fixtures.tiny_factory:make_lstm"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def no_command_line_models():
    """A test that loads a command line leaves none behind: later page tests would open on its model."""
    yield
    registry.load_command_line([])


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers")


# --- the command line ------------------------------------------------------------------------


def test_pinit_help_lists_the_dashboard_subcommand():
    code, out, err = run("--help")
    assert code == 0 and err == ""
    assert "dashboard" in out and "serve the dashboard" in out
    code, out, err = run("dashboard", "--help")
    assert code == 0 and "--model PKG.MODULE:FACTORY" in out and "--port" in out


def test_dashboard_passes_every_model_to_the_page_in_order():
    code, out, err = run("dashboard", "--model", LSTM, "--model", "DeepMLP", "--port", "8600", "--print-command")
    assert code == 0, err
    argv = out.split()
    assert argv[argv.index("--") :] == ["--", "--model", LSTM, "--model", "DeepMLP"]
    assert "--server.port" in argv and argv[argv.index("--server.port") + 1] == "8600"
    assert "--client.toolbarMode" in argv  # the classroom settings stay
    assert registry.command_line_models() == [LSTM, "DeepMLP"]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("no_such_pkg_xyz.nets:f", "module 'no_such_pkg_xyz.nets' not found"),
        ("tests.fixtures.tiny_factory:nope", "has no attribute 'nope'"),
        ("NoSuchModel", "unknown model 'NoSuchModel': give a built-in model"),
    ],
)
def test_dashboard_refuses_a_model_it_cannot_load_before_serving(spec, words):
    code, out, err = run("dashboard", "--model", spec, "--print-command")
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.startswith("pinit dashboard: error: --model: ") and words in err


def test_dashboard_usage_errors_go_to_err_not_the_process_streams(capsys):
    code, out, err = run("dashboard", "--model")
    assert code == 2 and "expected one argument" in err and out == ""
    assert capsys.readouterr() == ("", "")  # nothing leaked to sys.stdout / sys.stderr


def test_cli_takes_a_users_factory_and_its_options():
    code, out, err = run("--model", LSTM, "--hidden", "8", "--preset", "Xavier (Glorot)")
    assert code == 0, err
    assert out.startswith(f"{LSTM}, hidden=8: 7 parameters")
    assert "lstm.weight_hh_l0" in out and "(32, 8)" in out  # 4 gates x hidden 8
    code, out, err = run("--model", "tests.fixtures.tiny_factory:broken")
    assert code == 1 and "raised RuntimeError: this factory is broken on purpose" in err


def test_page_args():
    assert serve.page_args(["--model", "a.b:c", "--model", "d:e"]) == ["a.b:c", "d:e"]
    assert serve.page_args([]) == []
    assert serve.model_args(["a:b", "c:d"]) == ["--model", "a:b", "--model", "c:d"]
    with pytest.raises(ValueError, match="takes only --model"):
        serve.page_args(["--port", "1"])
    with pytest.raises(ValueError, match="expected one argument"):
        serve.page_args(["--model"])


def test_a_link_or_a_plan_file_never_imports_a_module(tmp_path, monkeypatch):
    """Only the server owner's command line names code: a link's or a plan file's model is a name."""
    (tmp_path / "pinit_never_imported_xyz.py").write_text(
        "import torch\nIMPORTED = True\ndef f():\n    return torch.nn.Linear(2, 2)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = "pinit_never_imported_xyz:f"
    setup, warns = state_from_query({"model": spec}, Setup())
    assert setup.model == "SimpleCNN" and any("ignored model=" in w for w in warns)
    plan_file = tmp_path / "p.json"
    plan_file.write_text(json.dumps({"format": "pinit-plan", "version": 1, "model": spec, "rules": {}}))
    code, _, err = run("--plan", str(plan_file))
    assert code == 1 and "unknown model 'pinit_never_imported_xyz:f' (named in the plan file)" in err
    with pytest.raises(PlanError):
        setup_from_plan_file(plan_file.read_bytes())
    assert "pinit_never_imported_xyz" not in sys.modules
    assert spec not in pinit.MODELS


def test_load_command_line_keeps_order_and_loads_once(monkeypatch):
    assert registry.load_command_line([LSTM, "SimpleCNN"]) == [LSTM, "SimpleCNN"]
    calls = []
    monkeypatch.setattr(registry, "load_factory", lambda spec: calls.append(spec))
    assert registry.load_command_line([" " + LSTM + " "]) == [LSTM]  # loaded before: not imported again
    assert calls == [] and registry.command_line_models() == [LSTM]


# --- "As built" ------------------------------------------------------------------------------


def test_as_built_changes_nothing_and_shows_no_law_curve():
    plan = pinit.PRESETS["As built"].plan
    assert plan == {"rules": {}, "overrides": {}}
    model = pinit.build_model("SimpleCNN", seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pinit.apply_plan(model, plan, seed=3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    hists = pinit.parameter_histograms(model, plan)
    assert all(h.expected is None and h.expected_std is None for h in hists)
    fig = histogram_figure(hists[0])
    assert AS_BUILT_NOTE in fig.layout.title.subtitle.text
    # PyTorch's default beside it re-draws: a law for every parameter, other numbers
    default = pinit.apply_plan(pinit.build_model("SimpleCNN", seed=3), pinit.PRESETS["PyTorch default"].plan, 3)
    assert not torch.equal(default.layer1.conv1.weight, model.layer1.conv1.weight)
    assert all(
        h.expected_std is not None for h in pinit.parameter_histograms(default, pinit.PRESETS["PyTorch default"].plan)
    )


def test_as_built_keeps_hugging_faces_own_init(transformers):
    registry.load_factory(GPT2)
    model = pinit.build_model(GPT2, seed=0)
    w = model.transformer.h[0].attn.c_attn.weight
    assert float(w.detach().std()) == pytest.approx(0.02, rel=0.05)  # HF's post_init: N(0, 0.02)
    table = pinit.parameter_table(model, pinit.PRESETS["As built"].plan)
    assert set(table["scheme"]) == {"untouched"} and table["expected_std"].isna().all()


# --- probes on real models -------------------------------------------------------------------


class TupleOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.fc(x)
        return y, y.sum()


class DictOut(TupleOut):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return {"scores": self.fc(x), "hidden": x}


def test_model_output_says_which_tensor_it_took():
    t = torch.ones(2, 3)
    assert model_output(t) == (t, "the model's output")
    assert model_output((t, t + 1))[1] == "the first floating tensor of the model's tuple"
    assert torch.equal(model_output({"logits": t + 2, "x": t})[0], t + 2)
    with pytest.raises(ValueError, match="no floating-point tensor"):
        model_output((torch.tensor([1, 2]),))
    x = probe_batch(TupleOut(), 8)
    assert x.shape == (8, 6)
    g = gradient_stats(TupleOut(), x, torch.zeros(8, dtype=torch.int64))
    assert g.attrs["output"] == "the first floating tensor of the model's tuple"
    d = gradient_stats(DictOut(), x, torch.zeros(8, dtype=torch.int64))
    assert "dict" in d.attrs["output"] and d.attrs["output"].startswith("the first floating tensor")


def test_image_size_comes_from_the_model_when_it_says_one(transformers):
    vit = transformers.ViTModel(
        transformers.ViTConfig(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        )
    )
    assert infer_input(vit)[0] == (3, 32, 32)
    timm_like = nn.Sequential(nn.Conv2d(3, 8, 4))
    timm_like.pretrained_cfg = {"input_size": (3, 96, 96)}
    assert infer_input(timm_like)[0] == (3, 96, 96)


def test_inputs_are_inferred_from_the_first_layer():
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    side = DEFAULT_IMAGE_SIZE
    assert infer_input(conv)[:2] == ((3, side, side), None)
    emb = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 2))
    shape, vocab, how = infer_input(emb)
    assert vocab == 50 and len(shape) == 1 and "Embedding" in how
    assert int(probe_batch(emb, 4).max()) < 50 and probe_batch(emb, 4).dtype == torch.int64


def test_gpt2_and_bert_signal_flow(transformers):
    for spec, classes in ((GPT2, 100), (BERT, 3)):
        registry.load_factory(spec)
        flow = signal_flow(Setup(spec, plan=pinit.PRESETS["As built"].plan), n=8)
        assert math.isfinite(flow.loss) and len(flow.activations) > 10
        assert flow.num_classes == classes  # chance loss ln(classes): the head's out_features
    model = pinit.build_model(GPT2, seed=0)
    x = probe_batch(model, 4)
    assert x.shape == (4, 16) and x.dtype == torch.int64
    g = gradient_stats(model, x, pinit.probe_targets(model, 4))
    assert g.attrs["output"] == "the .logits of the model's CausalLMOutputWithCrossAttentions, at the last position"
    bert = pinit.build_model(BERT, seed=0)
    assert infer_input(bert)[1] == 120  # its word embeddings' vocabulary, no input attributes needed
    assert int(pinit.probe_targets(bert, 64).max()) <= 2  # its classifier's 3 labels


def test_batch_norm_is_measured_on_the_batch_statistics_by_default():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.BatchNorm1d(32))
    model.input_shape = (10,)
    with torch.no_grad():
        model[0].weight.mul_(10.0)  # a large scale: batch norm takes it back to 1 in training mode
    x = probe_batch(model, 256)
    before = {k: v.clone() for k, v in model[1].state_dict().items()}
    train_rows = activation_stats(model, x)
    eval_rows = activation_stats(model, x, batch_stats=False)
    assert train_rows.iloc[-1]["std"] == pytest.approx(1.0, abs=0.02)
    assert eval_rows.iloc[-1]["std"] == pytest.approx(train_rows.iloc[0]["std"], rel=1e-3)  # passes it unchanged
    assert eval_rows.iloc[-1]["std"] > 3
    assert all(torch.equal(before[k], v) for k, v in model[1].state_dict().items())  # running stats restored
    model.train()
    with probe_mode(model):
        assert not model[0].training and model[1].training
    assert model[0].training and model[1].training


# --- strict plans ----------------------------------------------------------------------------


def test_a_misspelled_layer_type_or_slot_warns_in_the_clis_words_and_strict_raises():
    model = pinit.build_model("SimpleCNN")
    typo = {"rules": {"conv2d": {"weight": {"scheme": "zeros"}}, "Linear": {"wieght": {"scheme": "zeros"}}}}
    with pytest.warns(UserWarning) as record:
        pinit.apply_plan(model, typo)
    texts = [str(w.message) for w in record]
    assert any(t.startswith("rules for conv2d reach nothing: SimpleCNN has no conv2d layer") for t in texts)
    assert any("did you mean Conv2d?" in t for t in texts)
    assert any(t.startswith("rule Linear.wieght reaches nothing: Linear has parameters bias, weight") for t in texts)
    assert texts == unmatched_rules(model, typo)  # the words the CLI prints
    with pytest.raises(PlanError) as e:
        pinit.apply_plan(model, typo, strict=True)
    assert len(e.value.problems) == 2
    with pytest.warns(UserWarning):
        assert check_plan(model, typo) == []
    assert len(check_plan(model, typo, strict=True)) == 2


def test_a_preset_on_a_model_without_that_layer_type_does_not_warn_unless_strict():
    mlp = pinit.build_model("DeepMLP", depth=2, width=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pinit.apply_plan(mlp, pinit.PRESETS["Kaiming (He)"].plan)  # its Conv2d rule: real, just not here
        pinit.apply_plan(nn.Sequential(nn.Linear(3, 3, bias=False)), {"rules": {"Linear": {"bias": "zeros"}}})
    with pytest.raises(PlanError, match="rules for Conv2d reach nothing"):
        pinit.apply_plan(mlp, pinit.PRESETS["Kaiming (He)"].plan, strict=True)


# --- the page's arguments --------------------------------------------------------------------


def test_the_page_reads_its_arguments_only_when_streamlit_ran_it_with_them(tmp_path, monkeypatch):
    from pinit.dashboard import sidebar

    monkeypatch.setattr(sidebar, "_COMMAND_LINE", {})  # what this test loads stays in this test
    script = tmp_path / "app.py"
    script.write_text("")
    registry.load_command_line([])
    sidebar.use_command_line(["/usr/bin/pytest", "--model", LSTM], script=str(script))  # a test runner's argv
    assert registry.command_line_models() == []
    assert sidebar.default_setup().model == "SimpleCNN"
    assert sidebar.default_setup().plan == pinit.InitPlan.from_dict(pinit.PRESETS["PyTorch default"].plan)
    sidebar.use_command_line([str(script), "--model", LSTM], script=str(script))
    assert registry.command_line_models() == [LSTM] and sidebar.model_choices()[0] == LSTM
    assert sidebar.default_setup() == Setup(model=LSTM, plan=pinit.PRESETS["As built"].plan)
    sidebar.use_command_line([str(script), "--model", "tests.fixtures.tiny_factory:broken"], script=str(script))
    assert any("this factory is broken on purpose" in p for p in sidebar.command_line_problems())


# --- torchvision and timm, where they import -------------------------------------------------

NO_CUDA_WHEEL = (
    "PyPI's torchvision wheel (which timm needs) is a CUDA build that does not install beside this CPU torch"
)


def _import_or_skip(name: str):
    try:
        return __import__(name)
    except Exception as e:  # not installed, or a build that fails to load beside this torch
        pytest.skip(f"{name} is not usable here ({type(e).__name__}: {e}); {NO_CUDA_WHEEL}")


@pytest.mark.slow
def test_torchvision_models_as_built_with_inferred_inputs():
    models = _import_or_skip("torchvision").models
    for factory, params, side in (
        (models.resnet18, 11_689_512, DEFAULT_IMAGE_SIZE),
        (models.vit_b_16, 86_567_656, 224),
    ):
        model = factory()
        assert sum(p.numel() for p in model.parameters()) == params
        assert infer_input(model)[:2] == ((3, side, side), None)  # a ViT says its size (image_size)
        table = pinit.parameter_table(model, pinit.PRESETS["As built"].plan)
        assert set(table["scheme"]) == {"untouched"}
    bn = models.resnet18()
    x = torch.randn(2, 3, 64, 64)
    grads = gradient_stats(bn, x, torch.tensor([0, 1]))
    assert grads["grad_norm"].gt(0).any() and grads.attrs["output"] == "the model's output"


@pytest.mark.slow
def test_timm_models_as_built():
    timm = _import_or_skip("timm")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    assert infer_input(model)[0] == (3, 224, 224)
    table = pinit.parameter_table(model, pinit.PRESETS["As built"].plan)
    assert table["expected_std"].isna().all()
