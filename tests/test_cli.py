"""`python -m pinit`: pinit.share.cli.main(argv) in-process, plus one real subprocess for --help."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import pinit
from pinit.share.checkpoint import save_state_dict
from pinit.share.cli import main
from pinit.share.plan_io import load_plan_file, plan_to_json

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
_spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

PARAM_NAMES = [
    "layer1.conv1.weight",
    "layer1.conv1.bias",
    "layer2.conv2.weight",
    "layer2.conv2.bias",
    "layer3.conv3.weight",
    "layer3.conv3.bias",
    "layer4.fc1.weight",
    "layer4.fc1.bias",
    "layer4.fc2.weight",
    "layer4.fc2.bias",
    "layer4.fc3.weight",
    "layer4.fc3.bias",
]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def fails(code_expected: int, *argv: str) -> str:
    """Run, expect exit code `code_expected`, nothing on stdout, no traceback; return stderr."""
    code, out, err = run(*argv)
    assert code == code_expected, (code, out, err)
    assert out == ""
    assert "Traceback" not in err and err.strip()
    return err


def reference(preset: str, seed: int, name: str = "SimpleCNN", **options) -> torch.nn.Module:
    """What the CLI must have computed: the model built with `seed`, then the preset applied with `seed`."""
    model = pinit.build_model(name, seed=seed, **options)
    return pinit.apply_plan(model, pinit.PRESETS[preset].plan, seed)


# --- help and listings ----------------------------------------------------------------


def test_help_in_a_real_subprocess_teaches_the_plan_format():
    proc = subprocess.run(
        [sys.executable, "-m", "pinit", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: pinit")
    for text in (
        '"rules"',
        '"overrides"',
        '"scheme": "kaiming_normal"',
        '"version": 1',
        "layer4.fc3.weight",
        "--plan FILE",
        "--preset NAME",
        "--seed N",
        "--export-code PATH",
        "--list-schemes",
        "examples",
    ):
        assert text in proc.stdout, text
    # The epilog's example is itself a valid plan file.
    start = proc.stdout.index("    {\n")
    end = proc.stdout.index("\n    }\n", start) + len("\n    }")
    plan, meta = load_plan_file(proc.stdout[start:end], model=pinit.build_model("SimpleCNN"))
    assert meta["version"] == 1 and plan.overrides["layer4.fc3.weight"].params["std"] == 0.01


def test_help_in_process_returns_zero():
    code, out, err = run("--help")
    assert code == 0 and "plan files" in out and err == ""


def test_list_schemes_shows_every_scheme_with_its_parameters_and_formula():
    code, out, _ = run("--list-schemes")
    assert code == 0
    blocks = out.split("\n\n")
    assert [b.split()[0] for b in blocks] == list(pinit.SCHEMES)
    for block, scheme in zip(blocks, pinit.SCHEMES.values()):
        assert f"formula: {scheme.formula}" in block
        for p in scheme.params:
            assert f"    {p.name} = {p.default!r}: {p.help} Allowed: {p.allowed()}." in block
        if not scheme.params:
            assert "parameters: none" in block
    assert "a finite number in (0, 10000]" in out  # trunc_normal's std must be > 0


def test_list_presets_and_models():
    code, out, _ = run("--list-presets", "--list-models")
    assert code == 0
    for preset in pinit.PRESETS.values():
        assert preset.name in out and preset.lesson in out
    assert "DeepMLP:" in out and "--depth (default 10)" in out and "SimpleCNN: " in out


# --- the table --------------------------------------------------------------------------


def test_preset_prints_every_parameter_with_measured_and_expected_std():
    code, out, err = run("--preset", "Kaiming (He)", "--seed", "4")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "SimpleCNN: 12 parameters, 1,175,818 values; preset 'Kaiming (He)'; seed 4"
    header = lines[1].split()
    for col in ("name", "shape", "numel", "fan_in", "fan_out", "std", "scheme", "expected_std", "std_ratio"):
        assert col in header
    assert [line.split()[0] for line in lines[2:]] == PARAM_NAMES
    fc1 = next(line for line in lines if line.startswith("  layer4.fc1.weight"))
    std = float(reference("Kaiming (He)", 4).layer4.fc1.weight.detach().std())
    assert f"{std:.4g}" in fc1.split() and "kaiming_normal" in fc1 and "0.03125" in fc1  # sqrt(2/2048)


def test_no_plan_shows_the_model_as_built():
    code, out, _ = run("--model", "ArticleSimpleCNN", "--seed", "1")
    assert code == 0
    assert "; no plan (the model's own init); seed 1" in out.splitlines()[0]
    assert "layer4.fc2 .weight" in out and "scheme" not in out.splitlines()[1]


def test_csv_and_json_hold_the_same_table_as_the_library(tmp_path):
    csv, js = tmp_path / "t.csv", tmp_path / "t.json"
    code, out, err = run(
        "--model",
        "DeepMLP",
        "--depth",
        "3",
        "--width",
        "32",
        "--activation",
        "tanh",
        "--preset",
        "Xavier (Glorot)",
        "--seed",
        "9",
        "--csv",
        str(csv),
        "--json",
        str(js),
    )
    assert code == 0
    assert f"wrote the table (CSV) to {csv}" in err and f"wrote the table (JSON) to {js}" in err
    assert out.startswith("DeepMLP, depth=3, width=32, activation=tanh: 6 parameters")
    model = reference("Xavier (Glorot)", 9, "DeepMLP", depth=3, width=32, activation="tanh")
    expected = pinit.parameter_table(model, pinit.PRESETS["Xavier (Glorot)"].plan)
    from_csv = pd.read_csv(csv)
    assert list(from_csv["name"]) == list(expected["name"])
    assert list(from_csv["std"]) == pytest.approx(list(expected["std"]), rel=1e-12)
    rows = json.loads(js.read_text())
    assert [r["name"] for r in rows] == list(expected["name"])
    assert [r["std"] for r in rows] == pytest.approx(list(expected["std"]), rel=1e-12)
    assert rows[1]["fan_in"] is None and rows[0]["fan_in"] == 256  # a bias has no fan_in


def test_save_plan_then_plan_file_reproduces_the_same_table(tmp_path):
    plan_file = tmp_path / "plan.json"
    code, first, err = run("--preset", "Article recipe", "--seed", "12", "--save-plan", str(plan_file))
    assert code == 0 and "wrote the plan file" in err
    meta = json.loads(plan_file.read_text())
    assert meta["seed"] == 12 and meta["model"] == "SimpleCNN" and meta["version"] == 1
    # Seed and model come from the file when not given.
    code, second, err = run("--plan", str(plan_file))
    assert code == 0 and err == ""
    assert first.splitlines()[1:] == second.splitlines()[1:]
    assert second.splitlines()[0].endswith(f"plan file {plan_file}; seed 12")
    # --seed on the command line wins over the file's.
    code, third, _ = run("--plan", str(plan_file), "--seed", "13")
    assert code == 0 and third.splitlines()[2:] != second.splitlines()[2:]


def test_plan_file_for_deep_mlp_takes_its_model_options(tmp_path):
    plan_file = tmp_path / "mlp.json"
    plan_file.write_text(
        plan_to_json(
            {"rules": {"Linear": {"weight": "lecun_normal"}}},
            seed=3,
            model=pinit.build_model("DeepMLP", depth=4, width=16),
        )
    )
    code, out, _ = run("--plan", str(plan_file))
    assert code == 0 and out.startswith("DeepMLP, depth=4, width=16, activation=relu: 8 parameters")
    code, out, _ = run("--plan", str(plan_file), "--depth", "2")  # a flag overrides one option
    assert code == 0 and out.startswith("DeepMLP, depth=2, width=16, activation=relu: 4 parameters")


def test_plan_file_warnings_go_to_stderr(tmp_path):
    plan_file = tmp_path / "p.json"
    plan_file.write_text(
        '{"model": "DeepMLP", "rules": {"Linear": {"weight": "zeros"}, "Conv3d": {"weight": "zeros"}}}'
    )
    code, _out, err = run("--plan", str(plan_file), "--model", "SimpleCNN")
    assert code == 0
    assert "warning: the plan was saved for model DeepMLP; it is applied to SimpleCNN" in err
    assert "warning: rules for Conv3d reach nothing" in err


def test_export_code_writes_a_script_that_reproduces_the_run(tmp_path):
    script = tmp_path / "init_weights.py"
    code, _, err = run("--preset", "PyTorch default", "--seed", "21", "--export-code", str(script))
    assert code == 0 and f"wrote the init script to {script}" in err
    ns: dict = {}
    exec(compile(script.read_text(), str(script), "exec"), ns)
    mine = ns["init_weights"](pinit.build_model("SimpleCNN", seed=0))
    theirs = reference("PyTorch default", 21)
    for (n, a), (_, b) in zip(mine.named_parameters(), theirs.named_parameters()):
        assert torch.equal(a.detach().view(torch.int32), b.detach().view(torch.int32)), n


def test_checkpoint_is_loaded_and_its_nonfinite_values_noted(tmp_path):
    source = pinit.build_model("DeepMLP", seed=1, depth=2, width=8)
    with torch.no_grad():
        source.layers.fc2.bias[0] = float("nan")
    ckpt = tmp_path / "w.pt"
    ckpt.write_bytes(save_state_dict(source))
    code, out, err = run("--model", "DeepMLP", "--depth", "2", "--width", "8", "--checkpoint", str(ckpt))
    assert code == 0
    assert "note: layers.fc2.bias holds 1 NaN/Inf value(s)" in err
    bias_row = next(line for line in out.splitlines() if line.strip().startswith("layers.fc2.bias"))
    assert bias_row.split()[-1] == "1"  # the nonfinite column


# --- errors: words on stderr, non-zero exit, no traceback -------------------------------


def test_unknown_preset():
    err = fails(1, "--preset", "Kaiming")
    assert "unknown preset 'Kaiming'; presets: 'PyTorch default'" in err and "'Kaiming (He)'" in err


def test_unknown_model():
    assert "unknown model 'ResNet'; models: SimpleCNN, ArticleSimpleCNN, DeepMLP" in fails(1, "--model", "ResNet")


def test_unknown_model_named_in_a_plan_file(tmp_path):
    f = tmp_path / "p.json"
    f.write_text('{"model": "ResNet", "rules": {}}')
    assert "unknown model 'ResNet' (named in the plan file)" in fails(1, "--plan", str(f))


@pytest.mark.parametrize("seed", ["-1", "abc", "1.5", str(2**63)])
def test_bad_seed(seed):
    err = fails(2, "--preset", "Kaiming (He)", "--seed", seed)
    assert "argument --seed: seed must be a whole number from 0 to 9223372036854775807" in err


def test_model_options_are_checked():
    assert "SimpleCNN takes no option ['depth']" in fails(1, "--depth", "3")
    assert "depth must be a whole number from 1 to 100, got 0" in fails(1, "--model", "DeepMLP", "--depth", "0")
    assert "activation must be one of" in fails(1, "--model", "DeepMLP", "--activation", "swish")
    assert "argument --depth: invalid int value: 'x'" in fails(2, "--model", "DeepMLP", "--depth", "x")


def test_bad_plan_file_lists_every_problem():
    err = fails(1, "--plan", str(FIXTURES / "plan_bad.json"))
    assert "plan_bad.json' is refused, 4 problems:" in err
    assert "  - seed must be a whole number from 0 to 9223372036854775807 (or null), got -3" in err
    assert "  - Conv2d.weight: unknown scheme 'kaiming_normall'" in err
    assert "  - Linear.weight: normal: std=-1 is out of range" in err
    assert "  - Linear.bias: zeros has no parameter 'val'" in err


def test_plan_file_that_does_not_fit_the_model(tmp_path):
    f = tmp_path / "p.json"
    f.write_text('{"rules": {"Conv2d": {"weight": "eye"}}, "overrides": {"fc9.weight": "zeros"}}')
    err = fails(1, "--plan", str(f))
    assert "does not fit SimpleCNN, 4 problems:" in err
    assert "eye needs a 2-D tensor; layer1.conv1.weight has shape (32, 3, 3, 3)" in err
    assert "override names 'fc9.weight'" in err


def test_unreadable_or_non_utf8_plan_file(tmp_path):
    assert "cannot read plan file" in fails(1, "--plan", str(tmp_path / "missing.json"))
    f = tmp_path / "latin1.json"
    f.write_bytes(b'{"rules": {}, "note": "caf\xe9"}')
    assert "is not UTF-8 text (byte 0xe9 at position 26)" in fails(1, "--plan", str(f))


def test_malicious_checkpoint_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned.txt"
    ckpt = tmp_path / "evil.pt"
    ckpt.write_bytes(fx.evil_torch_save(str(marker)))
    err = fails(1, "--checkpoint", str(ckpt))
    assert "evil.pt' is refused: the file holds Python objects other than tensors" in err
    assert not marker.exists()


def test_checkpoint_for_another_model(tmp_path):
    ckpt = tmp_path / "cnn.pt"
    ckpt.write_bytes(save_state_dict(pinit.build_model("SimpleCNN")))
    err = fails(1, "--model", "ArticleSimpleCNN", "--checkpoint", str(ckpt))
    assert "missing keys (4)" in err and "unexpected keys (4)" in err


def test_export_and_save_plan_need_a_plan(tmp_path):
    err = fails(2, "--export-code", str(tmp_path / "x.py"))
    assert "--export-code and --save-plan need a plan" in err
    assert not (tmp_path / "x.py").exists()


def test_plan_sources_are_mutually_exclusive():
    assert "not allowed with argument" in fails(2, "--preset", "Kaiming (He)", "--plan", "x.json")


def test_unwritable_output_path(tmp_path):
    code, _out, err = run("--preset", "Kaiming (He)", "--csv", str(tmp_path / "no" / "such" / "dir.csv"))
    assert code == 1 and "cannot write the table (CSV) to" in err and "Traceback" not in err
