"""What only a browser shows: the page draws every chart, a preset redraws them, tabs are isolated."""

from __future__ import annotations

from tests.harness import choose, subtitle_of, wait_for_charts, wait_idle

N_CHARTS = 14  # 12 parameter histograms + 2 overview charts for SimpleCNN


def chart_titles(page) -> list[str]:
    return page.eval_on_selector_all("[data-testid=stPlotlyChart] .gtitle", "els => els.map(e => e.textContent)")


def test_page_draws_every_chart_titled_by_name_and_shape(browser, server_url, shots):
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.goto(server_url)
    wait_for_charts(page, N_CHARTS)
    titles = chart_titles(page)
    assert "layer1.conv1.weight (32, 3, 3, 3)" in titles
    assert "layer4.fc1.weight (512, 2048)" in titles
    assert page.locator("[data-testid=stException]").count() == 0
    assert "1,175,818" in page.locator("[data-testid=stMetricValue]").first.inner_text()
    page.screenshot(path=str(shots / "dashboard-default.png"))
    page.close()


def test_preset_redraws_the_charts(browser, server_url, shots):
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.goto(server_url)
    wait_for_charts(page, N_CHARTS)
    assert "expected σ 0.0128" in subtitle_of(page, "layer4.fc1.weight")
    choose(page, "Preset", "Article recipe")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.gtitle-subtitle')].some(e => e.textContent.includes('expected σ 1 '))",
        timeout=60_000,
    )
    wait_idle(page)
    assert "expected σ 1 " in subtitle_of(page, "layer4.fc1.weight")
    assert "constant: all 32 values = 0" in subtitle_of(page, "layer1.conv1.bias")
    page.screenshot(path=str(shots / "dashboard-article-recipe.png"))
    page.close()


def test_two_tabs_never_see_each_others_reinit(browser, server_url):
    a = browser.new_context().new_page()
    b = browser.new_context().new_page()
    for page in (a, b):
        page.goto(server_url)
        wait_for_charts(page, N_CHARTS)
    choose(a, "Preset", "Zeros (the symmetry trap)")
    a.wait_for_function(
        "() => [...document.querySelectorAll('.gtitle-subtitle')]"
        ".some(e => e.textContent.includes('constant: all 864'))",
        timeout=60_000,
    )
    # b reruns (changes its own view) and still shows its own default weights.
    b.reload()
    wait_for_charts(b, N_CHARTS)
    assert "constant" not in subtitle_of(b, "layer1.conv1.weight")
    assert "expected σ 0.111" in subtitle_of(b, "layer1.conv1.weight")
    assert "constant: all 864 values = 0" in subtitle_of(a, "layer1.conv1.weight")
    a.context.close()
    b.context.close()
