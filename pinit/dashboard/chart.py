"""A plotly chart that stays on the page and draws each new figure once: `chart(container, fig, key)`.

Streamlit's own chart element (st.plotly_chart) mounts a new chart for every new figure and
draws it twice: a new plot, then a replot of a deep copy its mount-time theme effect makes
(bench/LATENCY.md, "Where the rest of a click goes"). This element is a Streamlit custom
component (st.components.v2: inline JavaScript, no frontend build) that keeps one plotly
chart per key alive across reruns and applies each new figure with one `Plotly.react`, which
updates the traces and axes in place; a rerun that sends the same figure draws nothing.

plotly.js is loaded once per page through Streamlit's component file route: the cartesian
partial bundle that plotly.js publishes (npm plotly.js-cartesian-dist-min, MIT, shipped in
static/), 1.5 MB where the full bundle in the plotly package is 4.7 MB, which a browser takes
about twice as long to evaluate: a student's first open waits for it, and thirty phones download
it. It holds every trace type pinit draws (scatter, bar, heatmap, image among its twelve); a
figure with another type is drawn by st.plotly_chart, and when the installed plotly package
was built for another plotly.js version than the bundle, the package's full bundle is served.
The chart element carries the test id of Streamlit's chart (stPlotlyChart), so the page's
charts are found the same way whichever element drew them; `window.__pinitChartDraws` counts the draws
and `window.__pinitDrawOrder` names them in the order drawn (for the tests).

A chart on screen, or within half a screen of it, draws as soon as it arrives; one further down
the page draws when it scrolls near or when the page is next idle (IntersectionObserver, then
requestIdleCallback): a tab's first open waits for the charts a person sees, not for the twelve
below the fold (Compare draws fourteen).

A chart is a picture to a screen reader: the element is role="img" with an accessible name
(aria-label), its title and subtitle by default (they carry the chart's key numbers), or the
words the caller gives (WCAG 1.1.1, non-text content; the WAI-ARIA img role). A chart that
shows plotly's mode bar (zoom, download) holds buttons, which an img must not: it is
role="figure", with the same name.
"""

from __future__ import annotations

import contextlib
import functools
import html
import importlib.util
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st
import streamlit.components.v1 as components_v1

from pinit.style import for_phone

from .sidebar import is_phone

__all__ = ["CARTESIAN_TRACES", "PARTIAL", "chart", "chart_name", "plotlyjs_version", "trace_types"]

_PLOTLY_SPEC = importlib.util.find_spec("plotly")  # its file only: plotly itself stays in the figure modules
assert _PLOTLY_SPEC is not None and _PLOTLY_SPEC.origin is not None, "plotly is a dependency of pinit"
_PLOTLY_DIR = Path(_PLOTLY_SPEC.origin).with_name("package_data")
_STATIC = Path(__file__).with_name("static")
CARTESIAN_JS = "plotly-cartesian.min.js"
# The trace types of plotly.js's cartesian partial bundle (its package's README).
CARTESIAN_TRACES = frozenset(
    {"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour", "image", "pie"}
    | {"scatter", "scatterternary", "violin"}
)
_VERSION = re.compile(rb"plotly\.js(?: \([a-z -]+\))? v(\d+\.\d+\.\d+)")


def plotlyjs_version(path: Path) -> str | None:
    """The plotly.js version a bundle's licence header names ("plotly.js v4.1.1", "plotly.js (cartesian -
    minified) v4.1.1"), or None."""
    try:
        with path.open("rb") as f:
            m = _VERSION.search(f.read(300))
    except OSError:
        return None
    return m.group(1).decode() if m else None


# The partial bundle only when it is the plotly.js the installed plotly package writes figures for.
PARTIAL = plotlyjs_version(_STATIC / CARTESIAN_JS) == plotlyjs_version(_PLOTLY_DIR / "plotly.min.js") is not None
_BUNDLE_DIR, _BUNDLE = (_STATIC, CARTESIAN_JS) if PARTIAL else (_PLOTLY_DIR, "plotly.min.js")
# A v1 component declared only for its file route: /component/<name>/<bundle>.
_PLOTLY_FILES = components_v1.declare_component("plotlyjs", path=str(_BUNDLE_DIR))

