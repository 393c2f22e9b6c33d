import json

import numpy as np
import pytest

from interp.tasks.long_context import LongContextConfig, TextSourceError, local_documents, make_windows


def test_windows_are_seeded_sections_at_random_offsets():
    ids = [list(range(1000)), list(range(5000, 5250)), list(range(9000, 9090))]
    cfg = LongContextConfig(tokens=100, documents=5, seed=1)
    w = make_windows(ids, ["long", "mid", "short"], cfg)
    assert w.ids.shape == (5, 100)
    again = make_windows(ids, ["long", "mid", "short"], cfg)
    np.testing.assert_array_equal(w.ids, again.ids)
    assert "short" not in w.names  # too short for one window
    assert len(set(w.names)) == 5  # distinct documents or sections
    for row, name, start in zip(w.ids, w.names, w.starts, strict=True):
        src = ids[0] if name.startswith("long") else ids[1]
        assert list(row) == src[start : start + 100]
        if name.startswith("long#"):  # a section stays inside its tenth of the document
            j = int(name.split("#")[1]) - 1
            assert j * 100 <= start <= (j + 1) * 100 - 100
    other = make_windows(ids, ["long", "mid", "short"], LongContextConfig(tokens=100, documents=5, seed=2))
    assert not np.array_equal(w.starts, other.starts)


def test_too_few_documents_is_a_clear_error():
    with pytest.raises(TextSourceError, match="only 1 documents"):
        make_windows([list(range(150))], ["a"], LongContextConfig(tokens=100, documents=2))


def test_local_sources(tmp_path):
    (tmp_path / "a.txt").write_text("one two three")
    (tmp_path / "b.txt").write_text("four five")
    assert [d.text for d in local_documents(str(tmp_path))] == ["one two three", "four five"]
    jl = tmp_path / "d.jsonl"
    jl.write_text("\n".join(json.dumps({"text": t, "id": i}) for i, t in enumerate(["x y", "z"])))
    assert [d.text for d in local_documents(str(jl))] == ["x y", "z"]
    bad = tmp_path / "e.jsonl"
    bad.write_text(json.dumps({"body": "x"}))
    with pytest.raises(TextSourceError, match="no 'text' column"):
        local_documents(str(bad))
    with pytest.raises(TextSourceError, match="no such text source"):
        local_documents(str(tmp_path / "missing.txt"))


def test_builtin_corpus_is_real_prose():
    """Read from the pinned packages' data files: no download, nothing executed."""
    from interp.tasks.long_context import builtin_documents

    kjv = builtin_documents("kjv")
    assert len(kjv) >= 60 and kjv[0].text.startswith("In the beginning God created the heaven")
    assert sum(len(d.text) for d in kjv) > 4_000_000 and "1:1" not in kjv[0].text
    jargon = builtin_documents("jargon")[0].text
    assert len(jargon) > 1_000_000 and "hacker" in jargon and "\x1b" not in jargon


def test_builtin_text_is_checked_before_it_is_read(monkeypatch, tmp_path):
    from interp.tasks import long_context

    fake = tmp_path / "jargon.json"
    fake.write_text("[]")
    monkeypatch.setattr(
        long_context.importlib.metadata,
        "distribution",
        lambda name: type("D", (), {"locate_file": lambda self, rel: fake})(),
    )
    with pytest.raises(long_context.TextSourceError, match="SHA-256"):
        long_context.builtin_documents("jargon")
