"""Where the browser's time goes on a click: a Chromium CPU profile of preset picks or lesson steps.

bench/bench_latency.py says how long a person waits; this says what the page's main thread
does in that time, by script bundle (plotly.js inside Streamlit's PlotlyChart bundle,
react-dom, styled-components, ...) and, for plotly.js, by how its plot routine was entered:
as a new plot (a chart mounted afresh) or as a replot of a chart already on the page.

It starts app.py of the checkout (or uses --pinit-url), opens the view at 1280x720, makes
one untimed click, then profiles --clicks clicks (sampling every 200 µs) and prints
milliseconds per click. "(program)" is the browser's own work outside JavaScript (style,
layout, paint) and "(idle)" the waiting; the Playwright driving the clicks (polling the
page for the end of the run) is in the profile too, so read the bundles, not the total.

    python bench/profile_clicks.py                      # preset picks on the Weights view
    python bench/profile_clicks.py --click lesson-step  # Next / Back in the lesson
    python bench/profile_clicks.py --click scheme       # Conv2d weight's scheme, the rules shown
    python bench/profile_clicks.py --plotly-alone       # and plotly.js alone on the same figure
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness import choose, launch_chromium, streamlit_server, wait_for_charts, wait_idle

PRESETS = ("Kaiming (He)", "Xavier (Glorot)")


def click_preset(page, i: int) -> None:
    choose(page, "Preset", PRESETS[i % 2])
    wait_idle(page)


def click_lesson_step(page, i: int) -> None:
    page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
    page.wait_for_timeout(100)  # the key's rerun starts; then wait for its end
    wait_idle(page)


SCHEMES = ("kaiming_normal", "xavier_uniform", "orthogonal")


def click_scheme(page, i: int) -> None:
    if i < 0:  # before the first click: the per-layer-type rules are behind a toggle
        page.locator("[data-testid=stCheckbox]").filter(has=page.get_by_text("Show the rules per layer type")).click()
        wait_idle(page)
        return
    choose(page, "Conv2d weight", SCHEMES[i % 3])
    wait_idle(page)


CLICKS = {
    "preset": ("Weights", click_preset),
    "scheme": ("Weights", click_scheme),
    "lesson-step": ("Lesson", click_lesson_step),
}


def profile(url: str, click: str, n: int) -> dict:
    """Chromium's CPU profile (DevTools protocol) of n clicks, after one untimed one."""
    from playwright.sync_api import sync_playwright

    view, act = CLICKS[click]
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(f"{url}/?view={view}")
        wait_for_charts(page, 1)
        if click == "scheme":
            act(page, -1)
        act(page, 1)  # warm: the first of each kind loads its code
        time.sleep(0.5)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 200})
        cdp.send("Profiler.start")
        for i in range(n):
            act(page, i)
            time.sleep(0.3)  # whatever the click left for later (effects, a second draw) lands
        prof = cdp.send("Profiler.stop")["profile"]
        browser.close()
    return prof


def self_times(prof: dict) -> collections.Counter:
    """Microseconds sampled in each profile node itself (not its callees)."""
    t: collections.Counter = collections.Counter()
    for node, dt in zip(prof["samples"], prof["timeDeltas"]):
        t[node] += dt
    return t


def bundle(frame: dict) -> str:
    """A script's bundle name without its content hash ('PlotlyChart.D9Z0_fxz.js' -> 'PlotlyChart')."""
    name = frame["url"].rsplit("/", 1)[-1].split(".")[0]
    return name or frame["functionName"] or "(anonymous)"


def by_bundle(prof: dict) -> collections.Counter:
    nodes = {n["id"]: n for n in prof["nodes"]}
    out: collections.Counter = collections.Counter()
    for node, us in self_times(prof).items():
        out[bundle(nodes[node]["callFrame"])] += us
    return out


def by_function(prof: dict) -> collections.Counter:
    """Self time by (function, bundle): which code inside a bundle costs."""
    nodes = {n["id"]: n for n in prof["nodes"]}
    out: collections.Counter = collections.Counter()
    for node, us in self_times(prof).items():
        frame = nodes[node]["callFrame"]
        out[(frame["functionName"] or "(anonymous)", f"{bundle(frame)}:{frame.get('lineNumber', 0)}")] += us
    return out


