"""Intrinsic dimension (ID) through scikit-dimension, made safe and fast for embeddings.

What this adds to calling ``skdim.id.TwoNN().fit(X).dimension_`` directly:

- *validation*: NaN/inf, too few rows, constant data raise one clear error;
- *duplicate rows* are removed first (and counted): nearest-neighbour estimators divide by
  the distance to the nearest neighbour, which is 0 for a duplicate (TwoNN then gives NaN, or
  drops points with a warning in scikit-dimension >= 0.5);
- *subsampling*: at most ``max_n`` random rows (TwoNN/MLE cost grows ~N^2);
- *one exact k-nearest-neighbour search* shared by TwoNN and MLE, computed blockwise with
  BLAS and exact distances re-measured for the candidates (scikit-dimension sorts every row
  of the full distance matrix for TwoNN and runs a second search for MLE);
- *bootstrap spread*: ``n_boot`` re-estimates on random ``boot_fraction`` subsets drawn
  without replacement (resampling with replacement would create duplicate rows, which
  nearest-neighbour estimators cannot use); reported as their standard deviation and the
  normal interval ``estimate +- 1.96 std``. (Percentiles of the replicates would be shifted:
  TwoNN and MLE depend on the number of points, so estimates on 80% of the rows are biased
  relative to the full-sample estimate.)

Estimators (names for ``methods``): ``twonn`` (Facco et al. 2017; scikit-dimension's default
linear fit, discarding the 10% largest ratios), ``mle`` (Levina & Bickel 2005 with the
Haro et al. 2008 approximation; 20 neighbours, pointwise estimates combined by the harmonic
mean: scikit-dimension's defaults), ``lpca`` (global PCA, ``FO`` rule: the number of
eigenvalues above 5% of the largest) and any other class name of ``skdim.id``
(``DANCo``, ``ESS``, ``MOM``, ``TLE``, ...), run with its defaults on the de-duplicated rows.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError, UnknownNameError
from ._checks import as_embeddings, serial_lapack, subsample

log = logging.getLogger(__name__)

__all__ = ["ID_METHODS", "dedupe_rows", "estimate_id", "intrinsic_dimension", "knn"]

#: the estimators with a fast path here; any other skdim.id class name also works
ID_METHODS = ("twonn", "mle", "lpca")
MLE_NEIGHBORS = 20
_BLOCK_ELEMENTS = 4_000_000  # distance-block size: 32 MB of float64
MIN_ROWS = 10


def _skdim():
    try:
        import skdim
    except ImportError:  # pragma: no cover - declared dependency
        raise InvalidInputError(
            "intrinsic dimension needs scikit-dimension: pip install scikit-dimension"
        ) from None
    return skdim


def dedupe_rows(X: np.ndarray) -> tuple[np.ndarray, int]:
    """Rows of ``X`` without exact duplicates (first occurrences, original order) and how
    many rows were dropped."""
    X = np.ascontiguousarray(X)
    _, first = np.unique(
        X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel(), return_index=True
    )
    first.sort()
    return X[first], len(X) - len(first)


def knn(X: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours of every row among the other rows (Euclidean).

    Returns ``(distances, indices)``, each ``(n, k)``, sorted by distance. Candidates are
    found blockwise from ``|x|^2 + |y|^2 - 2 x.y`` (BLAS) and their distances re-measured
    exactly, so near-duplicates do not lose precision to cancellation.
    """
    X = as_embeddings(X, min_rows=2, allow_constant=True)
    n = len(X)
    if not 1 <= k < n:
        raise InvalidInputError(f"k={k} neighbours need at least k+1 rows, got {n}")
    m = min(n - 1, k + 5)  # a few spare candidates against ties in the approximate pass
    sq = np.einsum("ij,ij->i", X, X)
    step = max(1, _BLOCK_ELEMENTS // n)
    dist = np.empty((n, k))
    idx = np.empty((n, k), dtype=np.int64)
    for i in range(0, n, step):
        rows = np.arange(i, min(i + step, n))
        d2 = X[rows] @ X.T  # in place from here: this block is the largest array
        d2 *= -2.0
        d2 += sq[None, :]
        d2 += sq[rows, None]
        d2[np.arange(len(rows)), rows] = np.inf  # never a row's own neighbour
        cand = np.argpartition(d2, m - 1, axis=1)[:, :m]
        exact = np.linalg.norm(X[cand] - X[rows, None, :], axis=2)
        order = np.argsort(exact, axis=1, kind="stable")[:, :k]
        dist[rows] = np.take_along_axis(exact, order, axis=1)
        idx[rows] = np.take_along_axis(cand, order, axis=1)
    return dist, idx


def _twonn(X: np.ndarray, nn: tuple[np.ndarray, np.ndarray]) -> float:
    skdim = _skdim()
    r = nn[0][:, :2]
    return float(skdim.id.TwoNN(dist=True).fit(r).dimension_)


def _mle(X: np.ndarray, nn: tuple[np.ndarray, np.ndarray]) -> float:
    skdim = _skdim()
    d, i = nn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        est = skdim.id.MLE().fit(
            X, precomputed_knn_arrays=(d[:, :MLE_NEIGHBORS], i[:, :MLE_NEIGHBORS])
        )
    return float(est.dimension_)


def _lpca(X: np.ndarray, nn: Any = None) -> float:
    skdim = _skdim()
    with serial_lapack():
        return float(skdim.id.lPCA().fit(X).dimension_)


_FAST = {"twonn": _twonn, "mle": _mle, "lpca": _lpca}


def _resolve_method(name: str) -> str:
    key = str(name).strip()
    if key.lower() in _FAST:
        return key.lower()
    skdim = _skdim()
    for cls in dir(skdim.id):
        if cls.lower() == key.lower() and not cls.startswith("_"):
            return cls
    raise UnknownNameError(
        f"unknown intrinsic-dimension method {name!r}; choose twonn, mle, lpca or a "
        f"scikit-dimension estimator ({', '.join(c for c in dir(skdim.id) if c[0].isupper())})"
    )


def _estimate_all(X: np.ndarray, methods: Sequence[str]) -> dict[str, float]:
    need_nn = any(m in ("twonn", "mle") for m in methods)
    k = MLE_NEIGHBORS if "mle" in methods else 2
    nn = knn(X, min(k, len(X) - 1)) if need_nn else None
    out = {}
    for m in methods:
        if m in _FAST:
            out[m] = _FAST[m](X, nn)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[m] = float(getattr(_skdim().id, m)().fit(X).dimension_)
    return out


def _prepare(X: Any, max_n: int | None, seed: int, dedupe: bool, min_rows: int):
    X = as_embeddings(X, min_rows=min_rows, min_dim=2)
    n_dup = 0
    if dedupe:
        X, n_dup = dedupe_rows(X)
        if len(X) < min_rows:
            raise InvalidInputError(
                f"only {len(X)} distinct rows after removing {n_dup} duplicates; intrinsic "
                f"dimension needs at least {min_rows}"
            )
    X = X[subsample(len(X), max_n, seed)]
    return X, n_dup


def estimate_id(
    X: Any, method: str = "twonn", max_n: int | None = 10_000, seed: int = 0, dedupe: bool = True
) -> float:
    """One intrinsic-dimension estimate (see the module docstring for the methods)."""
    m = _resolve_method(method)
    X, _ = _prepare(X, max_n, seed, dedupe, min_rows=MIN_ROWS)
    return _estimate_all(X, [m])[m]


def intrinsic_dimension(
    X: Any,
    methods: Sequence[str] = ID_METHODS,
    max_n: int | None = 10_000,
    n_boot: int = 0,
    boot_fraction: float = 0.8,
    seed: int = 0,
    dedupe: bool = True,
) -> pd.DataFrame:
    """Intrinsic dimension of the rows of ``X`` by several estimators, one row per method.

    Columns: ``method``, ``estimate``, ``boot_std``, ``boot_lo``, ``boot_hi`` (NaN when
    ``n_boot=0``), ``n`` (rows used), ``n_duplicates`` (exact duplicates removed), ``dim``,
    ``seconds``. ``max_n`` random rows are used when there are more.
    """
    if isinstance(methods, str):
        methods = [m for m in methods.split(",") if m.strip()]
    names = [_resolve_method(m) for m in methods]
    if not names:
        raise InvalidInputError("no intrinsic-dimension method given")
    if not 0 < boot_fraction <= 1:
        raise InvalidInputError(f"boot_fraction must be in (0, 1], got {boot_fraction}")
    if n_boot < 0:
        raise InvalidInputError(f"n_boot must be >= 0, got {n_boot}")
    X, n_dup = _prepare(X, max_n, seed, dedupe, min_rows=MIN_ROWS)
    t0 = time.perf_counter()
    point = _estimate_all(X, names)
    seconds = time.perf_counter() - t0
    boots: dict[str, list[float]] = {m: [] for m in names}
    rng = np.random.default_rng(seed + 1)
    m_rows = max(MIN_ROWS, int(round(boot_fraction * len(X))))
    for _ in range(n_boot):
        rows = np.sort(rng.choice(len(X), size=min(m_rows, len(X)), replace=False))
        for m, v in _estimate_all(X[rows], names).items():
            boots[m].append(v)
    rows_out = []
    for m in names:
        b = np.asarray(boots[m], dtype=float)
        rows_out.append(
            {
                "method": m,
                "estimate": point[m],
                "boot_std": float(b.std(ddof=1)) if len(b) > 1 else np.nan,
                # centred on the estimate: replicates on fewer rows are biased (ID estimates
                # depend on the sample size), their spread is what they tell
                "boot_lo": point[m] - 1.96 * b.std(ddof=1) if len(b) > 1 else np.nan,
                "boot_hi": point[m] + 1.96 * b.std(ddof=1) if len(b) > 1 else np.nan,
                "n": int(len(X)),
                "n_duplicates": int(n_dup),
                "dim": int(X.shape[1]),
                "seconds": seconds,
            }
        )
    return pd.DataFrame(rows_out)
