"""Regenerate docs/lab-*.png: the Init effects lab's views, in headless Chromium.

python docs/make_lab_screenshots.py            # every view (the Train view trains for a minute or two)
python docs/make_lab_screenshots.py signal depth
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright

from tests.harness import launch_chromium, streamlit_server, wait_for_charts, wait_idle

DOCS = ROOT / "docs"


def open_view(browser, url: str, view: str, height: int = 1600):
    page = browser.new_page(viewport={"width": 1440, "height": height})
    page.goto(f"{url}/?view={quote(view)}")
    return page


def choose(page, label: str, option: str) -> None:
    box = page.locator("[data-testid=stSelectbox]").filter(has=page.get_by_text(label, exact=True)).first
    box.click()
    page.get_by_role("option", name=option, exact=True).click()


def shot(page, name: str) -> None:
    page.mouse.move(0, 0)
    page.wait_for_timeout(500)
    page.screenshot(path=str(DOCS / name))
    print(f"wrote docs/{name}")


def signal(browser, url: str) -> None:
    for preset, name, verdict in (
        ("Article recipe", "lab-signal-article.png", "exploding"),
        ("Kaiming (He)", "lab-signal-kaiming.png", "healthy"),
    ):
        page = open_view(browser, url, "Signal flow", 2300)
        wait_for_charts(page, 4)
        choose(page, "Preset", preset)
        page.wait_for_function(  # the new numbers are on the page (not the previous run's, greyed out)
            "v => [...document.querySelectorAll('[data-testid=stMetricDelta]')].some(e => e.textContent.includes(v))",
            arg=verdict,
            timeout=90_000,
        )
        wait_idle(page)
        wait_for_charts(page, 4)
        shot(page, name)
        page.close()


def depth(browser, url: str) -> None:
    for button, name, n in (
        ("He et al. 2015 (ReLU)", "lab-depth-he.png", 1),
        ("Glorot & Bengio 2010 (tanh)", "lab-depth-glorot.png", 1),
        ("Zero init: symmetry", "lab-depth-symmetry.png", 1),
        ("LSUV (Mishkin & Matas 2015)", "lab-depth-lsuv.png", 1),
    ):
        page = open_view(browser, url, "Depth lab", 1900)
        wait_for_charts(page, 1)
        page.get_by_role("button", name=button).click()
        page.wait_for_timeout(1000)
        wait_idle(page)
        wait_for_charts(page, n)
        shot(page, name)
        page.close()


def compare(browser, url: str) -> None:
    page = open_view(browser, url, "Compare", 2000)
    wait_for_charts(page, 4)
    choose(page, "Preset", "Article recipe")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.gtitle-subtitle')].some(e => e.textContent.includes('B/A'))",
        timeout=90_000,
    )
    page.wait_for_timeout(1500)
    wait_idle(page)
    wait_for_charts(page, 4)
    shot(page, "lab-compare.png")
    page.close()


def train(browser, url: str) -> None:
    page = open_view(browser, url, "Train", 2000)
    page.get_by_role("button", name="Train", exact=True).wait_for()
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=stProgress]').length > 0", timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=stProgress]').length == 0", timeout=900_000)
    wait_idle(page, 900_000)
    wait_for_charts(page, 2)
    page.get_by_text("conv1's 32 filters after training").click()
    wait_for_charts(page, 4)
    shot(page, "lab-train.png")
    page.close()


def filters(browser, url: str) -> None:
    page = open_view(browser, url, "Filters", 1500)
    wait_for_charts(page, 2)
    shot(page, "lab-filters.png")
    page.close()


VIEWS = {"signal": signal, "depth": depth, "compare": compare, "train": train, "filters": filters}


def main(names: list[str]) -> None:
    with streamlit_server() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        for name in names or list(VIEWS):
            VIEWS[name](browser, url)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1:])
