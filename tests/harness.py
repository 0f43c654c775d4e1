"""Start the dashboard with `streamlit run` and drive Debian's Chromium with Playwright.

Shared by the browser tests and the browser benchmarks. Chromium must be Debian's
(/usr/bin/chromium): `playwright install` cannot download a browser here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from pinit.serve import free_port, running

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


@contextlib.contextmanager
def streamlit_server(app: str = "app.py", port: int | None = None, timeout: float = 60.0) -> Iterator[str]:
    """Run `app` (a path under the repo) with the shipped settings on loopback (pinit.serve);
    yield its URL once /_stcore/health answers ok. Its output goes to artifacts/streamlit-PORT.log."""
    port = port or free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    with (
        open(ARTIFACTS / f"streamlit-{port}.log", "w") as log,
        running(port, script=ROOT / app, log=log, cwd=ROOT, timeout=timeout) as (url, _),
    ):
        yield url


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


# Each drawn plotly chart holds several .main-svg layers: count chart containers that have one.
CHARTS_DRAWN_JS = (
    "n => [...document.querySelectorAll('[data-testid=stPlotlyChart]')]"
    ".filter(c => c.querySelector('.main-svg')).length >= n"
)


# Every chart carries this test id, whether st.plotly_chart drew it or pinit's own chart element
# (pinit.dashboard.chart, which counts its draws in window.__pinitChartDraws).
CHART = "[data-testid=stPlotlyChart]"


def chart_draws(page) -> dict[str, int]:
    """How often pinit's chart element has drawn on this page, and how often plotly.js was asked to
    (Plotly.react / Plotly.newPlot, counted from the first call of this helper on)."""
    return page.evaluate(
        """() => {
            const P = window.Plotly;
            const c = window.__pinitPlotlyCalls = window.__pinitPlotlyCalls || {react: 0, newPlot: 0};
            if (P && !P.__counted) {
                for (const f of ['react', 'newPlot']) {
                    const orig = P[f];
                    P[f] = function (...a) { c[f]++; return orig.apply(this, a); };
                }
                P.__counted = true;
            }
            return {draws: window.__pinitChartDraws || 0, react: c.react, newPlot: c.newPlot};
        }"""
    )


def wait_for_charts(page, n: int, timeout_ms: int = 90_000) -> None:
    """Wait until n plotly charts have drawn their SVG and no script run is in progress."""
    page.wait_for_function(CHARTS_DRAWN_JS, arg=n, timeout=timeout_ms)
    wait_idle(page, timeout_ms)


OPEN_PANEL = "[data-testid=stTabPanel][aria-labelledby]"  # the open tab's panel (the others have no label)


def open_panel_charts_drawn(page, n: int, timeout_ms: int = 90_000) -> None:
    """Wait until the open tab's panel holds n drawn plotly charts and no script run is in progress.

    Only the open tab runs: after a click on another tab the old tab's charts stay in the DOM
    (hidden) until the new run ends, so "n charts anywhere" could be the old tab's.
    """
    page.wait_for_function(
        """([panel, n]) => {
            const open = document.querySelector(panel);
            return !!open && [...open.querySelectorAll('[data-testid=stPlotlyChart]')]
                .filter(c => c.querySelector('.main-svg')).length >= n;
        }""",
        arg=[OPEN_PANEL, n],
        timeout=timeout_ms,
    )
    wait_idle(page, timeout_ms)


def open_tab(page, label: str, ready: str, timeout_ms: int = 90_000):
    """Click the page's tab `label` and wait until its panel is open, holds `ready` (a CSS selector)
    and no run is in progress; returns the open panel's locator. wait_idle alone right after the
    click can return before the tab's run has started, and a widget found then may be replaced."""
    page.get_by_role("tab", name=label, exact=True).click()
    page.wait_for_function(
        "l => [...document.querySelectorAll('[role=tab][aria-selected=true]')].some(t => t.innerText.trim() === l)",
        arg=label,
        timeout=timeout_ms,
    )
    panel = page.locator(OPEN_PANEL)
    panel.locator(ready).first.wait_for(state="visible", timeout=timeout_ms)
    wait_idle(page, timeout_ms)
    return panel


