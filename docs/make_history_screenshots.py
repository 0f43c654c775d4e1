"""Regenerate docs/history-*.png: the "Through training" view in presenter mode, in headless Chromium.

python docs/make_history_screenshots.py          # trains the default pair once (a minute or so), then shoots

Writes history-1280x720.png and history-1024x768.png (what a projector shows on opening the
view), history-1280x720-ratios.png (scrolled to the update ratios) and history-overlay.png
(the overlay mode, slider moved to step 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright

from tests.harness import launch_chromium, streamlit_server, wait_for_charts, wait_idle

DOCS = ROOT / "docs"
URL_PATH = "/?view=Through%20training&present=1"


def shot(page, name: str) -> None:
    page.mouse.move(0, 0)
    page.wait_for_timeout(600)
    page.screenshot(path=str(DOCS / name))
    print(f"wrote docs/{name}")


def open_trained(browser, url: str, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url + URL_PATH)
    page.get_by_role("button", name="Train both").wait_for(timeout=90_000)
    wait_idle(page)
    if page.locator("[data-testid=stPlotlyChart]").count() == 0:
        page.get_by_role("button", name="Train both").click()
    wait_for_charts(page, 2, timeout_ms=600_000)
    return page


def main() -> None:
    with streamlit_server() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        for width, height in ((1280, 720), (1024, 768)):
            page = open_trained(browser, url, width, height)
            page.locator("[data-testid=stPlotlyChart]").first.scroll_into_view_if_needed()
            shot(page, f"history-{width}x{height}.png")
            if width == 1280:
                page.locator("[data-testid=stPlotlyChart]").nth(1).scroll_into_view_if_needed()
                shot(page, "history-1280x720-ratios.png")
                page.get_by_role("radio", name="Overlay").or_(page.get_by_role("button", name="Overlay")).first.click()
                wait_idle(page)
                wait_for_charts(page, 2)
                chart = page.locator("[data-testid=stPlotlyChart]").first
                chart.scroll_into_view_if_needed()
                page.locator(".slider-group .slider-rail-touch-rect, .slider-rail-touch-rect").first.click(
                    position={"x": 30, "y": 5}
                )
                page.wait_for_timeout(800)
                shot(page, "history-overlay.png")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
