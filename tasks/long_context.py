"""Long natural-language documents for NLL-by-position, from local data only.

Built-in corpus (public-domain or freely licensed English prose shipped as
Debian packages, fetched with `apt-get download` and unpacked without root
into the interp cache on first use, or read from /usr if installed):
- `kjv`: the King James Bible (`bible-kjv-text` + `bible-kjv`), one document per book;
- `jargon`: the Jargon File 4.4 (`jargon`);
- `gnu-standards`: the GNU Coding Standards and Maintainers' guide (`gnu-standards`).
Any local .txt (one document per file), .jsonl/.json/.parquet/.csv with a
`text` column, or a saved `datasets` folder works the same way.

A document longer than several windows gives several non-overlapping
sections; every window starts at a seeded random offset, so one text's
content (Genesis is memorised) does not pass for a position effect.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jaxtyping import Int

BUILTIN_SOURCES = ("kjv", "jargon", "gnu-standards")
_DEBS = {"kjv": ("bible-kjv-text", "bible-kjv"), "jargon": ("jargon",), "gnu-standards": ("gnu-standards",)}


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
class Windows:
    ids: Int[np.ndarray, "doc tokens"]
    names: list[str]  # document (and section) of each window
    starts: Int[np.ndarray, " doc"]  # token offset of each window in its document


def _debian_root(packages: tuple[str, ...], cache: Path) -> Path:
    """A folder holding the packages' files: / if installed, else unpacked into the cache."""
    probe = {
        "bible-kjv-text": "usr/lib/bible.data",
        "jargon": "usr/share/info/jargon.info.gz",
        "gnu-standards": "usr/share/doc/gnu-standards/standards.text.gz",
        "bible-kjv": "usr/bin/bible",
    }
    if all((Path("/") / probe[p]).exists() for p in packages):
        return Path("/")
    final = cache / "debian" / "+".join(packages)
    if (final / ".complete").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".deb-", dir=final.parent))
    try:
        for p in packages:
            try:
                subprocess.run(["apt-get", "download", p], cwd=tmp, check=True, capture_output=True, timeout=300)
            except (OSError, subprocess.SubprocessError) as e:
                raise TextSourceError(
                    f"cannot fetch Debian package {p!r} ({type(e).__name__}); install it with "
                    f"`apt-get install {p}` or pass your own text files"
                ) from e
        for deb in tmp.glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "root")], check=True, capture_output=True)
        (tmp / "root" / ".complete").write_text("ok")
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp / "root", final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _kjv(root: Path) -> list[Document]:
    exe, data = root / "usr/bin/bible", root / "usr/lib"
    out = subprocess.run(
        [str(exe), "-p", str(data), "-f", "gen1:1-rev22:21"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "100000"},
    ).stdout
    books: dict[str, list[str]] = {}
    for line in out.splitlines():
        m = re.match(r"^([1-3]?[A-Z][a-z]*)(\d+):(\d+) (.*)", line)
        if m:  # drop the verse reference, keep the prose; a new chapter starts a paragraph
            verses = books.setdefault(m.group(1), [])
            verses.append(("\n\n" if m.group(3) == "1" and verses else "") + m.group(4))
        elif line.strip() and books:
            books[list(books)[-1]][-1] += " " + line.strip()
    return [Document(f"kjv/{b}", " ".join(v).replace(" \n\n", "\n\n")) for b, v in books.items()]


def _info_text(raw: str) -> str:
    """Info files: drop the node headers and menus, keep the prose."""
    keep = []
    for block in raw.split("\x1f"):
        lines = [ln for ln in block.splitlines() if not ln.startswith(("File:", "* Menu:", "Tag Table:"))]
        keep.append("\n".join(lines).strip())
    return "\n\n".join(k for k in keep if k)


def builtin_documents(name: str, cache: Path) -> list[Document]:
    root = _debian_root(_DEBS[name], cache)
    if name == "kjv":
        return _kjv(root)
    if name == "jargon":
        raw = gzip.open(root / "usr/share/info/jargon.info.gz", "rt", errors="replace").read()
        return [Document("jargon", _info_text(raw))]
    base = root / "usr/share/doc/gnu-standards"
    return [
        Document(f"gnu-standards/{f}", gzip.open(base / f"{f}.text.gz", "rt").read()) for f in ("standards", "maintain")
    ]


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


def load_documents(sources: tuple[str, ...], cache: Path) -> list[Document]:
    docs: list[Document] = []
    for s in sources:
        docs += builtin_documents(s, cache) if s in BUILTIN_SOURCES else local_documents(s)
    return docs


def make_windows(token_ids: list[list[int]], names: list[str], cfg: LongContextConfig) -> Windows:
    """Seeded windows of cfg.tokens tokens: sections of long documents, each at a random offset.

    Pure in (token ids, cfg): the same ids and seed always give the same windows.
    """
    rng = np.random.default_rng(cfg.seed)
    candidates = []  # (name, ids, lo, hi): a window may start anywhere in [lo, hi]
    for name, ids in zip(names, token_ids, strict=True):
        k = len(ids) // cfg.tokens  # non-overlapping sections this document can give
        for j in range(k):
            span = len(ids) // k
            label = name if k == 1 else f"{name}#{j + 1}"
            candidates.append((label, ids, j * span, (j + 1) * span - cfg.tokens))
    if len(candidates) < cfg.documents:
        raise TextSourceError(
            f"only {len(candidates)} documents or sections have {cfg.tokens} tokens; "
            f"ask for fewer --documents or fewer --tokens, or add text sources"
        )
    pick = sorted(rng.choice(len(candidates), size=cfg.documents, replace=False))
    out, starts, labels = [], [], []
    for i in pick:
        label, ids, lo, hi = candidates[i]
        start = int(rng.integers(lo, hi + 1))
        out.append(ids[start : start + cfg.tokens])
        starts.append(start)
        labels.append(label)
    return Windows(np.array(out, dtype=np.int64), labels, np.array(starts))
