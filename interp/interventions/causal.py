"""Causal tests of probe directions: remove what a probe reads, or push along it, and watch the model's answer.

A probe that reads digit k at layer L shows that the digit is linearly present there: a correlation.
Editing the residual stream along the probe's own directions tests whether the model uses them:

- **ablate**: project the probe's subspace (the span of its class weights, centred over classes; rank <= 9)
  out of the activation and put the training mean's component back (mean-ablation along those directions),
  so the probe itself then sees the same thing on every problem;
- **steer**: move the activation, within the same subspace, to the training mean of another digit's problems
  (`x + steer * QQ^T (mean_target - x)`; `steer` 1 sets the subspace coordinates to the target's mean);

then read the model's own output for that digit at the position that writes it: its final output over the
ten digit tokens, and the logit lens at L. The control for each edit is a random direction of the same norm
(row by row): a probe direction the model uses hurts, or flips, far more than a random edit of that size.

Every edit is at one position, the one that predicts digit k, so positions before it are the same as in the
unedited run: each problem's prefix runs once, and every edit continues from its KV cache with one token
(`interp.models.kv.PrefixCache`), checked against a whole forward on the first problems (`interp.core.selfcheck`).
Probes are fitted on training problems and every number is measured on held-out ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from interp.core.errors import InterpError
from interp.interventions.edits import digit_logits_under_edits
from interp.interventions.lens import logit_lens
from interp.models.devices import HOST
from interp.probes.batched import fit_batched
from interp.probes.intervals import bootstrap_means
from interp.probes.sweep import NotConverged
from interp.reports.html import notebook
from interp.reports.probe import causal_section

CONDITIONS = ("ablate", "ablate_random", "steer", "steer_random")


@dataclass(frozen=True)
class CausalConfig:
    """How far to steer, the probes' L2 strength and iteration cap, and the seed of targets and random edits.

    >>> CausalConfig(steer=0.5).max_iter
    1000
    """

    steer: float = 1.0  # the fraction of the way to the target digit's mean, within the probe subspace
    C: float = 0.1  # the probes' inverse L2 strength (as the sweep's)
    seed: int = 0  # steering targets and random directions
    max_iter: int = 1000  # the probes' iteration cap; a probe that reaches it stops the tests


@dataclass(frozen=True)
class CausalResult:
    """Accuracies and rates over held-out problems, per intervened layer and digit scale.

    >>> CausalResult.__name__   # made by causal_probe_tests (see there); to_json(), arrays(), _repr_html_()
    'CausalResult'
    """

    layers: list[int]
    targets: list[str]
    n: Int[np.ndarray, " scale"]  # held-out problems per scale
    rank: Int[np.ndarray, "layer scale"]  # dimension of the ablated probe subspace
    probe: Float[np.ndarray, "layer scale"]  # the probe's own held-out accuracy
    model: Float[np.ndarray, " scale"]  # the model's own output (over the ten digits), no edit
    model_ablate: Float[np.ndarray, "layer scale"]
    model_ablate_random: Float[np.ndarray, "layer scale"]
    lens: Float[np.ndarray, "layer scale"]  # logit lens at L, no edit
    lens_ablate: Float[np.ndarray, "layer scale"]
    lens_ablate_random: Float[np.ndarray, "layer scale"]
    probe_ablate: Float[np.ndarray, "layer scale"]  # the probe after ablation (should fall to one class)
    flip: Float[np.ndarray, "layer scale"]  # steering: the model's output becomes the target digit
    flip_random: Float[np.ndarray, "layer scale"]
    probe_flip: Float[np.ndarray, "layer scale"]  # steering: the probe's prediction becomes the target
    config: dict = field(default_factory=dict)
    # 95% intervals, paired by problem (a bootstrap over the held-out problems): accuracy lost to the probe
    # ablation beyond the random edit's, and flips by steering beyond the random edit's
    ablation_drop_ci: Float[np.ndarray, "layer scale 2"] | None = None
    flip_gain_ci: Float[np.ndarray, "layer scale 2"] | None = None

    def _repr_html_(self) -> str:
        return notebook([causal_section(self.to_json(), "causal tests")])

    def ablation_drop(self) -> Float[np.ndarray, "layer scale"]:
        """Accuracy lost to ablating the probe subspace, minus that lost to a random edit of the same norm."""
        return self.model_ablate_random - self.model_ablate

    @classmethod
    def arrays(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name not in ("layers", "targets", "config")]

    def to_json(self) -> dict:
        arrays = {k: np.asarray(v).tolist() for k in self.arrays() if (v := getattr(self, k)) is not None}
        return asdict(self) | arrays

    @classmethod
    def from_json(cls, d: dict) -> CausalResult:
        arrays = {k: np.asarray(d[k]) for k in cls.arrays() if d.get(k) is not None}  # older files lack intervals
        return cls(d["layers"], d["targets"], config=d.get("config", {}), **arrays)


@dataclass(frozen=True)
class _Cell:
    """What edits at one (layer, scale) need, in raw activation space."""

    Q: Float[Tensor, "d q"]  # orthonormal basis of the probe subspace
    mean: Float[Tensor, " d"]  # training mean
    w: Float[Tensor, "d k"]  # raw-space class weights
    b: Float[Tensor, " k"]  # logit offsets in raw space: logits = x w + b (-inf for classes never seen)
    means: Float[Tensor, "k d"]  # training mean of each digit's problems


def _cells(acts: Tensor, labels: np.ndarray, train: np.ndarray, cfg: CausalConfig) -> list[list[_Cell]]:
    """[scale][layer] cells: probes fitted on the training problems that write that digit."""
    _, L, T, _ = acts.shape
    out = []
    for k in range(T):
        rows = train[labels[train, k] >= 0]
        X = acts[rows, :, k].float().transpose(0, 1)  # [layer, n, d]
        y = torch.as_tensor(labels[rows, k], device=HOST)[None, :, None].expand(L, -1, 1)
        probes = fit_batched(X, y, 10, C=cfg.C, tol=1e-6, max_iter=cfg.max_iter)
        if not probes.converged.all():  # as the sweep: an unconverged probe's direction is not tested
            bad = int((~probes.converged).sum())
            raise NotConverged(f"causal tests: {bad} of {L} probes of digit scale {k + 1} did not converge within "
                               f"{cfg.max_iter} iterations; refusing to test their directions")  # fmt: skip
        w = probes.W[:, :, 0] / probes.scale[:, 0, :, None]  # [layer, d, k]
        b = probes.b[:, 0] - torch.einsum("ld,ldk->lk", probes.mean[:, 0], w)
        cells = []
        for li in range(L):
            present = probes.present[li, 0]
            wp = w[li][:, present]
            U, S, _ = torch.linalg.svd(wp - wp.mean(1, keepdim=True), full_matrices=False)
            Q = U[:, S > 1e-6 * S.max()]
            onehot = torch.nn.functional.one_hot(y[li, :, 0], 10).float()  # [n, k]
            means = (onehot.T @ X[li]) / onehot.sum(0).clamp_min(1)[:, None]
            bias = b[li].masked_fill(~present, float("-inf"))
            cells.append(_Cell(Q, X[li].mean(0), w[li], bias, means))
        out.append(cells)
    return out


def _random_units(g: torch.Generator, n: int, d: int) -> Tensor:
    r = torch.randn(n, d, generator=g, device=HOST)
    return r / r.norm(dim=1, keepdim=True)


def _edits(cell: _Cell, x: Float[Tensor, " d"], target: int, steer: float, r1: Tensor, r2: Tensor) -> Tensor:
    """The four edited vectors [4, d] of one activation: ablate, same-norm random, steer, same-norm random."""
    ablate = -cell.Q @ (cell.Q.T @ (x - cell.mean))
    step = steer * cell.Q @ (cell.Q.T @ (cell.means[target] - x))
    return torch.stack([x + ablate, x + ablate.norm() * r1, x + step, x + step.norm() * r2])


@torch.no_grad()
def causal_probe_tests(
    model,
    tokens: list[list[int]],
    positions: Int[np.ndarray, "n scale"],
    labels: Int[np.ndarray, "n scale"],
    acts: Float[Tensor, "n layer scale d"],
    layers: list[int],
    train: Int[np.ndarray, " n_train"],
    test: Int[np.ndarray, " n_test"],
    digit_ids: list[int],
    cfg: CausalConfig | None = None,
    progress: bool | None = None,
    check: bool = True,
) -> CausalResult:
    """Ablate and steer along each (layer, scale) probe's directions at `blocks.{L}.hook_resid_post`.

    `tokens` are the teacher-forced problems, `positions[i, k]` the position that predicts digit k of
    problem i, `acts` the residual stream captured there at each of `layers`, and `labels` the digits
    (-1 where the answer has no digit k). Probes are fitted on `train`; everything is measured on `test`.

    >>> problems = make_arithmetic(ArithmeticConfig(n=60, digits=(1, 2), shots=1), seed=0)
    >>> pos, texts = read_positions(model.tokenizer, problems, prepend_bos=False)[:, :2], probe_texts(problems)
    >>> acts = capture(model, texts, sites=["resid_post"], positions=pos, progress=False)["resid_post"]
    >>> labels = np.stack([problems.labels["digit_1"], problems.labels["digit_2"]], 1)   # ones, tens
    >>> ids = [model.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    >>> res = causal_probe_tests(model, ids, pos, labels, acts, [0, 1], np.arange(40), np.arange(40, 60),
    ...                          digit_token_ids(model.tokenizer), progress=False)
    >>> res.flip.shape                    # [layer, scale]
    (2, 2)
    """
    cfg = cfg or CausalConfig()
    L, T = len(layers), labels.shape[1]
    check_steerable(labels, train)
    cells = _cells(acts, labels, train, cfg)
    stacked = [(torch.stack([c.w for c in cs]), torch.stack([c.b for c in cs])) for cs in cells]  # per scale
    g = torch.Generator().manual_seed(cfg.seed)
    d = acts.shape[-1]
    keys = ("probe", "probe_ablate", "probe_flip", "lens", "lens_ablate", "lens_ablate_random", "model", *CONDITIONS)
    tally = {key: np.zeros((L, T)) for key in keys}
    paired = {key: [[] for _ in range(T)] for key in CONDITIONS}  # per scale, each problem's hits [layer]
    n = np.zeros(T, dtype=int)
    jobs = [(i, k) for k in range(T) for i in test if labels[i, k] >= 0]
    for j, (i, k) in enumerate(tqdm(jobs, desc="causal tests", disable=None if progress is None else not progress)):
        y, p = int(labels[i, k]), int(positions[i, k])
        n[k] += 1
        x = acts[i, :, k].float()  # [layer, d]
        targets = [_target(g, cells[k][li].b, y) for li in range(L)]
        edited = torch.stack(
            [_edits(cells[k][li], x[li], targets[li], cfg.steer, *_random_units(g, 2, d)) for li in range(L)]
        )  # [layer, 4, d]
        edits = [(f"blocks.{layer}.hook_resid_post", edited[li]) for li, layer in enumerate(layers)]
        out = digit_logits_under_edits(model, tokens[i], p, edits, digit_ids, check=check and j < 2).argmax(-1).cpu()
        lens = logit_lens(model, torch.cat([x[:, None], edited[:, :2]], 1), digit_ids).argmax(-1)  # [layer, 3]
        for key, hit in _hits(x, edited, stacked[k], out, lens, y, targets).items():
            tally[key][:, k] += hit
            if key in paired:
                paired[key][k].append(hit)
    rank = np.array([[cells[k][li].Q.shape[1] for k in range(T)] for li in range(L)])
    return replace(_result(layers, n, rank, tally, cfg), **paired_intervals(paired, L, cfg.seed))


def check_steerable(labels: Int[np.ndarray, "n scale"], train: Int[np.ndarray, " n_train"]) -> None:
    """Steering needs another digit to steer to: refuse a scale whose training problems write one digit."""
    for k in range(labels.shape[1]):
        seen = np.unique(labels[train][labels[train, k] >= 0, k])
        if len(seen) < 2:
            raise InterpError(f"causal tests: the training problems write only {seen.tolist()} at digit scale "
                              f"{k + 1}, so there is no other digit to steer to; leave that scale out")  # fmt: skip


def paired_intervals(paired: dict, L: int, seed: int, n_boot: int = 2000) -> dict[str, np.ndarray]:
    """Each layer's accuracy lost (ablation) and flips gained (steering) beyond the random edit: 95% intervals
    of the mean per-problem difference, resampling the problems (both conditions ran on the same ones)."""
    T, rng = len(paired["ablate"]), np.random.default_rng(seed)
    out = {key: np.full((L, T, 2), np.nan) for key in ("ablation_drop_ci", "flip_gain_ci")}
    for k in range(T):
        if not paired["ablate"][k]:
            continue
        hit = {key: np.stack(paired[key][k]) for key in CONDITIONS}  # [m, layer]
        for key, d in (
            ("ablation_drop_ci", hit["ablate_random"] - hit["ablate"]),
            ("flip_gain_ci", hit["steer"] - hit["steer_random"]),
        ):
            out[key][:, k] = np.percentile(bootstrap_means(d, n_boot, rng), [2.5, 97.5], axis=0).T
    return out


def _result(layers: list[int], n: np.ndarray, rank: np.ndarray, tally: dict, cfg: CausalConfig) -> CausalResult:
    f = {key: v / np.maximum(n, 1)[None] for key, v in tally.items()}
    return CausalResult(
        list(layers),
        [f"digit_{k + 1}" for k in range(len(n))],
        n,
        rank,
        f["probe"],
        f["model"][0],
        f["ablate"],
        f["ablate_random"],
        f["lens"],
        f["lens_ablate"],
        f["lens_ablate_random"],
        f["probe_ablate"],
        f["steer"],
        f["steer_random"],
        f["probe_flip"],
        asdict(cfg),
    )


def _hits(x, edited, probe_wb, out, lens, y: int, targets: list[int]) -> dict[str, np.ndarray]:
    """Per layer, 1 where each measure came out right for one problem: the probe's, the lens' and the model's
    answer (the true digit; for steering, the target digit)."""
    L = len(targets)
    w, bias = probe_wb
    probe = (torch.stack([x, edited[:, 0], edited[:, 2]], 1) @ w + bias[:, None]).argmax(-1)  # [layer, 3]
    t = torch.as_tensor(targets, device=HOST)
    edited_out = out[1:].view(L, 4)
    hits = {
        "probe": probe[:, 0] == y,
        "probe_ablate": probe[:, 1] == y,
        "probe_flip": probe[:, 2] == t,
        "lens": lens[:, 0] == y,
        "lens_ablate": lens[:, 1] == y,
        "lens_ablate_random": lens[:, 2] == y,
        "model": (out[0] == y).expand(L),  # the same unedited row for every layer; counted from layer 0 below
    }
    hits |= {cond: edited_out[:, c] == (y if c < 2 else t) for c, cond in enumerate(CONDITIONS)}
    return {k: v.numpy().astype(float) for k, v in hits.items()}


def _target(g: torch.Generator, bias: Tensor, y: int) -> int:
    """A random other digit the probe can predict (a class seen in training)."""
    choices = [c for c in range(len(bias)) if c != y and torch.isfinite(bias[c])]
    return choices[int(torch.randint(len(choices), (1,), generator=g, device=HOST))]
