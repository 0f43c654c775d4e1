"""A value cached across sessions can never carry one student's state to another.

Every session of a server process shares its st.cache_data caches (they are module-level
in streamlit). That is safe only if (1) every cache under pinit/dashboard is st.cache_data,
which pickles the value in and hands each caller a fresh copy, never st.cache_resource,
which hands every caller the same object; (2) every cache is keyed by value and bounded;
and (3) in practice, a session that changes its setup and then mutates whatever it got
back from a cache leaves another session's numbers untouched.

Checked to fail when isolation breaks (not committed): with `_report`'s decorator in
pinit/dashboard/state.py changed to `st.cache_resource(max_entries=256, ttl=CACHE_TTL)`,
all three tests fail: the scan names it, the second call returns the very same object,
and B's page shows the table A vandalised.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import numpy as np

from tests.app_driver import applied, settled, start, table

DASHBOARD = Path(__file__).resolve().parents[1] / "pinit" / "dashboard"


def cache_decorators() -> list[tuple[str, str, ast.Call | ast.Attribute]]:
    """(file, function, decorator) for every st.cache_* decorator under pinit/dashboard."""
    out = []
    for path in sorted(DASHBOARD.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                if isinstance(target, ast.Attribute) and target.attr.startswith("cache"):
                    out.append((path.name, node.name, dec))
    return out


def test_only_st_cache_data_with_bounds():
    found = cache_decorators()
    assert found, "no caches found: the scan is broken"
    for file, fn, dec in found:
        target = dec.func if isinstance(dec, ast.Call) else dec
        assert isinstance(target, ast.Attribute)
        assert target.attr == "cache_data", f"{file}:{fn} uses st.{target.attr}: one object shared by every session"
        assert isinstance(dec, ast.Call), f"{file}:{fn}: st.cache_data without max_entries and ttl"
        kwargs = {k.arg for k in dec.keywords}
        assert {"max_entries", "ttl"} <= kwargs, f"{file}:{fn}: unbounded cache ({sorted(kwargs)})"
    # Nothing else reaches for the shared-object caches or the older memo APIs either.
    for path in DASHBOARD.glob("*.py"):
        text = path.read_text()
        for name in ("cache_resource", "experimental_singleton", "experimental_memo", "st.cache("):
            assert name not in text, f"{path.name} uses {name}"


def test_the_cached_report_is_a_fresh_copy_for_every_caller():
    """The page's main cache (state._report): mutate what one call returned, the next call is intact."""
    from pinit.dashboard import share, state

    key = share.DEFAULT_SETUP.key
    first = state._report(key, 40)
    kept = copy.deepcopy(first.table)
    first.table.loc[:, "std"] = 999.0
    first.histograms[0].counts[:] = [-1] * len(first.histograms[0].counts)
    again = state._report(key, 40)
    assert again is not first
    assert again.table is not first.table
    assert (again.table["std"] == kept["std"]).all()
    assert (np.asarray(again.histograms[0].counts) >= 0).all()


def test_a_students_changes_and_mutations_never_reach_another_students_page():
    """Two sessions of one process (two AppTests share the process's caches, as two tabs share a server).

    A picks a preset and a seed, then vandalises every object the cache gave its page. B, a new
    tab with the defaults, must see exactly the default numbers, and A's own next run its own."""
    base = start()
    default_std = table(base)["std"].to_numpy().copy()
    assert applied(base).seed == 0

    a = start()
    a.sidebar.selectbox(key="preset").select("Too large: N(0, 1)").run()
    settled(a).sidebar.text_input(key="seed").input("4242").run()
    assert not a.exception, a.exception
    assert applied(a).seed == 4242
    a_std = table(a)["std"].to_numpy().copy()
    assert not np.allclose(a_std, default_std)
    # Mutate whatever A got back from the caches (the report's table and histograms).
    from pinit.dashboard import state
    from pinit.dashboard.weights import BASE_BINS  # what the Weights view asks the cache for

    report = state._report(applied(a).key, BASE_BINS)
    report.table.loc[:, "std"] = -7.0
    for h in report.histograms:
        h.counts[:] = [0] * len(h.counts)
    default_report = state._report(applied(base).key, BASE_BINS)
    default_report.table.loc[:, "std"] = -7.0

    b = start()  # a fresh tab: the default preset, seed 0
    assert not b.exception, b.exception
    assert applied(b).seed == 0
    np.testing.assert_array_equal(table(b)["std"].to_numpy(), default_std)
    assert (table(b)["std"] >= 0).all()

    settled(a)  # A's page again: still A's own numbers
    np.testing.assert_array_equal(table(a)["std"].to_numpy(), a_std)
