"""Hostile or careless input to a shared classroom server: every refusal is short, in words,
and costs little (issue 10). Memory itself is measured in tests/test_memory_budget.py.

* Error text is bounded: at most MAX_PROBLEMS problems, then "and N more problems", and a
  model's parameter names appear once, not once per bad override (a 924 kB plan file made
  193 MB of error text, the CLI wrote 62 MB to stderr for a 300 kB file).
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch

import pinit
from pinit.errors import MAX_PROBLEMS, PlanError, problem_count
from pinit.setup import Setup
from pinit.share.checkpoint import CheckpointError, load_checkpoint
from pinit.share.cli import main
from pinit.share.plan_io import load_plan_file, setup_from_plan_file
from pinit.share.urlstate import state_from_query

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
_spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)


def cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert out.getvalue() == ""
    return code, err.getvalue()


# --- item 3: error text no larger than a few kB, whatever the input's size ---------------------


def test_unknown_overrides_are_one_problem_that_names_the_parameters_once():
    with pytest.raises(PlanError) as e:
        setup_from_plan_file(fx.unknown_overrides_plan(50_000))  # 924 kB
    text = str(e.value)
    assert len(text) < 5_000, f"{len(text):,} characters of error text"
    (problem,) = e.value.problems
    assert problem.startswith("50,000 overrides name no parameter of DeepMLP: 'x0', 'x1', ")
    assert "and 49,980 more; its parameters are: layers.fc1.weight, layers.fc1.bias, " in problem
    assert problem.count("layers.fc1.weight") == 1


def test_one_unknown_override_keeps_its_message():
    with pytest.raises(PlanError) as e:
        pinit.apply_plan(pinit.build_model("SimpleCNN"), {"overrides": {"layer9.weight": "zeros"}})
    assert e.value.problems[0].startswith(
        "override names 'layer9.weight', which is not a parameter of SimpleCNN; its parameters are: "
    )


def test_problems_are_capped_and_counted():
    rules = {f"Layer{i}": {"weight": {"scheme": "nope"}} for i in range(500)}
    with pytest.raises(PlanError) as e:
        load_plan_file(json.dumps({"seed": -1, "rules": rules}))
    problems = e.value.problems
    assert len(problems) == MAX_PROBLEMS + 1 == 21
    assert problems[-1] == "and 481 more problems" and problem_count(problems) == 501
    assert str(e.value) == "\n".join(problems)
    # Re-raising a capped list keeps the count right.
    again = PlanError(["one more"] + problems)
    assert again.problems[-1] == "and 482 more problems" and problem_count(again.problems) == 502


def test_the_cli_writes_a_few_lines_for_a_huge_plan_file(tmp_path):
    path = tmp_path / "plan.json"
    path.write_bytes(fx.unknown_overrides_plan(16_000))  # 300 kB: 62 MB on stderr before
    code, err = cli("--plan", str(path))
    assert code == 1 and len(err) < 5_000, f"{len(err):,} characters on stderr"
    assert "16,000 overrides name no parameter of DeepMLP" in err

    rules = {f"Layer{i}": {"weight": {"scheme": "nope"}} for i in range(500)}
    path.write_text(json.dumps({"rules": rules}))
    code, err = cli("--plan", str(path))
    assert code == 1 and "is refused, 500 problems:" in err and err.rstrip().endswith("- and 480 more problems")


def test_checkpoint_problems_are_capped():
    model = pinit.build_model("DeepMLP", depth=100, width=4)
    data = fx.torch_bytes({k: v.to(torch.int64) for k, v in model.state_dict().items()})
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(data, model)
    assert len(e.value.problems) == MAX_PROBLEMS + 1 and e.value.problems[-1] == "and 180 more problems"


def token(doc: object) -> str:
    """A link's plan= value for any JSON document (encode_plan only takes valid plans)."""
    return base64.urlsafe_b64encode(zlib.compress(json.dumps(doc).encode(), 9)).decode().rstrip("=")


def test_a_link_warning_is_short_whatever_the_plan_in_it():
    bad = token({"rules": {f"L{i}": {"weight": "nope"} for i in range(2_000)}})
    _setup, warnings = state_from_query({"model": "SimpleCNN", "plan": bad})
    (warning,) = warnings
    assert len(warning) < 2_000 and warning.endswith("; and 1,995 more problems")


# --- item 6 (backend): user values are echoed short --------------------------------------------------

HUGE = "x" * 150_000


