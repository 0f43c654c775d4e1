"""deploy/Dockerfile: the facts a container platform relies on, checked in the file; built where a
container runtime and the PyTorch CPU index can be reached.

Static checks (always): the image installs through the same requirements.txt as the README's
quick start, with a torch the pyproject allows from the CPU index; it checks health on
/_stcore/health; no secret is baked in (the cookie secret is a run-time setting); it runs as
a non-root user; it serves on 0.0.0.0:8501 with the shipped settings (`pinit dashboard`).

The build (marked slow and server) needs `docker info` to work and the network to reach
https://download.pytorch.org/whl/cpu (only PyPI is reachable on the CI machine this was
written on): otherwise it is skipped, saying which of the two is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def of(kind: str) -> list[str]:
    return [rest for word, rest in instructions() if word == kind]


def test_the_image_is_python_3_11_slim_and_installs_like_the_readme():
    assert of("FROM") == ["python:3.11-slim"]
    runs = " ; ".join(of("RUN"))
    assert "pip install -r requirements.txt" in runs  # the README's quick start
    assert "pip install -r requirements.txt" in (ROOT / "README.md").read_text()
    assert any("requirements.txt" in c for c in of("COPY"))
    # torch from the CPU index, pinned inside the range pyproject.toml allows
    torch = re.search(r'torch==(\d+)\.(\d+)\.\d+"? --index-url "?\$\{TORCH_INDEX\}', runs)
    assert torch, runs
    assert f"TORCH_INDEX={TORCH_INDEX}" in of("ARG")
    bounds = re.search(r'"torch>=(\d+)\.(\d+),<(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert bounds
    lo, hi = (int(bounds[1]), int(bounds[2])), (int(bounds[3]), int(bounds[4]))
    assert lo <= (int(torch[1]), int(torch[2])) < hi
    # everything requirements.txt's `-e .` needs is in the image
    copied = " ".join(of("COPY"))
    for needed in ("pyproject.toml", "pinit", "app.py", ".streamlit"):
        assert needed in copied, needed


def test_health_check_port_and_command():
    (health,) = of("HEALTHCHECK")
    assert "/_stcore/health" in health and "127.0.0.1:8501" in health
    assert of("EXPOSE") == ["8501"]
    (cmd,) = of("CMD")
    assert '"pinit", "dashboard"' in cmd and '"0.0.0.0"' in cmd and '"8501"' in cmd


def test_no_secret_is_baked_in():
    for word, rest in instructions():
        if word in ("ENV", "ARG", "RUN", "LABEL"):
            assert not re.search(r"(?i)secret|password|token|cookieSecret", rest), f"{word} {rest}"
    assert "COOKIE_SECRET" in DOCKERFILE.read_text()  # ...it is documented as a run-time setting
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored and "artifacts" in ignored


def test_runs_as_a_non_root_user():
    users = of("USER")
    assert users and users[-1] not in ("root", "0", "0:0")
    words = [w for w, _ in instructions()]
    last_user = len(words) - 1 - words[::-1].index("USER")
    last_run = len(words) - 1 - words[::-1].index("RUN")
    assert last_user > last_run, "USER must come after the last RUN: the server runs as that user"
    assert any("useradd" in r and users[-1] in r for r in of("RUN"))


def _docker_works() -> str | None:
    if shutil.which("docker") is None:
        return "no container runtime: `docker` is not installed"
    r = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60, check=False)
    if r.returncode != 0:
        return f"no container runtime: `docker info` failed ({(r.stderr or r.stdout).strip()[:200]})"
    return None


def _torch_index_reachable() -> str | None:
    try:
        with urllib.request.urlopen(TORCH_INDEX + "/torch/", timeout=10) as r:
            r.read(1)
    except OSError as e:
        return f"no network to the PyTorch CPU index ({TORCH_INDEX}): {e}"
    return None


@pytest.mark.slow
@pytest.mark.server
def test_the_image_builds_and_answers_its_health_check():
    reason = _docker_works() or _torch_index_reachable()
    if reason:
        pytest.skip(reason)
    tag = "pinit-test-deploy:latest"
    build = subprocess.run(
        ["docker", "build", "-f", str(DOCKERFILE), "-t", tag, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    who = subprocess.run(["docker", "run", "--rm", tag, "id", "-u"], capture_output=True, text=True, check=True)
    assert who.stdout.strip() != "0"
    check = subprocess.run(
        ["docker", "run", "--rm", tag, "python", "-c", "import pinit, streamlit; print(pinit.__name__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0 and "pinit" in check.stdout, check.stderr
