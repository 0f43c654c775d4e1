"""`pinit dashboard --model` in a real browser: a Hugging Face GPT-2 (built from a small config) served
exactly as a user would serve their own model, its Weights and Signal flow views opened by a person.

The server is the real command (`python -m pinit dashboard --model tests.fixtures.hf_models:gpt2_small`),
which replaces itself with Streamlit; the page must open on that model "As built", draw its charts
with no exception and no error element, in both views. Waits are generous and no assertion is about
time (the machine is shared).
"""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import quote

import pytest

from pinit.serve import free_port, stop, wait_healthy
from tests.harness import ARTIFACTS, OPEN_PANEL, ROOT, launch_chromium, open_panel_charts_drawn, selected

pytest.importorskip("transformers")

SPEC = "tests.fixtures.hf_models:gpt2_small"
WAIT_MS = 300_000
PROBLEMS_JS = """() => ({
    exceptions: [...document.querySelectorAll('[data-testid=stException]')].map(e => e.textContent),
    errors: [...document.querySelectorAll('[data-testid=stAlertContentError]')].map(e => e.textContent),
})"""


@pytest.fixture(scope="module")
def own_model_url():
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / f"streamlit-own-model-{port}.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pinit", "dashboard", "--model", SPEC, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, [proc], timeout=180, what="pinit dashboard --model")
            yield url
        finally:
            stop(proc)


@pytest.mark.browser
@pytest.mark.server
@pytest.mark.slow
def test_weights_and_signal_flow_of_a_gpt2_open_with_no_error(own_model_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"{own_model_url}/?view=Weights")
            page.get_by_role("tab", name="Weights", selected=True).wait_for(timeout=WAIT_MS)
            open_panel_charts_drawn(page, 1, WAIT_MS)
            assert selected(page, "Model") == "gpt2_small (your model, tests.fixtures.hf_models)"
            assert selected(page, "Preset") == "As built"
            assert page.evaluate(PROBLEMS_JS) == {"exceptions": [], "errors": []}
            body = page.locator(OPEN_PANEL).inner_text()
            assert "transformer.h.0.attn.c_attn.weight" in body
            assert "as built: no law" in page.locator(OPEN_PANEL).text_content()
            assert f"model={quote(SPEC, safe='')}" in page.url or "model=tests.fixtures" in page.url

            page.get_by_role("tab", name="Signal flow").click()
            page.get_by_role("tab", name="Signal flow", selected=True).wait_for(timeout=WAIT_MS)
            open_panel_charts_drawn(page, 1, WAIT_MS)
            assert page.evaluate(PROBLEMS_JS) == {"exceptions": [], "errors": []}
            assert "c_attn" in page.locator(OPEN_PANEL).text_content()
            page.screenshot(path=str(ARTIFACTS / "own_model_signal_flow.png"))
        finally:
            browser.close()
