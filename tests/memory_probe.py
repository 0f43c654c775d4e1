"""What one hostile input costs: the peak-RSS growth of one call, each in a fresh process.

    python -m tests.memory_probe                     # every case: the table in docs/SECURITY.md
    python -m tests.memory_probe deflate_bomb cli_dev_zero

Each case runs in its own child Python: the child imports pinit, reads the input from a
file, builds the model it needs, resets its peak RSS (``echo 5 > /proc/self/clear_refs``),
makes the one call, and reports VmHWM minus the VmRSS it had just before the call. A fresh
process per case means one input's peak can never hide (or be blamed on) another's.
The child's address space is capped at its size before the call plus LIMIT_GB, so an input
that would read or allocate without end fails there instead of taking the machine down,
and one that blocks is killed after TIMEOUT seconds.

tests/test_memory_budget.py asserts the growth of every case against a budget;
the inputs are built by tests/fixtures/make_fixtures.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
LIMIT_GB = 4  # address space the child may add before the call fails with MemoryError
TIMEOUT = 30.0  # seconds before a child that blocks (a FIFO nobody writes) is killed
SLOW = 180.0  # the timeout of a case that builds real models or counts a huge one on the meta device


def fixtures():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass(frozen=True)
class Case:
    """One hostile input: `make(tmpdir)` returns the path of the input; `kind` is the call made on it."""

    name: str
    kind: str  # "checkpoint", "plan_file", "link", "cli" or "download"
    make: Callable[[Path], str]
    what: str
    timeout: float = TIMEOUT  # a case that builds models (downloads, meta-device estimates) may take longer


def _file(name: str, data: Callable[[], bytes]) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        path = tmp / name
        path.write_bytes(data())
        return str(path)

    return make


def _fifo(tmp: Path) -> str:
    path = tmp / "plan.fifo"
    os.mkfifo(path)
    return str(path)


def cases() -> list[Case]:
    fx = fixtures()
    return [
        Case(
            "bytearray_bomb",
            "checkpoint",
            _file("bomb.pkl", fx.bytearray_bomb),
            "54-byte pickle calling builtins.bytearray(2**30) three times",
        ),
        Case(
            "deflate_bomb",
            "checkpoint",
            _file("deflate.pt", fx.deflate_bomb),
            "1 MB torch zip whose data/0 inflates to 1 GiB",
        ),
        Case(
            "legacy_numel_bomb",
            "checkpoint",
            _file("legacy.pt", fx.legacy_numel_bomb),
            "legacy torch.save stream claiming a 1 GiB storage, holding 16 bytes",
        ),
        Case(
            "meta_checkpoint",
            "checkpoint",
            _file("meta.pt", fx.meta_checkpoint),
            "SimpleCNN state_dict of meta tensors (shapes, no values)",
        ),
        Case(
            "bad_safetensors",
            "checkpoint",
            _file("bad.safetensors", fx.bad_safetensors_header),
            "safetensors file with a header that is not a safetensors header",
        ),
        Case(
            "plan_unknown_overrides",
            "plan_file",
            _file("overrides.json", lambda: fx.unknown_overrides_plan(50_000)),
            "924 kB plan file: 50,000 overrides naming no parameter of DeepMLP(depth=100)",
        ),
        Case(
            "cli_unknown_overrides",
            "cli",
            _file("overrides-cli.json", lambda: fx.unknown_overrides_plan(16_000)),
            "300 kB plan file given to the CLI (--plan)",
        ),
        Case("cli_dev_zero", "cli", lambda tmp: "/dev/zero", "pinit --plan /dev/zero"),
        Case("cli_fifo", "cli", _fifo, "pinit --plan FIFO (nobody writes to it)"),
        Case(
            "download_widemlp_x3",
            "download",
            lambda tmp: "WideMLP",
            "three state_dict downloads of WideMLP (96 MiB each) clicked at once in the page's share view",
            SLOW,
        ),
        Case(
            "link_deep_mlp_100x4096",
            "link",
            _file("big-link.json", lambda: json.dumps({"model": "DeepMLP", "opts": json.dumps(HUGE_MLP)}).encode()),
            '?model=DeepMLP&opts={"depth":100,"width":4096}: 1.6 G parameters',
            SLOW,
        ),
        Case(
            "link_tinygpt_limits",
            "link",
            _file("gpt-link.json", lambda: json.dumps({"model": "TinyGPT", "opts": json.dumps(HUGE_GPT)}).encode()),
            "a link asking for TinyGPT at its option limits: 10 G parameters (37 GiB)",
            SLOW,
        ),
        Case(
            "plan_file_deep_mlp_100x4096",
            "plan_file",
            _file("big-plan.json", lambda: json.dumps({"model": "DeepMLP", "model_options": HUGE_MLP}).encode()),
            "a plan file whose model_options ask for DeepMLP 100 x 4096",
            SLOW,
        ),
        Case(
            "weights_view_deep_mlp_100x4096",
            "view",
            _file("weights-view.json", lambda: json.dumps(["DeepMLP", HUGE_MLP, "weights"]).encode()),
            "the Weights view asked for DeepMLP 100 x 4096 (as a sidebar or an old session could)",
            SLOW,
        ),
        Case(
            "signal_view_tinygpt_limits",
            "view",
            _file("signal-view.json", lambda: json.dumps(["TinyGPT", HUGE_GPT, "signal"]).encode()),
            "Signal flow asked for TinyGPT at its option limits",
            SLOW,
        ),
        Case(
            "link_huge_scheme_name",
            "link",
            _file(
                "link.json",
                lambda: json.dumps({"plan": _plan_token({"rules": {"Linear": {"weight": "x" * 150_000}}})}).encode(),
            ),
            "link whose plan names a 150 kB scheme",
        ),
    ]


HUGE_MLP = {"depth": 100, "width": 4096}
HUGE_GPT = {"n_layer": 48, "d_model": 4096, "n_head": 256, "vocab": 65536, "seq_len": 4096}
BUDGET_CASES = (
    "link_deep_mlp_100x4096",
    "link_tinygpt_limits",
    "plan_file_deep_mlp_100x4096",
    "weights_view_deep_mlp_100x4096",
    "signal_view_tinygpt_limits",
)


def _plan_token(doc: object) -> str:
    import base64
    import zlib

    return base64.urlsafe_b64encode(zlib.compress(json.dumps(doc).encode(), 9)).decode().rstrip("=")


# --- the child ---------------------------------------------------------------------------


def _status(field: str) -> int:
    """A field of /proc/self/status in kB (VmRSS, VmHWM, VmSize)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _prepare(kind: str, path: str) -> Callable[[], str]:
    """Everything but the call itself (imports, reading the file, building the model); returns the call."""
    import torch

    torch.set_num_threads(1)
    if kind == "checkpoint":
        import pinit

        data = Path(path).read_bytes()
        model = pinit.build_model("SimpleCNN", seed=0)
        return lambda: _outcome(lambda: pinit.load_checkpoint(data, model))
    if kind == "plan_file":
        from pinit.share.plan_io import setup_from_plan_file

        text = Path(path).read_bytes()
        return lambda: _outcome(lambda: setup_from_plan_file(text))
    if kind == "link":
        from pinit.share.urlstate import state_from_query

        params = json.loads(Path(path).read_text())

        def link() -> str:
            _setup, warnings = state_from_query(params)
            return f"ok, {len(warnings)} warning(s), {sum(map(len, warnings)):,} characters"

        return link
    if kind == "download":
        import threading

        import pinit
        from pinit.dashboard import share
        from pinit.setup import Setup

        plan = pinit.PRESETS["Kaiming (He)"].plan

        def downloads() -> str:  # three tabs clicking at once: one thread each, as Streamlit runs them
            sizes: list[int] = []
            tabs = [
                threading.Thread(
                    target=lambda seed=seed: sizes.append(
                        len(share._state_dict_bytes(Setup(path, {}, plan, seed), f"tab{seed}"))
                    )
                )
                for seed in range(3)
            ]
            for t in tabs:
                t.start()
            for t in tabs:
                t.join()
            return f"ok, {len(sizes)} downloads of {sizes[0]:,} bytes"

        return downloads
    if kind == "view":
        from pinit.budget import estimate
        from pinit.setup import Setup

        model, options, view = json.loads(Path(path).read_text())

        def view_call() -> str:
            from pinit.dashboard import common, state

            setup = Setup(model, options)
            if view == "weights":
                return _outcome(lambda: state.report_for(setup, 40))
            if view == "signal":
                return _outcome(lambda: common.signal_for(setup, 8))
            return _outcome(lambda: share_bytes(setup))

        def share_bytes(setup: object) -> int:
            from pinit.dashboard import share

            return len(share._state_dict_bytes(setup))  # type: ignore[arg-type]

        estimate(model, options, view, 8)  # the meta-device estimate is cached before the call is measured
        return view_call
    if kind == "estimate":
        from pinit.budget import estimate
        from pinit.lab.signal import signal_flow
        from pinit.report import inspect_model
        from pinit.setup import Setup

        model, options, view, n = json.loads(Path(path).read_text())
        plan = {"rules": {"Linear": {"weight": {"scheme": "kaiming_normal"}}}}
        setup = Setup(model, options, plan if not Setup(model, options, plan).problems() else {})
        cost = estimate(model, options, view, n)
        inspect_model(Setup(), 40)  # the first call's imports and caches are not the model's cost
        signal_flow(Setup(), 8)
        gc.collect()

        def measured() -> str:
            if view == "weights":
                inspect_model(setup, 40)
            elif view == "signal":
                signal_flow(setup, n)
            else:
                pinit_save(setup)
            return f"estimate {cost.total / 2**20:.1f} MB"

        def pinit_save(s: Setup) -> int:
            import pinit

            return len(pinit.save_state_dict(s.build()))

        return measured
    if kind == "cli":
        from pinit.share.cli import main

        def cli() -> str:
            out, err = io.StringIO(), io.StringIO()
            code = main(["--plan", path], out=out, err=err)
            return f"exit {code}, {len(err.getvalue()):,} characters on stderr: {err.getvalue()[:160]!r}"

        return cli
    raise ValueError(f"unknown kind {kind!r}")


