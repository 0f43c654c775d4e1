"""The "Through training" view's costs: recording, payload, and a slider step in Chromium against a bare page.

1. Recording: SimpleCNN, 200 SGD steps of the Train tab's run, a histogram of every parameter
   every 10 steps, on one core (torch.set_num_threads(1)): weight_history against the same
   200 steps of plain pinit.lab.train.train, interleaved (A, B, A, B, ...), medians.
2. Payload: the JSON of the figures the view sends for the default pair (Article recipe,
   Kaiming) at 100 and 200 steps: the ridgeline of each parameter in both modes, and the
   update-ratio chart (what a view shows at once: one ridgeline + the ratios).
3. Slider: a click on the ridgeline's step slider until the chart is redrawn, against a pick
   on a bare Streamlit page (bench/bare_app.py) until its written value changed, interleaved
   in one Chromium, medians and the ratio. Clock: the page's performance.now(); start: the
   trusted pointerdown's timeStamp; end: the last DOM change inside the chart (MutationObserver),
   moved to the end of the frame that painted it (requestAnimationFrame + a posted message),
   read after 400 ms of quiet. The view's chart needs no server: the websocket frames sent
   during the slider clicks are counted and printed (0 expected).

    python bench/bench_history.py                 # all three
    python bench/bench_history.py --only record,payload --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

import pinit
from pinit.lab.history import training_config, weight_history
from pinit.lab.history_figures import ridgeline_figure, update_ratio_figure
from pinit.lab.train import train
from pinit.models import build_model
from pinit.plan import apply_plan

A, B = "Article recipe", "Kaiming (He)"


def record(repeats: int) -> None:
    torch.set_num_threads(1)
    cfg = training_config()
    data = cfg["data"]()
    (images, labels), _ = data
    plan = pinit.PRESETS[B].plan
    hist, plain = [], []
    for i in range(repeats):
        for which in ("history", "plain") if i % 2 == 0 else ("plain", "history"):
            t = time.perf_counter()
            if which == "history":
                h = weight_history("SimpleCNN", plan, 0, 200, 10, data=data)
                hist.append(time.perf_counter() - t)
                assert h.steps_done == 200
            else:
                m = build_model("SimpleCNN", seed=0)
                apply_plan(m, plan, 0)
                train(m, images, labels, steps=200, batch_size=cfg["batch_size"], lr=cfg["lr"], seed=0)
                plain.append(time.perf_counter() - t)
    mh, mp = statistics.median(hist), statistics.median(plain)
    print(f"record: SimpleCNN, {B}, 200 steps, every 10, 1 thread, {repeats} runs each, interleaved")
    print(f"  weight_history  median {mh:.2f} s  (runs {', '.join(f'{x:.2f}' for x in hist)})  target <= 15 s")
    print(f"  plain train     median {mp:.2f} s  (runs {', '.join(f'{x:.2f}' for x in plain)})")
    print(f"  recording overhead {mh / mp:.2f}x plain training")


def payload() -> None:
    torch.set_num_threads(1)
    data = training_config()["data"]()
    for steps in (100, 200):
        runs = [
            (f"{k}: {n}", weight_history("SimpleCNN", pinit.PRESETS[n].plan, 0, steps, steps // 20, data=data))
            for k, n in (("A", A), ("B", B))
        ]
        ratio = len(update_ratio_figure(runs).to_json())
        worst = 0
        for name in runs[0][1].names:
            for mode in ("offset", "overlay"):
                worst = max(worst, len(ridgeline_figure(runs, name, mode).to_json()))
        default = len(ridgeline_figure(runs, "layer4.fc1.weight", "offset").to_json())
        print(
            f"payload at {steps} steps: fc1 ridgeline {default / 1024:.0f} KB, largest ridgeline (any parameter, "
            f"either mode) {worst / 1024:.0f} KB, update ratios {ratio / 1024:.0f} KB; the view at once "
            f"<= {(worst + ratio) / 1024:.0f} KB (target <= 1024 KB)"
        )


STAMP_JS = """
() => {
  window.__last = 0;
  const mark = () => requestAnimationFrame(() => { const ch = new MessageChannel();
      ch.port1.onmessage = () => { window.__last = performance.now(); }; ch.port2.postMessage(0); });
  const obs = new MutationObserver(mark);
  for (const el of document.querySelectorAll('[data-testid=stPlotlyChart], .st-key-written'))
    obs.observe(el, {subtree: true, childList: true, attributes: true, characterData: true});
  window.__start = null;
  document.addEventListener('pointerdown', e => {
    if (e.isTrusted && window.__start === null) window.__start = e.timeStamp;
  }, {capture: true});
}
"""


def _measure(page, act) -> float:
    page.evaluate("() => { window.__start = null; window.__last = 0; }")
    act()
    quiet_since, last = time.perf_counter(), 0.0
    while time.perf_counter() - quiet_since < 0.4:
        page.wait_for_timeout(50)
        now = page.evaluate("() => window.__last")
        if now != last:
            last, quiet_since = now, time.perf_counter()
    start = page.evaluate("() => window.__start")
    if start is None or last < start:  # the press or the change was not seen: not a sample
        return float("nan")
    return last - start


def slider(repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    from tests.harness import launch_chromium, streamlit_server, wait_for_charts, wait_idle

    with (
        streamlit_server() as url,
        streamlit_server("bench/bare_app.py") as bare_url,
        sync_playwright() as p,
    ):
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        sent: list[int] = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda _: sent.append(1)))
        page.goto(f"{url}/?view=Through%20training&present=1")
        page.get_by_role("button", name="Train both").wait_for(timeout=90_000)
        wait_idle(page)
        page.get_by_role("button", name="Train both").click()
        wait_for_charts(page, 2, timeout_ms=900_000)
        page.locator("[data-testid=stPlotlyChart]").first.scroll_into_view_if_needed()
        page.evaluate(STAMP_JS)
        rail = page.locator("[data-testid=stPlotlyChart] .slider-rail-touch-rect").first
        box = rail.bounding_box()
        assert box is not None

        bare = browser.new_page(viewport={"width": 1280, "height": 900})
        bare.goto(bare_url)
        bare.locator(".st-key-written").wait_for()
        wait_idle(bare)
        bare.evaluate(STAMP_JS)
        options = ["beta", "alpha"]

        def slide(i: int) -> float:
            x = box["x"] + box["width"] * (0.25 if i % 2 == 0 else 0.75)
            return _measure(page, lambda: page.mouse.click(x, box["y"] + box["height"] / 2))

        def pick(i: int) -> float:
            bare.locator("[data-testid=stSelectbox]").first.click()  # untimed: opening the list
            option = bare.get_by_role("option", name=options[i % 2], exact=True)
            option.wait_for()
            t = _measure(bare, option.click)
            wait_idle(bare)
            return t

        slide(0), pick(0)  # warm-up
        sent.clear()
        ours, floor = [], []
        for i in range(1, repeats + 1):
            if i % 2:
                ours.append(slide(i))
                floor.append(pick(i))
            else:
                floor.append(pick(i))
                ours.append(slide(i))
        bad = sum(x != x for x in ours + floor)
        ours, floor = [x for x in ours if x == x], [x for x in floor if x == x]
        mo, mf = statistics.median(ours), statistics.median(floor)
        print(f"slider, Chromium 1280x900, presenter mode, {repeats} interleaved samples each:")
        print(f"  slider step -> chart redrawn  median {mo:.0f} ms  ({', '.join(f'{x:.0f}' for x in ours)})")
        print(f"  bare page pick -> value shown median {mf:.0f} ms  ({', '.join(f'{x:.0f}' for x in floor)})")
        print(
            f"  ratio {mo / mf:.2f}x the bare round trip (target <= 2x); websocket frames sent by the view's "
            f"page during the slider samples: {len(sent)}; samples dropped (press or change not seen): {bad}"
        )
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="record,payload,slider")
    ap.add_argument("--repeats", type=int, default=3, help="runs for record; slider samples are 4x this")
    args = ap.parse_args()
    parts = args.only.split(",")
    if "record" in parts:
        record(args.repeats)
    if "payload" in parts:
        payload()
    if "slider" in parts:
        slider(4 * args.repeats)


if __name__ == "__main__":
    main()