@pytest.mark.parametrize(
    "params",
    [
        {"plan": token({"rules": {"Linear": {"weight": HUGE}}})},  # a 150 kB scheme name
        {"plan": token({"rules": {HUGE: {"weight": "nope"}}})},  # a 150 kB layer type
        {"plan": token({"rules": {"Linear": {"weight": {"scheme": "kaiming_normal", "mode": HUGE}}}})},
        {"plan": token({"overrides": {HUGE: "zeros"}})},
        {"model": HUGE},
        {"seed": HUGE},
    ],
)
def test_a_huge_value_in_a_link_gives_a_short_warning(params):
    _setup, warnings = state_from_query(params)
    assert warnings and sum(map(len, warnings)) < 1_000, f"{sum(map(len, warnings)):,} characters"


@pytest.mark.parametrize(
    "doc",
    [
        {"rules": {"Linear": {"weight": HUGE}}},
        {"format": HUGE, "rules": {}},
        {"model": HUGE, "rules": {}},
        {HUGE: 1, "rules": {}},
        {"model": "DeepMLP", "model_options": {HUGE: HUGE}, "rules": {}},
    ],
)
def test_a_huge_value_in_a_plan_file_gives_a_short_refusal(doc):
    with pytest.raises(PlanError) as e:
        setup_from_plan_file(json.dumps(doc))
    assert len(str(e.value)) < 1_000, f"{len(str(e.value)):,} characters"


# --- item 4: the CLI reads only regular files, and only up to their limit ---------------------------


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))