_JS = """
export default function (component) {
  const { data, parentElement } = component;
  const src = new URL("component/%(name)s/%(bundle)s", document.baseURI).href;
  window.__pinitPlotly = window.__pinitPlotly || new Promise((resolve, reject) => {
    if (window.Plotly) return resolve(window.Plotly);
    const s = document.createElement("script");
    s.src = src;
    s.onload = () => resolve(window.Plotly);
    s.onerror = () => reject(new Error("plotly.js did not load from " + src));
    document.head.appendChild(s);
  });
  const draw = (div, spec, config) => window.__pinitPlotly.then(Plotly => {
    const fig = JSON.parse(spec);
    const cfg = Object.assign({responsive: true}, JSON.parse(config));
    return Plotly.react(div, fig.data || [], fig.layout || {}, cfg).then(() => {
      if (fig.frames && fig.frames.length) return Plotly.addFrames(div, fig.frames);
    });
  });
  const newDiv = () => {
    const div = document.createElement("div");
    div.className = "pinit-chart";
    parentElement.appendChild(div);
    return div;
  };
  // A picture to a screen reader (role img, named by its title and numbers); a chart with plotly's
  // mode bar holds buttons, which an img must not: it is a figure, named the same way.
  const role = JSON.parse(data.config).displayModeBar === false ? "img" : "figure";
  const prefetch = data.prefetch || [];
  const deck = parentElement.__pinitDeck;
  if (!prefetch.length && !deck) {
    // One chart per key: a new figure is one Plotly.react on the same chart.
    let el = parentElement.querySelector("[data-testid=stPlotlyChart]");
    if (!el) {
      el = newDiv();
      el.setAttribute("data-testid", "stPlotlyChart");
    }
    el.setAttribute("role", role);
    el.setAttribute("aria-label", data.label);
    if (el.__pinitSpec === data.spec && el.__pinitConfig === data.config) return;
    el.__pinitSpec = data.spec;
    el.__pinitConfig = data.config;
    // On screen (or half a screen from it) it draws at once; further down the page, when it
    // scrolls near or the page is idle, one chart per idle period: a tab's first open waits for
    // the charts a person sees, and a click soon after it waits for one draw at most, not for
    // the twelve below the fold (Compare has fourteen). The latest figure is drawn, once.
    const wake = () => {
      el.__pinitWake = null;
      return window.__pinitPlotly.then(() => {
        if (el.__pinitDrawnId === el.__pinitSpec + "\\n" + el.__pinitConfig) return;
        el.__pinitDrawnId = el.__pinitSpec + "\\n" + el.__pinitConfig;
        window.__pinitChartDraws = (window.__pinitChartDraws || 0) + 1;
        (window.__pinitDrawOrder = window.__pinitDrawOrder || []).push(el.getAttribute("aria-label"));
        return draw(el, el.__pinitSpec, el.__pinitConfig);
      });
    };
    if (el.__pinitWake) return;  // a draw is already waiting: it takes the newest figure
    el.__pinitWake = wake;
    const lazy = window.__pinitLazy = window.__pinitLazy || (() => {
      const near = new IntersectionObserver(entries => {
        for (const e of entries) {
          if (!e.isIntersecting) continue;
          near.unobserve(e.target);
          setTimeout(() => e.target.__pinitWake && e.target.__pinitWake(), 0);  // a task each: input between draws
        }
      }, {rootMargin: "50%% 0px"});
      const idle = window.requestIdleCallback || (f => setTimeout(f, 50));
      const queue = [];
      let pumping = false;
      const pump = () => {
        const next = queue.shift();
        if (!next) { pumping = false; return; }
        near.unobserve(next);
        const on = () => idle(pump, {timeout: 3000});  // after a failed draw too: the rest still draw
        Promise.resolve(next.__pinitWake && next.__pinitWake()).then(on, on);
      };
      return div => {
        near.observe(div);
        queue.push(div);
        if (!pumping) {
          pumping = true;
          setTimeout(() => idle(pump, {timeout: 3000}), 300);
        }
      };
    })();
    lazy(el);
    return;
  }
  // A deck: one chart per figure (the figures the server names as the likely next ones are
  // drawn hidden while the page is idle), and showing a figure drawn before is a change of
  // which chart is visible, not a draw. At most DECK charts per key, the least recently shown
  // dropped first.
  const DECK = 8;
  const cards = parentElement.__pinitDeck = deck || new Map();
  parentElement.style.position = "relative";
  parentElement.style.overflow = "hidden";  // a hidden chart taller than the one shown takes no room
  const old = parentElement.querySelector("[data-testid=stPlotlyChart]");
  if (old && !old.__pinitCard) {  // the chart of this key before it became a deck
    old.__pinitCard = old.__pinitSpec + "\\n" + old.__pinitConfig;
    cards.set(old.__pinitCard, old);
  }
  const card = (spec, shown) => {
    const id = spec + "\\n" + data.config;
    let div = cards.get(id);
    if (div) {
      cards.delete(id);  // most recently used last
    } else {
      div = newDiv();
      div.__pinitCard = id;
      if (shown) window.__pinitChartDraws = (window.__pinitChartDraws || 0) + 1;
      else window.__pinitChartPrefetches = (window.__pinitChartPrefetches || 0) + 1;
      div.__pinitDrawn = draw(div, spec, data.config);
    }
    cards.set(id, div);
    return div;
  };
  const shown = parentElement.__pinitShown = card(data.spec, true);
  for (const div of cards.values()) {
    const visible = div === shown;
    div.setAttribute("data-testid", visible ? "stPlotlyChart" : "stPlotlyChartHidden");
    div.style.cssText = visible ? "" :
      "position: absolute; top: 0; left: 0; right: 0; visibility: hidden; pointer-events: none;";
    if (visible) {
      div.removeAttribute("aria-hidden");
      div.setAttribute("role", role);
      div.setAttribute("aria-label", data.label);
    } else {
      div.setAttribute("aria-hidden", "true");
      div.removeAttribute("role");
      div.removeAttribute("aria-label");
    }
  }
  const idle = window.requestIdleCallback || (f => setTimeout(f, 50));
  const next = prefetch.filter(spec => !cards.has(spec + "\\n" + data.config));
  const later = () => {
    const spec = next.shift();
    if (spec === undefined || parentElement.__pinitShown !== shown) return;  // another figure is shown now
    if (cards.has(spec + "\\n" + data.config)) return later();
    const div = card(spec, false);
    div.setAttribute("data-testid", "stPlotlyChartHidden");
    div.setAttribute("aria-hidden", "true");
    div.style.cssText = "position: absolute; top: 0; left: 0; right: 0; visibility: hidden; pointer-events: none;";
    cards.delete(data.spec + "\\n" + data.config);  // keep the chart shown the most recent
    cards.set(data.spec + "\\n" + data.config, shown);
    div.__pinitDrawn.then(() => idle(later, {timeout: 2000}));
  };
  (shown.__pinitDrawn || Promise.resolve()).then(() => idle(later, {timeout: 2000}));
  while (cards.size > DECK) {
    const [id, div] = cards.entries().next().value;
    if (div === shown) break;
    cards.delete(id);
    window.__pinitPlotly.then(Plotly => Plotly.purge(div));
    div.remove();
  }
}
"""

