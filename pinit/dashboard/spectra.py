"""The Spectra view: one weight matrix's singular values against the Marchenko–Pastur law of its shape."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import streamlit as st

from pinit.lab.beyond_figures import spectrum_figure
from pinit.lab.lesson import spread_text
from pinit.lab.spectra import Spectrum, TrainedTail, spectrum, svd_seconds, trained_tail
from pinit.report import parameter_shapes
from pinit.setup import Setup
from pinit.text import number

from .chart import chart
from .common import fail, look_for
from .state import _BIG_MODEL_SLOT, BIG_MODEL_PARAMS

AUTO_SECONDS = 3.0  # matrices whose SVD should take longer wait for a click
STORY = (
    "**Random matrices have a shape.** The squared singular values of an iid matrix, divided by N, fill the "
    "Marchenko–Pastur law between λ₋ = σ²(1 − √q)² and λ₊ = σ²(1 + √q)², with q = rows/cols (or its inverse): "
    "every random init you pick here should fill the red curve and stop at its edges. Orthogonal init puts every "
    "singular value at its gain (one spike); a constant init is rank one; training pulls eigenvalues out past λ₊ "
    "and can grow a power-law tail whose exponent α WeightWatcher reads as a sign of how much a layer has learned."
)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _spectrum(key: str, name: str) -> Spectrum:
    return spectrum(dict(Setup.from_key(key).build().named_parameters())[name], name)


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def _checkpoint_spectrum(digest: str, name: str, _state: dict) -> Spectrum:
    return spectrum(_state[name], name)


def _checkpoint(setup: Setup) -> dict | None:
    """The uploaded checkpoint of the share view, if it is for this configuration's model."""
    ckpt = st.session_state.get("checkpoint")
    if not isinstance(ckpt, dict) or not {"digest", "state", "setup", "name"} <= set(ckpt):
        return None
    mine = ckpt["setup"]
    return ckpt if (mine.model, dict(mine.options)) == (setup.model, dict(setup.options)) else None


def _matrix(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, cols) of a weight as the spectrum sees it: conv kernels as out × in·k·k."""
    return shape[0], math.prod(shape[1:])


def _at_once(rows: int, cols: int) -> bool:
    """Whether this matrix's SVD is quick enough to run without asking for a click."""
    return svd_seconds(rows, cols) < AUTO_SECONDS


def _compute(setup: Setup, name: str, ckpt: dict | None) -> Spectrum:
    shapes = parameter_shapes(setup.model, setup.options)
    numel = sum(math.prod(s) for s in shapes.values())
    if ckpt is not None:
        run = lambda: _checkpoint_spectrum(ckpt["digest"], name, ckpt["state"])
    else:
        run = lambda: _spectrum(setup.key, name)
    if numel < BIG_MODEL_PARAMS and _at_once(*_matrix(shapes[name])):
        return run()
    with _BIG_MODEL_SLOT:  # one big job at a time per server process (pinit.dashboard.state)
        return run()


def _default_matrix(shapes: dict[str, tuple[int, ...]]) -> int:
    """The matrix shown first: the one with the most singular values among those computed at once.

    A first layer's 32 × 27 kernel has 27 eigenvalues, too few to fill the Marchenko–Pastur curve
    the story asks a student to look at; SimpleCNN's fc1 (512 × 2048) fills it.
    """

    def score(n: str) -> int:
        rows, cols = _matrix(shapes[n])
        return min(rows, cols) if _at_once(rows, cols) else 0

    names = list(shapes)
    return names.index(max(names, key=score))


