"""Activation patching of attention and MLP sublayers, batched over sites.

Denoising: run the corrupted prompts, replace one site's output with its
value from the clean run, and read the logit difference between the clean
and corrupted answers' first tokens at the last position. The normalised
effect is (LD_patched - LD_corrupt) / (LD_clean - LD_corrupt) over the mean
LDs: 1 = the site alone restores the clean answer, 0 = no effect.

Three things make the grid cheap without changing a number:
- every prompt shares its few-shot prefix, so the prefix runs once and later
  forwards continue from its KV cache: patching a clean value into the
  prefix, or its mean over prompts, would be a no-op (the prefix is the same
  in every prompt). Zero ablation is not a no-op there, so it edits whole
  prompts (`sweep(..., whole=True)`), each site's edited prefix run once and its suffixes continued from
  that cache;
- only two logits per row are needed, so the forward stops at the unembedding
  input and takes two columns of W_U instead of the full vocabulary;
- several sites run in one forward, each on its own copy of the batch.
`naive_patch` is the plain loop (one full forward per site) they are tested against;
`interp.interventions.sublayers.run_patching` runs the whole grid.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from interp.core.selfcheck import agree
from interp.interventions.readout import final_residual, unembed_columns
from interp.models.devices import model_device
from interp.models.kv import PrefixCache, threaded_cache
from interp.models.precision import check_tolerance

SUBLAYERS = ("attn_out", "mlp_out")  # the sites patching replaces
HOOKS = {"attn_out": "hook_attn_out", "mlp_out": "hook_mlp_out", "z": "attn.hook_z"}  # z: [n, pos, head, d_head]


@dataclass(frozen=True)
class PatchConfig:
    """What `run_patching` computes: the sites, per-position effects, ablations, and the batch size.

    >>> PatchConfig(per_position=False, ablations=False).sites
    ('attn_out', 'mlp_out')
    """

    sites: tuple[str, ...] = SUBLAYERS
    per_position: bool = True  # also patch each prompt position separately
    ablations: bool = True  # zero- and mean-ablation of each sublayer on the clean prompts
    rows_per_forward: int = 512  # batch rows per patched forward (sites x prompts)
    n_boot: int = 2000  # bootstrap resamples of the pairs for each effect's 95% interval
    seed: int = 0  # of the resampling: the same seed gives the same intervals


@dataclass(frozen=True)
class Site:
    """One place to patch: a sublayer (or one head's `z`) of one layer, at one suffix position or all.

    >>> Site("mlp_out", 3).hook, Site("z", 2, pos=1, head=0).hook
    ('blocks.3.hook_mlp_out', 'blocks.2.attn.hook_z')
    """

    kind: str  # "attn_out" | "mlp_out" | "z" (each head's attention-weighted values, before W_O)
    layer: int
    pos: int | None = None  # suffix position; None = all positions
    head: int | None = None  # "z" only: one head; None = every head

    @property
    def hook(self) -> str:
        return f"blocks.{self.layer}.{HOOKS[self.kind]}"

    def index(self, rows: slice | Tensor) -> tuple:
        """The part of a hook's activation [rows, pos, (head,) ...] this site replaces."""
        pos = slice(None) if self.pos is None else self.pos
        return (rows, pos) if self.head is None else (rows, pos, self.head)


def common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Number of leading tokens shared by every row (at most len - 1, so each row keeps a suffix)."""
    n = min(len(r) for r in rows) - 1
    first = rows[0]
    for i in range(n):
        if any(r[i] != first[i] for r in rows):
            return i
    return n


class Patcher:
    """Clean/corrupted token batches of one length, and the answer tokens to compare."""

    @torch.no_grad()
    def __init__(
        self,
        model,
        clean: Int[Tensor, "n pos"],
        corrupt: Int[Tensor, "n pos"],
        good: Int[Tensor, " n"],
        bad: Int[Tensor, " n"],
        check: bool = True,
    ):
        if clean.shape != corrupt.shape:
            raise ValueError(
                f"clean and corrupted batches differ in shape: {tuple(clean.shape)} vs {tuple(corrupt.shape)}"
            )
        self.model, self.n, self.device = model, clean.shape[0], model_device(model)
        self.P = common_prefix(torch.cat([clean, corrupt]).tolist())
        self.whole_clean = clean.to(self.device)  # [n, P + S]: for edits that reach into the prefix
        self.clean, self.corrupt = clean[:, self.P :].to(self.device), corrupt[:, self.P :].to(self.device)  # [n, S]
        self.S = self.clean.shape[1]
        self.answers = torch.stack([good, bad], 1)  # [n, 2]: the clean and corrupted answers' first tokens
        self.prefix = PrefixCache(model, clean[0, : self.P]) if self.P else None
        self._whole_checked = False
        if check:  # `check=False` skips it: benchmarks only
            self._check(clean)

    def _check(self, clean: Int[Tensor, "n pos"], rows: int = 2) -> None:
        """The cached continuation against whole-prompt forwards on the first rows (see `interp.core.selfcheck`)."""
        if self.prefix is None:
            return
        k = min(rows, self.n)
        fast = self.forward(self.clean[:k], copies_of=k)
        plain = self._run(clean[:k].to(self.device), [], None, k)
        atol, rtol = check_tolerance(self.model, 1e-3, 1e-4)
        agree("patching from the shared prefix's KV cache: logit difference", fast, plain, atol, rtol)

    def _ld(self, x: Float[Tensor, "rows d"], copies: int, n: int) -> Float[Tensor, " rows"]:
        """Logit difference (clean answer - corrupted answer) from the unembedding input at the last position."""
        z = unembed_columns(self.model, x, self.answers[:n].repeat(copies, 1))
        return z[:, 0] - z[:, 1]

    @torch.no_grad()
    def forward(
        self, ids: Int[Tensor, "rows S"], hooks: list[tuple[str, Callable]] = (), copies_of: int | None = None
    ) -> Float[Tensor, " rows"]:
        """Per-row LD (on the CPU) for suffix ids continuing the shared prefix; rows are copies of the n pairs
        (or of the first `copies_of` pairs)."""
        n, ids = copies_of or self.n, ids.to(self.device)
        if self.prefix is None:
            return self._run(ids, hooks, None, n)
        with self.prefix.continued(ids.shape[0]) as cache:
            return self._run(ids, hooks, cache, n)

    def _run(self, ids, hooks, cache, n: int) -> Float[Tensor, " rows"]:
        return self._ld(final_residual(self.model, ids, hooks, cache), ids.shape[0] // n, n).float().cpu()

    @torch.no_grad()
    def activations(self, ids: Int[Tensor, "n S"], names: list[str]) -> dict[str, Float[Tensor, "n S *rest"]]:
        acts = {}

        def keep(x, hook):
            acts[hook.name] = x.detach().clone()

        self.forward(ids, [(n, keep) for n in names])
        return acts

    @torch.no_grad()
    def sweep(
        self,
        base: Int[Tensor, "n S"],
        sites: list[Site],
        source: Callable[[Site], Tensor],
        rows_per_forward: int = 512,
        progress: bool | None = None,
        per_pair: list | None = None,
        whole: bool = False,
    ) -> Float[np.ndarray, " sites"]:
        """Mean LD over prompts with each site's output replaced by `source(site)` (broadcast to [n, S, d]).

        `whole`: `base` is whole prompts [n, P + S], so a site without a position is replaced at every
        position of the prompt, the prefix included (each site's edited prefix runs once: `_whole_from_prefix`). `per_pair`, a list, gets
        each group's LD per pair [sites, n] appended (for intervals over pairs)."""
        k = max(1, rows_per_forward // self.n)
        out = []
        groups = [sites[i : i + k] for i in range(0, len(sites), k)]
        for group in tqdm(groups, desc="patching", disable=None if progress is None else not progress):
            by_hook = defaultdict(list)
            for j, s in enumerate(group):
                by_hook[s.hook].append((j, s))
            hooks = [(name, self._replacer(entries, source)) for name, entries in by_hook.items()]
            rows = base.repeat(len(group), 1)
            if whole and self.P and all(s.pos is None for s in group):
                ld = self._whole_from_prefix(by_hook, source, hooks, len(group))
            elif whole:
                ld = self._run(rows.to(self.device), hooks, None, self.n)
            else:
                ld = self.forward(rows, hooks)
            out.append(ld.view(len(group), self.n).mean(1))
            if per_pair is not None:
                per_pair.append(ld.view(len(group), self.n).numpy())
        return torch.cat(out).numpy()

    def _whole_from_prefix(self, by_hook: dict, source, hooks: list, k: int) -> Float[Tensor, " rows"]:
        """Whole-prompt LDs for `k` sites replaced at every position, split at the shared prefix: each site's
        prefix runs once with the site replaced, and the n suffixes continue from that row's KV cache (the
        prefix is the same in every prompt, so this is the whole forward, n times cheaper in the prefix).
        Checked once against whole forwards of the first site."""
        prefix_hooks = [(name, self._replacer(entries, source, 1)) for name, entries in by_hook.items()]
        with threaded_cache(self.model):
            with self.model.hooks(fwd_hooks=prefix_hooks):
                _, cache = self.model(self.whole_clean[:1, : self.P].repeat(k, 1), return_type="logits_and_cache")
            cache.batch_repeat_interleave(self.n)  # rows [site 0 x n, site 1 x n, ...], as `base.repeat(k, 1)`
            ld = self._run(self.clean.repeat(k, 1), hooks, cache, self.n)
        if not self._whole_checked:
            self._whole_checked = True
            name, entries = next(iter(by_hook.items()))
            first = [(name, self._replacer(entries[:1], source))]  # the site in block 0 of the group
            plain = self._run(self.whole_clean, first, None, self.n)
            atol, rtol = check_tolerance(self.model, 1e-3, 1e-4)
            agree("a whole-prompt edit split at the shared prefix: logit difference", ld[: self.n], plain, atol, rtol)
        return ld

    def _replacer(self, entries: list[tuple[int, Site]], source, n: int | None = None):
        n = n or self.n

        def hook(x, hook):
            x = x.clone()
            for j, s in entries:
                value = source(s).to(x.device, x.dtype).expand(n, *x.shape[1:])
                x[s.index(slice(j * n, (j + 1) * n))] = value[s.index(slice(None))]
            return x

        return hook


@torch.no_grad()
def naive_patch(
    model, clean: Int[Tensor, "n pos"], corrupt: Int[Tensor, "n pos"], good, bad, sites: list[Site]
) -> Float[np.ndarray, " sites"]:
    """Reference: one full forward of the whole corrupted prompts per site, full logits. Slow, plain.

    >>> batch, kept = pair_tokens(model, make_pairs(ArithmeticConfig(n=8, digits=(2, 2), shots=1), seed=0))
    >>> naive_patch(model, batch["clean"], batch["corrupt"], batch["good"], batch["bad"], [Site("mlp_out", 0)]).shape
    (1,)
    """
    device = model_device(model)
    _, cache = model.run_with_cache(clean.to(device), names_filter=lambda n: n.endswith(tuple(HOOKS.values())))
    P = common_prefix(torch.cat([clean, corrupt]).tolist())
    rows = torch.arange(len(clean), device=device)
    good, bad = good.to(device), bad.to(device)
    out = []
    for s in sites:

        def hook(x, hook, s=s):
            x = x.clone()
            at = Site(s.kind, s.layer, None if s.pos is None else P + s.pos, s.head).index(slice(None))
            x[at] = cache[s.hook][at]
            return x

        logits = model.run_with_hooks(corrupt.to(device), fwd_hooks=[(s.hook, hook)])[:, -1]
        out.append(float((logits[rows, good] - logits[rows, bad]).mean()))
    return np.array(out)
