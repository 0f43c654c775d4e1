"""The "Through training" view in Chromium: train both plans, then the step slider and Play redraw in the
browser, with no message to the server."""

from __future__ import annotations

from tests.harness import OPEN_PANEL, open_panel_charts_drawn, wait_idle

# The slider's current value ("step 20"): a text of the first chart's slider that is not a tick label.
CURRENT = (
    "() => [...document.querySelector('[data-testid=stPlotlyChart]').querySelectorAll('.slider-container text')]"
    ".map(e => e.textContent).find(t => t.startsWith('step ')) || ''"
)
# Every line's path in the ridgeline chart, in trace order.
PATHS = (
    "() => [...document.querySelector('[data-testid=stPlotlyChart]').querySelectorAll('.scatterlayer .trace')]"
    ".map(t => t.querySelector('path.js-line')?.getAttribute('d') || '')"
)


def test_slider_and_play_redraw_in_the_browser_only(browser, server_url, shots):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append("x")))
    page.goto(f"{server_url}/?view=Through%20training")
    panel = page.locator(OPEN_PANEL)
    panel.get_by_role("button", name="Train both").wait_for(timeout=90_000)
    wait_idle(page)
    steps = panel.get_by_role("slider").first
    steps.focus()
    steps.press("Home")  # 20 steps: the shortest run
    wait_idle(page)
    if panel.locator("[data-testid=stPlotlyChart]").count() == 0:
        panel.get_by_role("button", name="Train both").click()
    open_panel_charts_drawn(page, 2, timeout_ms=600_000)
    assert page.locator("[data-testid=stException]").count() == 0
    assert page.evaluate(CURRENT).strip() == "step 20"
    paths = page.evaluate(PATHS)

    before = len(sent)
    rail = page.locator("[data-testid=stPlotlyChart] .slider-rail-touch-rect").first
    box = rail.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 3, box["y"] + box["height"] / 2)  # the left end of the rail: step 0
    page.wait_for_function(f"() => ({CURRENT})().trim() === 'step 0'", timeout=10_000)
    page.wait_for_timeout(300)
    # only the chosen step's outline moved (one per panel): every ridge and the law stay as they were
    moved = [i for i, (a, b) in enumerate(zip(paths, page.evaluate(PATHS))) if a != b]
    assert 1 <= len(moved) <= 2, moved
    page.screenshot(path=str(shots / "history-step0.png"))

    page.locator("[data-testid=stPlotlyChart] .updatemenu-item-text", has_text="▶ Play").first.click()
    page.wait_for_function(f"() => ({CURRENT})().trim() === 'step 20'", timeout=30_000)
    page.wait_for_timeout(300)
    assert page.evaluate(PATHS) == paths
    assert len(sent) == before, "the slider and Play must not send anything to the server"
    page.close()
