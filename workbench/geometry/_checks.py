"""Input validation shared by every geometry measure.

Each measure states what it needs (how many rows, whether rows may be zero, ...) and gets a
float64 C-contiguous copy back, or an :class:`~workbench.errors.InvalidInputError` whose one
line says what was wrong: NaN or infinite values, too few rows, constant data, a requested
dimension larger than the embedding.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from ..errors import InvalidInputError


def as_embeddings(
    X: Any,
    *,
    what: str = "embeddings",
    min_rows: int = 2,
    min_dim: int = 1,
    allow_constant: bool = False,
    allow_zero_rows: bool = True,
    dtype: Any = np.float64,
) -> np.ndarray:
    """``X`` as a 2-D float array with finite values, or a clear :class:`InvalidInputError`.

    ``allow_constant=False`` rejects data whose rows are all the same vector (zero variance:
    every spread-based measure is undefined); ``allow_zero_rows=False`` rejects all-zero rows
    (their cosine is undefined).
    """
    if hasattr(X, "detach"):  # a torch tensor
        X = X.detach().cpu().numpy()
    try:
        arr = np.asarray(X, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"{what} must be a numeric (n, dim) array: {e}") from None
    if arr.ndim != 2:
        raise InvalidInputError(
            f"{what} must be a 2-D (n, dim) array, got shape {arr.shape}"
            + ("; for one vector use X[None, :]" if arr.ndim == 1 else "")
        )
    n, d = arr.shape
    if n < min_rows:
        raise InvalidInputError(f"{what}: need at least {min_rows} rows, got {n}")
    if d < min_dim:
        raise InvalidInputError(f"{what}: need at least {min_dim} dimensions, got {d}")
    finite = np.isfinite(arr)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        raise InvalidInputError(
            f"{what} contain NaN or infinite values in {len(bad_rows)} of {n} rows "
            f"(first at row {bad_rows[0]})"
        )
    if not allow_constant and n > 1 and np.ptp(arr, axis=0).max() == 0.0:
        raise InvalidInputError(
            f"{what} are constant: all {n} rows are the same vector, so there is no spread "
            "to measure"
        )
    if not allow_zero_rows:
        zero = np.flatnonzero(~arr.any(axis=1))
        if len(zero):
            raise InvalidInputError(
                f"{what} contain {len(zero)} all-zero rows (first at row {zero[0]}); their "
                "cosine is undefined"
            )
    return np.ascontiguousarray(arr)


def check_k(k: Any, dim: int, what: str = "k") -> int:
    """A number of dimensions in ``1..dim`` (a clear error otherwise)."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise InvalidInputError(f"{what} must be a whole number of dimensions, got {k!r}")
    k = int(k)
    if k < 1:
        raise InvalidInputError(f"{what} must be at least 1, got {k}")
    if k > dim:
        raise InvalidInputError(
            f"{what}={k} is larger than the embedding dimension {dim}; choose 1..{dim}"
        )
    return k


def subsample(n: int, max_n: int | None, seed: int = 0) -> np.ndarray:
    """Row indices: all ``n`` (in order) or ``max_n`` drawn without replacement, sorted."""
    if max_n is None or max_n >= n:
        return np.arange(n)
    if max_n < 1:
        raise InvalidInputError(f"max_n must be at least 1, got {max_n}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=int(max_n), replace=False))


def l2_normalize(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, np.finfo(X.dtype).tiny)


@contextlib.contextmanager
def serial_lapack():
    """Run dense eigen/SVD solvers on one BLAS thread.

    On a small machine shared with other processes (or with PyTorch's OpenMP threads still
    spinning after an encoding), a multi-threaded OpenBLAS eigensolver on a few-hundred-wide
    matrix was seen to take seconds instead of a tenth of one; one thread is always fast.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a scikit-learn dependency
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@contextlib.contextmanager
def serial_torch():
    """Run PyTorch's CPU linear algebra on one thread (restored afterwards).

    The same trap as :func:`serial_lapack`, in PyTorch's own MKL/OpenMP (which threadpoolctl
    does not reach): IsoScore's ``svdvals`` of a rank-deficient 576 x 576 covariance took
    4-11 s on two threads beside other busy processes and 0.1 s on one.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
