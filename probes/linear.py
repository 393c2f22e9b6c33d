"""LinearProbe: standardise, then multinomial L2 logistic regression; a scikit-learn estimator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import Float
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data


class LinearProbe(ClassifierMixin, BaseEstimator):
    """Logistic-regression probe on one hook site; exposes unit directions per class.

    Any array-like input, as scikit-learn estimators take: X [n, d], y [n].
    The objective is scikit-learn's: `C * sum(log loss) + ||W||^2 / 2` on
    standardised features (the intercept is not penalised).

    >>> X, y = np.random.default_rng(0).normal(size=(60, 5)), np.arange(60) % 3
    >>> probe = LinearProbe(C=1.0).fit(X, y)
    >>> probe.predict(X).shape, probe.classes_.tolist()
    ((60,), [0, 1, 2])
    """

    # No annotations here: scikit-learn's checks pass bad values on purpose and
    # expect fit() to reject them, not __init__.
    def __init__(self, C=0.1, tol=1e-6, max_iter=1000, random_state=0):
        self.C = C  # store only: no logic in __init__
        self.tol = tol  # tighter than scikit-learn's 1e-4: the reference must be converged
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> LinearProbe:
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.lr_ = LogisticRegression(C=self.C, tol=self.tol, max_iter=self.max_iter, random_state=self.random_state)
        self.lr_.fit((X - self.mean_) / self.scale_, y)
        self.classes_ = self.lr_.classes_
        self.n_iter_ = self.lr_.n_iter_
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.lr_.decision_function((X - self.mean_) / self.scale_)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.lr_.predict_proba((X - self.mean_) / self.scale_)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.lr_.predict((X - self.mean_) / self.scale_)

    @property
    def coef_raw_(self) -> Float[np.ndarray, "k d"]:
        """Weights in the original (unstandardised) activation space."""
        return self.lr_.coef_ / self.scale_

    @property
    def direction_(self) -> Float[np.ndarray, "k d"]:
        """Unit direction per class in activation space, for steering or patching."""
        w = self.coef_raw_
        return w / np.linalg.norm(w, axis=1, keepdims=True)

    def save(self, path: str | Path, **metadata) -> None:
        """Weights as .npz plus a JSON sidecar with parameters and caller metadata."""
        check_is_fitted(self)
        path = Path(path)
        np.savez(
            path.with_suffix(".npz"),
            mean=self.mean_,
            scale=self.scale_,
            coef=self.lr_.coef_,
            intercept=self.lr_.intercept_,
            classes=self.classes_,
        )
        meta = {"params": self.get_params(), "n_features": int(self.n_features_in_), **metadata}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=1, default=str))

    @classmethod
    def load(cls, path: str | Path) -> LinearProbe:
        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        arrays = np.load(path.with_suffix(".npz"))
        probe = cls(**meta["params"])
        probe.mean_, probe.scale_ = arrays["mean"], arrays["scale"]
        probe.lr_ = LogisticRegression(**{"C": probe.C, "max_iter": probe.max_iter})
        probe.lr_.coef_, probe.lr_.intercept_ = arrays["coef"], arrays["intercept"]
        probe.lr_.classes_ = probe.classes_ = arrays["classes"]
        probe.n_features_in_ = probe.lr_.n_features_in_ = int(meta["n_features"])
        return probe