def run_cli_process(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m pinit` in a child with 6 GiB of address space, so a read that never ends fails
    this test (MemoryError, or the timeout for a FIFO) instead of hanging it or taking the machine."""
    return subprocess.run(
        [sys.executable, "-m", "pinit", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory,
    )


@pytest.mark.parametrize("flag", ["--plan", "--checkpoint"])
def test_the_cli_refuses_a_fifo_without_waiting_for_it(tmp_path, flag):
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)
    proc = run_cli_process(flag, str(fifo))  # before: blocked in open() until killed
    assert proc.returncode == 1 and proc.stdout == ""
    assert "is a named pipe (FIFO), not a regular file" in proc.stderr, proc.stderr


@pytest.mark.parametrize("path, kind", [("/dev/zero", "a character device (such as /dev/zero)"), ("/", "a directory")])
@pytest.mark.parametrize("flag", ["--plan", "--checkpoint"])
def test_the_cli_refuses_devices_and_directories(flag, path, kind):
    proc = run_cli_process(flag, path)  # before: --plan /dev/zero read until the kernel killed it
    assert proc.returncode == 1 and f"is {kind}, not a regular file" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "flag, size, limit", [("--plan", 10**8, "1,000,000"), ("--checkpoint", 3 * 10**8, "209,715,200")]
)
def test_the_cli_checks_a_files_size_before_reading_it(tmp_path, flag, size, limit):
    path = tmp_path / "big"
    with open(path, "wb") as f:
        f.truncate(size)  # sparse: no disk used, but read_bytes() would allocate it all
    code, err = cli(flag, str(path))
    assert code == 1 and f"is {size:,} bytes; it may be at most {limit} bytes" in err, err


@pytest.mark.parametrize(
    "state",
    [
        {HUGE: torch.zeros(1)},  # an unexpected key
        {"state_dict": {HUGE: torch.zeros(1)}, "epoch": 1},
        {HUGE: 3, "lr": 0.1},  # not a dict of tensors
        {"weight": torch.zeros(2, 3), "bias": torch.zeros(2), HUGE: [1.0]},  # an entry that is not a tensor
    ],
)
def test_a_huge_checkpoint_key_gives_a_short_refusal(state):
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(fx.torch_bytes(state), torch.nn.Linear(3, 2))
    assert len(str(e.value)) < 1_000, f"{len(str(e.value)):,} characters"


# --- issue 17, item 7: every refusal short, whatever each loader is fed --------------------------------
# Each case is the longest input of its kind a loader takes before its own size limits: every
# value echoed (names, shapes, library errors) goes through pinit.text.quote or shorten.

SHORT = 500  # characters of refusal for one bad thing


def _safetensors(header: dict, data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data


NAME_900K = "x" * 900_000  # fits in the 1 MB safetensors header


def _legacy(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


CHECKPOINTS = {
    # a shape of 160,001 numbers: echoed whole before (480,115 characters)
    "safetensors shape": _safetensors(
        {"w": {"dtype": "F32", "shape": [1] * 160_001, "data_offsets": [0, 8]}}, bytes(8)
    ),
    # safetensors' own error naming a 900 kB tensor (passed on whole before)
    "safetensors library error": _safetensors(
        {NAME_900K: {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)
    ),
    "safetensors dtype": _safetensors({"w": {"dtype": HUGE, "shape": [1], "data_offsets": [0, 4]}}, bytes(4)),
    "zip key": fx.torch_bytes({HUGE: torch.zeros(1)}),
    "legacy key": _legacy({HUGE: torch.zeros(1)}),
    "zip shape": fx.torch_bytes({"weight": torch.zeros([1] * 60), "bias": torch.zeros(2)}),
    "legacy shape": _legacy({"weight": torch.zeros([1] * 60), "bias": torch.zeros(2)}),
    "zip entry name": fx.torch_zip(fx.torch_pickle({}), {HUGE[:60_000]: b""}, deflate=frozenset({HUGE[:60_000]})),
    "text": HUGE.encode(),
}


@pytest.mark.parametrize("case", CHECKPOINTS)
def test_every_checkpoint_refusal_is_short(case):
    if case.startswith("safetensors"):
        pytest.importorskip("safetensors")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(CHECKPOINTS[case], torch.nn.Linear(3, 2))
    assert all(len(p) <= SHORT for p in e.value.problems), [len(p) for p in e.value.problems]
    assert len(str(e.value)) <= 2 * SHORT, f"{len(str(e.value)):,} characters"


def test_a_list_of_long_names_is_cut_by_characters_not_only_by_count():
    keys = {f"{i}{'k' * 5_000}": torch.zeros(1) for i in range(30)}
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(fx.torch_bytes(keys), torch.nn.Linear(3, 2))
    assert all(len(p) <= 2 * SHORT for p in e.value.problems), [len(p) for p in e.value.problems]
    assert any(p.endswith("more") for p in e.value.problems)


PLANS = {
    "duplicate key": '{"rules": {}, "' + HUGE + '": 1, "' + HUGE + '": 2}',
    "duplicate rule": '{"rules": {"' + HUGE + '": {}, "' + HUGE + '": {}}}',
    "not JSON": HUGE + "{",
    "scheme": json.dumps({"rules": {"Linear": {"weight": HUGE}}}),
}


@pytest.mark.parametrize("case", PLANS)
def test_every_plan_file_refusal_is_short(case):
    with pytest.raises(PlanError) as e:
        setup_from_plan_file(PLANS[case])
    assert all(len(p) <= SHORT for p in e.value.problems), [len(p) for p in e.value.problems]


def test_duplicate_keys_in_a_plan_file_are_refused_in_words():
    with pytest.raises(PlanError) as e:
        load_plan_file('{"seed": 1, "rules": {"Linear": {"weight": "zeros"}}, "seed": 2}')
    assert e.value.problems == [
        "the plan file is ambiguous: the key 'seed' appears twice in one object; each key may appear once"
    ]
    with pytest.raises(PlanError) as e:
        load_plan_file('{"rules": {"Linear": {"weight": "zeros", "weight": "ones"}}}')
    assert "the key 'weight' appears twice" in e.value.problems[0]
    plan, _meta = load_plan_file('{"rules": {"Linear": {"weight": "zeros"}, "Conv2d": {"weight": "zeros"}}}')
    assert set(plan.rules) == {"Linear", "Conv2d"}  # equal values under different keys are fine


def test_duplicate_keys_in_a_links_plan_are_named_and_the_rest_of_the_link_kept():
    raw = b'{"rules": {"Linear": {"weight": {"scheme": "zeros"}, "weight": {"scheme": "ones"}}}}'
    token = base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")
    setup, warnings = state_from_query({"model": "SimpleCNN", "seed": "7", "plan": token})
    assert setup.seed == 7 and setup.plan == Setup().plan  # the plan part is dropped, the seed kept
    assert len(warnings) == 1 and "ambiguous" in warnings[0] and "'weight' appears twice" in warnings[0], warnings


def test_a_link_of_only_unknown_parameters_is_named_short():
    from pinit.share.urlstate import unknown_parameters

    params = {f"{i}{HUGE}": HUGE for i in range(1_000)}
    (warning,) = unknown_parameters(params)
    assert len(warning) <= SHORT and "and 997 more from the link" in warning
    assert unknown_parameters({"view": "Lesson", "step": "3", "present": "1"}) == []  # the page's own
    assert unknown_parameters({"utm_source": "mail"}) == [
        "ignored utm_source='mail' from the link: a link's parameters are model, opts, seed, plan and view"
    ]
