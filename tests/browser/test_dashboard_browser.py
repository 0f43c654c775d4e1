"""What only a browser shows: the Weights view draws every panel, a change redraws at once, tabs are isolated."""

from __future__ import annotations

from tests.harness import choose, panel_texts, selected, wait_for_charts, wait_for_panel, wait_idle

WEIGHTS = "/?view=Weights"


def open_weights(browser, server_url, **context):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}, **context).new_page()
    page.goto(server_url + WEIGHTS)
    wait_for_charts(page, 1)
    return page


def test_the_weights_view_draws_a_panel_per_parameter_titled_by_name_and_shape(browser, server_url, shots):
    page = open_weights(browser, server_url)
    panels = panel_texts(page)
    assert list(panels)[:3] == ["layer1.conv1.weight", "layer1.conv1.bias", "layer2.conv2.weight"]
    assert "(32, 3, 3, 3)" in panels["layer1.conv1.weight"] and "expected 0.111" in panels["layer1.conv1.weight"]
    assert page.locator("[data-testid=stException]").count() == 0
    assert "1,175,818" in page.get_by_text("parameters in").first.inner_text()
    page.screenshot(path=str(shots / "weights-default.png"))
    page.context.close()


def test_a_preset_and_a_scheme_change_apply_at_once_and_the_box_says_custom(browser, server_url, shots):
    page = open_weights(browser, server_url)
    choose(page, "Preset", "Article recipe")
    wait_for_panel(page, "layer1.conv1.bias", "constant: all 32 values = 0")
    assert "expected 0.272" in panel_texts(page)["layer1.conv1.weight"]  # kaiming_normal on conv1: √2/√27
    # The rules per layer type fold away behind a switch (a preset is the usual start).
    page.get_by_text("Show the rules per layer type", exact=True).click()
    page.locator("[data-testid=stSelectbox]").filter(has=page.get_by_text("Conv2d weight", exact=True)).first.wait_for(
        timeout=60_000
    )
    choose(page, "Conv2d weight", "xavier_normal")  # no button to press: the change is applied
    wait_for_panel(page, "layer1.conv1.weight", "expected 0.0797")  # √(2/(27 + 288))
    assert selected(page, "Preset") == "(custom)"
    page.screenshot(path=str(shots / "weights-custom.png"))
    page.context.close()


def test_two_tabs_never_see_each_others_changes(browser, server_url):
    a = open_weights(browser, server_url)
    b = open_weights(browser, server_url)
    choose(a, "Preset", "Zeros (the symmetry trap)")
    wait_for_panel(a, "layer1.conv1.weight", "constant: all 864 values = 0")
    b.reload()  # b reruns and still shows its own default weights
    wait_for_charts(b, 1)
    wait_idle(b)
    assert "constant" not in panel_texts(b)["layer1.conv1.weight"]
    assert "expected 0.111" in panel_texts(b)["layer1.conv1.weight"]
    assert "constant: all 864 values = 0" in panel_texts(a)["layer1.conv1.weight"]
    a.context.close()
    b.context.close()


# Everything inside the main column that is cut off (its content wider than its box): a segmented
# control that hides "Formula" behind a scroll, say. Charts draw their own clipping, and 1 px boxes
# are the visually hidden inputs that screen readers use.
CLIPPED_JS = """() => [...document.querySelectorAll('.stMainBlockContainer [data-testid=stElementContainer] *')]
    .filter(e => e.clientWidth > 1 && e.scrollWidth > e.clientWidth + 1 && !e.closest('[data-testid=stPlotlyChart]'))
    .map(e => e.innerText)"""


def test_on_a_1024_projector_with_the_sidebar_open_no_control_of_the_weights_view_is_cut_off(
    browser, server_url, shots
):
    page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    page.goto(server_url + WEIGHTS)
    wait_for_charts(page, 1)
    assert page.locator("[data-testid=stSidebar]").is_visible()  # the sidebar takes 300 px of the 1024
    clipped = page.evaluate(CLIPPED_JS)
    page.screenshot(path=str(shots / "weights-1024.png"))
    assert not clipped, clipped
    page.context.close()
