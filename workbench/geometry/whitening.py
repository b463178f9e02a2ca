"""Whitening as scikit-learn transformers: ``Whitening(method).fit(reference).transform(X)``.

All methods map the fitted covariance to the identity (Kessy, Lewin & Strimmer 2018,
"Optimal whitening and decorrelation"). With ``mu`` the mean and
``S = cov + eps * I`` the regularised covariance (ddof=1) of the *reference* data,
``S = U diag(lam) U^T``, ``V = diag(S)``, correlation ``P = V^-1/2 S V^-1/2`` with
``P + eps I = G diag(theta) G^T``:

- ``pca``: ``W = diag(lam)^-1/2 U^T`` (rows in order of decreasing variance)
- ``zca`` (Mahalanobis): ``W = U diag(lam)^-1/2 U^T = S^-1/2``
- ``pca-cor``: ``W = diag(theta)^-1/2 G^T V^-1/2``
- ``zca-cor``: ``W = G diag(theta)^-1/2 G^T V^-1/2 = P^-1/2 V^-1/2``
- ``cholesky``: ``W = L^T`` with ``L L^T = S^-1`` (L lower triangular)
- ``bert`` (Su et al. 2021, "Whitening sentence representations"): PCA whitening keeping
  the ``n_components`` directions of largest variance, i.e. their ``compute_kernel_bias``
  (``W = U / sqrt(s)``, ``x' = (x - mu) W[:, :k]``); ``eps`` is added here as well.

``transform(X) = (X - mu) W^T``. Every whitening matrix of a covariance ``S`` is
``Q S^-1/2`` with ``Q`` orthogonal (Kessy et al. 2018): whitened outputs of the same ``S``
and the same ``mu`` differ by a rotation only, so their cosine similarities (and cosine STS
scores) are identical up to floating-point rounding. PCA, ZCA and Cholesky whiten
``S = cov + eps I``; PCA-Cor and ZCA-Cor whiten ``P + eps I`` (``eps`` added to the
correlation eigenvalues, ``theta + eps`` above, as in "Whitening Not Recommended for
Classification Tasks in LLMs"), which maps back to a slightly different covariance. Hence
PCA = ZCA = Cholesky and PCA-Cor = ZCA-Cor exactly, while the two groups differ only through
the regularisation (with ``eps=0`` on full-rank data all five give the same cosines).
``n_components=k`` keeps the top-k directions (for ``pca``, ``zca``, ``pca-cor``,
``zca-cor``, ``bert``; not for ``cholesky``, whose rows are not ordered by variance).

Rank-deficient reference data (fewer rows than dimensions, collinear or constant columns) is
handled by ``eps`` (default 1e-5, as in "Whitening Not Recommended for Classification Tasks
in LLMs"): every eigenvalue is at least ``eps``, so nothing is divided by zero. Computation
is in float64 and ``transform`` returns float64.

Fit on reference data that is not the evaluation set (see
:func:`workbench.geometry.transforms.from_specs`): fitting on the test sentences themselves
is the leaky "target" mode of BERT-whitening.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import InvalidInputError, UnknownNameError
from ._checks import as_embeddings, check_k, serial_lapack

__all__ = ["WHITENING_METHODS", "Whitening", "whiten"]

WHITENING_METHODS = ("pca", "zca", "pca-cor", "zca-cor", "cholesky", "bert")
_ALIASES = {
    "pca_cor": "pca-cor",
    "zca_cor": "zca-cor",
    "pcacor": "pca-cor",
    "zcacor": "zca-cor",
    "chol": "cholesky",
    "mahalanobis": "zca",
    "bert-whitening": "bert",
    "bert_whitening": "bert",
}


def resolve_method(name: str) -> str:
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in WHITENING_METHODS:
        raise UnknownNameError(
            f"unknown whitening method {name!r}; choose one of {', '.join(WHITENING_METHODS)}"
        )
    return key


def _eigh_desc(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with serial_lapack():
        lam, U = np.linalg.eigh(S)
    return lam[::-1], U[:, ::-1]


class Whitening(TransformerMixin, BaseEstimator):
    """Whitening transformer (see the module docstring for the methods).

    Parameters
    ----------
    method : ``pca``, ``zca``, ``pca-cor``, ``zca-cor``, ``cholesky`` or ``bert``.
    n_components : keep the top-k directions (``None`` = all).
    eps : added to the covariance diagonal before inverting (regularisation).

    Attributes (after ``fit``): ``mean_``, ``whitening_matrix_`` (``(k, d)``),
    ``eigenvalues_`` (of the regularised covariance or correlation, decreasing),
    ``n_features_in_``, ``n_components_``.
    """

    def __init__(self, method: str = "zca", n_components: int | None = None, eps: float = 1e-5):
        self.method = method
        self.n_components = n_components
        self.eps = eps

    def fit(self, X: Any, y: Any = None) -> Whitening:
        X = as_embeddings(X, what="whitening reference embeddings", min_rows=2)
        n, d = X.shape
        mean = X.mean(axis=0)
        Xc = X - mean
        return self._fit_moments(mean, (Xc.T @ Xc) / (n - 1))

    @classmethod
    def from_moments(
        cls,
        mean: Any,
        cov: Any,
        n: int | None = None,
        method: str = "zca",
        n_components: int | None = None,
        eps: float = 1e-5,
    ) -> Whitening:
        """A transformer fitted from the reference's mean and covariance (ddof=1) alone, e.g.
        streamed over a corpus larger than memory (:mod:`workbench.corpus.streaming`); the
        same transform as :meth:`fit` on the rows those moments came from. ``n`` (the
        number of rows) is only checked (at least 2)."""
        if n is not None and n < 2:
            raise InvalidInputError(f"whitening needs moments of at least 2 rows, got {n}")
        mean = np.asarray(mean, dtype=np.float64)
        cov = np.asarray(cov, dtype=np.float64)
        d = mean.shape[0] if mean.ndim == 1 else -1
        if mean.ndim != 1 or cov.shape != (d, d):
            raise InvalidInputError(
                f"from_moments needs a (d,) mean and a (d, d) covariance, got {mean.shape} "
                f"and {cov.shape}"
            )
        if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
            raise InvalidInputError("from_moments: the mean or covariance holds NaN/inf")
        self = cls(method, n_components=n_components, eps=eps)
        return self._fit_moments(mean, (cov + cov.T) / 2)

    def _fit_moments(self, mean: np.ndarray, cov: np.ndarray) -> Whitening:
        method = resolve_method(self.method)
        d = mean.shape[0]
        if not np.isfinite(self.eps) or self.eps < 0:
            raise InvalidInputError(f"eps must be a finite number >= 0, got {self.eps}")
        k = d if self.n_components is None else check_k(self.n_components, d, "n_components")
        if method == "cholesky" and k != d:
            raise InvalidInputError(
                "cholesky whitening keeps every dimension (its rows are not ordered by "
                "variance); use pca/zca/bert with n_components instead"
            )
        self.mean_ = mean
        S = np.array(cov, dtype=np.float64)
        S[np.diag_indices(d)] += self.eps
        if method in ("pca-cor", "zca-cor"):
            # the correlation matrix of the regularised covariance, regularised again by eps
            # on its own eigenvalues: the paper's convention, and the only thing that makes
            # the -cor methods differ from pca/zca/cholesky in cosine terms
            v_isqrt = 1.0 / np.sqrt(np.diag(S))
            P = S * v_isqrt[:, None] * v_isqrt[None, :]
            theta, G = _eigh_desc(P)
            theta = theta + self.eps
            self._check_spectrum(theta, "correlation")
            W = (G[:, :k] / np.sqrt(theta[:k])).T * v_isqrt[None, :]
            if method == "zca-cor":
                W = G[:, :k] @ W
            self.eigenvalues_ = theta
        else:
            lam, U = _eigh_desc(S)
            self._check_spectrum(lam, "covariance")
            if method == "cholesky":
                inv = (U / lam) @ U.T
                with serial_lapack():
                    L = np.linalg.cholesky((inv + inv.T) / 2)
                W = L.T
            else:
                W = (U[:, :k] / np.sqrt(lam[:k])).T
                if method == "zca":
                    W = U[:, :k] @ W
            self.eigenvalues_ = lam
        self.whitening_matrix_ = W
        self.n_features_in_ = d
        self.n_components_ = W.shape[0]
        self.method_ = method
        return self

    def _check_spectrum(self, lam: np.ndarray, what: str) -> None:
        if lam[-1] <= max(lam[0], 1.0) * 1e-15:
            raise InvalidInputError(
                f"the reference {what} is singular (smallest eigenvalue {lam[-1]:.3g}): the "
                "data are rank-deficient; use eps > 0 (default 1e-5) or more reference rows"
            )

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "whitening_matrix_")
        X = as_embeddings(X, what="embeddings to whiten", min_rows=1, allow_constant=True)
        if X.shape[1] != self.n_features_in_:
            raise InvalidInputError(
                f"whitening was fitted on {self.n_features_in_}-d embeddings, got {X.shape[1]}-d"
            )
        return (X - self.mean_) @ self.whitening_matrix_.T


def whiten(
    X: Any,
    method: str = "zca",
    reference: Any = None,
    n_components: int | None = None,
    eps: float = 1e-5,
) -> np.ndarray:
    """Whiten ``X`` with a transformer fitted on ``reference``.

    ``reference`` is required: pass the reference corpus's embeddings, or ``X`` itself if
    the leak is intended (fitting on the evaluation data).
    """
    if reference is None:
        raise InvalidInputError(
            "whiten() needs reference embeddings to fit on; pass reference=X explicitly to "
            "fit on the data itself (a leak when X is an evaluation set)"
        )
    return Whitening(method, n_components=n_components, eps=eps).fit(reference).transform(X)
