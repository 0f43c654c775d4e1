"""pinit.text: user values in messages are short (quote) and render as text (escape_markdown)."""

from __future__ import annotations

import math
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinit.text import escape_markdown, math_text, number, parse_number, quote, shorten

HOSTILE = "[Session expired - sign in](https://evil.example/login) ![t](https://evil.example/t.png)"


def test_quote_is_repr_for_short_values():
    for value in ("SimpleCNN", "", 3, -5, 2.5, None, True, ["normal"], {"a": 1}):
        assert quote(value) == repr(value)


def test_quote_cuts_long_text_and_says_how_long_it_was():
    assert quote("x" * 150_000) == repr("x" * 60) + "… (150,000 characters)"
    assert quote("abcdef", limit=3) == "'abc'… (6 characters)"


def test_quote_never_builds_or_fails_on_huge_values():
    assert quote(10**5000) == "an integer of 16610 bits"  # repr() itself raises past 4,300 digits
    assert quote(list(range(10**6))).startswith("[0, 1, 2, 3, 4, 5, ...]")
    nested: list = []
    cur = nested
    for _ in range(100_000):
        cur.append([])
        cur = cur[0]
    assert len(quote(nested)) < 100  # repr() would raise RecursionError
    assert quote({"k": "v" * 500}).endswith("… (a dict of 1 item)")


@given(st.text(max_size=300) | st.integers() | st.floats() | st.lists(st.text(max_size=500), max_size=50))
@settings(max_examples=200, deadline=None)
def test_quote_is_always_short(value):
    assert len(quote(value)) <= 60 + 40


def test_shorten():
    assert shorten("abc") == "abc"
    assert shorten("a" * 1000, 10) == "aaaaaaaaaa… (1,000 characters)"


def test_escape_markdown_escapes_every_markup_character():
    for c in "\\`*_[]()#+-.!|{}<>~$":
        assert escape_markdown(c) == "\\" + c
    assert escape_markdown("plain words 123") == "plain words 123"
    escaped = escape_markdown(HOSTILE)
    assert "](" not in escaped and "![" not in escaped and "://" not in escaped
    assert "www." not in escape_markdown("see www.evil.example") and "@b." not in escape_markdown("a@b.example")
    # Streamlit autolinks even escaped URLs (tests/browser/test_injection.py): a zero-width space splits them.
    assert escape_markdown("https://e.x") == "https\\:\u200b\\/\\/e\\.x"
    assert escape_markdown("www.e.x me@e.x") == "www\u200b\\.e\\.x me\\@\u200be\\.x"


@given(st.text())
def test_escape_markdown_leaves_no_unescaped_punctuation(text):
    """Every ASCII punctuation character comes out escaped: removing the escapes (and the zero-width
    spaces that split '://', 'www.' and '@') gives the text back."""
    escaped = escape_markdown(text.replace("\u200b", ""))
    text = text.replace("\u200b", "")
    out, i = [], 0
    escaped = escaped.replace("\u200b", "")
    while i < len(escaped):
        if escaped[i] == "\\":
            assert escaped[i + 1] in string.punctuation
            out.append(escaped[i + 1])
            i += 2
        else:
            assert escaped[i] not in string.punctuation
            out.append(escaped[i])
            i += 1
    assert "".join(out) == text


@pytest.mark.parametrize("text", ["$x^2$", "<img src=x onerror=alert(1)>", ":red[alert]", "# heading", "`code`"])
def test_escape_markdown_neutralizes_latex_html_directives_headings_code(text):
    assert all(c == "\\" or c.isalnum() or c.isspace() or escape_markdown(text).count("\\" + c) for c in text)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (11_500.3, "11,500"),
        (1.15e4, "11,500"),
        (18_400, "18,400"),
        (4.3e-5, "4.3×10⁻⁵"),
        (-0.0, "0"),
        (0.0, "0"),
        (0.034, "0.034"),
        (2.8712, "2.87"),
        (44.72, "44.7"),
        (1.0, "1"),
        (9995, "10,000"),
        (999.7, "1,000"),
        (123_456_789, "1.23×10⁸"),
        (9_999_500.0, "1×10⁷"),
        (5e-324, "4.94×10⁻³²⁴"),  # subnormal: 10**-324 underflows to 0, so no division by it
        (1.7976931348623157e308, "1.8×10³⁰⁸"),
        (-3.14159, "-3.14"),
        (float("inf"), "∞"),
        (float("nan"), "—"),
        (None, "—"),
    ],
)
def test_number_writes_every_number_one_way(value, shown):
    assert number(value) == shown
    if value is not None and value == value:  # and reads back as the value at 3 digits
        assert parse_number(shown) == pytest.approx(float(f"{value:.3g}"))
    assert "e+" not in number(value) and "e-" not in number(value)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_number_never_raises_and_reads_back_within_its_digits(x):
    shown = number(x)
    assert "e+" not in shown and "e-" not in shown
    if math.isfinite(x):
        assert parse_number(shown) == pytest.approx(float(f"{x:.3g}"), rel=1e-12, abs=0)


def test_number_rounds_the_same_value_the_same_wherever_it_appears():
    from pinit.style import fmt, fmt_number

    for x in (2.8712, 11_500.3, 0.000043, 4_400_000_000.0):
        assert fmt(x) == fmt_number(x) == number(x)


def test_math_text_writes_roots_and_plus_minus_as_the_lesson_does():
    assert math_text("U(+-1/sqrt(fan_in))") == "U(±1/√fan_in)"
    assert math_text("about sqrt(2048) = 45, std sqrt(2/fan_in)") == "about √2048 = 45, std √(2/fan_in)"
