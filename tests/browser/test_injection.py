"""Link values and upload problems render as text in a real browser, never as Markdown (issue 10, item 6).

Streamlit renders st.warning / st.error text as GitHub-flavoured Markdown with LaTeX: a link
such as ``?model=[Session expired - sign in](https://evil.example/login) ![t](...)`` used to
show a working link in the warning and make Chromium fetch the remote image, and the same
went through a scheme name inside ``plan=`` and through an uploaded file's name and content.
Each hostile value is opened in Chromium; the page must show the warning, as the characters
that were sent, with no <a> or <img> pointing to a foreign host and no request to it.

A link with no "view" opens the Lesson (one chart per step); the Weights view is where the
link's model, plan and seed are drawn (one figure of histogram panels). Every hostile link
is opened both ways: as sent, and with ``view=Weights``.
"""

from __future__ import annotations

import base64
import json
import zlib
from urllib.parse import urlencode

import pytest

from tests.harness import open_tab, panel_texts, wait_for_charts

# Charts each view draws once it is complete: the Lesson one per step, the Weights view its
# histograms as one figure of panels. (The old page opened on every histogram and two overview
# charts, 14 charts in all.)
VIEWS = {"Lesson": ({}, 1), "Weights": ({"view": "Weights"}, 1)}  # the Lesson: the link as sent, no view
EVIL = "evil.example"
PHISH = "[Session expired - sign in](https://evil.example/login) ![t](https://evil.example/t.png)"


def token(doc: object) -> str:
    return base64.urlsafe_b64encode(zlib.compress(json.dumps(doc).encode(), 9)).decode().rstrip("=")


HOSTILE_LINKS = {
    "model": ({"model": PHISH}, "[Session expired - sign in](https://evil.example/login)"),
    "scheme in plan": (
        {"plan": token({"rules": {"Linear": {"weight": {"scheme": PHISH}}}})},
        "[Session expired - sign in](https://evil.example/login)",
    ),
    "layer type in plan": (
        {"plan": token({"rules": {"![x](https://evil.example/x.png)": {"weight": "nope"}}})},
        "![x](https://evil.example/x.png)",
    ),
    "bare url and html": (
        {"seed": "https://evil.example/a <img src=https://evil.example/b.png>"},
        "https://evil.example/a <img src=https://",
    ),
    # quote() shows the value repr-like, so its one backslash is shown doubled
    "latex href": ({"model": r"$\href{https://evil.example/k}{click}$"}, r"$\\href{https://evil"),
    "www and e-mail": (
        {"model": "www.evil.example/w or mail me@evil.example"},
        "www.evil.example/w or mail me@evil.example",
    ),
}

FOREIGN_JS = """evil => {
    const found = [];
    for (const el of document.querySelectorAll('a[href], img[src], image, [style*="url("]')) {
        const ref = el.getAttribute('href') || el.getAttribute('src') || el.getAttribute('xlink:href')
                    || el.getAttribute('style') || '';
        if (ref.includes(evil)) found.push(el.outerHTML.slice(0, 200));
        else if (el.tagName === 'A' || el.tagName === 'IMG') {
            try {
                const u = new URL(ref, location.href);
                if (u.host && u.host !== location.host && el.closest('[data-testid=stAlert]'))
                    found.push(el.outerHTML.slice(0, 200));
            } catch (e) {}
        }
    }
    for (const alert of document.querySelectorAll('[data-testid=stAlert]'))
        for (const el of alert.querySelectorAll('a, img, .katex'))
            found.push('in an alert: ' + el.outerHTML.slice(0, 200));
    return found;
}"""


def open_page(browser, url: str):
    """A fresh tab that records (and blocks) every request to the foreign host."""
    context = browser.new_context()
    page = context.new_page()
    page.set_viewport_size({"width": 1400, "height": 1000})
    requested: list[str] = []

    def block(route):
        requested.append(route.request.url)
        route.abort()

    context.route(f"**/*{EVIL}*/**", block)
    context.route(f"**://{EVIL}/**", block)
    page.goto(url)
    return page, requested


def alerts(page) -> list[str]:
    """Each alert's text, without the zero-width spaces escape_markdown puts in '://' and 'www.'."""
    texts = page.eval_on_selector_all("[data-testid=stAlert]", "els => els.map(e => e.innerText)")
    return [t.replace("\u200b", "") for t in texts]


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("name", list(HOSTILE_LINKS))
def test_a_hostile_link_value_is_shown_as_text(browser, server_url, shots, name, view):
    params, shown = HOSTILE_LINKS[name]
    view_params, n_charts = VIEWS[view]
    page, requested = open_page(browser, f"{server_url}/?{urlencode({**params, **view_params})}")
    wait_for_charts(page, n_charts)
    if view == "Weights":  # the view drew the weights the link asked for (or the defaults it fell back to)
        assert panel_texts(page), "no histogram panel drawn"
    page.wait_for_selector("[data-testid=stAlert]")
    texts = alerts(page)
    page.screenshot(path=str(shots / f"injection-{name.replace(' ', '-')}-{view}.png"))
    assert any(shown in t for t in texts), texts  # the characters that were sent, as text
    assert page.evaluate(FOREIGN_JS, EVIL) == []
    assert requested == []
    page.context.close()


def test_an_uploaded_plan_files_name_and_problems_are_shown_as_text(browser, server_url, tmp_path):
    plan = tmp_path / "![t](https:evil.example).json"
    plan.write_text(json.dumps({"rules": {"Linear": {"weight": {"scheme": PHISH}}}}))
    page, requested = open_page(browser, server_url)
    wait_for_charts(page, VIEWS["Lesson"][1])  # a plain link opens the Lesson
    panel = open_tab(page, "Share and export", "[data-testid=stFileUploader]")
    panel.locator("[data-testid=stFileUploader] input[type=file]").first.set_input_files(str(plan))
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stAlert]')]"
        ".some(e => e.innerText.includes('was not loaded'))",
        timeout=60_000,
    )
    texts = alerts(page)
    assert any("![t](https:evil.example).json was not loaded" in t for t in texts), texts
    assert any("[Session expired - sign in](https://evil.example/login)" in t for t in texts), texts
    assert page.evaluate(FOREIGN_JS, EVIL) == []
    assert requested == []
    page.context.close()
