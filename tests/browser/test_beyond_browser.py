"""The Transformer, Width (μP) and Spectra tabs in a real browser, each opened by link.

One story per view: its charts are drawn, its story and "What to look for" line are on the
page, a number it shows is the backend's (computed here with the same settings), changing
one of its widgets redraws it with other numbers, nothing raised, and at 1280x720 (a
projector) its main chart is not cut off. Every query looks inside the open tab's panel
(the other tabs' old charts can stay in the DOM, hidden); every wait is generous and no
assertion is about time (the machine is shared).
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pinit
from pinit.dashboard.sidebar import DEFAULT_PRESET
from pinit.figures import fmt
from pinit.lab.spectra import spectrum
from pinit.lab.transformer import ATTENTION_SCALES, transformer_presets, transformer_report
from pinit.lab.width import DEFAULT_LR, coord_check, coord_slopes
from pinit.setup import Setup
from pinit.share.urlstate import setup_to_query
from pinit.threads import single_thread
from tests.harness import OPEN_PANEL, choose, open_panel_charts_drawn, selected, wait_idle

WIDTH, HEIGHT = 1280, 720
WAIT_MS = 300_000  # the coord check trains 2 × 5 widths; a load test may share the cores

# The main chart's box, the SVG plotly drew inside it, and whether the page scrolls sideways.
FIT_JS = """panel => {
    const chart = document.querySelector(panel + ' [data-testid=stPlotlyChart]');
    const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    return {
        chart: box(chart), svg: box(chart.querySelector('.main-svg')),
        pageWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, innerHeight: window.innerHeight,
    };
}"""


def open_view(browser, url: str, view: str, charts: int, query: str = ""):
    page = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}).new_page()
    page.goto(f"{url}/?{query + '&' if query else ''}view={quote(view)}")
    page.get_by_role("tab", name=view, selected=True).wait_for(timeout=WAIT_MS)
    open_panel_charts_drawn(page, charts, WAIT_MS)
    return page


def subtitles(page) -> dict[str, str]:
    """Chart title -> its subtitle (the numbers a student reads off), in the open panel."""
    return page.evaluate(
        """panel => {
            const out = {};
            for (const c of document.querySelectorAll(panel + ' [data-testid=stPlotlyChart]')) {
                const t = c.querySelector('.gtitle'), s = c.querySelector('.gtitle-subtitle');
                if (t) out[t.textContent] = s ? s.textContent : '';
            }
            return out;
        }""",
        OPEN_PANEL,
    )


def wait_for_subtitle(page, title: str, changed_from: str) -> str:
    """Wait until the chart titled `title` has been redrawn with another subtitle; return the new one."""
    page.wait_for_function(
        """([panel, title, before]) => [...document.querySelectorAll(panel + ' [data-testid=stPlotlyChart]')]
            .some(c => { const t = c.querySelector('.gtitle'), s = c.querySelector('.gtitle-subtitle');
                         return t && t.textContent === title && s && s.textContent !== before; })""",
        arg=[OPEN_PANEL, title, changed_from],
        timeout=WAIT_MS,
    )
    wait_idle(page, WAIT_MS)
    return subtitles(page)[title]


def assert_story_and_look_fors(page, story: str, look_fors: int) -> None:
    panel = page.locator(OPEN_PANEL)
    assert panel.get_by_text(story).first.is_visible()
    found = panel.get_by_text("What to look for:")
    assert found.count() == look_fors, found.count()
    assert all(found.nth(i).is_visible() for i in range(look_fors))
    assert page.locator("[data-testid=stException]").count() == 0


def assert_main_chart_fits(page) -> None:
    """The view's first chart, scrolled into view, lies inside a 1280x720 window, whole, with no sideways scroll."""
    page.locator(f"{OPEN_PANEL} [data-testid=stPlotlyChart]").first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    b = page.evaluate(FIT_JS, OPEN_PANEL)
    left, top, right, bottom = b["chart"]
    assert left >= 0 and right <= b["innerWidth"] + 0.5, b
    assert bottom - top <= b["innerHeight"], b  # it fits the window's height: nothing below the fold
    assert top >= -0.5 and bottom <= b["innerHeight"] + 0.5, b
    s_left, _, s_right, _ = b["svg"]
    assert s_left >= left - 0.5 and s_right <= right + 0.5, b  # plotly drew inside its box, not past it
    assert b["pageWidth"] <= b["innerWidth"], b


