"""The lab in a real browser: a link to a lab view opens it and Chromium draws its charts."""

from __future__ import annotations

from tests.harness import wait_for_charts, wait_idle


def titles(page) -> list[str]:
    return page.eval_on_selector_all("[data-testid=stPlotlyChart] .gtitle", "els => els.map(e => e.textContent)")


def test_signal_flow_and_depth_lab_draw_their_charts(browser, server_url, shots):
    page = browser.new_page(viewport={"width": 1440, "height": 1200})
    page.goto(f"{server_url}/?view=Signal%20flow")
    wait_for_charts(page, 4)
    assert {
        "Activation std, layer by layer",
        "Activation histograms, layers × bins",
        "Gradient norm per parameter",
        "Dead ReLUs",
    } <= set(titles(page))
    # The heatmap is drawn (its cells are an image layer in plotly's SVG), and every chart says what to look for.
    assert page.locator("[data-testid=stPlotlyChart] .hm").count() == 1
    assert page.get_by_text("What to look for:").count() == 4
    assert page.locator("[data-testid=stException]").count() == 0
    page.screenshot(path=str(shots / "lab-signal-flow.png"))

    page.get_by_role("tab", name="Depth lab").click()
    wait_for_charts(page, 1)
    page.get_by_role("button", name="He et al. 2015 (ReLU)").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stAlertContentInfo]')]"
        ".some(e => e.textContent.includes('He et al. 2015.'))",
        timeout=90_000,
    )
    wait_idle(page)
    wait_for_charts(page, 1)
    legend = page.eval_on_selector_all("[data-testid=stPlotlyChart] .legendtext", "els => els.map(e => e.textContent)")
    assert "Kaiming (He) (measured)" in legend and "Xavier (Glorot) (predicted)" in legend
    assert "view=Depth+lab" in page.url or "view=Depth%20lab" in page.url
    assert page.locator("[data-testid=stException]").count() == 0
    page.close()
