"""Isotropy of an embedding cloud: how evenly it fills the space it lives in.

Every function takes an ``(n, dim)`` array (any float dtype; computed in float64) and returns
a float, except :func:`explained_variance` (a tidy frame). Definitions:

- :func:`isoscore` (Rudman et al. 2022, "IsoScore: measuring the uniformity of embedding
  space utilization"): from the covariance eigenvalues ``lam`` (the variances along the
  principal axes), ``lam_hat = sqrt(d) * lam / ||lam||``, the isotropy defect
  ``delta = ||lam_hat - 1|| / sqrt(2 (d - sqrt d))``, then
  ``IsoScore = ((d - delta^2 (d - sqrt d))^2 / d - 1) / (d - 1)``. 0 = all variance on one
  axis, 1 = equal variance on every axis. Computed by the authors' ``IsoScore`` package when
  it is installed (2.x takes ``(n, dim)``; 1.x took ``(dim, n)``), else by
  :func:`isoscore_reference`, the same formula in numpy; a test checks that they agree.
- :func:`avg_cosine`: the mean cosine similarity over all pairs of distinct rows, which is
  the expected cosine of a uniformly random pair, computed exactly in O(n d) from
  ``||sum_i u_i||^2`` of the unit vectors ``u_i``. About 0 for an isotropic cloud; large
  positive values mean a narrow cone (Ethayarajh 2019).
- :func:`partition_isotropy` (Mu & Viswanath 2018, "All-but-the-top", ICLR):
  ``I(W) = min_c Z(c) / max_c Z(c)`` with ``Z(c) = sum_i exp(c . w_i)`` and ``c`` over the
  eigenvectors of ``W^T W`` (uncentred, as in the paper). 1 = isotropic. By default
  (``variant="mu-viswanath"``) each eigenvector is taken once, as the public implementations
  do (Rajaee & Pilehvar 2021, Sara-Rajaee/clusterbased_isotropy_enhancement commit 8b74a011,
  ``isotropy()`` in ``src/Clusterbased_isotropy_enhancement.ipynb``). Those take the sign
  ``numpy.linalg.eig`` happens to return, and since ``Z(c) != Z(-c)`` their value depends on
  the LAPACK build and even its thread count (MiniLM on STS-B test: 0.847 with OpenBLAS
  threaded, 0.842 single-threaded); here the sign is fixed as scikit-learn's ``svd_flip``
  fixes it (largest-magnitude component positive), so the value is reproducible and equals
  the reference whenever LAPACK returns that orientation (0.848 on MiniLM's STS-B).
  ``variant="both-signs"`` takes ``c`` and ``-c`` for every eigenvector: convention-free,
  never larger (0.767 there). Computed in log space (no overflow for large norms).
- :func:`effective_rank` (Roy & Vetterli 2007): ``exp(H(p))`` with ``p`` the singular values
  of the centred matrix divided by their sum; between 1 and ``min(n - 1, d)``.
- :func:`explained_variance`: the covariance eigenvalues, their ratios and cumulative sum.
- :func:`alignment` and :func:`uniformity` (Wang & Isola 2020) on L2-normalised vectors:
  ``E ||f(x) - f(y)||^alpha`` over positive pairs (lower = positives closer) and
  ``log E exp(-t ||f(x) - f(y)||^2)`` over all pairs of distinct rows (lower = more uniform).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from ..errors import InvalidInputError
from ._checks import as_embeddings, l2_normalize, serial_lapack, serial_torch, subsample

log = logging.getLogger(__name__)

__all__ = [
    "alignment",
    "avg_cosine",
    "covariance_eigenvalues",
    "effective_rank",
    "explained_variance",
    "isoscore",
    "isoscore_reference",
    "isotropy_report",
    "partition_isotropy",
    "uniformity",
]


def _squared_singular_values(X: np.ndarray) -> np.ndarray:
    """Squared singular values of ``X``, largest first, from the smaller Gram matrix.

    ``eigvalsh`` of a d x d (or n x n) Gram is much faster than an SVD of a tall matrix
    (20,000 x 384: ~0.2 s against several seconds) and exact enough for these measures,
    which are dominated by the large values.
    """
    G = X.T @ X if X.shape[0] >= X.shape[1] else X @ X.T
    with serial_lapack():
        lam = np.linalg.eigvalsh(G)
    return np.clip(lam[::-1], 0.0, None)


def covariance_eigenvalues(X: Any) -> np.ndarray:
    """Eigenvalues of the sample covariance (ddof=1), largest first, clipped at 0."""
    X = as_embeddings(X, min_rows=2)
    lam = _squared_singular_values(X - X.mean(axis=0)) / (X.shape[0] - 1)
    if len(lam) < X.shape[1]:  # n < d: the remaining variances are exactly zero
        lam = np.concatenate([lam, np.zeros(X.shape[1] - len(lam))])
    return lam[: X.shape[1]]


def _isoscore_from_eigenvalues(lam: np.ndarray) -> float:
    d = len(lam)
    lam_hat = math.sqrt(d) * lam / np.linalg.norm(lam)
    delta = np.linalg.norm(lam_hat - 1.0) / math.sqrt(2 * (d - math.sqrt(d)))
    k = (d - delta**2 * (d - math.sqrt(d))) ** 2 / d
    return float((k - 1) / (d - 1))


def isoscore_reference(X: Any) -> float:
    """IsoScore computed from its definition in numpy (see the module docstring)."""
    X = as_embeddings(X, min_rows=2, min_dim=2)
    return _isoscore_from_eigenvalues(covariance_eigenvalues(X))


def isoscore(X: Any) -> float:
    """IsoScore in [0, 1] of the rows of ``X`` (``(n, dim)``, dim >= 2); 1 = isotropic."""
    X = as_embeddings(X, min_rows=2, min_dim=2)
    try:
        from IsoScore import IsoScore as _lib
    except ImportError:  # the package is optional: the formula is short
        return isoscore_reference(X)
    import torch

    with torch.no_grad(), serial_torch():
        value = float(_lib.IsoScore(X))  # 2.x: (n_samples, dim)
    if not math.isfinite(value):  # pragma: no cover - degenerate spectra
        return isoscore_reference(X)
    return value


def avg_cosine(X: Any) -> float:
    """Mean cosine similarity over all pairs of distinct rows (exact, O(n d))."""
    X = as_embeddings(X, min_rows=2, allow_zero_rows=False)
    U = l2_normalize(X)
    n = U.shape[0]
    total = float(np.square(U.sum(axis=0)).sum())
    return (total - n) / (n * (n - 1))


PARTITION_VARIANTS = ("mu-viswanath", "both-signs")


def partition_isotropy(X: Any, variant: str = "mu-viswanath") -> float:
    """Mu & Viswanath's ``I(W) = min_c Z(c) / max_c Z(c)`` over the eigenvectors of W^T W.

    ``variant``: ``"mu-viswanath"`` (each eigenvector once, its largest-magnitude component
    positive) or ``"both-signs"`` (``c`` and ``-c``); see the module docstring.
    """
    key = str(variant).strip().lower()
    if key not in PARTITION_VARIANTS:
        raise InvalidInputError(
            f"unknown I(W) variant {variant!r}; choose one of {', '.join(PARTITION_VARIANTS)}"
        )
    X = as_embeddings(X, min_rows=2)
    with serial_lapack():
        _, vecs = np.linalg.eigh(X.T @ X)  # columns: the eigenvectors of W^T W
    # an eigenvector's sign is arbitrary and Z(c) != Z(-c): fix it (svd_flip's convention)
    top = np.abs(vecs).argmax(axis=0)
    vecs = vecs * np.sign(vecs[top, np.arange(vecs.shape[1])])
    proj = X @ vecs
    log_z = logsumexp(proj, axis=0)
    if key == "both-signs":
        log_z = np.concatenate([log_z, logsumexp(-proj, axis=0)])
    return float(np.exp(log_z.min() - log_z.max()))


def effective_rank(X: Any, center: bool = True) -> float:
    """Roy & Vetterli's effective rank: exp of the entropy of the normalised singular values."""
    X = as_embeddings(X, min_rows=2)
    if center:
        X = X - X.mean(axis=0)
    s = np.sqrt(_squared_singular_values(X))
    s = s[s > s.max() * 1e-7] if s.max() > 0 else s  # below: rounding noise of the Gram
    if s.sum() <= 0:
        raise InvalidInputError("effective rank of an all-zero matrix is undefined")
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def explained_variance(X: Any) -> pd.DataFrame:
    """The variance spectrum: ``component`` (1..dim), ``variance``, ``ratio``, ``cumulative``."""
    lam = covariance_eigenvalues(X)
    ratio = lam / lam.sum()
    return pd.DataFrame(
        {
            "component": np.arange(1, len(lam) + 1),
            "variance": lam,
            "ratio": ratio,
            "cumulative": np.cumsum(ratio),
        }
    )


