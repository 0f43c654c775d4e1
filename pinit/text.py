"""User values inside messages: short, and shown as the characters they are.

Two rules for every message pinit builds from something a user sent (a link, a plan
file, a checkpoint):

* `quote(value)` echoes the value repr-like, cut to `limit` characters with the full
  length said ("'xxxx…' (150,000 characters)"), so a 150 kB scheme name makes a short
  message, never a 150 kB one, and a huge integer or a deeply nested list never makes
  repr() itself fail.
* `escape_markdown(text)` is for the dashboard: Streamlit renders st.warning/st.error
  text as Markdown (GitHub-flavoured, with LaTeX between dollars and bare URLs turned
  into links), so a link value such as ``[Session expired](https://evil.example/login)``
  would become a working link and ``![t](https://evil.example/t.png)`` would load a
  remote image. Backslash-escaping every ASCII punctuation character is the CommonMark
  way to say "this character, literally": the text renders exactly as written, and
  since ``https://`` and ``www.`` are no longer literally in the source, nothing is
  autolinked.

This module imports nothing from pinit, so every layer (plan.py, checks.py, share/) can use it.
"""

from __future__ import annotations

import math
import re
import reprlib
import string
from collections.abc import Sized

__all__ = ["escape_markdown", "math_text", "number", "parse_number", "quote", "shorten"]

# Every ASCII punctuation character: CommonMark lets each be backslash-escaped, and the set
# covers all of Markdown's and GFM's markup (\ ` * _ [ ] ( ) # + - . ! | { } < > ~), LaTeX's $,
# HTML entities (&), Streamlit's :color[...] directives and :emoji: codes, and the ':', '/',
# '.' and '@' that bare-URL and e-mail autolinks look for.
_ESCAPE = {ord(c): "\\" + c for c in string.punctuation}
_ZWSP = "\u200b"  # zero-width space: invisible, but it ends a URL for every autolinker
# What GFM's autolinker (which Streamlit applies even to backslash-escaped text) starts
# a link at: a scheme's "://", "www." and the "@" of an e-mail address. A zero-width space
# splits each of them.
_AUTOLINK = re.compile(r"(:)(//)|(?i:(www))(\.)|(@)(.)")


def escape_markdown(text: str) -> str:
    """`text` with every Markdown-, HTML- and LaTeX-significant character backslash-escaped.

    Rendered by Streamlit's Markdown (st.warning, st.error, st.markdown), the result shows
    the same characters as `text`, as plain text: no links, images, emphasis, headings,
    HTML, math or autolinked URLs. Streamlit still autolinks escaped URLs, "www."
    and e-mail addresses (checked in Chromium, tests/browser/test_injection.py), so a
    zero-width space also splits every "://", "www." and "@": the text looks the same and
    is no longer a link.
    """
    split = _AUTOLINK.sub(lambda m: _ZWSP.join(g for g in m.groups() if g is not None), str(text))
    return split.translate(_ESCAPE)


def shorten(text: str, limit: int = 300) -> str:
    """`text` cut to `limit` characters, saying how long it was; for messages made elsewhere."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def _bounded_repr(limit: int) -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel = 3
    r.maxstring = r.maxother = limit
    r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = 6
    r.maxlong = limit
    return r


def quote(value: object, limit: int = 60) -> str:
    """`value` as repr() shows it, at most about `limit` characters, with its full size said when cut.

    A string longer than `limit` shows its first `limit` characters and its length:
    ``'aaaa…' (150,000 characters)``. An integer too long to print shows its size
    in bits; a container its item count. Never raises, never builds the whole repr of a
    big value.
    """
    if isinstance(value, str):
        shown = repr(value[:limit])
        if len(value) <= limit and len(shown) <= limit + 2:
            return shown
        if len(shown) > limit + 2:  # escapes (\x1f, \U0001f4a5) made the repr longer than the text
            shown = shown[: limit + 1] + shown[0]
        return f"{shown}… ({len(value):,} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 3 * limit:
        return f"an integer of {value.bit_length()} bits"
    try:
        shown = _bounded_repr(limit).repr(value)
    except Exception:  # a value whose repr fails (e.g. nested too deeply): describe it by its type
        shown = f"a {type(value).__name__}"
    if len(shown) <= limit:
        return shown
    if isinstance(value, Sized):
        n = len(value)
        size = f"a {type(value).__name__} of {n:,} item{'' if n == 1 else 's'}"
    else:
        size = type(value).__name__
    return f"{shown[:limit]}… ({size})"


# --- numbers: one way to write a number anywhere on the page ----------------------------------

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def number(x: float | None, digits: int = 3) -> str:
    """`x` as the page writes every number: `digits` significant digits, thousands separators
    (11,500, not 1.15e+04), a power of ten written as one past ten million or under 0.0001
    (1.2×10⁷, 4.3×10⁻⁵: never e-notation), never "-0", an em dash for a missing value, ∞ for
    an infinite one. The same value always prints the same, wherever it appears.
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"  # -0.0 included
    # Mantissa and exponent of the value the digits say (9995 -> 1.00e+04 with 3 digits) from
    # Python's own e-format: no log10 or division by 10**exp, which under- and overflow at the
    # ends of the float range (5e-324, 1.8e308).
    mantissa, e = f"{x:.{digits - 1}e}".split("e")
    exp = int(e)
    if exp >= 7 or exp < -4:
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}×10" + str(exp).translate(_SUPERSCRIPT)
    rounded = float(f"{mantissa}e{exp}")
    if exp >= digits - 1:  # a whole number at this precision: 11,500
        return f"{round(rounded):,}"
    return f"{rounded:.{digits - 1 - exp}f}".rstrip("0").rstrip(".")


def parse_number(text: str) -> float:
    """The value number() wrote (11,500 -> 11500.0; 4.19×10⁻⁵ -> 4.19e-05; ∞; — is NaN)."""
    t = text.strip().replace(",", "").replace("−", "-")
    if t == "—":
        return math.nan
    if t.lstrip("-") == "∞":
        return -math.inf if t.startswith("-") else math.inf
    if "×10" in t:
        mantissa, exp = t.split("×10")
        digits = {v: k for k, v in zip("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")}
        return float(f"{mantissa}e{''.join(digits[c] for c in exp)}")  # no underflow for 5×10⁻³²⁴
    return float(t)


_SQRT = re.compile(r"sqrt\(([^()]*)\)")


def math_text(text: str) -> str:
    """Formula text as the lesson writes it: sqrt(2048) as √2048 (√(a/b) when it needs brackets),
    +- as ±."""

    def root(m: re.Match[str]) -> str:
        inner = m.group(1)
        return f"√{inner}" if re.fullmatch(r"[\w.]+", inner) else f"√({inner})"

    return _SQRT.sub(root, text).replace("+-", "±")
