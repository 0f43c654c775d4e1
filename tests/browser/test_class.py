"""A class, end to end in Chromium: a projector in presenter mode, three phones that scan its QR code,
the lesson driven from the projector and followed on the phones, then the hand-over at "Your turn".

The server listens on 0.0.0.0, as `pinit dashboard --address 0.0.0.0` does for a class, so the QR
code names this machine's LAN address. The test checks that, then opens the same path and query on
127.0.0.1: it never connects to another address of the machine.
"""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from pinit.serve import is_loopback, lan_address, running
from tests.harness import ARTIFACTS, ROOT, wait_for_charts, wait_idle

PHONES = 3
PHONE = {"width": 390, "height": 844}
NEXT = re.compile(r"^Next( Shortcut \W+)?$")  # its name carries the key hint ("Next Shortcut →"); not "Next step"


@pytest.fixture(scope="module")
def class_server():
    """The dashboard listening on every interface (the tests still talk to it on 127.0.0.1)."""
    ARTIFACTS.mkdir(exist_ok=True)
    with (
        open(ARTIFACTS / "streamlit-class.log", "w") as log,
        running(address="0.0.0.0", script=ROOT / "app.py", log=log, cwd=ROOT, timeout=90) as (url, _),
    ):
        yield url


def banner(page, code: str, step: int, timeout_ms: int = 90_000) -> None:
    """Wait until the phone says it follows class `code` at `step`."""
    page.get_by_text(f"Following the teacher · class {code} · step {step} of 6").wait_for(timeout=timeout_ms)


def open_popover(projector, status) -> str:
    """Open the presenter's class popover (if a rerun closed it) and return its live status line."""
    if not status.is_visible():
        wait_idle(projector)
        if not status.is_visible():
            projector.get_by_role("button", name=re.compile(r"^[2-9A-Z]{4} · \d+$")).click()
    status.wait_for(timeout=60_000)
    return status.text_content()


def chart_title(page) -> str:
    return page.eval_on_selector("[data-testid=stPlotlyChart] .gtitle", "e => e.textContent")


def wait_title(page, prefix: str, timeout_ms: int = 120_000) -> None:
    page.wait_for_function(
        "p => { const t = document.querySelector('[data-testid=stPlotlyChart] .gtitle');"
        " return !!t && t.textContent.startsWith(p); }",
        arg=prefix,
        timeout=timeout_ms,
    )


def test_a_class_follows_the_projector_and_takes_over_at_your_turn(browser, class_server, shots, playwright_devices):
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp decodes the QR code (pip install zxing-cpp)")
    import segno
    from PIL import Image

    lan = lan_address()
    assert lan is not None and not is_loopback(lan), "this machine has no LAN address to put in the QR code"
    port = urlsplit(class_server).port

    # The projector: 1024x768, presenter mode, a class opened.
    projector = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    projector.goto(f"{class_server}/?present=1&view=Lesson&step=1")
    wait_for_charts(projector, 1, timeout_ms=180_000)
    projector.get_by_role("button", name="QR").click()
    projector.get_by_role("button", name="Open a class").click()
    status = projector.get_by_text(re.compile(r"Class [2-9A-Z]{4} · \d+ following"))
    code = re.search(r"Class ([2-9A-Z]{4})", open_popover(projector, status))[1]
    assert projector.get_by_role("button", name=f"{code} · 0").is_visible()  # the row names the class

    # Its QR code: the LAN address, the class, no presenter mode; the address written under it.
    image = projector.locator("[data-testid=stPopoverBody] img").first
    image.wait_for(timeout=30_000)
    png = projector.request.get(image.get_attribute("src")).body()
    (decoded,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    link = urlsplit(decoded.text)
    assert (link.scheme, link.hostname, link.port) == ("http", lan, port)
    assert parse_qs(link.query) == {"room": [code]}  # never present=1
    assert segno.make_qr(decoded.text, error="m").version <= 3  # a low version: big modules on the projector
    popover = projector.locator("[data-testid=stPopoverBody]")
    assert decoded.text in popover.inner_text()  # the address in words, for those who type it
    width = image.evaluate("e => e.getBoundingClientRect().width")
    assert width >= 300  # large modules for the back row (a version-2/3 code: 25-29 modules)
    projector.screenshot(path=str(shots / "class-projector-qr.png"))
    projector.keyboard.press("Escape")

    # Three phones open the decoded path and query, on loopback.
    device = {**playwright_devices["iPhone 13"], "viewport": PHONE}
    phones = []
    for _ in range(PHONES):
        phone = browser.new_context(**device).new_page()
        phone.goto(f"{class_server}{link.path or '/'}?{link.query}")
        phones.append(phone)
    for phone in phones:
        banner(phone, code, 1, 180_000)
        wait_for_charts(phone, 1, timeout_ms=180_000)
        assert phone.get_by_role("button", name=NEXT).count() == 0  # the teacher leads: no Back/Next here
        assert phone.get_by_role("button", name="Explore on my own").is_visible()
    open_popover(projector, projector.get_by_text(f"Class {code} · {PHONES} following"))
    projector.keyboard.press("Escape")
    phones[0].screenshot(path=str(shots / "class-phone-step1.png"))

    # The projector drives; every phone follows, step by step.
    for step, title in ((2, "2. The fix"), (3, "3. Thirty layers")):
        projector.get_by_role("button", name=NEXT).first.click()
        wait_title(projector, title)
        for phone in phones:
            banner(phone, code, step)
            wait_title(phone, title)
            assert parse_qs(urlsplit(phone.url).query)["step"] == [str(step)]

    # One student leaves the class: its steps are its own again; the others keep following.
    loner, followers = phones[2], phones[:2]
    loner.get_by_role("button", name="Explore on my own").click()
    loner.get_by_text("You left the class").wait_for(timeout=30_000)
    wait_idle(loner)
    assert loner.get_by_role("button", name=NEXT).first.is_enabled()
    assert "room" not in parse_qs(urlsplit(loner.url).query)
    open_popover(projector, projector.get_by_text(f"Class {code} · {PHONES - 1} following"))
    projector.keyboard.press("Escape")
    projector.get_by_role("button", name=NEXT).first.click()
    wait_title(projector, "4. Zeros")
    for phone in followers:
        banner(phone, code, 4)
        wait_title(phone, "4. Zeros")
    assert chart_title(loner).startswith("3. Thirty layers")  # not moved by the projector

    # The hand-over: at "Your turn" the phones are let go, each with the recipes to open.
    projector.get_by_role("button", name=NEXT).first.click()
    wait_title(projector, "5. What the init")
    for phone in followers:
        banner(phone, code, 5)
    projector.get_by_role("button", name=NEXT).first.click()
    projector.get_by_role("button", name="Open Weights: the article's recipe").wait_for(timeout=60_000)
    for phone in followers:
        phone.get_by_text("the teacher handed over").wait_for(timeout=60_000)
        wait_idle(phone)
        assert phone.get_by_text("Following the teacher").count() == 0
        assert phone.get_by_role("button", name=re.compile(r"^Back( Shortcut \W+)?$")).first.is_enabled()
    followers[0].screenshot(path=str(shots / "class-phone-your-turn.png"))
    followers[0].get_by_role("button", name="Open Weights: the article's recipe").click()
    followers[0].wait_for_function(
        "() => new URLSearchParams(location.search).get('view') === 'Weights'", timeout=60_000
    )
    wait_for_charts(followers[0], 1, timeout_ms=120_000)
    # The projector stays where the teacher left it.
    assert parse_qs(urlsplit(projector.url).query)["step"] == ["6"]
    for page in [projector, *phones]:
        page.context.close()
