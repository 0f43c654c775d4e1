"""The `pinit` command (also `python -m pinit`): re-initialize a model by a plan and print its
parameter table; `pinit dashboard` serves the dashboard.

`main(argv)` returns the exit code (0 fine, 1 a refused input, 2 a usage error) and
never lets an expected error out as a traceback: bad plan files, unknown presets or
models, bad seeds and unreadable files are reported on stderr in words.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import pandas as pd
from torch import nn

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

from .. import checks, serve
from ..errors import PlanError, capped, problem_count
from ..models import MODELS
from ..plan import InitPlan
from ..presets import PRESETS
from ..registry import load_command_line, load_factory
from ..report import meta_model
from ..schemes import SCHEMES
from ..setup import DEFAULT_MODEL, Setup
from ..stats import parameter_table
from .checkpoint import DEFAULT_MAX_BYTES, CheckpointError, load_checkpoint
from .export import setup_to_script
from .plan_io import MAX_PLAN_BYTES, load_plan_file, plan_to_json

__all__ = ["add_dashboard_arguments", "build_dashboard_parser", "build_parser", "format_schemes", "main"]

EPILOG = f"""\
plan files
  A plan says which init scheme fills which parameter. It is JSON:

    {{
      "format": "pinit-plan", "version": 1,
      "seed": 0,
      "model": "SimpleCNN",
      "rules": {{
        "Conv2d": {{"weight": {{"scheme": "kaiming_normal", "mode": "fan_in", "nonlinearity": "relu"}},
                   "bias":   {{"scheme": "zeros"}}}},
        "Linear": {{"weight": {{"scheme": "xavier_uniform", "gain": 1.0}},
                   "bias":   {{"scheme": "default"}}}}
      }},
      "overrides": {{
        "layer4.fc3.weight": {{"scheme": "normal", "mean": 0.0, "std": 0.01}}
      }}
    }}

  "rules" map a layer type (the module's class name: Conv2d, Linear, ...) and an
  attribute ("weight", "bias") to a rule; "overrides" map a full parameter name
  (as named_parameters() prints it) to a rule and win over "rules". A rule is
  {{"scheme": NAME, ...keyword arguments of that torch.nn.init function...}};
  arguments left out take their defaults. Parameters no rule reaches keep the
  values the model was built with. Only "rules" and/or "overrides" are required;
  "seed" and "model" are used when --seed and --model are not given.
  Each parameter's values come from its own generator seeded by (seed, name), so
  the same plan and seed always give the same numbers.

schemes
  {", ".join(SCHEMES)}
  (--list-schemes shows each one's parameters and formula)

presets
  {", ".join(repr(p) for p in PRESETS)}

dashboard
  pinit dashboard [--port 8501] [--address 127.0.0.1] [--model PKG.MODULE:FACTORY ...]
                  serve the dashboard (pinit dashboard --help)

examples
  python -m pinit --preset "Kaiming (He)"
  python -m pinit --model DeepMLP --depth 20 --activation tanh --preset "Xavier (Glorot)" --seed 1
  python -m pinit --preset "Article recipe" --save-plan my_plan.json   # then edit my_plan.json
  python -m pinit --plan my_plan.json --csv table.csv --export-code init_weights.py
"""


class _Exit(Exception):
    """argparse asked to exit (after --help, or a usage error it has already printed)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse writing to the streams it is given (help to `out`, errors to `err`) and raising _Exit
    instead of ending the process, so `main(argv, out, err)` runs in-process without touching sys.stdout."""

    def __init__(self, *args: Any, out: TextIO | None = None, err: TextIO | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.out, self.err = out, err

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        super().print_help(file or self.out or sys.stdout)

    def print_usage(self, file: SupportsWrite[str] | None = None) -> None:
        super().print_usage(file or self.out or sys.stdout)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            (self.err or sys.stderr).write(message)
        raise _Exit(status)

    def error(self, message: str) -> NoReturn:
        self.print_usage(self.err or sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Usage(Exception):
    """A usage error found after parsing (exit code 2)."""


class _Refused(Exception):
    """An input pinit refuses (exit code 1); the message is already in words."""


def _seed_arg(text: str) -> int:
    try:
        return checks.seed_text(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _model_option_flags() -> dict[str, type]:
    """Every option any registered model takes, with the type of its default."""
    flags: dict[str, type] = {}
    for spec in MODELS.values():
        for name, default in spec.options.items():
            flags.setdefault(name, type(default))
    return flags


def build_parser(out: TextIO | None = None, err: TextIO | None = None) -> argparse.ArgumentParser:
    """The argparse parser of `python -m pinit` (its --help epilog teaches the plan format), with the
    `dashboard` subcommand (`add_dashboard_arguments`). Help goes to `out`, errors to `err`."""
    parser = _Parser(
        out=out,
        err=err,
        prog="pinit",
        description="Re-initialize a network by an init plan and print every parameter's "
        "name, shape, fan_in/fan_out and measured vs expected std.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m = parser.add_argument_group("model")
    m.add_argument(
        "--model",
        metavar="NAME",
        help=f"one of {', '.join(MODELS)}, or your own factory as PKG.MODULE:FACTORY "
        f"(default: the plan file's model, else {DEFAULT_MODEL})",
    )
    for name, typ in _model_option_flags().items():
        users = [s.name for s in MODELS.values() if name in s.options]
        defaults = ", ".join(f"{s.name}: {s.options[name]}" for s in MODELS.values() if name in s.options)
        m.add_argument(
            f"--{name.replace('_', '-')}",
            dest=f"opt_{name}",
            type=typ,
            metavar=name.upper(),
            help=f"model option for {', '.join(users)} (default {defaults})",
        )
    p = parser.add_argument_group("plan")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--plan", metavar="FILE", help="a plan file (JSON, format below)")
    source.add_argument("--preset", metavar="NAME", help="a named plan (see --list-presets)")
    source.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="instead of a plan, load weights saved with torch.save(model.state_dict(), FILE)",
    )
    p.add_argument(
        "--seed",
        type=_seed_arg,
        metavar="N",
        help="seed of the draw, also used to build the model (default: the plan file's seed, else 0)",
    )
    o = parser.add_argument_group("output")
    o.add_argument("--csv", metavar="PATH", help="also write the parameter table as CSV")
    o.add_argument("--json", metavar="PATH", help="also write the parameter table as JSON (a list of rows)")
    o.add_argument(
        "--export-code",
        metavar="PATH",
        help="write a standalone script (needs only torch) whose init_weights(model) reproduces this init bit for bit",
    )
    o.add_argument("--save-plan", metavar="PATH", help="write the plan, seed and model as a plan file")
    info = parser.add_argument_group("information")
    info.add_argument(
        "--list-schemes", action="store_true", help="list every init scheme with its parameters and formula"
    )
    info.add_argument("--list-presets", action="store_true", help="list the preset plans and what each teaches")
    info.add_argument("--list-models", action="store_true", help="list the models and their options")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    add_dashboard_arguments(
        commands.add_parser(
            "dashboard",
            out=out,
            err=err,
            help="serve the dashboard (pinit dashboard --help)",
            description=DASHBOARD_DESCRIPTION,
        )
    )
    return parser


def format_schemes() -> str:
    """Every scheme: name, supported tensor dims, summary, parameters (default, allowed values, help), formula."""
    out = []
    for s in SCHEMES.values():
        out.append(f"{s.name}  ({s.dims_text()} tensors{'' if s.random else ', deterministic'})")
        out.append(f"  {s.summary}")
        out.append(f"  formula: {s.formula}")
        if s.params:
            out.append("  parameters:")
            for prm in s.params:
                out.append(f"    {prm.name} = {prm.default!r}: {prm.help} Allowed: {prm.allowed()}.")
        else:
            out.append("  parameters: none")
        if s.paper:
            out.append(f"  source: {s.paper}")
        out.append("")
    return "\n".join(out)


def _format_presets() -> str:
    return "\n".join(f"{p.name}\n  {p.lesson}\n" for p in PRESETS.values())


def _format_models() -> str:
    out = []
    for spec in MODELS.values():
        opts = ", ".join(f"--{k} (default {v})" for k, v in spec.options.items()) or "no options"
        out.append(f"{spec.name}: {spec.description}\n  options: {opts}\n")
    return "\n".join(out)


_FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device (such as /dev/zero)",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _read(path: str, what: str, max_bytes: int) -> bytes:
    """The bytes of the regular file `path`, at most `max_bytes` of them; _Refused in words otherwise.

    `--plan /dev/zero` used to read until the kernel killed the process, and a FIFO blocked
    forever. The file is opened without blocking (a FIFO's open would wait for a writer),
    its type and size are read from that open descriptor (no race with a rename), and the
    read itself is bounded in case the file grows meanwhile.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise _Refused(f"cannot read {what} {path!r}: {e.strerror or e}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _FILE_KINDS.get(stat.S_IFMT(info.st_mode), "not a file")
            raise _Refused(f"{what} {path!r} is {kind}, not a regular file; give the path of a {what}")
        if info.st_size > max_bytes:
            raise _Refused(f"{what} {path!r} is {info.st_size:,} bytes; it may be at most {max_bytes:,} bytes")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise _Refused(f"cannot read {what} {path!r}: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise _Refused(f"{what} {path!r} grew past {max_bytes:,} bytes while it was read")
    return data


def _write(path: str, text: str, what: str, err: TextIO) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise _Refused(f"cannot write {what} to {path!r}: {e.strerror or e}") from None
    print(f"wrote {what} to {path}", file=err)


def _problems(head: str, problems: list[str]) -> str:
    """One refusal for stderr: the head, then each problem (at most MAX_PROBLEMS, the rest counted)."""
    problems = capped(problems)
    if len(problems) == 1:
        return f"{head}: {problems[0]}"
    return f"{head}, {problem_count(problems):,} problems:\n" + "\n".join(f"  - {p}" for p in problems)


def _table_text(df: pd.DataFrame) -> str:
    """The table for a terminal: 4 significant digits, blanks where a value does not apply."""
    shown = df.copy()
    for col in shown.columns:
        if str(shown[col].dtype) == "Int64":  # fan_in / fan_out of 1-D tensors
            shown[col] = [("" if pd.isna(v) else str(v)) for v in shown[col]]
    return shown.to_string(index=False, float_format=lambda x: f"{x:.4g}", na_rep="")


def _listing(args: argparse.Namespace) -> str:
    """What --list-models, --list-presets and --list-schemes ask for, in that order."""
    parts = []
    if args.list_models:
        parts.append(_format_models())
    if args.list_presets:
        parts.append(_format_presets())
    if args.list_schemes:
        parts.append(format_schemes())
    return "\n".join(parts).rstrip()


def _plan_source(args: argparse.Namespace) -> tuple[InitPlan | None, dict[str, Any], bytes, str]:
    """(plan or None, what a plan file says about seed and model, the file's bytes, a label for messages)."""
    meta: dict[str, Any] = {"seed": None, "model": None, "model_options": {}}
    if args.plan:
        data = _read(args.plan, "plan file", MAX_PLAN_BYTES)
        try:
            plan, meta = load_plan_file(data)
        except PlanError as e:
            raise _Refused(_problems(f"plan file {args.plan!r} is refused", e.problems)) from None
        return plan, meta, data, f"plan file {args.plan}"
    if args.preset:
        if args.preset not in PRESETS:
            raise _Refused(f"unknown preset {args.preset!r}; presets: {', '.join(repr(p) for p in PRESETS)}")
        return InitPlan.from_dict(PRESETS[args.preset].plan), meta, b"", f"preset {args.preset!r}"
    if args.checkpoint:
        return None, meta, b"", f"checkpoint {args.checkpoint}"
    return None, meta, b"", "no plan (the model's own init)"


def _setup(args: argparse.Namespace, plan: InitPlan | None, meta: Mapping[str, Any]) -> Setup:
    """The Setup the command line asks for: --model, else the plan file's, else the default; the
    file's options for its own model, then the option flags; --seed, else the file's, else 0.
    Without a plan (the model's own init, or a checkpoint) the plan is the empty one."""
    model_name = args.model or meta.get("model") or DEFAULT_MODEL
    if model_name not in MODELS:
        where = "" if args.model else " (named in the plan file)"
        raise _Refused(f"unknown model {model_name!r}{where}; models: {', '.join(MODELS)}")
    options = dict(meta.get("model_options") or {}) if model_name == meta.get("model") else {}
    for name in _model_option_flags():
        value = getattr(args, f"opt_{name}")
        if value is not None:
            options[name] = value
    seed = next((s for s in (args.seed, meta.get("seed")) if s is not None), 0)
    return Setup(model_name, options, plan or InitPlan(), seed)


def _weights(args: argparse.Namespace, setup: Setup, plan_bytes: bytes, label: str, err: TextIO) -> nn.Module:
    """The setup's model with its weights: the plan drawn, the checkpoint loaded, or as built.
    Every refusal (a model that does not build, a plan that does not fit) is _Refused in words."""
    try:
        meta_model(setup.model, setup.options)  # the options, checked without building the weights
    except (TypeError, ValueError) as e:
        raise _Refused(f"cannot build {setup.model}: {e}") from None
    if args.plan:  # again, with the model: overrides and shapes, plus warnings
        try:
            _, meta = load_plan_file(plan_bytes, model=meta_model(setup.model, setup.options))
        except PlanError as e:
            raise _Refused(_problems(f"plan file {args.plan!r} does not fit {setup.model}", e.problems)) from None
        for w in meta["warnings"]:
            print(f"warning: {w}", file=err)
    try:
        with warnings.catch_warnings():  # a plan file's unmatched rules were said above, in the same words
            warnings.simplefilter("ignore", UserWarning)
            model = setup.build()
    except PlanError as e:
        raise _Refused(_problems(f"{label} does not fit {setup.model}", e.problems)) from None
    except (TypeError, ValueError) as e:
        raise _Refused(f"cannot build {setup.model}: {e}") from None
    if args.checkpoint:
        try:
            loaded = load_checkpoint(_read(args.checkpoint, "checkpoint", DEFAULT_MAX_BYTES), model)
        except CheckpointError as e:
            raise _Refused(_problems(f"checkpoint {args.checkpoint!r} is refused", e.problems)) from None
        for name, count in loaded.nonfinite.items():
            print(f"note: {name} holds {count} NaN/Inf value(s)", file=err)
    return model


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.list_schemes or args.list_presets or args.list_models:
        print(_listing(args), file=out)
        return 0
    plan, meta, plan_bytes, label = _plan_source(args)
    if (args.export_code or args.save_plan) and plan is None:
        raise _Usage("--export-code and --save-plan need a plan: give --plan FILE or --preset NAME")
    setup = _setup(args, plan, meta)
    model = _weights(args, setup, plan_bytes, label, err)

    table = parameter_table(model, plan)
    order = list(MODELS[setup.model].options)  # the model's own order (a Setup keeps its options sorted)
    shown = sorted(setup.options.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    opts = "".join(f", {k}={v}" for k, v in shown)
    print(
        f"{setup.model}{opts}: {len(table)} parameters, {int(table['numel'].sum()):,} values; {label}; "
        f"seed {setup.seed}",
        file=out,
    )
    print(_table_text(table), file=out)
    if args.csv:
        _write(args.csv, table.to_csv(index=False), "the table (CSV)", err)
    if args.json:
        text = table.to_json(orient="records", indent=2, double_precision=15) + "\n"
        _write(args.json, text, "the table (JSON)", err)
    if args.export_code:
        _write(args.export_code, setup_to_script(setup), "the init script", err)
    if args.save_plan:
        _write(args.save_plan, plan_to_json(setup.plan, setup.seed, model), "the plan file", err)
    return 0


DASHBOARD_DESCRIPTION = (
    "Serve the pinit dashboard (a Streamlit page) with the classroom settings shipped in the package "
    "(pinit/dashboard/config.toml). Ctrl-C stops it."
)


def add_dashboard_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of `pinit dashboard` (one add_argument per flag: add a flag here)."""
    parser.add_argument("--port", type=int, default=8501, help="the port to listen on (default 8501)")
    parser.add_argument(
        "--address",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1; 0.0.0.0 serves a class on the LAN)",
    )
    parser.add_argument(
        "--model",
        dest="models",
        action="append",
        default=[],
        metavar="PKG.MODULE:FACTORY",
        help="your own model: a function or class in an importable module that returns an nn.Module "
        "(repeatable; the page opens on the first, as built). See docs/OWN_MODEL.md",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        help="the address students open, written in the QR code and the share link (e.g. "
        "https://pinit.example.org behind a proxy); default: this machine's LAN address when "
        "listening beyond loopback",
    )
    parser.add_argument("--print-command", action="store_true", help="print the streamlit command and exit")
    return parser


def build_dashboard_parser(out: TextIO | None = None, err: TextIO | None = None) -> argparse.ArgumentParser:
    """`pinit dashboard`'s parser on its own (the same arguments as the subcommand)."""
    return add_dashboard_arguments(_Parser(prog="pinit dashboard", description=DASHBOARD_DESCRIPTION, out=out, err=err))


def dashboard(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`pinit dashboard`: replace this process with `streamlit run` on the packaged page."""
    if not 1 <= args.port <= 65535:
        print(f"pinit dashboard: error: --port must be from 1 to 65535, got {args.port}", file=err)
        return 2
    try:  # the owner's models are imported here first, so a typo is said now, not in the page
        models = load_command_line(args.models)
    except ValueError as e:
        print(f"pinit dashboard: error: --model: {e}", file=err)
        return 1
    script_args = serve.model_args(models)
    if args.public_url is not None:
        try:
            script_args += ["--public-url", serve.check_public_url(args.public_url)]
        except ValueError as e:
            print(f"pinit dashboard: error: {e}", file=err)
            return 2
    command = serve.streamlit_command(args.port, args.address, script_args=script_args)
    if args.print_command:
        print(" ".join(command), file=out)
        return 0
    print(f"pinit dashboard: serving on http://{args.address}:{args.port} (Ctrl-C stops it)", file=err)
    err.flush()
    os.execv(command[0], command)  # the server takes over this process: Ctrl-C and signals reach it
    return 0  # not reached


def _own_models(argv: Sequence[str]) -> None:
    """Load a `--model PKG.MODULE:FACTORY` given before the subcommand, so that its options get flags."""
    for i, arg in enumerate(argv):
        if arg == "dashboard":
            return
        value = None
        if arg.startswith("--model="):
            value = arg.split("=", 1)[1]
        elif arg == "--model" and i + 1 < len(argv):
            value = argv[i + 1]
        if value and ":" in value and value not in MODELS:
            try:
                load_factory(value)
            except ValueError as e:
                raise _Refused(str(e)) from None


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line with `argv` (default sys.argv[1:]); returns the exit code.

    0: done. 1: an input was refused (message on `err`, default stderr). 2: usage
    error (argparse's message, or a missing plan for --export-code/--save-plan).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _own_models(argv)
    except _Refused as e:
        print(f"pinit: error: {e}", file=err)
        return 1
    parser = build_parser(out, err)
    try:
        args = parser.parse_args(argv)
    except _Exit as e:
        return e.code
    if args.command == "dashboard":
        return dashboard(args, out, err)
    try:
        return _run(args, out, err)
    except _Usage as e:
        print(f"{parser.prog}: error: {e}", file=err)
        return 2
    except _Refused as e:
        print(f"{parser.prog}: error: {e}", file=err)
        return 1