_CSS = ".pinit-chart { width: 100%%; }"

_COMPONENT = st.components.v2.component(
    "pinit_chart",
    js=_JS % {"name": _PLOTLY_FILES.name, "bundle": _BUNDLE},
    css=_CSS % {},
    isolate_styles=False,  # plotly.js puts its styles in the document's head: the chart must be in the document
)


_TAG = re.compile(r"<[^>]+>")


def _plain(text: Any) -> str:
    """Plotly's HTML-ish label text as words: <br> a space, other tags dropped, entities decoded."""
    return " ".join(html.unescape(_TAG.sub("", str(text or "").replace("<br>", " "))).split())


def chart_name(fig: Any) -> str:
    """A figure's accessible name: its title, then its subtitle (the numbers it is about)."""
    t = (json.loads(fig).get("layout") or {}).get("title") if isinstance(fig, str) else fig.layout.title
    if t is None:
        return "Chart"
    if isinstance(t, dict):
        text, sub = t.get("text"), (t.get("subtitle") or {}).get("text")
    else:
        text, sub = t.text, t.subtitle.text if t.subtitle is not None else None
    words = ". ".join(w for w in (_plain(text), _plain(sub)) if w)
    return words or "Chart"


@functools.lru_cache(maxsize=128)
def trace_types(spec: str) -> frozenset[str]:
    """The trace types of a figure's JSON (plotly's default type is scatter)."""
    return frozenset(t.get("type", "scatter") for t in json.loads(spec).get("data") or [])


def chart(
    container: Any,
    fig: Any,
    key: str,
    config: dict[str, Any] | None = None,
    label: str | None = None,
    prefetch: Sequence[Any] = (),
) -> None:
    """Draw plotly figure `fig` in `container` (st, a column, ...) as the chart `key`.

    The same key on the next rerun updates that chart in place (one Plotly.react); a figure
    equal to the last one draws nothing. `config`: plotly's config (displayModeBar, ...).
    `label`: the chart's accessible name (default: its title and subtitle, chart_name).

    `prefetch`: figures the page is likely to show next under this key (a lesson's neighbouring
    steps). The browser draws them hidden while it is idle and keeps each figure's chart, so
    showing one of them, or any figure shown before, swaps which chart is visible instead of
    drawing (at most 8 charts per key). Only the visible chart carries the stPlotlyChart test
    id and an accessible name; the hidden ones are aria-hidden.
    """
    phone = is_phone()
    if phone and not isinstance(fig, str):
        # A phone's 358 px: the title wraps and the legend goes under the axis (a JSON spec, the
        # lesson's and the Weights panels', is laid out for its screen by whoever built it).
        spec = json.dumps(for_phone(json.loads(fig.to_json())))
    else:
        spec = fig if isinstance(fig, str) else fig.to_json()
    # A figure object names its traces' types; a JSON spec (the lesson's shared ones: the same
    # string on every rerun) is parsed once, not on every rerun.
    types = trace_types(spec) if isinstance(fig, str) else {t.type for t in fig.data}
    if PARTIAL and not types <= CARTESIAN_TRACES:  # a trace type the partial bundle lacks
        target = st if container is st else container
        target.plotly_chart(json.loads(spec), config=config or {}, key=key)
        return
    name = label if label else chart_name(fig)
    if phone and "displayModeBar" not in (config or {}):
        # On a phone plotly's toolbar stays up and covers the chart's title (one tap shows it).
        config = {**(config or {}), "displayModeBar": False}
    data: dict[str, Any] = {"spec": spec, "config": json.dumps(config or {}), "label": name}
    if prefetch:
        data["prefetch"] = [f if isinstance(f, str) else f.to_json() for f in prefetch]
    with contextlib.nullcontext() if container is st else container:
        _COMPONENT(key=key, data=data, width="stretch")
