"""The Spectra view: one weight matrix's singular values against the Marchenko–Pastur law of its shape."""

from __future__ import annotations

import math

import streamlit as st

from pinit.lab.beyond_figures import spectrum_figure
from pinit.lab.spectra import Spectrum, spectrum, svd_seconds
from pinit.report import parameter_shapes
from pinit.setup import Setup

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
    st.plotly_chart(spectrum_figure(s, log=log), key="spec.fig")
    look_for(
        "a random init's bars fill the red Marchenko–Pastur curve and stop at the dotted edges λ₋ and λ₊ (the "
        "largest eigenvalue overshoots λ₊ by at most a few Tracy–Widom widths, ~σ²N^(−2/3)). Bars past λ₊ are "
        "outliers: structure that is not noise. Orthogonal: one bar. In log-log, a dashed tail line is drawn only "
        "where a power law fits the largest eigenvalues better than an exponential."
    )
    c = st.columns(4)
    c[0].metric("Singular values", f"{len(s.svals)}", help=f"{s.distinct} distinct (relative gap > 1e-4)")
    c[1].metric("Largest / smallest s", f"{s.svals[0]:.4g} / {s.svals[-1]:.4g}")
    c[2].metric("Outliers above λ₊", f"{s.n_outliers}")
    t = s.tail
    if math.isfinite(t.alpha) and t.plausible:
        c[3].metric(
            "Tail α",
            f"{t.alpha:.2f}",
            help=f"Power law over the top {t.n_tail} eigenvalues; against an exponential tail its log-likelihood "
            f"ratio is {t.loglik_ratio:.3g} (p = {t.p_value:.2g}; Clauset, Shalizi & Newman 2009).",
        )
    else:
        c[3].metric("Tail α", "none", help=t.note or None)
        if math.isfinite(t.alpha):
            st.caption(
                "**No power-law tail**: a random matrix's spectrum ends at the Marchenko–Pastur edge λ₊, and an "
                f"exponential fits its top {t.n_tail} eigenvalues better than a power law (log-likelihood ratio "
                f"{t.loglik_ratio:.3g}, p = {t.p_value:.2g}), so there is no α to read; the estimator would say "
                f"{t.alpha:.1f}, a number that swings from seed to seed. Trained layers can grow a tail: train "
                "one (Train tab, then a checkpoint) and look again."
            )