def test_transformer_view_shows_gpt2s_scaling_from_the_backend(browser, server_url, shots):
    page = open_view(browser, server_url, "Transformer", 2)
    subs = subtitles(page)
    residual, attention = "Residual stream std, block by block", "Attention logits at init, layer by layer"
    assert {residual, attention} <= set(subs), subs
    assert_story_and_look_fors(page, "Why GPT-2 scales its residual projections", 2)
    # The numbers at the top of the stream are the backend's for the view's defaults (4 blocks, seed 0, 16 sequences).
    presets = transformer_presets(4)
    with single_thread():
        reports = {
            label: transformer_report(Setup("TinyGPT", {"n_layer": 4}, presets[label].plan), 16, ATTENTION_SCALES[0])
            for label in ("GPT-2", "N(0, 0.02), no residual scaling")
        }
    for label, r in reports.items():
        assert f"{label}: {fmt(r.residual['std'].iloc[-1])} at the top" in subs[residual], (label, subs[residual])
    gpt2, plain = (r.residual["std"] for r in reports.values())
    assert plain.iloc[-1] / plain.iloc[1] > gpt2.iloc[-1] / gpt2.iloc[1]  # the story's claim, on these very numbers
    assert_main_chart_fits(page)
    page.screenshot(path=str(shots / "beyond-transformer.png"))

    # μP's 1/d_head: the attention chart is redrawn with the other scale.
    page.locator(OPEN_PANEL).get_by_text("1/d_head", exact=True).click()
    after = wait_for_subtitle(page, attention, subs[attention])
    assert "1/d_head" in after, after

    # GPT-2's scaling off: drop GPT-2 from the inits compared; only the unscaled line is left.
    before = subtitles(page)[residual]
    page.locator(OPEN_PANEL).get_by_role("button", name="Remove GPT-2", exact=True).click()
    after = wait_for_subtitle(page, residual, before)
    assert "GPT-2:" not in after and "no residual scaling:" in after, after
    assert page.locator("[data-testid=stException]").count() == 0
    page.context.close()


def test_width_view_sp_grows_with_width_and_mup_stays_flat(browser, server_url, shots):
    page = open_view(browser, server_url, "Width (μP)", 2)
    subs = subtitles(page)
    sp = "Coord check: standard parametrization (PyTorch default init, one lr)"
    mup = "Coord check: μP (init and per-layer lr)"
    assert {sp, mup} <= set(subs), subs
    assert_story_and_look_fors(page, "The coord check (Yang et al. 2021, Tensor Programs V)", 1)
    # The slopes in the subtitles are the backend's coord check with the view's defaults.
    widths = [128, 256, 512, 1024, 2048]
    for p, title in (("sp", sp), ("mup", mup)):
        with single_thread():
            df = coord_check(widths=widths, parametrization=p, optimizer="adam", lr=DEFAULT_LR["adam"], steps=3, seed=0)
        slopes = coord_slopes(df).query("step == 3")
        for r in slopes.itertuples():
            assert f"{r.layer.split('.')[-1]} {r.slope:+.2f}" in subs[title], (p, r.layer, subs[title])
        readout = slopes.set_index("layer")["slope"].iloc[-1]
        assert (readout > 0.5) if p == "sp" else (abs(readout) < 0.2), (p, readout)  # SP blows up, μP stays flat
    assert_main_chart_fits(page)
    page.screenshot(path=str(shots / "beyond-width.png"))

    # SGD instead of Adam: both coord checks are trained again and redrawn with other slopes.
    page.locator(OPEN_PANEL).get_by_text("sgd", exact=True).click()
    after = wait_for_subtitle(page, sp, subs[sp])
    assert after != subs[sp]
    assert page.locator("[data-testid=stException]").count() == 0
    page.context.close()


def test_spectra_view_draws_the_backends_singular_values_and_follows_the_layer(browser, server_url, shots):
    setup = Setup(plan=pinit.InitPlan.from_dict(pinit.PRESETS[DEFAULT_PRESET].plan))
    page = open_view(browser, server_url, "Spectra", 1, urlencode(setup_to_query(setup)))
    assert_story_and_look_fors(page, "Random matrices have a shape.", 1)
    label = "Weight matrix (conv kernels as out × in·k·k)"
    weights = dict(setup.build().named_parameters())

    def shown() -> tuple[str, str, str]:
        name = selected(page, label).split()[0]
        metric = page.locator(f"{OPEN_PANEL} [data-testid=stMetric]").filter(has_text="Largest / smallest s")
        title = f"Spectrum of {name}"
        return name, metric.locator("[data-testid=stMetricValue]").inner_text(), subtitles(page).get(title, "")

    name, value, sub = shown()
    with single_thread():
        s = spectrum(weights[name], name)
    assert value == f"{s.svals[0]:.4g} / {s.svals[-1]:.4g}", (name, value)
    assert sub, (name, subtitles(page))
    assert_main_chart_fits(page)
    page.screenshot(path=str(shots / "beyond-spectra.png"))

    # Another layer: its own spectrum, the backend's again.
    other = next(n for n in ("layer4.fc2.weight", "layer3.conv3.weight") if n != name)
    rows, cols = weights[other].shape[0], weights[other][0].numel()
    choose(page, label, f"{other}  {rows} × {cols}")
    wait_for_subtitle(page, f"Spectrum of {other}", "")
    # The metrics sit below the chart: the run may have redrawn the chart but not yet them.
    page.wait_for_function(
        """([panel, old]) => [...document.querySelectorAll(panel + ' [data-testid=stMetric]')]
            .some(m => m.textContent.includes('Largest / smallest s') && !m.textContent.includes(old))""",
        arg=[OPEN_PANEL, value],
        timeout=60_000,
    )
    name2, value2, _ = shown()
    with single_thread():
        s2 = spectrum(weights[other], other)
    assert name2 == other and value2 == f"{s2.svals[0]:.4g} / {s2.svals[-1]:.4g}", (name2, value2)
    assert value2 != value
    assert page.locator("[data-testid=stException]").count() == 0
    page.context.close()
