"""Start the dashboard with `streamlit run` and drive Debian's Chromium with Playwright.

Shared by the browser tests and the browser benchmarks. Chromium must be Debian's
(/usr/bin/chromium): `playwright install` cannot download a browser here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("PINIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "artifacts"  # screenshots; kept out of git


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(app: str = "app.py", port: int | None = None, extra_args: list[str] | None = None,
                     timeout: float = 60.0) -> Iterator[str]:
    """Run `streamlit run app` on loopback; yield its URL once /_stcore/health answers ok."""
    port = port or free_port()
    log = open(ARTIFACTS.mkdir(exist_ok=True) or ARTIFACTS / f"streamlit-{port}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / app), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", *(extra_args or [])],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not become healthy in {timeout:.0f}s; see {log.name}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


# Each drawn plotly chart holds several .main-svg layers: count chart containers that have one.
CHARTS_DRAWN_JS = (
    "n => [...document.querySelectorAll('[data-testid=stPlotlyChart]')]"
    ".filter(c => c.querySelector('.main-svg')).length >= n"
)


def wait_for_charts(page, n: int, timeout_ms: int = 90_000) -> None:
    """Wait until n plotly charts have drawn their SVG and no script run is in progress."""
    page.wait_for_function(CHARTS_DRAWN_JS, arg=n, timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def wait_idle(page, timeout_ms: int = 90_000) -> None:
    """Wait for Streamlit's 'running' indicator to go away (the rerun has finished)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=timeout_ms
    )


# --- page helpers shared by the browser tests ------------------------------------------

def choose(page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label` (typing filters the list, which is virtualized)."""
    box = page.locator("[data-testid=stSelectbox]").filter(has=page.get_by_text(label, exact=True)).first
    box.scroll_into_view_if_needed()
    box.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()


def subtitle_of(page, name: str) -> str | None:
    """The subtitle (measured σ, expected σ, bins, range) of the histogram titled `name`."""
    return page.evaluate(
        """name => {
            for (const chart of document.querySelectorAll('[data-testid=stPlotlyChart]')) {
                const t = chart.querySelector('.gtitle');
                if (t && t.textContent.startsWith(name + ' ')) return chart.querySelector('.gtitle-subtitle').textContent;
            }
            return null;
        }""",
        name,
    )
