"""Writing files so that nothing is ever half-written, and nothing is overwritten unasked.

Every write goes to a hidden temporary name beside its target and is renamed
into place when complete. Temporary files are created with `open(..., "x")`,
so they get the process umask like any other file (`mkstemp` would make them
0600 and unreadable to colleagues).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

PARTIAL = ".partial"  # suffix of every temporary file this module writes


def _temp_name(path: Path) -> Path:
    return path.parent / f".{path.name}.{secrets.token_hex(4)}{PARTIAL}"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temporary file renamed into place."""
    path = Path(path)
    tmp = _temp_name(path)
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def remove_partials(folder: str | os.PathLike) -> list[str]:
    """Delete temporary files a killed writer left in `folder`; returns their names."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    gone = []
    for p in folder.iterdir():
        if p.name.startswith(".") and p.name.endswith(PARTIAL) and p.is_file():
            p.unlink(missing_ok=True)
            gone.append(p.name)
    return gone


def existing_outputs(out_dir: str | os.PathLike, names: Iterable[str]) -> list[str]:
    """The names among `names` that already exist in `out_dir`."""
    out_dir = Path(out_dir)
    return [n for n in names if (out_dir / n).exists()]


def write_outputs(out_dir: str | os.PathLike, writers: Mapping[str, Callable[[Path], None]]) -> None:
    """Call each `writers[name](path)` on a scratch path, then move every output into `out_dir`.

    Nothing lands unless every writer succeeded. An existing output of the same name is replaced
    (callers refuse that earlier unless the user asked to overwrite).
    """
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=out_dir) as tmp:
        try:
            for name, write in writers.items():
                write(Path(tmp) / name)
        except BaseException:
            if created:  # leave no empty folder behind
                shutil.rmtree(out_dir, ignore_errors=True)
            raise
        for name in writers:
            dest = out_dir / name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(Path(tmp) / name, dest)