def spectra_view(setup: Setup) -> None:
    shapes = {n: s for n, s in parameter_shapes(setup.model, setup.options).items() if len(s) >= 2}
    if not shapes:
        st.warning(f"{setup.model} has no weight matrix (no parameter of 2 or more dims).")
        return
    names = list(shapes)

    def label(n: str) -> str:
        rows, cols = _matrix(shapes[n])
        return f"{n}  {rows} × {cols}"

    c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
    name = c1.selectbox(
        "Weight matrix (conv kernels as out × in·k·k)",
        names,
        index=_default_matrix(shapes),
        format_func=label,
        key="spec.name",
    )
    log = c2.toggle("Log-log (tail)", key="spec.log", help="Log-spaced bins and the fitted power-law tail.")
    ckpt = _checkpoint(setup)
    source = "applied init"
    if ckpt is not None:
        source = c3.radio("Weights", ["applied init", f"checkpoint {ckpt['name']}"], key="spec.source")
    use_ckpt = ckpt if source != "applied init" else None
    st.info(STORY)
    rows, cols = _matrix(shapes[name])
    key = (setup.key, name, use_ckpt and use_ckpt["digest"])
    if not _at_once(rows, cols) and st.session_state.get("spec.go") != key:
        seconds = svd_seconds(rows, cols)
        st.warning(
            f"{name} is {rows} × {cols}: its singular values take about {seconds:.0f} s on one core, and one such "
            "job runs at a time on this server."
        )
        if st.button(f"Compute the spectrum of {name}", key="spec.compute"):
            st.session_state["spec.go"] = key
            st.rerun(scope="fragment")
        return
    try:
        with st.spinner(f"Singular values of a {rows} × {cols} matrix…"):
            s = _compute(setup, name, use_ckpt)
    except Exception as e:
        fail("The spectrum could not be computed.", e)
        return
    chart(st, spectrum_figure(s, log=log), key="spec.fig")
    look_for(
        "a random init's bars fill the red Marchenko–Pastur curve and stop at the dotted edges λ₋ and λ₊ (the "
        "largest eigenvalue overshoots λ₊ by at most a few Tracy–Widom widths, ~σ²N^(−2/3)). Bars past λ₊ are "
        "outliers: structure that is not noise. Orthogonal: one bar. In log-log, a dashed tail line is drawn only "
        "where an exponential does not fit the largest eigenvalues significantly better than a power law."
    )
    c = st.columns(4)
    c[0].metric("Singular values", f"{len(s.svals)}", help=f"{s.distinct} distinct (relative gap > 1e-4)")
    c[1].metric("Largest / smallest s", f"{number(s.svals[0], 4)} / {number(s.svals[-1], 4)}")
    c[2].metric("Outliers above λ₊", f"{s.n_outliers}")
    t = s.tail
    if math.isfinite(t.alpha) and t.plausible:
        c[3].metric(
            "Tail α",
            number(t.alpha, 2),
            help=f"Power law over the top {t.n_tail} eigenvalues; against an exponential tail its log-likelihood "
            f"ratio is {number(t.loglik_ratio)} (p = {number(t.p_value, 2)}; Clauset, Shalizi & Newman 2009).",
        )
    else:
        c[3].metric("Tail α", "none", help=t.note or None)
        if math.isfinite(t.alpha):
            st.caption(
                "**No power-law tail**: a random matrix's spectrum ends at the Marchenko–Pastur edge λ₊, and an "
                f"exponential fits its top {t.n_tail} eigenvalues better than a power law (log-likelihood ratio "
                f"{number(t.loglik_ratio)}, p = {number(t.p_value, 2)}), so there is no α to read; the estimator "
                f"would say {number(t.alpha, 2)}, a number that swings from seed to seed. Below: a trained layer, "
                "for contrast."
            )
    trained_ui(log)


def _verdicts(fits: list[str]) -> str:
    """ "exponential on 5 of 5 seeds" / "undecided on 3, power law on 2 of 5 seeds"."""
    order = ("power law", "undecided", "exponential", "no fit")
    counts = [(v, fits.count(v)) for v in order if fits.count(v)]
    return ", ".join(f"{v} on {k}" for v, k in counts) + f" of {len(fits)} seeds"


def _over_seeds(values: list[float], unit: str = "") -> str:
    """ "100 % on 5 of 5 seeds" when every seed agrees, else "0–1 over 5 seeds"."""
    low, high, n = min(values), max(values), len(values)
    if low == high:
        return f"{number(low)}{unit} on {n} of {n} seeds"
    return f"{number(low)}–{number(high)}{unit} over {n} seeds"


