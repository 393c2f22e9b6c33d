import json

import numpy as np
import pytest

from interp.tasks.long_context import (
    Document,
    LongContextConfig,
    TextSourceError,
    local_documents,
    shared_windows,
    token_windows,
)


def spans_of(text: str, width: int) -> np.ndarray:
    """A toy tokenizer's spans: one token per `width` characters."""
    starts = np.arange(0, len(text), width)
    return np.stack([starts, np.minimum(starts + width, len(text))], 1)


DOCS = [Document("long", "a" * 4000), Document("mid", "b" * 1000), Document("short", "c" * 150)]


def windows_for(widths, cfg):
    spans = [[spans_of(d.text, w) for d in DOCS] for w in widths]
    return spans, shared_windows(DOCS, [[s[:, 0] for s in sp] for sp in spans], cfg)


def test_windows_are_seeded_sections_of_the_text():
    cfg = LongContextConfig(tokens=100, documents=5, seed=1)
    spans, w = windows_for((1, 4), cfg)
    assert w == windows_for((1, 4), cfg)[1]
    assert "short" not in {x.name for x in w}  # too short for one window in the coarser tokenizer
    assert len({x.name for x in w}) == 5  # distinct documents or sections
    for x in w:  # the coarser tokenizer sets the sections: 4000 / 4 / 100 = 10 of the long document
        if x.name.startswith("long#"):
            j = int(x.name.split("#")[1]) - 1
            assert j * 400 <= x.char <= (j + 1) * 400 - 4 * 100
    assert [x.char for x in w] != [
        x.char for x in windows_for((1, 4), LongContextConfig(tokens=100, documents=5, seed=2))[1]
    ]


def test_every_tokenizer_reads_the_same_passage():
    cfg = LongContextConfig(tokens=100, documents=5, seed=3)
    spans, w = windows_for((1, 4), cfg)
    for sp in spans:
        ids = [np.arange(len(s)) for s in sp]
        tw = token_windows(ids, sp, w, 100)
        assert tw.ids.shape == (5, 100) and tw.spans.shape == (5, 100, 2)
        assert tw.chars.tolist() == [x.char for x in w]  # the same for every tokenizer, wherever its tokens start
        for x, row, start, span in zip(w, tw.ids, tw.starts, tw.spans, strict=True):
            assert list(row) == list(ids[x.doc][start : start + 100])
            assert span[0, 0] >= x.char and span[0, 0] - x.char < sp[x.doc][0, 1]  # its first token at or after
            assert span[-1, 1] <= len(DOCS[x.doc].text)


def test_too_few_documents_is_a_clear_error():
    with pytest.raises(TextSourceError, match="only 1 documents"):
        windows_for((1,), LongContextConfig(tokens=3000, documents=2))


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
