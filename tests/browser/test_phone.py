"""Phones and projectors in a real browser: charts whose legends never cover their data, a Weights
view a phone can use, the lesson's numbers and chart on a phone's first screen.

The legend check reads plotly's own SVG: every line path is sampled along its length
(getPointAtLength, mapped to the screen by getScreenCTM), every marker and bar by its box,
and no such point may fall inside the legend's box (nor inside an annotation's text box)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

import pinit
from pinit.setup import Setup
from pinit.share.urlstate import setup_to_query
from tests.harness import wait_for_charts, wait_idle

# A phone's browser says so in its user agent: the page lays itself out for it (sidebar.is_phone).
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
SCREENS = {"1280x720": (1280, 720), "1024x768": (1024, 768), "phone 390x844": (390, 844)}
LESSON_STEPS = 5

# For each drawn chart: the legend's and the annotations' boxes, and the screen points of its data
# (lines sampled every 3 px, markers and bars by their boxes' corners and centre).
DATA_UNDER_LABELS_JS = """() => {
    const rect = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const out = [];
    for (const chart of document.querySelectorAll('[data-testid=stPlotlyChart]')) {
        if (!chart.querySelector('.main-svg') || chart.getBoundingClientRect().width === 0) continue;
        const labels = [];
        for (const l of chart.querySelectorAll('.legend')) {
            const bg = l.querySelector('.bg') || l;
            if (bg.getBoundingClientRect().width > 0) labels.push(['legend', rect(bg)]);
        }
        for (const a of chart.querySelectorAll('.annotation-text-g')) labels.push(['label ' + a.textContent, rect(a)]);
        const points = [];
        for (const path of chart.querySelectorAll('.scatterlayer .js-line')) {
            const n = path.getTotalLength ? path.getTotalLength() : 0;
            const m = path.getScreenCTM();
            for (let s = 0; s <= n; s += 3) {
                const p = path.getPointAtLength(s);
                points.push([m.a * p.x + m.c * p.y + m.e, m.b * p.x + m.d * p.y + m.f]);
            }
        }
        for (const e of chart.querySelectorAll('.scatterlayer .point, .barlayer .point path')) {
            const [l, t, r, b] = rect(e);
            if (r - l > 0 || b - t > 0) points.push([(l + r) / 2, (t + b) / 2], [l + 1, t + 1], [r - 1, b - 1]);
        }
        const hits = [];
        for (const [what, [l, t, r, b]] of labels)
            for (const [x, y] of points)
                if (x > l + 1 && x < r - 1 && y > t + 1 && y < b - 1) {
                    hits.push([what, Math.round(x), Math.round(y)]);
                    break;
                }
        const title = chart.querySelector('.gtitle');
        out.push({hits, labels: labels.length, points: points.length,
                  title: title ? rect(title) : null, width: chart.getBoundingClientRect().width});
    }
    return out;
}"""


def open_page(browser, url: str, query: str, size: tuple[int, int], charts: int = 1):
    phone = size[0] < 600
    context = browser.new_context(
        viewport={"width": size[0], "height": size[1]},
        **({"user_agent": PHONE_UA, "is_mobile": True, "has_touch": True} if phone else {}),
    )
    page = context.new_page()
    page.goto(f"{url}/?{query}")
    if charts:
        wait_for_charts(page, charts, timeout_ms=240_000)
    wait_idle(page, 240_000)
    page.wait_for_timeout(600)  # plotly's last layout pass
    return page


@pytest.mark.parametrize("present", [False, True], ids=["page", "presenter"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_no_lesson_chart_has_a_legend_or_label_over_its_data_and_no_title_is_cut(browser, server_url, screen, present):
    size = SCREENS[screen]
    if present and size[0] < 600:
        pytest.skip("phones never open in presenter mode")
    for step in range(1, LESSON_STEPS + 1):
        page = open_page(browser, server_url, f"view=Lesson&step={step}" + ("&present=1" if present else ""), size)
        charts = page.evaluate(DATA_UNDER_LABELS_JS)
        assert len(charts) == 1 and charts[0]["points"] > 10, (step, charts)
        chart = charts[0]
        assert not chart["hits"], (screen, present, step, chart["hits"])
        left, _, right, _ = chart["title"]
        assert right <= size[0] + 0.5 and left >= 0, (screen, step, "title cut off", chart["title"])
        page.context.close()


def test_a_phone_sees_the_lesson_metrics_in_one_row_and_the_chart_on_the_first_screen(browser, server_url):
    width, height = SCREENS["phone 390x844"]
    for step in range(1, LESSON_STEPS + 1):
        page = open_page(browser, server_url, f"view=Lesson&step={step}", (width, height))
        boxes = page.evaluate(
            """() => ({
                metrics: [...document.querySelectorAll('[data-testid=stMetric]')]
                    .map(e => e.getBoundingClientRect().top),
                chart: (() => { const r = document.querySelector('[data-testid=stPlotlyChart]').getBoundingClientRect();
                                return [r.top, r.bottom, r.width]; })(),
                overflow: document.documentElement.scrollWidth > window.innerWidth + 1,
            })"""
        )
        tops = boxes["metrics"]
        assert tops and max(tops) - min(tops) < 4, (step, "metrics not in one row", tops)
        _, bottom, w = boxes["chart"]
        assert bottom <= height and w >= width - 40, (step, "chart not on the first screen", boxes["chart"])
        assert not boxes["overflow"], step
        page.context.close()


def test_a_phone_gets_one_weights_panel_per_row_switches_that_do_not_overlap_and_no_sidebar_wording(
    browser, server_url
):
    article = setup_to_query(Setup("SimpleCNN", {}, pinit.PRESETS["Article recipe"].plan, 0))
    page = open_page(browser, server_url, urlencode({**article, "view": "Weights"}), (390, 844))
    geometry = page.evaluate(
        """() => {
            const chart = document.querySelector('[data-testid=stPlotlyChart]');
            const r = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
            return {
                panels: [...chart.querySelectorAll('.cartesianlayer .subplot .bg, .cartesianlayer .subplot')]
                    .filter(e => e.classList.contains('subplot')).map(e => r(e.querySelector('.gridlayer') || e)),
                plots: [...chart.querySelectorAll('.nsewdrag')].map(r),
                buttons: [...chart.querySelectorAll('.updatemenu-button')].map(r),
                annotations: [...chart.querySelectorAll('.annotation')].map(r),
                width: window.innerWidth,
            };
        }"""
    )
    plots = geometry["plots"]
    assert len(plots) >= 2
    lefts = {round(p[0]) for p in plots}
    assert len(lefts) == 1, ("one panel per row", plots)
    for box in plots + geometry["annotations"]:
        assert box[2] <= geometry["width"] + 0.5, ("cut off on the right", box)

    def overlap(a, b):
        return a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1

    buttons, notes = geometry["buttons"], geometry["annotations"]
    assert len(buttons) == 4
    for i, a in enumerate(buttons):
        for b in buttons[i + 1 :] + notes:
            assert not overlap(a, b), ("a switch overlaps", a, b)
    for i, a in enumerate(notes):
        for b in notes[i + 1 :]:
            assert not overlap(a, b), ("panel titles overlap", a, b)
    texts = page.inner_text("body")
    assert "sidebar" not in texts.lower()
    # The article's fc1 (×45) opens the page: its panel is the first, on the first screen, its gain marked.
    first = page.evaluate(
        "() => { const a = document.querySelector('[data-testid=stPlotlyChart] .annotation');"
        " return [a.textContent, a.getBoundingClientRect().bottom]; }"
    )
    assert first[0].startswith("layer4.fc1.weight") and "gain ×4" in first[0] and first[1] < 844, first
    page.context.close()


@pytest.mark.parametrize(("size", "toolbars"), [((390, 844), 0), ((1280, 720), 4)], ids=["phone", "desktop"])
def test_a_phone_gets_no_plotly_toolbar_over_the_lab_charts_titles(browser, server_url, size, toolbars):
    """Signal flow's four charts keep plotly's toolbar (zoom, download) on a desktop; on a phone it
    stayed up after a tap and covered the chart's title, so there it is off."""
    page = open_page(browser, server_url, "view=Signal+flow", size, charts=4)
    charts = page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')]"
        ".map(c => [c.getAttribute('role'), c.querySelectorAll('.modebar').length])"
    )
    assert len(charts) == 4 and sum(n for _, n in charts) == toolbars, charts
    assert all(role == ("img" if toolbars == 0 else "figure") for role, _ in charts), charts
    page.context.close()