def alignment(A: Any, B: Any, alpha: float = 2.0) -> float:
    """Wang & Isola's alignment: mean ``||a_i - b_i||^alpha`` of L2-normalised positive pairs."""
    A = as_embeddings(
        A,
        what="first sentences' embeddings",
        min_rows=1,
        allow_zero_rows=False,
        allow_constant=True,
    )
    B = as_embeddings(
        B,
        what="second sentences' embeddings",
        min_rows=1,
        allow_zero_rows=False,
        allow_constant=True,
    )
    if A.shape != B.shape:
        raise InvalidInputError(f"alignment needs paired rows: shapes {A.shape} and {B.shape}")
    if alpha <= 0:
        raise InvalidInputError(f"alpha must be positive, got {alpha}")
    d = np.linalg.norm(l2_normalize(A) - l2_normalize(B), axis=1)
    return float(np.mean(d**alpha))


def uniformity(X: Any, t: float = 2.0, max_n: int | None = 5000, seed: int = 0) -> float:
    """Wang & Isola's uniformity ``log E exp(-t ||u_i - u_j||^2)`` over distinct pairs.

    Exact over all pairs of (at most ``max_n`` randomly chosen) rows; in [-4t, 0] for unit
    vectors (on the sphere the squared distance is at most 4).
    """
    X = as_embeddings(X, min_rows=2, allow_zero_rows=False)
    if t <= 0:
        raise InvalidInputError(f"t must be positive, got {t}")
    U = l2_normalize(X[subsample(len(X), max_n, seed)])
    n = len(U)
    parts = []
    step = max(1, 4_000_000 // n)
    for i in range(0, n, step):
        g = U[i : i + step] @ U.T
        sq = np.clip(2.0 - 2.0 * g, 0.0, None)
        rows = np.arange(i, min(i + step, n))
        # keep j > i only: every unordered pair once, never a row with itself
        mask = np.arange(n)[None, :] > rows[:, None]
        if mask.any():
            parts.append(logsumexp(-t * sq[mask]))
    n_pairs = n * (n - 1) / 2
    return float(logsumexp(parts) - math.log(n_pairs))


def isotropy_report(X: Any, max_n: int | None = None, seed: int = 0) -> dict[str, float]:
    """The isotropy measures of one cloud in one dict (``max_n`` random rows if given)."""
    X = as_embeddings(X, min_rows=3, min_dim=2)
    X = X[subsample(len(X), max_n, seed)]
    return {
        "n": int(X.shape[0]),
        "dim": int(X.shape[1]),
        "isoscore": isoscore(X),
        "avg_cosine": avg_cosine(X),
        "partition_isotropy": partition_isotropy(X),
        "effective_rank": effective_rank(X),
        "uniformity": uniformity(X, seed=seed),
    }
