"""Regenerate docs/lesson-*.png and docs/dashboard.png in headless Chromium.

python docs/make_lesson_screenshots.py

Writes each lesson step at 1280x720 (a projector), step 1 in presenter mode and on a phone
(390x844), and the Weights view with the article's recipe (docs/dashboard.png).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from urllib.parse import urlencode

from playwright.sync_api import sync_playwright

import pinit
from pinit.share.setup import Setup
from tests.harness import launch_chromium, streamlit_server, wait_for_charts, wait_idle

DOCS = ROOT / "docs"
STEPS = 6  # the last step hands over to free play and has no chart


def shot(
    browser, url: str, query: str, name: str, size: tuple[int, int] = (1280, 720), charts: int = 1, wait: int = 800
) -> None:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.goto(f"{url}/?{query}")
    if charts:
        wait_for_charts(page, charts, timeout_ms=240_000)
    wait_idle(page, 240_000)
    page.mouse.move(0, 0)
    page.wait_for_timeout(wait)  # plotly's last layout pass (and, for a link, its toast to fade)
    page.screenshot(path=str(DOCS / name))
    print(f"wrote docs/{name}")
    context.close()


def main() -> None:
    with streamlit_server() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        for step in range(1, STEPS + 1):
            shot(browser, url, f"view=Lesson&step={step}", f"lesson-step{step}.png", charts=int(step < STEPS))
        shot(browser, url, "view=Lesson&step=1&present=1", "lesson-presenter.png")
        shot(browser, url, "view=Lesson&step=2", "lesson-phone.png", size=(390, 844))
        article = Setup("SimpleCNN", {}, pinit.PRESETS["Article recipe"].plan, 0).to_query()
        shot(browser, url, urlencode({**article, "view": "Weights"}), "dashboard.png", size=(1440, 1000), wait=6000)
        browser.close()


if __name__ == "__main__":
    main()
