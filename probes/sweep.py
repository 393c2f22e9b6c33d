"""Probe sweep over (site x layer x target) with k-fold CV, baselines and control tasks.

Control task (Hewitt & Liang 2019): the same probe on labels given by a fixed
random function of the input (here of the two operand digits at that scale,
values drawn from the real labels' distribution). A probe that fits the
control as well as the real task is memorising, not reading; selectivity =
accuracy - control accuracy says how much of the accuracy is the model's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
from jaxtyping import Float, Int
from sklearn.model_selection import KFold, StratifiedKFold
from tqdm.auto import tqdm

from interp.probes.batched import fit_batched
from interp.probes.linear import LinearProbe


@dataclass(frozen=True)
class SweepConfig:
    C: float = 0.1  # inverse L2 strength, as in scikit-learn
    folds: int = 3  # k-fold cross-validation; confidence intervals are over folds
    method: Literal["torch", "sklearn"] = "torch"
    seed: int = 0
    tol: float = 1e-4  # scikit-learn's gradient tolerance (its default)
    # The torch solver's gradient lives in a rescaled basis, flatter along high-variance
    # directions, so it needs a tighter tolerance to land on sklearn's predictions.
    torch_tol: float = 1e-5
    max_iter: int = 150  # torch L-BFGS cap; the batch runs until its slowest probe stops


@dataclass
class ProbeResults:
    sites: list[str]
    layers: list[int]
    targets: list[str]
    accuracy: Float[np.ndarray, "site layer target fold"]
    control: Float[np.ndarray, "site layer target fold"]
    majority: Float[np.ndarray, " target"]  # always guessing the training fold's commonest label
    chance: Float[np.ndarray, " target"]  # 1 / number of classes
    config: dict = field(default_factory=dict)

    def mean(self, which: str = "accuracy") -> Float[np.ndarray, "site layer target"]:
        return getattr(self, which).mean(-1)

    def selectivity(self) -> Float[np.ndarray, "site layer target"]:
        return (self.accuracy - self.control).mean(-1)

    def ci95(self, which: str = "accuracy") -> Float[np.ndarray, "site layer target"]:
        """Half-width of a 95% t-interval over folds."""
        from scipy import stats

        x = getattr(self, which)
        k = x.shape[-1]
        if k < 2:
            return np.full(x.shape[:-1], np.nan)
        return stats.t.ppf(0.975, k - 1) * x.std(-1, ddof=1) / np.sqrt(k)

    def to_json(self) -> dict:
        d = asdict(self)
        for key in ("accuracy", "control", "majority", "chance"):
            d[key] = np.asarray(d[key]).tolist()
        return d

    @classmethod
    def from_json(cls, d: dict) -> ProbeResults:
        arrays = {k: np.asarray(d[k]) for k in ("accuracy", "control", "majority", "chance")}
        return cls(d["sites"], d["layers"], d["targets"], config=d.get("config", {}), **arrays)


def control_labels(y: Int[np.ndarray, " n"], a_digit, b_digit, seed: int) -> Int[np.ndarray, " n"]:
    """A fixed random function of (a digit, b digit), values drawn from y's distribution."""
    rng = np.random.default_rng(seed)
    table = rng.choice(y, size=(10, 10), replace=True)
    return table[a_digit, b_digit]


def split(strata: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold (plain shuffled k-fold if a stratum is too small)."""
    if folds < 2:
        raise ValueError("folds must be at least 2")
    _, counts = np.unique(strata, return_counts=True)
    if counts.min() >= folds:
        kf = StratifiedKFold(folds, shuffle=True, random_state=seed)
        return list(kf.split(strata, strata))
    return list(KFold(folds, shuffle=True, random_state=seed).split(strata))


def sweep(
    acts: dict[str, Float[torch.Tensor, "n layer d"]],
    labels: dict[str, Int[np.ndarray, " n"]],
    controls: dict[str, Int[np.ndarray, " n"]],
    layers: list[int],
    cfg: SweepConfig,
    strata: np.ndarray | None = None,
    progress: bool | None = None,
    only_folds: list[int] | None = None,
) -> ProbeResults:
    """Fit a probe per (site, layer, target) and its control, per fold (or only the folds named)."""
    sites, targets = list(acts), list(labels)
    n = len(next(iter(labels.values())))
    folds = split(strata if strata is not None else np.zeros(n, int), cfg.folds, cfg.seed)
    if only_folds is not None:
        folds = [folds[i] for i in only_folds]
    shape = (len(sites), len(layers), len(targets), len(folds))
    acc, ctl = np.zeros(shape), np.zeros(shape)
    Y = np.stack([labels[t] for t in targets] + [controls[t] for t in targets], axis=1)  # [n, 2T]
    n_classes = int(Y.max()) + 1
    X = torch.stack([acts[s] for s in sites], 0).float()  # [site, n, layer, d]
    X = X.permute(0, 2, 1, 3).reshape(len(sites) * len(layers), n, -1)  # [p, n, d]
    T = len(targets)
    majority = np.zeros(T)
    bar = tqdm(
        total=len(folds) * (1 if cfg.method == "torch" else X.shape[0] * 2 * T),
        desc=f"probes ({cfg.method})",
        disable=None if progress is None else not progress,
    )
    for f, (tr, te) in enumerate(folds):
        for j, t in enumerate(targets):
            vals, counts = np.unique(labels[t][tr], return_counts=True)
            majority[j] += np.mean(labels[t][te] == vals[counts.argmax()]) / len(folds)
        if cfg.method == "torch":
            yt = torch.as_tensor(Y[tr]).expand(X.shape[0], -1, -1)
            probes = fit_batched(X[:, tr], yt, n_classes, C=cfg.C, max_iter=cfg.max_iter, tol=cfg.torch_tol)
            pred = probes.predict(X[:, te]).numpy()  # [p, n_te, 2T]
            right = (pred == Y[te][None]).mean(1)  # [p, 2T]
            bar.update(1)
        else:
            right = np.zeros((X.shape[0], 2 * T))
            for p in range(X.shape[0]):
                Xtr, Xte = X[p, tr].numpy(), X[p, te].numpy()
                for j in range(2 * T):
                    probe = LinearProbe(C=cfg.C, tol=cfg.tol).fit(Xtr, Y[tr, j])
                    right[p, j] = probe.score(Xte, Y[te, j])
                    bar.update(1)
        right = right.reshape(len(sites), len(layers), 2 * T)
        acc[..., f], ctl[..., f] = right[..., :T], right[..., T:]
    bar.close()
    chance = np.array([1 / len(np.unique(labels[t])) for t in targets])
    return ProbeResults(sites, layers, targets, acc, ctl, majority, chance, config=asdict(cfg))
