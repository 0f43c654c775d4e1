"""The one way to start the dashboard: `pinit dashboard`, the tests, the benchmarks and the replicas.

The server settings live in one file, ``pinit/dashboard/config.toml`` (shipped with the
package; the repo's ``.streamlit/config.toml`` is a link to it, so `streamlit run app.py`
and Streamlit Community Cloud read the same file). Streamlit reads its config from the
working directory, which after a plain `pip install` is anywhere, so every command built
here passes those settings on the command line as well.

This module starts Streamlit as a child process: it never imports streamlit itself.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

__all__ = [
    "PAGE_SCRIPT",
    "PUBLIC_URL_ENV",
    "SETTINGS_FILE",
    "check_public_url",
    "free_port",
    "is_loopback",
    "lan_address",
    "model_args",
    "page_args",
    "public_url",
    "running",
    "settings",
    "streamlit_command",
    "student_base",
    "wait_healthy",
]

SETTINGS_FILE = Path(__file__).with_name("dashboard") / "config.toml"
PAGE_SCRIPT = Path(__file__).with_name("dashboard") / "streamlit_app.py"


PUBLIC_URL_ENV = "PINIT_PUBLIC_URL"
LOOPBACK_NAMES = ("localhost", "ip6-localhost")
WILDCARD = ("0.0.0.0", "::", "")


def settings() -> dict[str, Any]:
    """The server settings as {"section.key": value}, read from SETTINGS_FILE."""
    doc = tomllib.loads(SETTINGS_FILE.read_text(encoding="utf-8"))
    return {f"{section}.{key}": value for section, table in doc.items() for key, value in table.items()}


def page_parser() -> argparse.ArgumentParser:
    """What the page takes after ``--`` (`streamlit run app.py -- --model mynets:make_net`)."""
    parser = argparse.ArgumentParser(
        prog="streamlit run app.py --",
        description="The pinit page's own arguments.",
        exit_on_error=False,
        add_help=False,
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="PKG.MODULE:FACTORY",
        help="your own model's factory (repeatable; the first is the one the page opens on)",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="the address students open, written in the QR code and the share link (see public_url)",
    )
    return parser


def page_args(argv: Sequence[str]) -> list[str]:
    """The --model specs in the page's arguments; ValueError in words for anything else."""
    try:
        args, extra = page_parser().parse_known_args(list(argv))
    except argparse.ArgumentError as e:
        raise ValueError(f"the page's arguments are refused: {e}") from None
    if extra:
        raise ValueError(
            "the page takes only --model PKG.MODULE:FACTORY (repeatable) and --public-url URL after '--'; "
            f"got {' '.join(extra)!r}"
        )
    return list(args.model)


def model_args(models: Sequence[str]) -> list[str]:
    """The page's arguments naming `models`: ["--model", m1, "--model", m2, ...]."""
    return [arg for m in models for arg in ("--model", m)]


