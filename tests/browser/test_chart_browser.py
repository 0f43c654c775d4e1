"""pinit's chart element (pinit.dashboard.chart) in Chromium: one chart per key, one draw per new figure.

Streamlit's own element mounts a new chart for each new figure and draws it twice; this one
must keep its chart (the same DOM node), apply a new figure with one Plotly.react and no
new plot, and draw nothing for a rerun that sends the same figure.
"""

from __future__ import annotations

import pytest

from tests.harness import CHART, chart_draws, choose, launch_chromium, streamlit_server, wait_idle

PANEL_TITLES = f"() => [...document.querySelectorAll('{CHART} .annotation-text')].map(a => a.textContent).join('|')"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser):
    with streamlit_server("tests/fixtures/chart_page.py") as url:
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.goto(url)
        pg.wait_for_function(f"() => !!document.querySelector('{CHART} .main-svg')", timeout=90_000)
        wait_idle(pg)
        yield pg


def test_first_figure_drawn_once(page):
    assert chart_draws(page)["draws"] == 1
    titles = page.evaluate(PANEL_TITLES)
    assert "layer1.conv1.weight" in titles and "expected 0.272" in titles  # kaiming_normal(relu): sqrt(2/27)
    assert page.locator(CHART).count() == 1


def test_new_figure_updates_the_same_chart_with_one_react(page):
    before = chart_draws(page)
    page.evaluate(f"() => {{ document.querySelector('{CHART}').__mark = 'kept'; }}")
    old = page.evaluate(PANEL_TITLES)
    choose(page, "Preset", "PyTorch default")
    page.wait_for_function(f"old => ({PANEL_TITLES})() !== old && ({PANEL_TITLES})() !== ''", arg=old)
    wait_idle(page)
    page.wait_for_timeout(500)  # a second draw, if there were one, would come within a frame or two
    after = chart_draws(page)
    assert after["draws"] == before["draws"] + 1
    assert (after["react"] - before["react"], after["newPlot"] - before["newPlot"]) == (1, 0)
    assert page.evaluate(f"() => document.querySelector('{CHART}').__mark") == "kept"
    assert "expected 0.111" in page.evaluate(PANEL_TITLES)  # PyTorch default: U(±1/sqrt(27)), σ = 1/sqrt(81)


def test_rerun_with_the_same_figure_draws_nothing(page):
    before = chart_draws(page)
    page.get_by_role("button", name="Rerun").click()
    wait_idle(page)
    page.wait_for_timeout(500)
    assert chart_draws(page) == before


def test_the_page_loads_the_partial_plotly_bundle_once(page):
    from pinit.dashboard.chart import CARTESIAN_JS, PARTIAL

    loaded = page.evaluate(
        "() => performance.getEntriesByType('resource').map(r => r.name).filter(n => /plotly[^/]*\\.js/.test(n))"
    )
    assert len(loaded) == 1, loaded
    assert loaded[0].endswith("/" + (CARTESIAN_JS if PARTIAL else "plotly.min.js")), loaded


def test_a_chart_on_screen_draws_before_one_below_the_fold_which_still_draws_unasked(browser):
    """The far chart arrives first, but the one on screen is drawn first; the far one is drawn
    while the page is idle (no scrolling), and shows its figure when scrolled to."""
    with streamlit_server("tests/fixtures/lazy_page.py") as url:
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url)
        page.wait_for_function("() => (window.__pinitDrawOrder || []).length === 2", timeout=90_000)
        assert page.evaluate("() => window.__pinitDrawOrder") == ["near", "far"]
        far = page.locator(f"{CHART}[aria-label=far]")
        far.scroll_into_view_if_needed()
        page.wait_for_function(f"() => !!document.querySelector('{CHART}[aria-label=far] .main-svg')")
        assert "expected 0.111" in far.inner_text()  # PyTorch default's conv1: U(±1/sqrt(27)), σ = 1/sqrt(81)
        assert chart_draws(page)["draws"] == 2
        page.close()
