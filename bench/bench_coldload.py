"""A new student's first load: bytes on the wire and time to the first view, direct and through nginx.

Two measurements, in Chromium (Debian's, headless, Playwright), each interleaved (A, B, A, B, ...):

1. Cold load (an empty browser cache: a fresh browser context per sample) of pinit's page,
   straight from Streamlit against through the classroom command's nginx
   (``python -m deploy.replicas --replicas 1``: one replica, Streamlit's static files gzipped
   by nginx, deploy/nginx.conf.template). Both servers run side by side and were each visited
   once before (untimed), so the server's caches are warm: what differs is what the wire carries.
   Bytes: the sum of ``encodedDataLength`` of every HTTP response (Chrome DevTools protocol,
   Network.loadingFinished: the bytes received, headers included, compressed as sent), and the
   websocket's bytes from the navigation to the end. Time: bench/bench_latency.py's
   navigation figure (navigation start -> every visible chart drawn and the first run
   finished; its Tab does the waiting), on loopback, or with ``--mbps`` over a link of that
   bandwidth (Network.emulateNetworkConditions, 20 ms latency): a phone's share of a
   classroom Wi-Fi.
2. First visit after the server starts: a server started fresh, visited with an empty cache as
   soon as it answers its health check, against the bare Streamlit page (bench/bare_app.py)
   started and visited the same way. pinit as `pinit dashboard` starts it (the lesson's worker
   starts with the server, pinit.dashboard.launch) and, with ``--before``, also as plain
   ``python -m streamlit run app.py`` (the worker starts at the first visit: how it was before).

    python bench/bench_coldload.py                                # 5 cold loads each, 3 first visits each
    python bench/bench_coldload.py --mbps 20 --repeats 3          # over a 20 Mbit/s link
    python bench/bench_coldload.py --first-visits 3 --before --repeats 0   # only the first visits
    python bench/bench_coldload.py --first-opens 2 --first-visits 0 --repeats 0   # only the tabs' first opens

3. With ``--first-opens N``: a tab's first open in a fresh session, twice: a fresh context navigating
   to ``?view=<tab>`` (page load included), and a fresh context whose page opened on Weights
   clicking the tab (the tab's own wait), the tab's first run in that server process for the tabs
   pinit.dashboard.warm_views opens at start, on two fresh `pinit dashboard` servers per sample:
   one that opened them once at start (the default) and one with PINIT_WARM_VIEWS=off (how it
   was before), both measured after the first one's warm-up finished, interleaved tab by tab.

Loopback only: Chromium's proxy is a closed local port, and the servers listen on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_latency as bl  # the Tab that waits and measures

from deploy.replicas import classroom, find_nginx
from pinit import serve
from pinit.dashboard import warm_views
from tests.harness import CHROMIUM, CHROMIUM_FLAGS, chromium_available


def cold_sample(browser, url: str, args) -> dict:
    """One navigation of a fresh context (empty cache) to `url`: the Tab's figures plus HTTP bytes."""
    tab = bl.Tab(browser, bl.PINIT_CHARTS, args)
    try:
        cdp = tab.ctx.new_cdp_session(tab.page)
        received: list[float] = []
        cdp.on("Network.loadingFinished", lambda e: received.append(e.get("encodedDataLength", 0)))
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        if args.mbps:
            rate = args.mbps * 1e6 / 8
            cdp.send(
                "Network.emulateNetworkConditions",
                {"offline": False, "latency": 20, "downloadThroughput": rate, "uploadThroughput": rate},
            )
        r = tab.navigate(url)
        r["http_bytes"] = sum(received)
        r["requests"] = len(received)
        return r
    finally:
        tab.close()


def first_visit_sample(browser, kind: str, args) -> dict:
    """Start a server for `kind` (pinit / pinit-before / bare), visit it once cold at once, stop it."""
    script = ROOT / ("bench/bare_app.py" if kind == "bare" else "app.py")
    charts = bl.BARE_CHARTS if kind == "bare" else bl.PINIT_CHARTS
    worker = {"pinit": True, "pinit-before": False, "bare": False}[kind]
    with serve.running(script=script, cwd=ROOT, lesson_worker=worker, timeout=120) as (url, _):
        tab = bl.Tab(browser, charts, args)
        try:
            return tab.navigate(url)
        finally:
            tab.close()


def _opened_at_start(log: Path) -> int:
    return log.read_text(errors="replace").count("pinit: opened")


