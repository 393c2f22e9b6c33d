"""Probe sweep over (site x layer x digit scale) with k-fold CV, baselines and a control task.

Each digit scale has its own activations (the position it is read at) and its own rows: only
problems whose answer writes that digit. A cell's probe and its control probe are fitted on the
same rows; each carries its majority baseline (always guessing the training fold's commonest
label) and chance (1 / classes).

Control task: the same digit scale of |a - b|, a computation of the same operand digits that the
prompt does not ask for (same output space, similar label distribution). A probe that reads the
answer's digit better than that control reads something the model computed for this prompt, not
merely the operands; `selectivity` = (accuracy - majority) - (control - control majority).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
from jaxtyping import Float, Int
from scipy import stats
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from interp.probes.batched import fit_batched
from interp.probes.intervals import cell_intervals
from interp.probes.linear import LinearProbe
from interp.reports.figures import digit_scale_heatmap
from interp.reports.html import notebook

ARRAYS = ("accuracy", "control", "majority", "control_majority", "chance", "n")


class NotConverged(RuntimeError):
    """The batched solver reached its iteration cap on some probe: its accuracies are not the optimum's."""


@dataclass(frozen=True)
class SweepConfig:
    """The probe sweep: L2 strength, folds, solver (batched torch or scikit-learn) and its tolerance.

    >>> SweepConfig(C=0.5, folds=3).method
    'torch'
    """

    C: float = 0.1  # inverse L2 strength, as in scikit-learn
    folds: int = 3  # k-fold cross-validation; confidence intervals are over folds
    method: Literal["torch", "sklearn"] = "torch"
    seed: int = 0
    tol: float = 1e-6  # the sklearn reference, converged (at its default 1e-4 a cell sat 2 problems off)
    torch_tol: float = 5e-4  # the batched solver's stop: gradient norm in its preconditioner's metric. On the
    # default sweeps 1e-3 left a cell two held-out problems off scikit-learn and 7e-4 kept all within one
    max_iter: int = 1000  # batched solver's cap


@dataclass(frozen=True)
class ProbeResults:
    """Held-out accuracy of every probe and its control, per fold, with the baselines each cell is read against.

    >>> ProbeResults.__name__   # made by sweep (see there): mean(), ci95(), selectivity(), to_json(), arrays()
    'ProbeResults'
    """

    sites: list[str]
    layers: list[int]
    targets: list[str]  # digit scales, "digit_1" = ones
    accuracy: Float[np.ndarray, "site layer target fold"]
    control: Float[np.ndarray, "site layer target fold"]
    majority: Float[np.ndarray, " target"]  # mean over folds
    control_majority: Float[np.ndarray, " target"]
    chance: Float[np.ndarray, " target"]  # 1 / number of classes
    n: Int[np.ndarray, " target"]  # problems whose answer writes this digit
    config: dict = field(default_factory=dict)
    # from the pooled held-out predictions (`interp.probes.intervals`), arrays [site, layer, target, ...]:
    # accuracy_ci, control_ci, above_majority_ci, selectivity_ci ([.., 2]: 95% lo, hi), above_majority_p / _q
    intervals: dict[str, np.ndarray] | None = None

    def mean(self, which: str = "accuracy") -> Float[np.ndarray, "site layer target"]:
        return getattr(self, which).mean(-1)

    def above_majority(self) -> Float[np.ndarray, "site layer target"]:
        return self.mean() - self.majority

    def selectivity(self) -> Float[np.ndarray, "site layer target"]:
        return self.above_majority() - (self.mean("control") - self.control_majority)

    def ci95(self, which: str = "accuracy") -> Float[np.ndarray, "site layer target"]:
        """Half-width of a 95% t-interval over folds."""
        x = getattr(self, which)
        k = x.shape[-1]
        if k < 2:
            return np.full(x.shape[:-1], np.nan)
        return stats.t.ppf(0.975, k - 1) * x.std(-1, ddof=1) / np.sqrt(k)

    def to_json(self) -> dict:
        iv = {k: np.asarray(v).tolist() for k, v in (self.intervals or {}).items()} or None
        return asdict(self) | {k: np.asarray(getattr(self, k)).tolist() for k in ARRAYS} | {"intervals": iv}

    def arrays(self) -> dict[str, np.ndarray]:
        """Per-fold accuracies of every probe and its control, and the baselines, by name."""
        return {k: np.asarray(getattr(self, k)) for k in ARRAYS}

    def _repr_html_(self) -> str:
        """Jupyter draws held-out accuracy and selectivity per site, layer x digit scale."""
        figs = [
            fig
            for si, site in enumerate(self.sites)
            for fig in (
                digit_scale_heatmap(self.mean()[si].T, self.layers, ci=self.ci95()[si].T, title=f"{site}: accuracy"),
                digit_scale_heatmap(
                    self.selectivity()[si].T, self.layers, diverging=True, colorbar="selectivity",
                    title=f"{site}: selectivity",
                ),
            )
        ]  # fmt: skip
        return notebook([("Digit-scale probes", figs)])

    @classmethod
    def from_json(cls, d: dict) -> ProbeResults:
        iv = {k: np.asarray(v, dtype=float) for k, v in (d.get("intervals") or {}).items()} or None
        arrays = {k: np.asarray(d[k]) for k in ARRAYS}
        return cls(d["sites"], d["layers"], d["targets"], config=d.get("config", {}), intervals=iv, **arrays)


