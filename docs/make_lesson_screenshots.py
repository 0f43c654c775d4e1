"""Regenerate docs/lesson-*.png and docs/dashboard.png in headless Chromium.

python docs/make_lesson_screenshots.py

Writes each lesson step at 1280x720 (a projector), at 1024x768 in presenter mode
(lesson-stepN-presenter.png) and on a phone at 390x844 with a phone's user agent
(lesson-stepN-phone.png), step 1 in presenter mode and step 2 on a phone (the README's), the
Weights view with the article's recipe (docs/dashboard.png) and the same on a phone
(docs/weights-phone.png). Names given on the command line (e.g. `lesson-step2-phone.png`)
write only those.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from urllib.parse import urlencode

from playwright.sync_api import sync_playwright

import pinit
from pinit.setup import Setup
from pinit.share.urlstate import setup_to_query
from tests.harness import launch_chromium, streamlit_server, wait_for_charts, wait_idle

DOCS = ROOT / "docs"
STEPS = 6  # the last step hands over to free play and has no chart


PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ONLY = set(sys.argv[1:])


def shot(
    browser, url: str, query: str, name: str, size: tuple[int, int] = (1280, 720), charts: int = 1, wait: int = 800
) -> None:
    if ONLY and name not in ONLY:
        return
    phone = size[0] < 600  # a phone's browser says so in its user agent, and the page lays out for it
    context = browser.new_context(
        viewport={"width": size[0], "height": size[1]},
        **({"user_agent": PHONE_UA, "is_mobile": True, "has_touch": True} if phone else {}),
    )
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
            has_chart = int(step < STEPS)
            shot(browser, url, f"view=Lesson&step={step}", f"lesson-step{step}.png", charts=has_chart)
            q = f"view=Lesson&step={step}"
            shot(browser, url, q + "&present=1", f"lesson-step{step}-presenter.png", (1024, 768), has_chart)
            shot(browser, url, q, f"lesson-step{step}-phone.png", (390, 844), has_chart)
        shot(browser, url, "view=Lesson&step=1&present=1", "lesson-presenter.png")
        shot(browser, url, "view=Lesson&step=2", "lesson-phone.png", size=(390, 844))
        article = setup_to_query(Setup("SimpleCNN", {}, pinit.PRESETS["Article recipe"].plan, 0))
        weights = urlencode({**article, "view": "Weights"})
        shot(browser, url, weights, "dashboard.png", size=(1440, 1000), wait=6000)
        shot(browser, url, weights, "weights-phone.png", size=(390, 844), wait=3000)
        browser.close()


if __name__ == "__main__":
    main()
