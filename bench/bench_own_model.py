"""First chart time for your own model: `pinit dashboard --model SPEC`, a new tab opened on a view, until
the view's first chart is drawn, in Chromium.

For each model: one server (`python -m pinit dashboard --model SPEC`, the command a user runs; its start
is not timed), then for each view (Weights, Signal flow) `--runs` new tabs one after the other. The
first tab of a view is cold (the server computes the view for that setup); later tabs of the same view
are warm (the server's caches hold the setup's results). Clock: the page's own performance.now() at
the moment the open tab's panel first holds a drawn plotly chart (origin: the navigation start).

Run from the repo's top (the fixtures are imported as tests.fixtures.hf_models):

    PYTHONPATH=$PWD python bench/bench_own_model.py
    PYTHONPATH=$PWD python bench/bench_own_model.py --models tests.fixtures.hf_models:gpt2_small --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from pinit.serve import free_port, stop, wait_healthy
from tests.harness import OPEN_PANEL, launch_chromium

ROOT = Path(__file__).resolve().parents[1]
MODELS = [
    "tests.fixtures.hf_models:gpt2_small",
    "tests.fixtures.hf_models:bert_small",
    "tests.fixtures.hf_models:resnet18",
    "tests.fixtures.hf_models:vit_b_16",
]
VIEWS = ["Weights", "Signal flow"]
DRAWN_JS = """panel => {
    const open = document.querySelector(panel);
    return !!open && [...open.querySelectorAll('[data-testid=stPlotlyChart]')].some(c => c.querySelector('.main-svg'));
}"""


def first_chart_ms(browser, url: str, view: str, timeout_ms: int) -> float:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{url}/?view={quote(view)}")
        page.wait_for_function(DRAWN_JS, arg=OPEN_PANEL, timeout=timeout_ms, polling=50)
        return float(page.evaluate("() => performance.now()"))
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--runs", type=int, default=2, help="tabs per view: the first cold, the rest warm")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for one chart")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"{'model':44} {'view':12} {'cold s':>8} {'warm s (median)':>16}")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        for spec in args.models:
            port = free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "pinit", "dashboard", "--model", spec, "--port", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=ROOT,
            )
            try:
                url = f"http://127.0.0.1:{port}"
                wait_healthy(url, [proc], timeout=600, what=spec)
                for view in VIEWS:
                    times = [
                        first_chart_ms(browser, url, view, int(args.timeout * 1000)) / 1000 for _ in range(args.runs)
                    ]
                    warm = f"{statistics.median(times[1:]):.1f}" if len(times) > 1 else "-"
                    print(f"{spec:44} {view:12} {times[0]:8.1f} {warm:>16}", flush=True)
            finally:
                stop(proc)
        browser.close()


if __name__ == "__main__":
    main()
