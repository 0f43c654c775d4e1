"""Server work per re-initialize: pinit's path against a beginner's, for several models in one run.

pinit's path (what the page does per re-initialize): build the model, apply the plan,
describe it (parameter table + binned histograms), build the plotly figures and
serialize them to JSON. The beginner's path: the same model and init, then one
plotly express histogram of the raw values per parameter (bench/beginner_app.py).

For each model it prints the median of each stage over --repeats runs (both paths
interleaved, so both see the same machine load), the ratio, and the bytes per page:
pinit's figure JSON for one page (2 overview charts + the first page of histograms,
as ui/weights.py pages them) plus the parameter table as Streamlit's Arrow bytes,
against the beginner's figure JSON. Then a scale table (how each figure grows from
the first model), and with --memory the peak RSS of each path in a fresh process
against the model's bytes. --compare-threads times torch.set_num_threads(1) against
2, interleaved, alone and with concurrent sessions (threads, as Streamlit runs them).
No assertions: these machines are shared and noisy, so read the ratios.

    python bench/bench_reinit.py                                   # SimpleCNN, Kaiming preset
    python bench/bench_reinit.py --models SimpleCNN,WideMLP,VGGStyle --repeats 7 --memory
    python bench/bench_reinit.py --models SimpleCNN,VGGStyle --compare-threads --repeats 9
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import plotly.express as px
import torch

import pinit
from pinit.figures import histogram_figure, signal_gain_figure, std_overview_figure
from pinit.stats import describe

try:  # the page's own page size, so "bytes per page" is what a page really sends
    from pinit.dashboard.weights import PAGE_SIZE
except Exception:
    PAGE_SIZE = None

try:
    from streamlit.dataframe_util import convert_pandas_df_to_arrow_bytes
except Exception:
    convert_pandas_df_to_arrow_bytes = None

MB = 1e6


# --- the two paths ---------------------------------------------------------------------


def pinit_page(model_name: str, plan: dict, seed: int, bins: int) -> tuple[dict[str, float], dict[str, int]]:
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    model = pinit.build_model(model_name, seed=seed)
    t1 = time.perf_counter()
    pinit.apply_plan(model, plan, seed)
    t2 = time.perf_counter()
    table, hists = describe(model, plan, bins)
    t3 = time.perf_counter()
    del model
    overview = [std_overview_figure(table), signal_gain_figure(table)]
    shown = hists if PAGE_SIZE is None else hists[:PAGE_SIZE]
    page = sum(len(f.to_json()) for f in overview) + sum(len(histogram_figure(h).to_json()) for h in shown)
    t4 = time.perf_counter()
    t.update({"build": t1 - t0, "apply_plan": t2 - t1, "describe": t3 - t2, "figures+json": t4 - t3})
    t["re-init+stats"] = t3 - t0
    t["total"] = t4 - t0
    nbytes = {"figures on the page": page, "histograms": len(shown), "tensors": len(hists)}
    if convert_pandas_df_to_arrow_bytes is not None:
        nbytes["table (Arrow)"] = len(convert_pandas_df_to_arrow_bytes(table))
    return t, nbytes


def beginner_page(model_name: str, plan: dict, seed: int) -> tuple[dict[str, float], dict[str, int]]:
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    model = pinit.build_model(model_name, seed=seed)
    t1 = time.perf_counter()
    pinit.apply_plan(model, plan, seed)
    t2 = time.perf_counter()
    payload = 0
    for n, p in model.named_parameters():  # one at a time, as st.plotly_chart would send them
        payload += len(px.histogram(x=p.detach().flatten().numpy(), title=n).to_json())
    t3 = time.perf_counter()
    t.update({"build": t1 - t0, "apply_plan": t2 - t1, "figures+json": t3 - t2})
    t["re-init+stats"] = t2 - t0
    t["total"] = t3 - t0
    return t, {"figures on the page": payload}


def in_script_thread(fn, *args):
    """Run fn(*args) in a new thread, as Streamlit runs each script run (ScriptRunner.scriptThread).

    It matters: on a loaded 2-core machine torch's OpenMP team of the *main* thread
    stalls for milliseconds on every small parallel region (histc on an 864-value
    tensor: 6 ms with 2 threads, 0.01 ms with 1), which a fresh thread does not show.
    """
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = fn(*args)
        except BaseException as e:
            out["error"] = e

    th = threading.Thread(target=run, name="bench.scriptThread")
    th.start()
    th.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def model_size(name: str) -> tuple[int, int, int]:
    """(parameters, tensors, bytes) from the meta device: nothing allocated."""
    with torch.device("meta"):
        m = pinit.build_model(name)
    ps = list(m.parameters())
    return sum(p.numel() for p in ps), len(ps), sum(p.numel() * p.element_size() for p in ps)


# --- memory: one fresh process per (model, path) -------------------------------------------


def _rss_kb(pid: int | str = "self", field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def memory_child(model_name: str, path: str, preset: str, bins: int) -> None:
    """Run in a fresh process: warm up on SimpleCNN, take the base RSS, reset the peak, run once."""
    plan = pinit.PRESETS[preset].plan
    run = (lambda m: pinit_page(m, plan, 1, bins)) if path == "pinit" else (lambda m: beginner_page(m, plan, 1))
    in_script_thread(run, "SimpleCNN")  # imports, plotly's validators, allocator pools: all part of the base
    gc.collect()
    base = _rss_kb()
    with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM (peak RSS) to the current RSS
        f.write("5")
    t0 = time.perf_counter()
    in_script_thread(run, model_name)
    elapsed = time.perf_counter() - t0
    print(json.dumps({"base_kb": base, "peak_kb": _rss_kb(field="VmHWM"), "seconds": elapsed}))


def measure_memory(model_name: str, path: str, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--memory-child",
        model_name,
        path,
        "--preset",
        args.preset,
        "--bins",
        str(args.bins),
        "--threads",
        str(args.threads),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    limit_kb = args.memory_limit_gb * 1e6
    deadline = time.monotonic() + args.timeout
    peak_seen = 0
    while proc.poll() is None:  # a watchdog: the machine is shared
        try:
            peak_seen = max(peak_seen, _rss_kb(proc.pid))
        except (FileNotFoundError, ProcessLookupError):
            break
        if peak_seen > limit_kb or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            why = f"over {args.memory_limit_gb} GB" if peak_seen > limit_kb else f"over {args.timeout:.0f} s"
            return {"error": f"did not finish ({why}; killed)", "peak_kb": peak_seen}
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {err.strip().splitlines()[-1] if err.strip() else ''}"}
    return json.loads(out.strip().splitlines()[-1])


# --- threads: 1 against 2 --------------------------------------------------------------------


def concurrent_round(model_name: str, plan: dict, sessions: int, bins: int, seed0: int) -> tuple[float, list[float]]:
    """`sessions` re-inits at once, each in a new thread (as Streamlit runs each script run)."""
    times: list[float] = [0.0] * sessions
    barrier = threading.Barrier(sessions + 1)

    def work(i: int) -> None:
        barrier.wait()
        t0 = time.perf_counter()
        pinit_page(model_name, plan, seed0 + i, bins)
        times[i] = time.perf_counter() - t0

    threads = [threading.Thread(target=work, args=(i,)) for i in range(sessions)]
    for th in threads:
        th.start()
    barrier.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    return time.perf_counter() - t0, times


def compare_threads(models: list[str], plan: dict, args) -> None:
    print("\n## torch.set_num_threads(1) against 2 (pinit's path, interleaved in one process)\n")
    print(
        "Each run in a fresh thread, as Streamlit runs scripts; "
        "'main' rows run in the main thread (a CLI or notebook).\n"
    )
    before = torch.get_num_threads()
    print("| model | stage | 1 thread (ms) | 2 threads (ms) | 1/2 |")
    print("|---|---|---:|---:|---:|")
    for name in models:
        runs: dict[tuple[str, int], list] = {(w, n): [] for w in ("thread", "main") for n in (1, 2)}
        for i in range(args.repeats):
            for n in (1, 2) if i % 2 == 0 else (2, 1):
                torch.set_num_threads(n)
                runs[("thread", n)].append(in_script_thread(pinit_page, name, plan, 100 + i, args.bins)[0])
                runs[("main", n)].append(pinit_page(name, plan, 100 + i, args.bins)[0])
        for where in ("thread", "main"):
            m1, m2 = medians(runs[(where, 1)]), medians(runs[(where, 2)])
            for k in ("build", "apply_plan", "describe", "figures+json", "total"):
                if where == "main" and k != "describe" and k != "total":
                    continue
                label = k if where == "thread" else f"{k} (main thread)"
                print(f"| {name} | {label} | {m1[k] * 1e3:.1f} | {m2[k] * 1e3:.1f} | {m1[k] / m2[k]:.2f} |")
    name = args.concurrent_model
    print(
        f"\nConcurrent sessions ({name}; each session one re-initialize, in its own thread; "
        f"median over {args.repeats} rounds):\n"
    )
    print("| sessions | threads | per re-init p50 (ms) | max (ms) | round wall (ms) | re-inits/s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for sessions in args.sessions:
        res: dict[int, list] = {1: [], 2: []}
        for i in range(args.repeats):
            for n in (1, 2) if i % 2 == 0 else (2, 1):
                torch.set_num_threads(n)
                res[n].append(concurrent_round(name, plan, sessions, args.bins, 1000 * i))
        for n in (1, 2):
            per = statistics.median(t for _, ts in res[n] for t in ts)
            worst = statistics.median(max(ts) for _, ts in res[n])
            wall = statistics.median(w for w, _ in res[n])
            print(
                f"| {sessions} | {n} | {per * 1e3:.0f} | {worst * 1e3:.0f} | {wall * 1e3:.0f} | {sessions / wall:.1f} |"
            )
    torch.set_num_threads(before)


# --- a proposed change, measured: skip the constructor's draw when the plan overwrites everything ---


def skip_default_draw(models: list[str], plan: dict, args) -> None:
    """build_model(seed) draws PyTorch's default init for every parameter, then apply_plan
    overwrites it. When the plan reaches every parameter (every preset except the article's
    recipe on Linear biases), building on the meta device and `to_empty` gives bit-identical
    weights without that draw. Times both, interleaved, and checks the tables are equal."""
    print("\n## Proposed: build on the meta device + to_empty when the plan reaches every parameter\n")
    print("| model | build+apply+describe now (ms) | proposed (ms) | saved | identical table |")
    print("|---|---:|---:|---:|---|")

    def now(name: str, seed: int):
        m = pinit.build_model(name, seed=seed)
        pinit.apply_plan(m, plan, seed)
        return describe(m, plan, args.bins)[0]

    def proposed(name: str, seed: int):
        with torch.device("meta"):
            m = pinit.build_model(name)
        m = m.to_empty(device="cpu")
        pinit.apply_plan(m, plan, seed)
        return describe(m, plan, args.bins)[0]

    for name in models:
        with torch.device("meta"):
            reached = all(a.rule is not None for a in pinit.assignments(pinit.build_model(name), plan))
        if not reached:
            print(f"| {name} | — | — | — | plan leaves some parameters untouched: not applicable |")
            continue
        a, b, same = [], [], True
        for i in range(args.repeats):
            for fn, out in ((now, a), (proposed, b)) if i % 2 == 0 else ((proposed, b), (now, a)):
                t0 = time.perf_counter()
                table = in_script_thread(fn, name, i)
                out.append((time.perf_counter() - t0, table))
            same &= a[-1][1].equals(b[-1][1])
        ma, mb = statistics.median(t for t, _ in a), statistics.median(t for t, _ in b)
        print(f"| {name} | {ma * 1e3:,.0f} | {mb * 1e3:,.0f} | {1 - mb / ma:.0%} | {same} |")


# --- main ------------------------------------------------------------------------------------


def fmt_ms(x: float | None) -> str:
    return "—" if x is None else f"{x * 1e3:,.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="SimpleCNN", help="comma-separated names from pinit.MODELS")
    ap.add_argument("--model", help="one model (the old flag; same as --models NAME)")
    ap.add_argument("--preset", default="Kaiming (He)", choices=list(pinit.PRESETS))
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--bins", type=int, default=40)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch.set_num_threads for the main tables (default 1, as app.py sets; 0: torch's own)",
    )
    ap.add_argument(
        "--beginner-budget",
        type=float,
        default=120.0,
        help="stop repeating the beginner's path for a model once its runs took this many seconds",
    )
    ap.add_argument("--memory", action="store_true", help="peak RSS of each path, one fresh process each")
    ap.add_argument("--memory-limit-gb", type=float, default=8.0, help="kill a memory child above this RSS")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per memory child")
    ap.add_argument("--compare-threads", action="store_true", help="time 1 against 2 torch threads")
    ap.add_argument(
        "--sessions",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[2, 4],
        help="concurrent sessions for --compare-threads (default 2,4)",
    )
    ap.add_argument("--concurrent-model", default="SimpleCNN")
    ap.add_argument(
        "--no-tables",
        action="store_true",
        help="skip the pinit/beginner tables (run only --memory, --skip-default-draw, --compare-threads)",
    )
    ap.add_argument(
        "--skip-default-draw",
        action="store_true",
        help="also time the proposed meta-device build for plans that reach every parameter",
    )
    ap.add_argument("--memory-child", nargs=2, metavar=("MODEL", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(*args.memory_child, args.preset, args.bins)
        return
    models = [args.model] if args.model else [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in pinit.MODELS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {', '.join(pinit.MODELS)}")
    plan = pinit.PRESETS[args.preset].plan
    print(
        f"preset {args.preset!r}, {args.repeats} runs per path (interleaved, each in a fresh thread as Streamlit "
        f"runs scripts), torch threads {torch.get_num_threads()}, "
        f"page size {PAGE_SIZE or 'all'} histograms, load average {os.getloadavg()[0]:.2f}"
    )
    in_script_thread(pinit_page, "SimpleCNN", plan, 0, args.bins)  # warm-up: imports, allocator, plotly validators
    in_script_thread(beginner_page, "SimpleCNN", plan, 0)

    summary = {}
    for name in [] if args.no_tables else models:
        n_params, n_tensors, n_bytes = model_size(name)
        ours, theirs = [], []
        spent = 0.0
        for i in range(args.repeats):  # interleaved, so both see the same machine load
            ours.append(in_script_thread(pinit_page, name, plan, i, args.bins))
            gc.collect()
            if spent < args.beginner_budget:
                t0 = time.perf_counter()
                theirs.append(in_script_thread(beginner_page, name, plan, i))
                spent += time.perf_counter() - t0
                gc.collect()
        mo, mt = medians([r for r, _ in ours]), medians([r for r, _ in theirs])
        bo, bt = ours[0][1], theirs[0][1]
        page_bytes = bo["figures on the page"] + bo.get("table (Arrow)", 0)
        summary[name] = dict(
            params=n_params,
            tensors=n_tensors,
            bytes=n_bytes,
            ours=mo,
            theirs=mt,
            page=page_bytes,
            fig=bo["figures on the page"],
            table=bo.get("table (Arrow)"),
            hists=bo["histograms"],
            beginner=bt["figures on the page"],
            n_theirs=len(theirs),
        )
        print(
            f"\n## {name}: {n_params:,} parameters in {n_tensors} tensors, {n_bytes / 2**20:.0f} MiB "
            f"(pinit {len(ours)} runs, beginner {len(theirs)} runs)\n"
        )
        print("| stage | pinit (ms) | beginner (ms) |")
        print("|---|---:|---:|")
        for k in ("build", "apply_plan", "describe", "figures+json", "re-init+stats", "total"):
            print(f"| {k} | {fmt_ms(mo[k])} | {fmt_ms(mt.get(k))} |")
        print(f"\nserver time ratio pinit/beginner: {mo['total'] / mt['total']:.3f}")
        print(
            f"bytes per page: pinit {page_bytes / 1e3:,.1f} kB ({bo['figures on the page'] / 1e3:,.1f} kB figures: "
            f"2 overviews + {bo['histograms']} of {bo['tensors']} histograms; "
            f"{(bo.get('table (Arrow)') or 0) / 1e3:,.1f} kB table), beginner {bt['figures on the page'] / MB:,.2f} MB "
            f"figure JSON; ratio {page_bytes / bt['figures on the page']:.4f}"
        )

    if len(summary) > 1:
        first = summary[models[0]]
        print(f"\n## Scale (growth against {models[0]})\n")
        print(
            "| model | params | tensors | pinit total (ms) | growth | re-init+stats (ms) "
            "| pinit bytes/page (kB) | growth "
            "| beginner total (ms) | growth | beginner bytes (MB) | growth |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in models:
            s = summary[name]
            print(
                f"| {name} | {s['params']:,} ({s['params'] / first['params']:.0f}x) | {s['tensors']} "
                f"| {fmt_ms(s['ours']['total'])} | {s['ours']['total'] / first['ours']['total']:.1f}x "
                f"| {fmt_ms(s['ours']['re-init+stats'])} "
                f"| {s['page'] / 1e3:,.1f} | {s['page'] / first['page']:.2f}x "
                f"| {fmt_ms(s['theirs']['total'])} | {s['theirs']['total'] / first['theirs']['total']:.1f}x "
                f"| {s['beginner'] / MB:,.2f} | {s['beginner'] / first['beginner']:.1f}x |"
            )

    if args.memory:
        print("\n## Peak memory (fresh process per path; base = RSS after imports and a SimpleCNN warm-up)\n")
        print(
            "| model | model bytes (MiB) | path | base (MiB) | peak - base (MiB) "
            "| (peak - base) / model bytes | time (s) |"
        )
        print("|---|---:|---|---:|---:|---:|---:|")
        for name in models:
            n_bytes = model_size(name)[2]
            for path in ("pinit", "beginner"):
                r = measure_memory(name, path, args)
                if "error" in r:
                    print(
                        f"| {name} | {n_bytes / 2**20:,.0f} | {path} | — | {r.get('peak_kb', 0) / 1024:,.0f}+ | "
                        f"{r['error']} | — |"
                    )
                    continue
                extra = (r["peak_kb"] - r["base_kb"]) * 1024
                print(
                    f"| {name} | {n_bytes / 2**20:,.0f} | {path} | {r['base_kb'] / 1024:,.0f} | {extra / 2**20:,.0f} "
                    f"| {extra / n_bytes:.2f} | {r['seconds']:.1f} |"
                )

    if args.skip_default_draw:
        skip_default_draw(models, plan, args)
    if args.compare_threads:
        compare_threads(models, plan, args)


if __name__ == "__main__":
    main()
