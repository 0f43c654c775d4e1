"""The one way to start the dashboard: `pinit dashboard`, the tests, the benchmarks and the replicas.

The server settings live in one file, ``pinit/dashboard/config.toml`` (shipped with the
package; the repo's ``.streamlit/config.toml`` is a link to it, so `streamlit run app.py`
and Streamlit Community Cloud read the same file). Streamlit reads its config from the
working directory, which after a plain `pip install` is anywhere, so every command built
here passes those settings on the command line as well.

This module starts Streamlit as a child process: it never imports streamlit itself.
"""

from __future__ import annotations

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

__all__ = ["PAGE_SCRIPT", "SETTINGS_FILE", "free_port", "running", "settings", "streamlit_command", "wait_healthy"]

SETTINGS_FILE = Path(__file__).with_name("dashboard") / "config.toml"
PAGE_SCRIPT = Path(__file__).with_name("dashboard") / "streamlit_app.py"


def settings() -> dict[str, Any]:
    """The server settings as {"section.key": value}, read from SETTINGS_FILE."""
    doc = tomllib.loads(SETTINGS_FILE.read_text(encoding="utf-8"))
    return {f"{section}.{key}": value for section, table in doc.items() for key, value in table.items()}


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
