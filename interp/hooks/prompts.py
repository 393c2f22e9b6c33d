"""Prompts from a file: a .txt file holds one per line, a .jsonl file one JSON object per line with a `text` field."""

from __future__ import annotations

import json
from pathlib import Path

from interp.core.errors import InterpError


def read_prompts(path: Path) -> list[str]:
    """The prompts in `path` (blank lines skipped), in order; a bad file is one clear error."""
    if not path.is_file():
        raise InterpError(f"{path}: no such file")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if path.suffix == ".jsonl":
        out = []
        for i, line in enumerate(lines, 1):
            try:
                out.append(str(json.loads(line)["text"]))
            except (ValueError, KeyError, TypeError) as e:
                raise InterpError(f"{path}:{i}: not a JSON object with a 'text' field ({e})") from e
        lines = out
    elif path.suffix not in (".txt", ""):
        raise InterpError(f"{path}: prompts come as .txt (one per line) or .jsonl (a 'text' field per line)")
    if not lines:
        raise InterpError(f"{path} holds no prompts")
    return lines