def _flag_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def streamlit_command(
    port: int = 8501,
    address: str = "127.0.0.1",
    script: str | os.PathLike[str] = PAGE_SCRIPT,
    overrides: Mapping[str, Any] | None = None,
    script_args: Sequence[str] = (),
    lesson_worker: bool | None = None,
) -> list[str]:
    """The argv of `python -m streamlit run SCRIPT` with the shipped settings, `port` and `address`.

    `overrides` ({"server.disconnectedSessionTTL": 30, ...}) win over the shipped settings;
    `script_args` go to the page after ``--`` (as `streamlit run app.py -- --model ...`).
    `lesson_worker`: start the lesson's worker with the server (pinit.dashboard.launch) rather
    than at the first visit; by default for pinit's page (PAGE_SCRIPT or an ``app.py``), not for
    another script (the benchmarks' bare page).
    """
    flags = {**settings(), "server.port": port, "server.address": address, **dict(overrides or {})}
    if lesson_worker is None:
        lesson_worker = Path(script).resolve() == PAGE_SCRIPT.resolve() or Path(script).name == "app.py"
    module = "pinit.dashboard.launch" if lesson_worker else "streamlit"
    argv = [sys.executable, "-m", module, "run", str(script)]
    for key, value in flags.items():
        argv += [f"--{key}", _flag_value(value)]
    if script_args:
        argv += ["--", *script_args]
    return argv


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    url: str, procs: Sequence[subprocess.Popen[Any]], timeout: float = 60.0, what: str = "streamlit"
) -> None:
    """Poll `url`/_stcore/health until it answers "ok"; raise if a process in `procs` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not become healthy at {url} in {timeout:.0f} s")
        time.sleep(0.3)


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def running(
    port: int | None = None,
    address: str = "127.0.0.1",
    script: str | os.PathLike[str] = PAGE_SCRIPT,
    overrides: Mapping[str, Any] | None = None,
    script_args: Sequence[str] = (),
    log: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    lesson_worker: bool | None = None,
) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """Start the dashboard (or another `script`) and yield (its URL, its process) once it is healthy.

    The process gets SIGTERM when the block ends. `log` receives its stdout and stderr.
    `lesson_worker`: as in streamlit_command.
    """
    port = port or free_port()
    argv = streamlit_command(port, address, script, overrides, script_args, lesson_worker)
    proc = subprocess.Popen(
        argv,
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=dict(env) if env is not None else None,
        cwd=cwd,
    )
    host = "127.0.0.1" if address in ("0.0.0.0", "::") else address
    url = f"http://{host}:{port}"
    try:
        wait_healthy(url, [proc], timeout)
        yield url, proc
    finally:
        stop(proc)


# --- the address students can reach ------------------------------------------------------------


def check_public_url(url: str) -> str:
    """`url` as the base of the students' links ("http(s)://host[:port][/path]/").

    ValueError in words if it is not one."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number from 0 to 65535)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"--public-url must be an http:// or https:// address such as https://pinit.example.org "
            f"or http://192.168.1.20:8501, got {text[:80]!r}"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"--public-url must not carry a query or a fragment (?... or #...), got {text[:80]!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/"


def public_url(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """The teacher's configured public address: ``--public-url URL`` among the page's script
    arguments (`streamlit run app.py -- --public-url URL`; `pinit dashboard --public-url` passes it
    so) or the PINIT_PUBLIC_URL environment variable. None when neither is set or it is not valid."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    raw: str | None = None
    for i, arg in enumerate(argv):
        if arg == "--public-url" and i + 1 < len(argv):
            raw = argv[i + 1]
        elif arg.startswith("--public-url="):
            raw = arg.split("=", 1)[1]
    raw = raw if raw is not None else env.get(PUBLIC_URL_ENV)
    if not raw:
        return None
    try:
        return check_public_url(raw)
    except ValueError:
        return None


def is_loopback(host: str | None) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if not host:
        return False
    h = host.strip("[]").lower()
    return h in LOOPBACK_NAMES or h == "::1" or h.startswith("127.") or h.endswith(".localhost")


def lan_address() -> str | None:
    """This machine's address on its local network, found without sending anything.

    connect() on a UDP socket only asks the kernel which interface (and source address) would
    route to the destination; no packet leaves the machine. The destination is a private
    address that is never contacted. None when there is no such route (no network)."""
    for probe in ("10.255.255.255", "192.168.255.255", "172.31.255.255"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((probe, 9))
                addr = str(s.getsockname()[0])
        except OSError:
            continue
        if addr and not is_loopback(addr) and addr != "0.0.0.0":
            return addr
    try:
        addr = socket.gethostbyname(socket.gethostname())
    except OSError:
        return None
    return None if is_loopback(addr) else addr


def student_base(
    listen_address: str | None, port: int, browser_url: str | None = None, configured: str | None = None
) -> str | None:
    """The base URL ("http://host:port/") students' phones can open, or None when the server
    listens only on loopback (no phone can reach it).

    In order: the teacher's configured public URL; the host the teacher's own browser used, when
    it is not loopback (a LAN address, a proxy's name); the address the server listens on, when it
    is a specific one; for a wildcard (0.0.0.0, ::) this machine's LAN address.
    """
    if configured:
        return configured
    if browser_url:
        parts = urlsplit(browser_url)
        if parts.hostname and not is_loopback(parts.hostname):
            return f"{parts.scheme or 'http'}://{parts.netloc}/"
    address = (listen_address or "").strip()
    if is_loopback(address):
        return None
    host = lan_address() if address in WILDCARD else address
    if host is None:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"
