"""pinit.lab.lesson.claims(): every number the lesson shows, measured over its seeds, and shown as measured."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from pinit.lab import lesson
from pinit.lab.lesson_figures import signal_trace_figure

README = Path(__file__).resolve().parents[1] / "README.md"
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return lesson.claims()


def _first_number(text: str) -> float:
    match = NUMBER.search(text)
    assert match, text
    return float(match.group().replace(",", ""))


def test_spread_text_keeps_the_digits_the_spread_supports_and_shows_wide_ranges():
    assert lesson.spread_text([6113, 10646, 18574]) == "11,000 (6,100–19,000 over 3 seeds)"
    assert lesson.spread_text([43.35, 45.7, 47.9], prefix="×") == "×46"
    assert lesson.spread_text([0.982, 0.994, 1.012], prefix="×") == "×0.99"
    assert lesson.spread_text([5.67e-8, 6.04e-8, 6.42e-8]) == "6.0e-8"
    assert lesson.spread_text([1, 1, 1]) == "1"
    assert lesson.spread_text([math.inf, 2.0, 2.0]) == "2 (1 of 3 seeds not finite)"


def test_every_row_has_its_seeds_and_a_shown_number_inside_its_range(table):
    assert list(table.columns) == lesson.CLAIM_COLUMNS
    assert table["claim"].is_unique
    assert set(table["step"]) == {1, 2, 3, 4, 5}
    for row in table.itertuples():
        assert row.seeds >= (20 if row.step <= 4 else 5), row
        assert row.low <= row.median <= row.high, row
        shown = _first_number(row.shown.removeprefix("×").removeprefix("fc").removeprefix("at steps "))
        if "e-" in row.shown.split(" ")[0]:  # a tiny number: two significant digits
            assert shown == pytest.approx(row.median, rel=0.1), row
        else:
            assert row.low <= shown <= row.high or row.shown.startswith("at "), row


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