def plotly_entries(prof: dict) -> collections.Counter:
    """Time in plotly.js's plot routine (inclusive), by the function that entered it.

    The routine is found by what it calls (the bundle is minified): a PlotlyChart frame that
    calls `e.drawData`, directly or one level down, and is not itself inside such a frame.
    With Streamlit 1.67's bundle, Plotly.react on a chart mounted afresh enters it through
    newPlot (caller `z`), and a second Plotly.react on the same chart (new objects for the
    same figure) enters it through `u.syncOrAsync`: two entries per click are two draws."""
    nodes = {n["id"]: n for n in prof["nodes"]}
    parent = {c: n["id"] for n in prof["nodes"] for c in n.get("children", [])}
    own = self_times(prof)
    total: dict[int, int] = {}

    def inclusive(nid: int) -> int:
        if nid not in total:
            total[nid] = own[nid] + sum(inclusive(c) for c in nodes[nid].get("children", []))
        return total[nid]

    def callees(nid: int) -> set[str]:
        kids = [nodes[c] for c in nodes[nid].get("children", [])]
        grand = [nodes[c] for k in kids for c in k.get("children", [])]
        return {k["callFrame"]["functionName"] for k in kids + grand}

    def name(nid: int) -> str:
        return nodes[nid]["callFrame"]["functionName"] or "(anonymous)"

    plots = {
        nid for nid, n in nodes.items() if bundle(n["callFrame"]) == "PlotlyChart" and "e.drawData" in callees(nid)
    }
    out: collections.Counter = collections.Counter()
    for nid in plots:
        up, inside = parent.get(nid), False
        while up is not None and not inside:
            inside, up = up in plots, parent.get(up)
        if not inside:
            out[f"{name(parent[nid])} -> {name(nid)}"] += inclusive(nid)
    return out


ALONE_JS = """async ([figs, n]) => {
    const el = document.createElement('div');
    el.style.width = '820px';
    document.body.appendChild(el);
    const cfg = {displayModeBar: false};
    await Plotly.newPlot(el, figs[0].data, figs[0].layout, cfg);
    const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
    const ts = [];
    for (let i = 0; i < n; i++) {
        const f = JSON.parse(JSON.stringify(figs[(i + 1) % 2]));  // new objects, as a new spec brings
        await frame();
        const t0 = performance.now();
        await Plotly.react(el, f.data, f.layout, cfg);
        el.getBoundingClientRect();  // the layout the draw caused, inside the figure
        ts.push(performance.now() - t0);
    }
    return ts.sort((a, b) => a - b)[Math.floor(n / 2)];
}"""


def plotly_alone(n: int) -> float:
    """Median ms of one Plotly.react of the Weights view's first page (6 panels) on a page that
    holds nothing but plotly.js (the copy the plotly package ships), alternating two presets."""
    import json

    import plotly
    from playwright.sync_api import sync_playwright

    import pinit
    from pinit.figures import histogram_grid_figure
    from pinit.report import inspect_model
    from pinit.setup import Setup

    figs = []
    for preset in PRESETS:
        report = inspect_model(Setup(plan=pinit.PRESETS[preset].plan), 40)
        fig = histogram_grid_figure(report.histograms[:6], cols=3).to_plotly_json()
        figs.append(json.loads(json.dumps(fig, default=lambda a: a.tolist())))  # numpy arrays as lists
        assert len(figs[-1]["data"]) == 18, "6 panels of 3 traces"
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.add_script_tag(path=str(Path(plotly.__file__).parent / "package_data" / "plotly.min.js"))
        ms = page.evaluate(ALONE_JS, [figs, n])
        browser.close()
    return ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--click", choices=sorted(CLICKS), default="preset")
    ap.add_argument("--clicks", type=int, default=8, help="profiled clicks (default 8)")
    ap.add_argument("--pinit-url", help="a pinit page already running at this loopback URL")
    ap.add_argument("--plotly-alone", action="store_true", help="also time plotly.js alone on the same figure")
    args = ap.parse_args()
    server = contextlib.nullcontext(args.pinit_url) if args.pinit_url else streamlit_server()
    with server as url:
        prof = profile(url, args.click, args.clicks)
    n = args.clicks
    print(f"{args.click}: {n} clicks at 1280x720, ms per click (CPU profile, sampled every 200 µs)")
    for name, us in by_bundle(prof).most_common(10):
        print(f"  {us / 1000 / n:7.1f}  {name}")
    print("the 12 functions with most self time, ms per click:")
    for (fn, where), us in by_function(prof).most_common(12):
        print(f"  {us / 1000 / n:7.1f}  {fn} ({where})")
    print("plotly.js plot routine, inclusive, ms per click, by caller -> routine (minified names):")
    for kind, us in plotly_entries(prof).most_common():
        print(f"  {us / 1000 / n:7.1f}  {kind}")
    if args.plotly_alone:
        print(f"plotly.js alone, one Plotly.react of the Weights figure (median of 15): {plotly_alone(15):.1f} ms")


if __name__ == "__main__":
    main()
