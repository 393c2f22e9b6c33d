"""Documents as each model's tokenizer reads them, with where every token sits in the text.

The character spans let windows be placed in the text rather than in one tokenizer's tokens
(`interp.tasks.long_context.shared_windows`), so that models with different vocabularies read the same
passages and can be compared window by window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from jaxtyping import Int

from interp.core.errors import InterpError
from interp.models.loading import load_tokenizer, tokenizer_adds_bos
from interp.tasks.long_context import Document


@dataclass(frozen=True)
class Tokenized:
    """One model's tokens of every document; `bos` is the token a window starts with, or None."""

    source: str  # the model as the caller named it (built-in name or folder)
    name: str
    path: str
    n_ctx: int
    bos: int | None
    ids: list[Int[np.ndarray, " _tokens"]] = field(repr=False)
    spans: list[Int[np.ndarray, "_tokens 2"]] = field(repr=False)  # [start, end) characters of each token

    @property
    def starts(self) -> list[Int[np.ndarray, " _tokens"]]:
        return [s[:, 0] for s in self.spans]


def tokenize_documents(name_or_path: str, docs: list[Document], tokens: int) -> Tokenized:
    """Tokenize `docs` with a model's tokenizer (no weights load); refuse windows longer than its context."""
    from transformers import AutoConfig

    name, path, tok = load_tokenizer(name_or_path)
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    n_ctx = int(getattr(config.get_text_config(), "max_position_embeddings", 0) or 0)
    if n_ctx and tokens > n_ctx:
        raise InterpError(f"--tokens {tokens} is more than {name}'s context of {n_ctx} tokens")
    if not tok.is_fast:
        raise InterpError(f"{name}'s tokenizer gives no character offsets (not a fast tokenizer)")
    ids, spans = [], []
    for d in docs:
        enc = tok(d.text, add_special_tokens=False, return_offsets_mapping=True)
        ids.append(np.asarray(enc["input_ids"], dtype=np.int64))
        s = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        s[:, 0] = np.maximum.accumulate(s[:, 0]) if len(s) else s[:, 0]  # byte-fallback pieces share a start
        spans.append(s)
    bos = tok.bos_token_id if tokenizer_adds_bos(tok) else None
    return Tokenized(name_or_path, name, str(path), n_ctx, bos, ids, spans)