def split(strata: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold (plain shuffled k-fold if a stratum is too small)."""
    if folds < 2:
        raise ValueError("folds must be at least 2")
    _, counts = np.unique(strata, return_counts=True)
    if counts.min() >= folds:
        kf = StratifiedKFold(folds, shuffle=True, random_state=seed)
        return list(kf.split(strata, strata))
    return list(KFold(folds, shuffle=True, random_state=seed).split(strata))


def _majority_hits(y: np.ndarray, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
    """Whether always guessing the training rows' commonest label gets each held-out row right."""
    vals, counts = np.unique(y[tr], return_counts=True)
    return y[te] == vals[counts.argmax()]


def _fold_torch(X, labels, controls, tr, te, cfg: SweepConfig, hits: np.ndarray):
    """Held-out accuracy [p, scale, 2] of every probe of one fold, batched; p = site x layer feature sets.

    One batched fit per digit scale, on exactly the rows whose answer writes that digit."""
    T, p = X.shape[:2]
    out = np.zeros((p, T, 2))
    for j in range(T):
        tr_j, te_j = tr[labels[tr, j] >= 0], te[labels[te, j] >= 0]
        y_tr = torch.as_tensor(np.stack([labels[tr_j, j], controls[tr_j, j]], -1), device=X.device).expand(p, -1, -1)
        probes = fit_batched(X[j][:, tr_j], y_tr, 10, C=cfg.C, max_iter=cfg.max_iter, tol=cfg.torch_tol)
        if not probes.converged.all():
            raise NotConverged(
                f"batched probe fit: {int((~probes.converged).sum())} of {probes.converged.numel()} probes of digit "
                f"scale {j + 1} did not converge within {cfg.max_iter} iterations; refusing to report them "
                f"(`--probe sklearn` fits the reference)"
            )
        pred = probes.predict(X[j][:, te_j]).cpu().numpy()  # [p, n_te, 2]
        truth = np.stack([labels[te_j, j], controls[te_j, j]], -1)[None]
        out[:, j] = (pred == truth).mean(1)
        hits[j, te_j] = (pred == truth).transpose(1, 0, 2)  # [n_te, p, 2]
    return out


def _fold_sklearn(X, labels, controls, tr, te, cfg: SweepConfig, bar, hits: np.ndarray):
    """The reference: `LinearProbe` (scikit-learn) fitted one probe at a time.

    One BLAS thread: on these small problems (n ~ 333, d ~ 600-900) it was 9x faster than two on 2 cores."""
    T, p = X.shape[:2]
    out = np.zeros((p, T, 2))
    with threadpool_limits(1):
        for j in range(T):
            tr_j, te_j = tr[labels[tr, j] >= 0], te[labels[te, j] >= 0]
            for i in range(p):
                for c, y in enumerate((labels[:, j], controls[:, j])):
                    probe = LinearProbe(C=cfg.C, tol=cfg.tol).fit(X[j, i, tr_j].numpy(), y[tr_j])
                    hits[j, te_j, i, c] = probe.predict(X[j, i, te_j].numpy()) == y[te_j]
                    out[i, j, c] = hits[j, te_j, i, c].mean()
                    bar.update(1)
    return out


def reference_check(
    acts: dict[str, Float[torch.Tensor, "n layer scale d"]],
    labels: Int[np.ndarray, "n scale"],
    controls: Int[np.ndarray, "n scale"],
    cfg: SweepConfig,
    strata: np.ndarray | None = None,
    device: torch.device | str = "cpu",
) -> tuple[tuple[int, ...], int]:
    """One cell fitted both ways, the batched solver (on `device`) against `LinearProbe` (scikit-learn): the
    first site's last layer, the ones digit and its control, fold 0. Returns (held-out problems where the two
    disagree, for the digit and for its control; held-out problems). The batched solver is this module's own
    code on torch's kernels: this is how a run knows that neither changed under it."""
    X = next(iter(acts.values()))[:, -1, 0].float().cpu()  # [n, d]
    Xd = X.to(device)
    n = len(labels)
    tr, te = split(strata if strata is not None else np.zeros(n, int), cfg.folds, cfg.seed)[0]
    tr, te = tr[labels[tr, 0] >= 0], te[labels[te, 0] >= 0]
    ys = np.stack([labels[:, 0], controls[:, 0]], -1)  # [n, 2]
    y_tr = torch.as_tensor(ys[tr], device=Xd.device)[None]
    fast = fit_batched(Xd[None, tr], y_tr, 10, C=cfg.C, max_iter=cfg.max_iter, tol=cfg.torch_tol)
    fast = fast.predict(Xd[None, te])[0].cpu().numpy()  # [n_te, 2]
    with threadpool_limits(1):
        plain = np.stack(
            [LinearProbe(C=cfg.C, tol=cfg.tol).fit(X[tr].numpy(), y[tr]).predict(X[te].numpy()) for y in ys.T], -1
        )
    return tuple(int(v) for v in (fast != plain).sum(0)), len(te)


def sweep(
    acts: dict[str, Float[torch.Tensor, "n layer scale d"]],
    labels: Int[np.ndarray, "n scale"],
    controls: Int[np.ndarray, "n scale"],
    layers: list[int],
    cfg: SweepConfig,
    strata: np.ndarray | None = None,
    progress: bool | None = None,
    only_folds: list[int] | None = None,
    device: torch.device | str = "cpu",
) -> ProbeResults:
    """A probe per (site, layer, scale) and its control, per fold (or only the folds named).

    `labels` and `controls` hold -1 where the problem's answer does not write that digit. The batched solver
    runs on `device` (the activations are moved there); results are numpy arrays.

    >>> acts, y = {"resid_post": torch.randn(40, 2, 1, 8)}, (np.arange(40) % 4)[:, None]   # [n, layer, scale, d]
    >>> sweep(acts, y, y[::-1].copy(), [0, 1], SweepConfig(folds=2)).mean().shape   # [site, layer, scale]
    (1, 2, 1)
    """
    sites = list(acts)
    n, T = labels.shape
    folds = split(strata if strata is not None else np.zeros(n, int), cfg.folds, cfg.seed)
    folds = [folds[i] for i in only_folds] if only_folds is not None else folds
    X = torch.stack([acts[s].float() for s in sites], 0)  # [site, n, layer, scale, d]
    X = X.permute(3, 0, 2, 1, 4).reshape(T, len(sites) * len(layers), n, -1)  # [scale, p, n, d]: rows gather fast
    if cfg.method == "torch":
        X = X.to(device)
    right, majority, control_majority, hits, majority_hits = _run_folds(X, labels, controls, folds, cfg, progress)
    right = right.reshape(len(sites), len(layers), T, 2, len(folds))
    intervals = None
    if only_folds is None:  # every problem held out once: the pooled predictions are complete
        shape = (len(sites), len(layers), T)
        cells = cell_intervals(hits, majority_hits, seed=cfg.seed)
        intervals = {k: v.reshape(*shape, *v.shape[2:]) for k, v in cells.items()}
    chance = np.array([1 / len(np.unique(labels[labels[:, j] >= 0, j])) for j in range(T)])
    targets = [f"digit_{j + 1}" for j in range(T)]
    return ProbeResults(
        sites,
        layers,
        targets,
        right[..., 0, :],
        right[..., 1, :],
        majority,
        control_majority,
        chance,
        (labels >= 0).sum(0),
        config=asdict(cfg),
        intervals=intervals,
    )


def _run_folds(X, labels, controls, folds, cfg: SweepConfig, progress):
    """Every fold's probes: accuracy [p, scale, 2, fold], the majority baselines [scale] (mean over folds),
    and the pooled held-out predictions of the probes [scale, n, p, 2] and of the majority guess [scale, n, 2]
    (right 1, wrong 0, -1 where the problem does not write the digit)."""
    T, n = labels.shape[1], labels.shape[0]
    right = np.zeros((X.shape[1], T, 2, len(folds)))
    hits = np.full((T, n, X.shape[1], 2), -1, dtype=np.int8)
    majority_hits = np.full((T, n, 2), -1, dtype=np.int8)
    majority, control_majority = np.zeros(T), np.zeros(T)
    per_fold = 1 if cfg.method == "torch" else X.shape[1] * T * 2
    bar = tqdm(
        total=len(folds) * per_fold, desc=f"probes ({cfg.method})", disable=None if progress is None else not progress
    )
    for f, (tr, te) in enumerate(folds):
        for j in range(T):
            tr_j, te_j = tr[labels[tr, j] >= 0], te[labels[te, j] >= 0]
            for t, y in enumerate((labels[:, j], controls[:, j])):
                majority_hits[j, te_j, t] = _majority_hits(y, tr_j, te_j)
            majority[j] += majority_hits[j, te_j, 0].mean() / len(folds)
            control_majority[j] += majority_hits[j, te_j, 1].mean() / len(folds)
        if cfg.method == "torch":
            right[..., f] = _fold_torch(X, labels, controls, tr, te, cfg, hits)
            bar.update(1)
        else:
            right[..., f] = _fold_sklearn(X, labels, controls, tr, te, cfg, bar, hits)
    bar.close()
    return right, majority, control_majority, hits, majority_hits


def difference_controls(
    a: Int[np.ndarray, " n"], b: Int[np.ndarray, " n"], written: Int[np.ndarray, " n"], scales: int
) -> Int[np.ndarray, "n scale"]:
    """The control labels: digit k of |a - b|, masked (-1) like the answer's digit k."""
    diff = np.abs(a - b)
    out = np.stack([(diff // 10 ** (k - 1)) % 10 for k in range(1, scales + 1)], 1)
    return np.where(np.arange(1, scales + 1)[None] <= written[:, None], out, -1)
