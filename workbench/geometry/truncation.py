"""Truncation: keep k of the d dimensions, and how much of a task's score survives.

Selections (``Truncation(k, selection)``, a scikit-learn transformer):

- ``first``: the first k coordinates (what Matryoshka training makes usable);
- ``random``: k coordinates drawn without replacement with ``seed`` (kept in their order);
- ``pca``: the projection on the top-k principal directions of the *reference* data. The
  directions come from the centred covariance, but the embeddings are projected without
  subtracting the mean, so at ``k = d`` the map is a rotation and every cosine (hence every
  score) equals that of the untruncated embeddings, exactly like ``first`` and ``random``.

:func:`dimension_grid` is the k grid of the redundancy curves: d, d/2, d/4, ... down to 1
(a log grid), plus 25% and 0.5% of d (rounded, at least 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import InvalidInputError, UnknownNameError
from ._checks import as_embeddings, check_k, serial_lapack

__all__ = ["SELECTIONS", "Truncation", "dimension_grid", "truncate"]

SELECTIONS = ("first", "random", "pca")
#: fractions of d always on the grid (the paper's "25%" and "<0.5%" points)
GRID_FRACTIONS = (0.25, 0.005)


def resolve_selection(name: str) -> str:
    key = str(name).strip().lower()
    if key not in SELECTIONS:
        raise UnknownNameError(f"unknown selection {name!r}; choose one of {', '.join(SELECTIONS)}")
    return key


def dimension_grid(dim: int, fractions: Sequence[float] = GRID_FRACTIONS) -> list[int]:
    """Dimensions from ``dim`` down to 1, halving each step, plus ``fractions`` of ``dim``.

    >>> dimension_grid(384)
    [384, 192, 96, 48, 24, 12, 6, 3, 2, 1]
    """
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
        raise InvalidInputError(f"dim must be a positive whole number, got {dim!r}")
    dim = int(dim)
    ks = {dim, 1}
    k = float(dim)
    while k > 1:
        k /= 2
        ks.add(max(1, int(round(k))))
    for f in fractions:
        if not 0 < f <= 1:
            raise InvalidInputError(f"grid fractions must be in (0, 1], got {f}")
        ks.add(max(1, int(round(f * dim))))
    return sorted(ks, reverse=True)


class Truncation(TransformerMixin, BaseEstimator):
    """Keep ``k`` dimensions chosen by ``selection`` (``first``, ``random``, ``pca``).

    ``fit`` needs only the embedding size for ``first``/``random``; ``pca`` learns its
    directions from the reference data passed to ``fit``. Attributes after fit:
    ``indices_`` (first/random) or ``components_`` (pca, ``(k, d)``), ``n_features_in_``.
    """

    def __init__(self, k: int = 96, selection: str = "first", seed: int = 0):
        self.k = k
        self.selection = selection
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> Truncation:
        sel = resolve_selection(self.selection)
        X = as_embeddings(
            X,
            what="truncation reference embeddings",
            min_rows=2 if sel == "pca" else 1,
            allow_constant=sel != "pca",
        )
        d = X.shape[1]
        k = check_k(self.k, d, "k")
        self.n_features_in_ = d
        self.selection_ = sel
        if sel == "first":
            self.indices_ = np.arange(k)
        elif sel == "random":
            rng = np.random.default_rng(self.seed)
            self.indices_ = np.sort(rng.choice(d, size=k, replace=False))
        else:
            Xc = X - X.mean(axis=0)
            # eigh of the d x d scatter gives all d directions even when n < d
            with serial_lapack():
                _, vecs = np.linalg.eigh(Xc.T @ Xc)
            self.components_ = vecs[:, ::-1][:, :k].T
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        X = as_embeddings(
            X, what="embeddings to truncate", min_rows=1, allow_constant=True, dtype=None
        )
        if X.shape[1] != self.n_features_in_:
            raise InvalidInputError(
                f"truncation was fitted on {self.n_features_in_}-d embeddings, got {X.shape[1]}-d"
            )
        if self.selection_ == "pca":
            return X.astype(np.float64) @ self.components_.T
        return X[:, self.indices_]


def truncate(
    X: Any, k: int, selection: str = "first", seed: int = 0, reference: Any = None
) -> np.ndarray:
    """``X`` reduced to ``k`` dimensions (``reference`` embeddings are needed for ``pca``)."""
    sel = resolve_selection(selection)
    if sel == "pca" and reference is None:
        raise InvalidInputError(
            "pca truncation learns its directions from reference embeddings: pass reference="
        )
    ref = X if reference is None else reference
    return Truncation(k, sel, seed).fit(ref).transform(X)