def first_open_samples(browser, args, views: tuple[str, ...], tmp: Path) -> dict[str, list[dict]]:
    """Two fresh servers, warmed and not: each view's first open on each, interleaved. {"warm/<view>": [...]}."""
    out: dict[str, list[dict]] = {}
    with contextlib.ExitStack() as stack:
        urls = {}
        for kind in ("before", "warm"):
            log_path = tmp / f"{kind}.log"
            env = {**os.environ, "PINIT_WARM_VIEWS": "off" if kind == "before" else ",".join(views)}
            log = stack.enter_context(log_path.open("w"))
            urls[kind], _ = stack.enter_context(serve.running(cwd=ROOT, env=env, log=log, timeout=120))
        deadline = time.monotonic() + 900
        while _opened_at_start(tmp / "warm.log") < len(views) and time.monotonic() < deadline:
            time.sleep(1.0)
        print((tmp / "warm.log").read_text(errors="replace").count("FINISHED_SUCCESSFULLY"), "warmed", file=sys.stderr)
        for i, view in enumerate(views):
            for kind in ("before", "warm") if i % 2 == 0 else ("warm", "before"):
                tab = bl.Tab(browser, bl.PINIT_CHARTS, args)
                try:
                    r = tab.navigate(f"{urls[kind]}/?{urlencode({'view': view})}")
                finally:
                    tab.close()
                r["load_average"] = os.getloadavg()[0]
                out.setdefault(f"{kind}/{view}", []).append(r)
                print(kind, view, {k: r.get(k) for k in ("ms", "error", "load_average")}, file=sys.stderr)
                # The same tab clicked in a session whose page is open on Weights: the tab's own wait.
                tab = bl.Tab(browser, bl.PINIT_CHARTS, args)
                try:
                    tab.navigate(f"{urls[kind]}/?view=Weights")
                    tab.quiet()
                    r = tab.settle(tab.page.get_by_role("tab", name=view, exact=True).first.click)
                finally:
                    tab.close()
                r["load_average"] = os.getloadavg()[0]
                out.setdefault(f"click {kind}/{view}", []).append(r)
                print("click", kind, view, {k: r.get(k) for k in ("ms", "error")}, file=sys.stderr)
    return out


def views_table(out: dict[str, list[dict]], prefix: str, heading: str) -> None:
    """One row per warmed view: the not-warmed and the warmed server's median (min–max)."""
    print(f"\n| {heading} | not warmed (ms) | warmed at start (ms) | n |")
    print("|---|---:|---:|---:|")
    for view in warm_views.WARM_VIEWS[1:]:
        a, b = out[f"{prefix} before/{view}"], out[f"{prefix} warm/{view}"]
        print(
            f"| {view} | {med(a, 'ms') or 0:,.0f} ({spread(a, 'ms')}) | "
            f"{med(b, 'ms') or 0:,.0f} ({spread(b, 'ms')}) | {sum('error' not in x for x in b)} / {len(b)} |"
        )


def med(samples: list[dict], key: str) -> float | None:
    values = [s[key] for s in samples if key in s and s[key] is not None and "error" not in s]
    return statistics.median(values) if values else None