def wait_idle(page, timeout_ms: int = 90_000) -> None:
    """Wait for Streamlit's 'running' indicator to go away (the rerun has finished)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=timeout_ms)


# --- page helpers shared by the browser tests ------------------------------------------


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label` (typing filters the list, which is virtualized)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    box = page.locator("[data-testid=stSelectbox]").filter(has=page.get_by_text(label, exact=True)).first
    listbox = page.get_by_role("listbox").first
    for attempt in range(3):  # a click can land while the page still moves (an expander opening on a phone)
        if attempt and listbox.is_visible():  # the last click's list opened late: another click would close it
            break
        box.scroll_into_view_if_needed()
        box.click()
        try:
            listbox.wait_for(state="visible", timeout=5_000)
            break
        except PlaywrightTimeoutError:
            continue
    else:
        raise AssertionError(f"the {label!r} selectbox did not open its list after three clicks")
    choice = page.get_by_role("option", name=option, exact=True)
    page.wait_for_timeout(200)
    if not choice.count():  # a long, virtualized list: typing filters it (a phone's list shows every option)
        page.keyboard.type(option)
        choice.wait_for(state="attached")
        page.wait_for_timeout(150)  # the filtered list re-renders once more after the last key
    choice.scroll_into_view_if_needed()
    choice.click()


def panel_texts(page) -> dict[str, str]:
    """The Weights view's histogram panels, drawn: parameter name -> its panel's title text
    (name, shape, measured and expected σ, and any note such as "constant: all 32 values = 0")."""
    return page.evaluate(
        """() => {
            const out = {};
            for (const a of document.querySelectorAll('[data-testid=stPlotlyChart] .annotation-text')) {
                const name = a.textContent.split(' ')[0];
                if (name.includes('.')) out[name] = a.textContent;
            }
            return out;
        }"""
    )


def wait_for_panel(page, name: str, text: str, timeout_ms: int = 90_000) -> None:
    """Wait until the panel of parameter `name` says `text` (a redraw after a change has landed)."""
    page.wait_for_function(
        """([name, text]) => [...document.querySelectorAll('[data-testid=stPlotlyChart] .annotation-text')]
            .some(a => a.textContent.startsWith(name + ' ') && a.textContent.includes(text))""",
        arg=[name, text],
        timeout=timeout_ms,
    )
    wait_idle(page, timeout_ms)


def selected(page, label: str) -> str:
    """The option shown in the selectbox labelled `label` (a combobox input holds it)."""
    return page.get_by_role("combobox", name=label).first.input_value()


def wait_for_redraw(page, before: dict[str, str], timeout_ms: int = 90_000) -> None:
    """Wait until the panels' texts differ from `before` (panel_texts taken before a change): the
    script run can finish before plotly has redrawn, so "idle" alone is not "drawn"."""
    page.wait_for_function(
        """before => {
            const now = {};
            for (const a of document.querySelectorAll('[data-testid=stPlotlyChart] .annotation-text')) {
                const name = a.textContent.split(' ')[0];
                if (name.includes('.')) now[name] = a.textContent;
            }
            return Object.keys(now).length > 0 && JSON.stringify(now) !== JSON.stringify(before);
        }""",
        arg=before,
        timeout=timeout_ms,
    )
    wait_idle(page, timeout_ms)


def set_seed(page, seed: int) -> None:
    """Type a seed in the sidebar and press Enter (applied at once); return when the panels are redrawn."""
    before = panel_texts(page)
    box = page.get_by_role("textbox", name="Seed")
    box.fill(str(seed))
    box.press("Enter")
    page.wait_for_function("s => new URLSearchParams(location.search).get('seed') === s", arg=str(seed))
    if before:
        wait_for_redraw(page, before)
    wait_idle(page)


def subtitle_of(page, name: str) -> str | None:
    """The subtitle (measured σ, expected σ, bins, range) of the histogram titled `name`."""
    return page.evaluate(
        """name => {
            for (const chart of document.querySelectorAll('[data-testid=stPlotlyChart]')) {
                const t = chart.querySelector('.gtitle');
                if (t && t.textContent.startsWith(name + ' '))
                    return chart.querySelector('.gtitle-subtitle').textContent;
            }
            return null;
        }""",
        name,
    )
