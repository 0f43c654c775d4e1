"""Regenerate docs/beyond-transformer.png, docs/beyond-width.png and docs/beyond-spectra.png in headless Chromium.

python docs/make_beyond_screenshots.py

Each of the Transformer, Width (μP) and Spectra tabs, opened by link at 1280x720 (a projector),
with the page's defaults, after its charts are drawn.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from urllib.parse import quote

from playwright.sync_api import sync_playwright

from tests.harness import launch_chromium, streamlit_server, wait_for_charts, wait_idle

DOCS = ROOT / "docs"
# view -> (file, charts drawn, where to scroll). "story": the controls and the story above the first chart;
# "charts": the first chart at the window's top, so the second shows under it (Width: SP above, μP below).
VIEWS = {
    "Transformer": ("beyond-transformer.png", 2, "story"),
    "Width (μP)": ("beyond-width.png", 2, "charts"),
    "Spectra": ("beyond-spectra.png", 1, "story"),
}


def shot(
    browser, url: str, view: str, name: str, charts: int, scroll: str, size: tuple[int, int] = (1280, 720)
) -> None:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.goto(f"{url}/?view={quote(view)}")
    wait_for_charts(page, charts, timeout_ms=300_000)
    wait_idle(page, 300_000)
    first = page.locator("[data-testid=stPlotlyChart]").first
    if scroll == "charts":
        first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.mouse.move(size[0] // 2, size[1] // 2)
        page.mouse.wheel(0, -64)  # out from under Streamlit's fixed header, which would hide the chart's title
    else:
        first.scroll_into_view_if_needed()  # the first chart's bottom at the window's: the story is above it
    page.mouse.move(0, 0)
    page.wait_for_timeout(1500)  # plotly's last layout pass, and the link's toast to fade
    page.screenshot(path=str(DOCS / name))
    print(f"wrote docs/{name}")
    context.close()


def main() -> None:
    with streamlit_server(timeout=120) as url, sync_playwright() as p:
        browser = launch_chromium(p)
        for view, (name, charts, scroll) in VIEWS.items():
            shot(browser, url, view, name, charts, scroll)
        browser.close()


if __name__ == "__main__":
    main()
