"""A plotly chart that stays on the page and draws each new figure once: `chart(container, fig, key)`.

Streamlit's own chart element (st.plotly_chart) mounts a new chart for every new figure and
draws it twice: a new plot, then a replot of a deep copy its mount-time theme effect makes
(bench/LATENCY.md, "Where the rest of a click goes"). This element is a Streamlit custom
component (st.components.v2: inline JavaScript, no frontend build) that keeps one plotly
chart per key alive across reruns and applies each new figure with one `Plotly.react`, which
updates the traces and axes in place; a rerun that sends the same figure draws nothing.

plotly.js comes from the plotly package's own bundled file (plotly/package_data), served
by Streamlit's component file route and loaded once per page. The chart element carries the
test id of Streamlit's chart (stPlotlyChart), so the page's charts are found the same way
whichever element drew them; `window.__pinitChartDraws` counts the draws (for the tests).

A chart is a picture to a screen reader: the element is role="img" with an accessible name
(aria-label), its title and subtitle by default (they carry the chart's key numbers), or the
words the caller gives (WCAG 1.1.1, non-text content; the WAI-ARIA img role).
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import streamlit as st
import streamlit.components.v1 as components_v1

__all__ = ["chart", "chart_name"]

_PLOTLY_SPEC = importlib.util.find_spec("plotly")  # its file only: plotly itself stays in the figure modules
assert _PLOTLY_SPEC is not None and _PLOTLY_SPEC.origin is not None, "plotly is a dependency of pinit"
_PLOTLY_DIR = Path(_PLOTLY_SPEC.origin).with_name("package_data")
# A v1 component declared only for its file route: /component/<name>/plotly.min.js.
_PLOTLY_FILES = components_v1.declare_component("plotlyjs", path=str(_PLOTLY_DIR))

_JS = """
export default function (component) {
  const { data, parentElement } = component;
  const src = new URL("component/%(name)s/plotly.min.js", document.baseURI).href;
  window.__pinitPlotly = window.__pinitPlotly || new Promise((resolve, reject) => {
    if (window.Plotly) return resolve(window.Plotly);
    const s = document.createElement("script");
    s.src = src;
    s.onload = () => resolve(window.Plotly);
    s.onerror = () => reject(new Error("plotly.js did not load from " + src));
    document.head.appendChild(s);
  });
  let el = parentElement.querySelector("[data-testid=stPlotlyChart]");
  if (!el) {
    el = document.createElement("div");
    el.setAttribute("data-testid", "stPlotlyChart");
    el.className = "pinit-chart";
    parentElement.appendChild(el);
  }
  el.setAttribute("role", "img");  // a picture to a screen reader, named by its title and numbers
  el.setAttribute("aria-label", data.label);
  if (el.__pinitSpec === data.spec && el.__pinitConfig === data.config) return;
  el.__pinitSpec = data.spec;
  el.__pinitConfig = data.config;
  window.__pinitPlotly.then(Plotly => {
    if (el.__pinitSpec !== data.spec) return;  // a newer figure came while plotly.js loaded
    const fig = JSON.parse(data.spec);
    const config = Object.assign({responsive: true}, JSON.parse(data.config));
    window.__pinitChartDraws = (window.__pinitChartDraws || 0) + 1;
    return Plotly.react(el, fig.data || [], fig.layout || {}, config).then(() => {
      if (fig.frames && fig.frames.length) return Plotly.addFrames(el, fig.frames);
    });
  });
}
"""

_CSS = ".pinit-chart { width: 100%%; }"

_COMPONENT = st.components.v2.component(
    "pinit_chart",
    js=_JS % {"name": _PLOTLY_FILES.name},
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


def chart(container: Any, fig: Any, key: str, config: dict[str, Any] | None = None, label: str | None = None) -> None:
    """Draw plotly figure `fig` in `container` (st, a column, ...) as the chart `key`.

    The same key on the next rerun updates that chart in place (one Plotly.react); a figure
    equal to the last one draws nothing. `config`: plotly's config (displayModeBar, ...).
    `label`: the chart's accessible name (default: its title and subtitle, chart_name).
    """
    spec = fig if isinstance(fig, str) else fig.to_json()
    name = label if label else chart_name(fig)
    with contextlib.nullcontext() if container is st else container:
        _COMPONENT(key=key, data={"spec": spec, "config": json.dumps(config or {}), "label": name}, width="stretch")
