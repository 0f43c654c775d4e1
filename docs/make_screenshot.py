"""Regenerate docs/dashboard.png: the page with the article's recipe, in headless Chromium.

python docs/make_screenshot.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright

from tests.harness import launch_chromium, streamlit_server, wait_for_charts


def main(out: Path = ROOT / "docs" / "dashboard.png") -> None:
    with streamlit_server() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1440, "height": 1100})
        page.goto(url)
        wait_for_charts(page, 14)
        page.locator("[data-testid=stSelectbox]").filter(has=page.get_by_text("Preset", exact=True)).first.click()
        page.get_by_role("option", name="Article recipe", exact=True).click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.gtitle-subtitle')]"
            ".some(e => e.textContent.includes('expected σ 1 '))"
        )
        wait_for_charts(page, 14)
        page.mouse.move(0, 0)
        page.screenshot(path=str(out))
        browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
