"""Sharing in a real browser: a link and a downloaded plan file both reproduce the same weights."""

from __future__ import annotations

from tests.harness import choose, open_tab, panel_texts, set_seed, wait_for_charts, wait_for_panel, wait_idle

N_CHARTS = 1  # the Weights view draws its distributions as one figure of panels


def subtitles(page) -> dict[str, str]:
    """Parameter name -> its panel's text (shape, measured σ, expected σ) for every drawn panel."""
    return panel_texts(page)


def prepared_page(browser, server_url):
    """A tab with the Xavier preset and seed 7 applied: a state no fresh tab shows."""
    page = browser.new_context(accept_downloads=True).new_page()
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(server_url + "/?view=Weights")
    wait_for_charts(page, N_CHARTS)
    choose(page, "Preset", "Xavier (Glorot)")
    wait_for_panel(page, "layer1.conv1.weight", "expected 0.0797")  # xavier on conv1: √(2/(27 + 288))
    set_seed(page, 7)
    wait_for_charts(page, N_CHARTS)
    return page


def test_link_opened_in_a_fresh_browser_reproduces_the_weights(browser, server_url, shots):
    a = prepared_page(browser, server_url)
    expected = subtitles(a)
    assert "expected 0.0797" in expected["layer1.conv1.weight"]
    b = browser.new_context().new_page()
    b.set_viewport_size({"width": 1400, "height": 1000})
    b.goto(a.url)
    wait_for_charts(b, N_CHARTS)
    wait_idle(b)
    assert subtitles(b) == expected
    assert b.get_by_role("textbox", name="Seed").input_value() == "7"
    b.screenshot(path=str(shots / "share-link-reopened.png"))
    a.context.close()
    b.context.close()


def test_downloaded_plan_file_reimports_to_the_same_weights(browser, server_url, tmp_path):
    a = prepared_page(browser, server_url)
    expected = subtitles(a)
    a.get_by_role("tab", name="Share and export").click()
    wait_idle(a)
    with a.expect_download() as download:
        a.get_by_role("button", name="Download plan (JSON)").click()
    plan_file = tmp_path / "plan.json"
    download.value.save_as(plan_file)
    assert '"seed": 7' in plan_file.read_text()

    b = browser.new_context().new_page()
    b.set_viewport_size({"width": 1400, "height": 1000})
    b.goto(server_url + "/?view=Weights")
    wait_for_charts(b, N_CHARTS)
    assert subtitles(b) != expected  # a fresh tab starts from PyTorch's default
    panel = open_tab(b, "Share and export", "[data-testid=stFileUploader]")
    panel.locator("[data-testid=stFileUploader] input[type=file]").first.set_input_files(str(plan_file))
    b.wait_for_function("() => location.search.includes('seed=7')", timeout=60_000)
    wait_idle(b)
    b.get_by_role("tab", name="Weights").click()
    wait_for_charts(b, N_CHARTS)
    wait_idle(b)
    assert subtitles(b) == expected
    a.context.close()
    b.context.close()
