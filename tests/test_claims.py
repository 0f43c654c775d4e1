"""pinit.lab.lesson.claims(): every number the lesson shows, measured over its seeds, and shown as measured."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinit.lab import lesson
from pinit.lab.lesson_figures import signal_trace_figure
from pinit.text import parse_number

README = Path(__file__).resolve().parents[1] / "README.md"
# A number as pinit.text.number writes it: 11,000 · 0.99 · 5.9×10⁻⁵ (never e-notation).
NUMBER = re.compile(r"[-−]?\d[\d,]*(?:\.\d+)?(?:×10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?")
RANGE = re.compile(rf"\(×?({NUMBER.pattern})–×?({NUMBER.pattern})(?: %)? over (\d+) seeds\)")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return lesson.claims()


def _first_number(text: str) -> float:
    match = NUMBER.search(text)
    assert match, text
    return parse_number(match.group())


def test_spread_text_keeps_the_digits_the_spread_supports_and_shows_wide_ranges():
    assert lesson.spread_text([6113, 10646, 18574]) == "11,000 (6,100–19,000 over 3 seeds)"
    assert lesson.spread_text([43.35, 45.7, 47.9], prefix="×") == "×46"
    assert lesson.spread_text([0.982, 0.994, 1.012], prefix="×") == "×0.99"
    assert lesson.spread_text([5.67e-8, 6.04e-8, 6.42e-8]) == "6×10⁻⁸"
    # tiny numbers in the page's one form, and a range rounded outwards: every seed lies inside it
    assert lesson.spread_text([3.47e-5, 5.93e-5, 9.07e-5]) == "5.9×10⁻⁵ (3.4×10⁻⁵–9.1×10⁻⁵ over 3 seeds)"
    assert lesson.spread_text([13.506, 16.0, 19.38], prefix="×") == "×16 (×13–×20 over 3 seeds)"
    assert lesson.spread_text([26.7, 28.6, 32.9], unit=" %") == "29 % (26–33 % over 3 seeds)"
    assert lesson.spread_text([1, 1, 1]) == "1"
    assert lesson.spread_text([math.inf, 2.0, 2.0]) == "2 (1 of 3 seeds not finite)"


@given(
    st.lists(st.floats(min_value=1e-12, max_value=1e12, allow_nan=False), min_size=1, max_size=25),
    st.sampled_from(["", "×"]),
)
@settings(max_examples=300, deadline=None)
def test_spread_text_shows_a_median_inside_the_seeds_and_a_range_that_holds_them_all(values, prefix):
    text = lesson.spread_text(values, prefix=prefix)
    assert not re.search(r"\d[eE][-+]?\d", text), text  # one way: never e-notation
    shown = _first_number(text.removeprefix(prefix))
    if min(values) == max(values):  # the same on every seed: that number, in 4 significant digits
        assert shown == pytest.approx(min(values), rel=1e-3), text
    else:  # (to a float's last digits: 1e-12 written is 1.0000000000000002e-12's nearest)
        assert min(values) * (1 - 1e-12) <= shown <= max(values) * (1 + 1e-12), text
    ranged = RANGE.search(text)
    if ranged:
        low, high = parse_number(ranged.group(1)), parse_number(ranged.group(2))
        assert low <= min(values) * (1 + 1e-12) and max(values) * (1 - 1e-12) <= high, text


def test_every_row_has_its_seeds_and_a_shown_number_inside_its_range(table):
    assert list(table.columns) == lesson.CLAIM_COLUMNS
    assert table["claim"].is_unique
    assert set(table["step"]) == {1, 2, 3, 4, 5}
    for row in table.itertuples():
        assert row.seeds >= (20 if row.step <= 4 else 5), row
        assert row.low <= row.median <= row.high, row
        assert "e-" not in row.shown and "e+" not in row.shown, row  # no e-notation on the page
        shown = _first_number(row.shown.removeprefix("×").removeprefix("fc").removeprefix("at steps "))
        assert row.low <= shown <= row.high or row.shown.startswith("at "), row
        ranged = RANGE.search(row.shown)
        if ranged:  # the range shown holds every seed: its ends are rounded outwards
            assert parse_number(ranged.group(1)) <= row.low and row.high <= parse_number(ranged.group(2)), row
            assert int(ranged.group(3)) == row.seeds, row


def test_a_number_whose_seeds_disagree_by_more_than_a_fifth_shows_its_range(table):
    wide = table[(table["high"] - table["low"]) > lesson.WIDE * table["median"].abs()]
    assert len(wide) >= 5  # the article's logits and loss, Kaiming's logits and loss, ...
    for row in wide.itertuples():
        assert "–" in row.shown, row  # a range, never a bare median


def test_the_lessons_numbers_hold_on_every_seed(table):
    shown = dict(zip(table["claim"], table["shown"]))
    row = table.set_index("claim")
    assert row.loc["fc1 gain, article", "low"] > 40 and row.loc["fc1 gain, article", "high"] < 50  # √2048 = 45.25
    assert row.loc["per layer, Kaiming (He)", "low"] > 0.97 and row.loc["per layer, Kaiming (He)", "high"] < 1.03
    assert row.loc["per layer, Xavier (Glorot)", "median"] == pytest.approx(2**-0.5, abs=0.02)
    # PyTorch's default: the input's part of the output falls below 1 % within ten layers on every seed
    assert row.loc["signal below 1 %, PyTorch default", "high"] <= 10
    assert row.loc["input share at last hidden, PyTorch default", "high"] < 1e-6
    assert shown["distinct units, Zeros"] == shown["distinct units, Constant 0.05"] == "1 of 64"
    assert shown["distinct units, Xavier (Glorot)"] == "64 of 64"
    assert shown["held-out accuracy, Kaiming (He)"] == "100 % on 5 of 5 seeds"
    assert row.loc["held-out accuracy, PyTorch default", "high"] < row.loc["held-out accuracy, Kaiming (He)", "low"]
    assert shown["overflow step, Article recipe"].startswith("at step")


def test_the_page_shows_the_claims_text(table):
    shown = dict(zip(table["claim"], table["shown"]))
    fig = signal_trace_figure(lesson.signal_trace("Article recipe"))
    title = fig.layout.title.to_plotly_json()  # the title and its subtitle
    text = f"{title.get('text', '')} {title.get('subtitle', {}).get('text', '')}"
    assert f"logits std {shown['logits std, article'].split(' (')[0]} " in text, text
    assert f"loss at init {shown['loss at init, article'].split(' (')[0]} " in text, text
    assert any(shown["fc1 gain, article"] in (a.text or "") for a in fig.layout.annotations)


# The README's lesson table: its numbers column, made from the claims (test fails with the row to paste).
README_CELLS = {
    1: "fc1 {fc1 gain, article} (√2048 ≈ 45), fc2 over fc1 {fc2 over fc1, article}, logits std "
    "{logits std, article}, loss at init {loss at init, article} = {loss over ln 10, article} ln 10",
    2: "fc1 {fc1 gain, Kaiming}, logits std {logits std, Kaiming}, loss {loss at init, Kaiming} = "
    "{loss over ln 10, Kaiming} ln 10",
    3: "per layer: He {per layer, Kaiming (He)}, Xavier {per layer, Xavier (Glorot)}; PyTorch's default: std "
    "{std fc1 to fc5 per layer, PyTorch default} per layer over fc1-fc5, then bias noise (std "
    "{std at last hidden, PyTorch default}); the input's part below 1 % from {signal below 1 %, PyTorch default}",
    4: "zeros {distinct units, Zeros}, constant 0.05 {distinct units, Constant 0.05}, Xavier "
    "{distinct units, Xavier (Glorot)}",
    5: "Kaiming {held-out accuracy, Kaiming (He)}, PyTorch default {held-out accuracy, PyTorch default}, the "
    "article's loss overflows {overflow step, Article recipe}",
}


def readme_cell(step: int, table: pd.DataFrame) -> str:
    shown = dict(zip(table["claim"], table["shown"]))
    return re.sub(r"\{([^}]+)\}", lambda m: shown[m.group(1)], README_CELLS[step])


def test_the_readme_lesson_table_says_what_claims_measures(table):
    lines = README.read_text(encoding="utf-8").splitlines()
    for step in README_CELLS:
        row = next(line for line in lines if line.startswith(f"| {step} · "))
        cell = row.rstrip(" |").rsplit(" | ", 1)[1]
        assert cell == readme_cell(step, table), f"README step {step} should read:\n{readme_cell(step, table)}"


E_NOTATION = re.compile(r"\d[eE][-+]?\d")


@pytest.mark.parametrize("step", [1, 2, 3, 4, 5])
def test_the_lesson_writes_every_number_one_way(step):
    """No e-notation anywhere in a step's text (markdown, captions, metrics, the chart's title and
    notes); step 3's tiny numbers appear as pinit.text.number writes them."""
    from tests.app_driver import specs, start

    at = start("Lesson", step=str(step))
    texts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    texts += [f"{m.label} {m.value} {m.proto.delta} {m.proto.help}" for m in at.metric]
    for fig in specs(at):
        title = fig["layout"].get("title", {})
        texts += [str(title.get("text", "")), str(title.get("subtitle", {}).get("text", ""))]
        texts += [str(a.get("text", "")) for a in fig["layout"].get("annotations", [])]
        texts += [str(t) for d in fig["data"] for t in (d.get("text") or []) if isinstance(t, str)]
    page = "\n".join(texts)
    assert not E_NOTATION.search(page), E_NOTATION.search(page)
    if step == 3:
        for name in ("last over first, Xavier (Glorot)", "input share at last hidden, PyTorch default"):
            assert lesson.claim(name) in page and "×10" in lesson.claim(name)


def test_peek_returns_a_story_only_when_it_is_at_hand_and_never_computes(monkeypatch, tmp_path):
    """The Spectra view peeks at the trained layer: it shows it when computed (here, on disk or by the
    worker) and offers a button otherwise; peeking must never start the computation."""
    from pinit.lab import story_cache

    monkeypatch.setenv(story_cache.CACHE_ENV, str(tmp_path))
    calls = []

    @lesson.computed_once
    def story_for_peek(x: int) -> int:
        calls.append(x)
        return x * 2

    assert story_for_peek.peek(4) is None and calls == []
    assert story_for_peek(4) == 8 and calls == [4]
    assert story_for_peek.peek(4) == 8 and calls == [4]
    story_for_peek.cache_clear()  # a new server process: the disk still holds it
    assert story_for_peek.peek(4) == 8 and calls == [4]
