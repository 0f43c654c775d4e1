"""pinit.lab.story_cache: the lesson's stories are read back from disk for the same code, and only then."""

from __future__ import annotations

import pickle

from pinit.lab import lesson, story_cache


def test_a_stored_story_reads_back_for_the_same_code_and_not_for_other_code(tmp_path, monkeypatch):
    monkeypatch.setenv(story_cache.CACHE_ENV, str(tmp_path))
    story_cache.store("signal_trace", ("Kaiming (He)",), {"rms": (1.0, 2.0)})
    assert story_cache.load("signal_trace", ("Kaiming (He)",)) == {"rms": (1.0, 2.0)}
    assert story_cache.load("signal_trace", ("Article recipe",)) is None  # other arguments, other file
    monkeypatch.setattr(story_cache, "code_key", lambda: "other-code")
    assert story_cache.load("signal_trace", ("Kaiming (He)",)) is None
    story_cache.store("depth_story", (), 3)
    assert [p.name.split("-")[1] for p in tmp_path.glob("lesson-*.pkl")] == ["other"]  # the old code's files go


def test_off_keeps_nothing_and_a_torn_file_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv(story_cache.CACHE_ENV, "off")
    story_cache.store("depth_story", (), 1)
    assert story_cache.cache_dir() is None and story_cache.load("depth_story", ()) is None
    monkeypatch.setenv(story_cache.CACHE_ENV, str(tmp_path))
    story_cache.store("depth_story", (), 1)
    (path,) = tmp_path.glob("lesson-*.pkl")
    path.write_bytes(pickle.dumps(1)[:-3])  # torn
    assert story_cache.load("depth_story", ()) is None


def test_computed_once_reads_the_disk_instead_of_computing(tmp_path, monkeypatch):
    monkeypatch.setenv(story_cache.CACHE_ENV, str(tmp_path))
    calls = []

    def story(x: int) -> int:
        calls.append(x)
        return x * 10

    first = lesson.computed_once(story)
    assert first(4) == 40 and calls == [4]
    again = lesson.computed_once(story)  # a new process's cache: empty in memory, the file on disk
    assert again(4) == 40 and calls == [4]
    assert again(5) == 50 and calls == [4, 5]


def test_the_cache_key_leaves_out_only_code_the_stories_never_call():
    """share/ is left out of the key: that holds only while no pinit.lab module imports it."""
    import ast
    from pathlib import Path

    lab = Path(story_cache.__file__).parent
    for path in lab.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = {a.name for a in node.names}
                assert not (node.level == 2 and (module.startswith("share") or (not module and "share" in names))), path
                assert not module.startswith("pinit.share"), path
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("pinit.share") for a in node.names), path