# For each drawn chart: its title's and subtitle's boxes, its legend's box, and the boxes of its x
# axis's title and tick labels (relative to the chart's own left edge).
TEXT_BOXES_JS = """() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')]
    .filter(c => c.querySelector('.main-svg') && c.getBoundingClientRect().width > 0)
    .map(c => {
        const left = c.getBoundingClientRect().left;
        const box = e => {
            const r = e.getBoundingClientRect();
            return [r.left - left, r.top, r.right - left, r.bottom];
        };
        const all = sel => [...c.querySelectorAll(sel)].map(box).filter(([l, t, r, b]) => r > l && b > t);
        return {width: c.getBoundingClientRect().width, titles: all('.gtitle, .gtitle-subtitle'),
                legend: all('.legend .bg'), axis: all('.g-xtitle, .xtick text')};
    })"""


@pytest.mark.parametrize(
    ("view", "charts"), [("Depth lab", 1), ("Signal flow", 4), ("Compare", 14), ("Transformer", 2), ("Width (μP)", 2)]
)
def test_on_a_phone_no_lab_title_is_cut_and_no_legend_sits_on_an_axis(browser, server_url, view, charts):
    """On a 390 px phone a lab chart's title and subtitle wrap instead of running off both edges, and its
    legend stands under the x axis's title and tick labels (pinit.style.for_phone), not on them; nor on the data."""
    page = open_page(browser, server_url, urlencode({"view": view}), (390, 844), charts=charts)
    for i, chart in enumerate(page.evaluate(TEXT_BOXES_JS)):
        for left, _, right, _ in chart["titles"]:
            assert left >= -0.5 and right <= chart["width"] + 0.5, (view, i, "title cut", chart)
        for ll, lt, lr, lb in chart["legend"]:
            for al, at, ar, ab in chart["axis"]:
                overlap = min(lr, ar) - max(ll, al) > 1 and min(lb, ab) - max(lt, at) > 1
                assert not overlap, (view, i, "legend on the x axis's labels", chart)
    for i, chart in enumerate(page.evaluate(DATA_UNDER_LABELS_JS)):
        assert not chart["hits"], (view, i, chart["hits"])
    page.context.close()