def trained_text(tt: TrainedTail) -> str:
    """What the trained contrast shows, in words made from its measurements (nothing promised)."""
    table = tt.table()
    c, n = tt.settings, len(tt.seeds)
    layer = tt.layer.split(".")[-2] if tt.layer.endswith(".weight") else tt.layer
    moved, _, spread = spread_text([100 * v for v in tt.change], unit=" %").partition(" (")
    moved_range = f" ({spread}" if spread else ""
    text = (
        f"**A trained layer, for contrast.** SimpleCNN's {layer} ({tt.spectrum.rows} × {tt.spectrum.cols}) under "
        f"{tt.preset}, before and after the lesson's training (SGD lr {number(c.lr)}, momentum {number(c.momentum)}, "
        f"batch {c.batch_size}, {c.steps} steps; held-out accuracy "
        f"{_over_seeds([100 * a for a in tt.test_accuracy], ' %')}). Training moved {layer} by {moved} of its "
        f"size{moved_range}. The likelihood-ratio test of a power-law tail against an exponential one (p < 0.1 "
        f"decides) says: at init {_verdicts(list(table['init: tail']))}; after training "
        f"{_verdicts(list(table['trained: tail']))}. Eigenvalues above λ₊ (plus 5 Tracy–Widom widths): "
        f"{_over_seeds(list(table['init: outliers']))} at init, {_over_seeds(list(table['trained: outliers']))} "
        "after training. "
    )
    favoured = table[table["trained: tail"] == "power law"]
    open_ = table[table["trained: tail"] != "exponential"]
    ww = "WeightWatcher reads 2 to 6 as well trained"
    if len(favoured):
        text += (
            f"A power law fits the trained tail better on {len(favoured)} of {n} seeds, with α "
            f"{spread_text(list(favoured['trained: α']))} ({ww})."
        )
    elif len(open_):
        alphas = list(open_["trained: α"])
        text += (
            f"After training the test no longer rejects a power law on {len(open_)} of {n} seeds, but it favours "
            f"none either; α there is {spread_text(alphas)}"
            + (
                f", above the 2 to 6 that WeightWatcher reads as well trained: after {c.steps} steps there is no "
                "heavy tail to read."
                if min(alphas) > 6
                else f" ({ww})."
            )
        )
    else:
        text += f"No power-law tail after training either: after {c.steps} steps the spectrum ends as a random one."
    return text


def trained_ui(log: bool) -> None:
    """The lesson's trained fc1 beside the init: computed once per server (the warm-up worker does it
    after the lesson's numbers), on a click if it is not ready yet; never retrained per click."""
    tt = trained_tail.peek()  # type: ignore[attr-defined]
    if tt is None:
        st.caption(
            "**A trained layer, for contrast**: SimpleCNN's fc1 trained as in the lesson's step 5, on 5 seeds. It "
            "is computed once for this server (a few minutes of one core); then it is instant for everyone."
        )
        if not st.button("Train it and fit its tail", key="spec.trained"):
            return
        try:
            with _BIG_MODEL_SLOT, st.spinner("Training SimpleCNN 5 times as the lesson does…"):
                tt = trained_tail()
        except Exception as e:
            fail("The trained layer could not be computed.", e)
            return
    st.markdown(trained_text(tt))
    table = tt.table()
    shown = table.copy()
    for col in shown.columns:
        if col == "seed" or not pd.api.types.is_numeric_dtype(shown[col]):
            continue
        digits = 2 if col.endswith(("α", "p", "R")) else 3
        if col == "moved" or col == "held-out accuracy":
            shown[col] = [f"{number(100 * v, digits)} %" for v in shown[col]]
        else:
            shown[col] = [number(v, digits) for v in shown[col]]
    st.dataframe(shown, hide_index=True, key="spec.trained.table")
    first = dataclasses.replace(tt.spectrum, name=f"{tt.spectrum.name} after training (seed {tt.seeds[0]})")
    chart(st, spectrum_figure(first, log=log), key="spec.trained.fig")
