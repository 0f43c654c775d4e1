"""Keyboard and screen readers, in a real browser: axe-core finds no serious or critical violation
on the Lesson, presenter mode, Weights and each lab view; nothing off screen takes a Tab stop;
presenter mode writes no text under 16 px; every chart on the Lesson and in Weights is a named
picture (role img, its title and numbers as its accessible name).

axe-core is JavaScript: the test loads node_modules/axe-core/axe.min.js from the directory named
by PINIT_AXE_DIR (default: the repo's .cache/axe; CI installs it with `npm install --no-save
--prefix .cache/axe axe-core@4`); without it the test is skipped, saying how to install it, and
fails in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.harness import wait_for_charts, wait_idle

AXE_DIR = Path(os.environ.get("PINIT_AXE_DIR", Path(__file__).resolve().parents[2] / ".cache" / "axe"))
AXE = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"

# Every page a class opens: (query, charts it draws).
PAGES = {
    "Lesson": ("view=Lesson&step=1", 1),
    "Lesson, presenter mode": ("view=Lesson&step=3&present=1", 1),
    "Weights": ("view=Weights", 1),
    "Weights, presenter mode": ("view=Weights&present=1", 1),
    "Signal flow": ("view=Signal+flow", 1),
    "Depth lab": ("view=Depth+lab", 1),
    "Compare": ("view=Compare", 1),
    "Train": ("view=Train", 0),
    "Filters": ("view=Filters", 1),
    "Transformer": ("view=Transformer", 0),
    "Width (μP)": ("view=Width+%28%CE%BCP%29", 0),
    "Spectra": ("view=Spectra", 0),
    "Share and export": ("view=Share+and+export", 0),
}

AXE_JS = """async () => {
    const r = await axe.run(document, {resultTypes: ['violations']});
    return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
        id: v.id, impact: v.impact,
        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary.slice(0, 200)),
    }));
}"""

# Text nodes drawn on screen at under 16 px (plotly's SVG text included).
SMALL_TEXT_JS = """() => {
    const out = [];
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    let n;
    while ((n = walk.nextNode())) {
        const text = n.textContent.trim(), e = n.parentElement;
        if (!text || !e) continue;
        const r = e.getBoundingClientRect(), cs = getComputedStyle(e);
        if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden' || r.right < 0 || r.bottom < 0) continue;
        if (parseFloat(cs.fontSize) < 16) out.push(text.slice(0, 40) + ' (' + cs.fontSize + ')');
    }
    return out;
}"""

# Every element the Tab key stops at, and whether it is on screen once focused (a skip link is
# off screen until it has the focus, as it should be).
TAB_STOPS_JS = """() => [...document.querySelectorAll(
        'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])')]
    .filter(e => !e.disabled && getComputedStyle(e).visibility !== 'hidden' && e.getClientRects().length)
    .map(e => { e.focus({preventScroll: true}); const r = e.getBoundingClientRect(); e.blur();
                return {label: (e.innerText || e.getAttribute('aria-label') || e.tagName).slice(0, 30),
                        off: r.right <= 0 || r.left >= innerWidth}; })"""


def open_page(browser, url: str, query: str, charts: int, size=(1024, 768)):
    page = browser.new_context(viewport={"width": size[0], "height": size[1]}).new_page()
    page.goto(f"{url}/?{query}")
    if charts:
        wait_for_charts(page, charts, timeout_ms=240_000)
    else:
        page.wait_for_timeout(2000)
    wait_idle(page, 240_000)
    page.wait_for_timeout(800)
    return page


@pytest.fixture(scope="module")
def axe_source():
    if not AXE.exists():
        install = f"npm install --no-save --prefix {AXE_DIR} axe-core@4"
        if os.environ.get("CI"):  # .ci/run installs it: in CI a missing axe-core fails, never skips silently
            pytest.fail(f"CI is set but axe-core is missing: {install}")
        pytest.skip(f"axe-core is not installed: {install}")
    return AXE.read_text()


@pytest.mark.parametrize("name", list(PAGES))
def test_axe_finds_no_serious_or_critical_violation(browser, server_url, axe_source, name):
    query, charts = PAGES[name]
    page = open_page(browser, server_url, query, charts)
    page.add_script_tag(content=axe_source)
    violations = page.evaluate(AXE_JS)
    print(f"axe {name}: {len(violations)} serious/critical violations")  # the report's per-page result
    assert not violations, (name, violations)
    page.context.close()


@pytest.mark.parametrize("query", ["view=Lesson&step=1", "view=Lesson&step=5&present=1", "view=Weights&present=1"])
def test_nothing_off_screen_takes_a_tab_stop(browser, server_url, query):
    page = open_page(browser, server_url, query, 1)
    stops = page.evaluate(TAB_STOPS_JS)
    assert stops and not [s for s in stops if s["off"]], [s for s in stops if s["off"]]
    page.context.close()


@pytest.mark.parametrize("step", [1, 2, 3, 4, 5])
def test_presenter_mode_writes_no_text_under_16_px(browser, server_url, step):
    page = open_page(browser, server_url, f"view=Lesson&step={step}&present=1", 1)
    assert page.evaluate(SMALL_TEXT_JS) == []
    page.context.close()


def test_every_button_shows_a_focus_ring_the_red_next_included(browser, server_url):
    page = open_page(browser, server_url, "view=Lesson&step=2", 1)
    page.keyboard.press("Tab")  # a keyboard user: the browser shows focus rings from now on
    for name in ("Back", "Next"):
        button = page.locator("[data-testid=stMain] button", has_text=name).first
        button.focus()
        ring = button.evaluate("e => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth]; }")
        assert ring[0] != "none" and float(ring[1].rstrip("px")) >= 2, (name, ring)
    page.context.close()


def test_the_arrow_keys_change_the_step_from_anywhere_in_the_lesson(browser, server_url):
    page = open_page(browser, server_url, "view=Lesson&step=2", 1)

    def step_after(key: str) -> str:
        page.keyboard.press(key)
        page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=240_000)
        page.wait_for_timeout(1500)
        wait_idle(page, 240_000)
        return page.url.split("step=")[1][:1]

    page.locator("[data-testid=stButtonGroup] button").nth(1).focus()  # focus in the step picker
    assert step_after("ArrowRight") == "3"  # one step, not the focus moved to the next option
    page.locator(".st-key-lesson-next button").first.focus()  # focus on Next itself: still one step
    assert step_after("ArrowRight") == "4"
    page.evaluate("() => document.activeElement.blur()")  # nothing focused: Streamlit's own shortcut
    assert step_after("ArrowLeft") == "3"
    page.context.close()


# Every chart drawn on the page: its role, its accessible name and its title as drawn.
CHART_NAMES_JS = """() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')]
    .filter(e => e.getBoundingClientRect().width > 0 && e.querySelector('.main-svg'))
    .map(e => ({role: e.getAttribute('role'), name: (e.getAttribute('aria-label') || '').trim(),
                title: ((e.querySelector('.gtitle') || {}).textContent || '').replace(/\\s+/g, ' ').trim()}))"""


@pytest.mark.parametrize(
    "query, section",
    [(f"view=Lesson&step={n}", None) for n in range(1, 6)]
    + [("view=Lesson&step=3&present=1", None), ("view=Weights", None), ("view=Weights", "Overview")],
)
def test_every_chart_is_a_picture_named_by_its_title_and_numbers(browser, server_url, query, section):
    page = open_page(browser, server_url, query, 1)
    charts = 1
    if section is not None:
        page.locator("[data-testid=stMain] [data-testid=stButtonGroup] button", has_text=section).first.click()
        charts = 2
        wait_for_charts(page, charts, timeout_ms=240_000)
        wait_idle(page, 240_000)
    found = page.evaluate(CHART_NAMES_JS)
    assert len(found) == charts, found
    for c in found:
        assert c["role"] == "img" and len(c["name"]) > 30, c
        assert any(ch.isdigit() for ch in c["name"]), ("no numbers in the name", c)
        if c["title"]:  # the title a sighted student reads starts the name a screen reader hears
            assert c["name"].startswith(c["title"][:40]), c
            # as Chromium's accessibility tree computes it, not only as an attribute
            assert page.get_by_role("img", name=c["title"][:40]).count() == 1, c
    if "Lesson" in query:  # the step's numbers in large type are in the chart's name too
        values = page.eval_on_selector_all("[data-testid=stMetricValue]", "els => els.map(e => e.innerText.trim())")
        assert values and all(v in found[0]["name"] for v in values), (values, found[0]["name"])
    if section is None and "Weights" in query:  # each panel's σ, in words, not only inside the picture
        assert "σ" in found[0]["name"] and "gain ×" in found[0]["name"], found[0]["name"]
    page.context.close()