def _outcome(call: Callable[[], object]) -> str:
    try:
        result = call()
    except Exception as e:
        text = str(e)
        return f"{type(e).__name__} ({len(text):,} characters): {text[:160]!r}"
    return f"ok: {result!r}"[:200]


def child(kind: str, path: str) -> None:
    import resource

    call = _prepare(kind, path)
    limit = _status("VmSize") * 1024 + LIMIT_GB * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    before = _status("VmRSS")
    try:
        outcome = call()
    except MemoryError:
        outcome = f"MemoryError: stopped at the {LIMIT_GB} GiB address-space limit"
    peak = _status("VmHWM")
    gc.collect()
    kept = _status("VmRSS") - before  # what stays resident once the call's results are dropped
    print(
        json.dumps(
            {
                "before_mb": before / 1024,
                "peak_mb": peak / 1024,
                "growth_mb": (peak - before) / 1024,
                "kept_mb": kept / 1024,
                "outcome": outcome,
            }
        )
    )


# --- the parent ----------------------------------------------------------------------------


def measure(case: Case, tmp: Path) -> dict[str, object]:
    """Run `case` in a fresh child; its growth in MB and what the call did."""
    path = case.make(tmp)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.memory_probe", "--child", case.kind, path],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=case.timeout,
        )
    except subprocess.TimeoutExpired:
        return {"growth_mb": None, "outcome": f"hung: killed after {case.timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"growth_mb": None, "outcome": f"child failed ({proc.returncode}): {proc.stderr.strip()[-300:]}"}
    return json.loads(lines[-1])


def measure_estimate(model: str, options: dict, view: str, n: int, tmp: Path) -> tuple[float, float]:
    """(MB pinit.budget.estimate says `view` of the model costs, MB of peak RSS growth measured) in a fresh child."""
    name = f"estimate-{model}-{view}-{len(list(tmp.iterdir()))}.json"
    case = Case(name, "estimate", _file(name, lambda: json.dumps([model, options, view, n]).encode()), name, SLOW)
    r = measure(case, tmp)
    outcome = str(r["outcome"])
    if r["growth_mb"] is None or not outcome.startswith("estimate "):
        raise AssertionError(outcome)
    return float(outcome.split()[1]), float(r["growth_mb"])  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="cases to run (default: all)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    chosen = [c for c in cases() if not args.names or c.name in args.names]
    with tempfile.TemporaryDirectory() as tmp:
        for case in chosen:
            r = measure(case, Path(tmp))
            growth = "n/a" if r["growth_mb"] is None else f"{r['growth_mb']:.0f} MB"
            kept = f" peak, {r['kept_mb']:.0f} MB kept" if r.get("kept_mb") is not None else ""
            print(f"{case.name:24} {growth:>9}{kept}  {case.what}\n{'':36}{r['outcome']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