def spread(samples: list[dict], key: str) -> str:
    values = [s[key] for s in samples if key in s and "error" not in s]
    return f"{min(values):,.0f}–{max(values):,.0f}" if values else "—"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__)
    ap.add_argument("--repeats", type=int, default=5, help="cold loads per server (default 5; 0 skips them)")
    ap.add_argument("--first-visits", type=int, default=3, help="fresh servers per kind (default 3; 0 skips)")
    ap.add_argument("--before", action="store_true", help="first visits also of plain `streamlit run app.py`")
    ap.add_argument("--mbps", type=float, default=0.0, help="emulate a link of this many Mbit/s (default: none)")
    ap.add_argument("--viewport", type=bl.viewport, default=(1280, 720), help="WIDTHxHEIGHT (default 1280x720)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per sample before 'did not finish'")
    ap.add_argument("--quiet", type=float, default=750.0, help="ms without changes that count as done")
    ap.add_argument("--first-opens", type=int, default=0, help="fresh server pairs for the tabs' first opens")
    ap.add_argument("--json", help="write every sample to this file")
    args = ap.parse_args()
    if not chromium_available():
        sys.exit(f"Chromium is not installed ({CHROMIUM}); `apt-get install chromium`")
    if args.repeats and find_nginx() is None:
        sys.exit("nginx is not installed (Debian: apt-get install -y nginx)")
    from playwright.sync_api import sync_playwright

    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "load_average_start": os.getloadavg()[0]}
    meta["command"] = " ".join(["python", "bench/bench_coldload.py", *sys.argv[1:]])
    print(f"load average {meta['load_average_start']:.2f}", file=sys.stderr)
    out: dict[str, list[dict]] = {}
    with contextlib.ExitStack() as stack:
        p = stack.enter_context(sync_playwright())
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, "--proxy-server=127.0.0.1:9"])
        stack.callback(browser.close)
        meta["chromium"] = browser.version
        if args.repeats:
            direct, _ = stack.enter_context(serve.running(script=ROOT / "app.py", cwd=ROOT, timeout=120))
            nginx = stack.enter_context(classroom(1, timeout=120)).url
            urls = {"direct": direct, "nginx": nginx}
            for url in urls.values():  # untimed: the servers' caches, as for every later student
                cold_sample(browser, url, args)
            out |= {"direct": [], "nginx": []}
            for i in range(args.repeats):
                for kind in list(urls)[i % 2 :] + list(urls)[: i % 2]:
                    out[kind].append(cold_sample(browser, urls[kind], args))
                    print(kind, {k: out[kind][-1].get(k) for k in ("ms", "http_bytes", "error")}, file=sys.stderr)
        kinds = ["pinit", *(["pinit-before"] if args.before else []), "bare"]
        for kind in kinds:
            out[f"first visit {kind}"] = []
        for i in range(args.first_visits):
            for kind in kinds[i % len(kinds) :] + kinds[: i % len(kinds)]:
                out[f"first visit {kind}"].append(first_visit_sample(browser, kind, args))
                print(kind, {k: out[f"first visit {kind}"][-1].get(k) for k in ("ms", "error")}, file=sys.stderr)
        views = warm_views.WARM_VIEWS[1:]  # Weights is the first visit's own tab, measured above
        for _ in range(args.first_opens):
            with tempfile.TemporaryDirectory() as tmp:
                for key, samples in first_open_samples(browser, args, views, Path(tmp)).items():
                    out.setdefault(f"first open {key}", []).extend(samples)
    meta["load_average_end"] = os.getloadavg()[0]

    link = f"{args.mbps:g} Mbit/s emulated" if args.mbps else "loopback"
    print(f"\n{meta['date']}, load average {meta['load_average_start']:.2f} -> {meta['load_average_end']:.2f}, ")
    print(f"Chromium {meta['chromium']}, {link}, medians (min–max)\n")
    if args.repeats:
        print("| a new student, empty cache | HTTP bytes (MB) | requests | websocket kB | first view drawn (ms) | n |")
        print("|---|---:|---:|---:|---:|---:|")
        for kind, label in (("direct", "straight from Streamlit"), ("nginx", "through nginx, gzip (classroom)")):
            s = out[kind]
            mb = med(s, "http_bytes")
            ms = med(s, "ms")
            ws = med(s, "ws_bytes")
            print(
                f"| {label} | {mb / 1e6 if mb else 0:.2f} | {med(s, 'requests') or 0:.0f} | "
                f"{(ws or 0) / 1e3:.1f} | {ms or 0:,.0f} ({spread(s, 'ms')}) | "
                f"{sum('error' not in x for x in s)} / {len(s)} |"
            )
        a, b = med(out["direct"], "http_bytes"), med(out["nginx"], "http_bytes")
        if a and b:
            print(f"\nbytes through nginx / direct: {b / a:.2f} (target: <= 3 MB per new student)")
    if args.first_visits:
        print("\n| first visit after the server starts | first view drawn (ms) | / bare | n |")
        print("|---|---:|---:|---:|")
        bare = med(out["first visit bare"], "ms")
        for kind in kinds:
            s = out[f"first visit {kind}"]
            ms = med(s, "ms")
            ratio = f"{ms / bare:.2f}x" if ms and bare else "—"
            print(f"| {kind} | {ms or 0:,.0f} ({spread(s, 'ms')}) | {ratio} | {sum('error' not in x for x in s)} |")
        errors = [x["error"] for s in out.values() for x in s if "error" in x]
        if errors:
            print("\nerrors: " + "; ".join(errors[:3]))
    if args.first_opens:
        views_table(out, "first open", "a tab's first open in a fresh session (a link to it)")
        views_table(out, "first open click", "a tab's first click in a fresh session (page open on Weights)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"meta": meta, "samples": out}, indent=1, default=str))


if __name__ == "__main__":
    main()
