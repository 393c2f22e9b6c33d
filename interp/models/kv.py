"""Continuing a forward from a KV cache through a TransformerBridge.

Two things use it: patching (a shared few-shot prefix runs once, every patched
forward continues from its cache) and greedy decoding (each step continues
from the prompt's cache).

Why `thread_cache` exists: TransformerLens 4.3's attention bridges read the
cache from a `past_key_values` keyword. transformers 5.24 renamed the keyword
its decoder layers pass to `cache`, so the bridge ignored the cache and each
new token attended to itself and the other new tokens only: the first
generated token was right, the rest garbage, with no error. `thread_cache`
hands the cache on under the name the bridge reads. It is a no-op where the
layers already pass `past_key_values`, and every cached path also checks
itself (`interp.core.selfcheck`), so a future rename cannot go unnoticed.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from jaxtyping import Int
from torch import Tensor

from interp.core.selfcheck import SelfCheckError
from interp.models.devices import model_device


def cache_keyword(module) -> str:
    """The keyword `module.forward` takes its KV cache under: `cache` from transformers 5.24 (which warns that
    `past_key_values` goes in 5.40), `past_key_values` before.

    >>> import transformers
    >>> cache_keyword(transformers.LlamaModel(transformers.LlamaConfig(hidden_size=8, intermediate_size=8,
    ...     num_hidden_layers=1, num_attention_heads=2, vocab_size=10))) in ("cache", "past_key_values")
    True
    """
    return "cache" if "cache" in inspect.signature(module.forward).parameters else "past_key_values"


def _rename_cache(module, args, kwargs):
    if "cache" in kwargs and "past_key_values" not in kwargs:
        kwargs = dict(kwargs)
        kwargs["past_key_values"] = kwargs.pop("cache")
        return args, kwargs
    return None


def thread_cache(model) -> int:
    """Make every attention bridge in `model` see the KV cache its decoder layer passes, for good.

    `load_model` does this to the models it builds. Idempotent. Returns the number of attention modules
    it watches. On a model of the researcher's own, use `threaded_cache`, which undoes it.

    >>> thread_cache(model) == model.cfg.n_layers   # load_model's bridges are watched already
    True
    """
    _thread(model)
    return sum(1 for m in model.modules() if getattr(m, "_interp_threads_cache", False))


@contextmanager
def threaded_cache(model) -> Iterator[None]:
    """`thread_cache` for the length of a block: the pre-hooks it adds are removed on exit, so a bridge the
    researcher booted is left as it was. Attention modules already watched stay watched.

    >>> with threaded_cache(model):
    ...     pass                                  # the toolkit's cached forwards run here
    """
    added = _thread(model)
    try:
        yield
    finally:
        for module, handle in added:
            handle.remove()
            module._interp_threads_cache = False


def _thread(model) -> list:
    """(module, hook handle) for each attention bridge this call started watching."""
    from transformer_lens.model_bridge.generalized_components import (
        AttentionBridge,  # slow import: only here
    )

    added = []
    for module in model.modules():
        if isinstance(module, AttentionBridge) and not getattr(module, "_interp_threads_cache", False):
            added.append((module, module.register_forward_pre_hook(_rename_cache, with_kwargs=True)))
            module._interp_threads_cache = True
    return added


class PrefixCache:
    """The KV cache of one token prefix, run once and continued by batches of suffixes.

    >>> ids = model.tokenizer(["1+1=2 3+4="], add_special_tokens=False, return_tensors="pt")["input_ids"]
    >>> prefix = PrefixCache(model, ids[0, :6])         # "1+1=2 ", run once
    >>> with prefix.continued(batch=2) as cache:
    ...     logits = model(ids[:, 6:].repeat(2, 1), past_key_values=cache)   # two rows continue it
    >>> logits.shape[:2]
    torch.Size([2, 4])
    """

    @torch.no_grad()
    def __init__(self, model, prefix: Int[Tensor, " P"]):
        self.model = model
        self.length = int(prefix.shape[0])
        with threaded_cache(model):
            _, self._cache = model(prefix[None].to(model_device(model)), return_type="logits_and_cache")
        if self._cache is None or self._cache.get_seq_length() != self.length:
            got = None if self._cache is None else self._cache.get_seq_length()
            raise SelfCheckError(
                f"the model returned a KV cache of {got} positions for a {self.length}-token "
                "prefix: cached continuation does not work with this model and these versions"
            )
        self._expanded: dict[int, object] = {}

    def _for_batch(self, batch: int):
        if batch not in self._expanded:
            c = copy.deepcopy(self._cache)
            c.batch_repeat_interleave(batch)
            self._expanded = {batch: c}  # keep one: caches for big batches are large
        return self._expanded[batch]

    @contextmanager
    def continued(self, batch: int) -> Iterator[object]:
        """A cache for `batch` rows holding the prefix; cropped back to the prefix on exit."""
        cache = self._for_batch(batch)
        try:
            with threaded_cache(self.model):
                yield cache
        finally:
            if cache.get_seq_length() > self.length:
                cache.crop(self.length - cache.get_seq_length())  # a negative count removes tokens
