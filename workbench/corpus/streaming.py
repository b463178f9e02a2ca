"""Mean and covariance of a corpus in one streaming pass, and whitening fitted from them.

:class:`Moments` keeps ``n``, the mean and the centred scatter matrix ``M2 = sum (x - mean)
(x - mean)^T`` in float64. A chunk's own moments are computed two-pass (mean first, then the
scatter of the centred chunk), and two sets of moments merge exactly with Chan, Golub &
LeVeque's pairwise update (1979; the parallel form of Welford's algorithm)::

    delta = mean_b - mean_a,  n = n_a + n_b
    mean  = mean_a + delta * n_b / n
    M2    = M2_a + M2_b + outer(delta, delta) * n_a * n_b / n

so the result does not depend on how the rows were cut into chunks, up to float64 rounding
(no catastrophic cancellation: nothing is computed as ``E[x x^T] - mean mean^T``). Memory is
``O(dim^2)`` whatever the number of rows, so whitening fits on corpora larger than RAM:
:func:`fit_whitening` streams a :class:`~workbench.corpus.store.CorpusStore` (or an array)
and hands the moments to :meth:`workbench.geometry.whitening.Whitening.from_moments`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import InvalidInputError

__all__ = ["Moments", "fit_whitening", "iter_blocks", "streaming_moments"]

DEFAULT_CHUNK_ROWS = 8192


class Moments:
    """Streaming count, mean and scatter matrix (float64) of ``dim``-dimensional rows."""

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)
        self.n = 0
        self.mean = np.zeros(self.dim)
        self.m2 = np.zeros((self.dim, self.dim))

    @classmethod
    def of(cls, X: Any) -> Moments:
        """The moments of one in-memory block (two-pass, float64)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise InvalidInputError(f"moments need a 2-D (n, dim) block, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise InvalidInputError("moments: the block contains NaN or infinite values")
        m = cls(X.shape[1])
        m.n = len(X)
        if m.n:
            m.mean = X.mean(axis=0)
            Xc = X - m.mean
            m.m2 = Xc.T @ Xc
        return m

    def update(self, X: Any) -> Moments:
        """Add the rows of ``X``; returns ``self``."""
        return self.merge(Moments.of(X))

    def merge(self, other: Moments) -> Moments:
        """Fold ``other`` into ``self`` (Chan et al.'s pairwise update); returns ``self``."""
        if other.dim != self.dim:
            raise InvalidInputError(f"cannot merge {other.dim}-d moments into {self.dim}-d")
        if other.n == 0:
            return self
        if self.n == 0:
            self.n, self.mean, self.m2 = other.n, other.mean.copy(), other.m2.copy()
            return self
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (other.n / n)
        self.m2 = self.m2 + other.m2 + np.outer(delta, delta) * (self.n * other.n / n)
        self.n = n
        return self

    def cov(self, ddof: int = 1) -> np.ndarray:
        """The covariance ``M2 / (n - ddof)``."""
        if self.n - ddof < 1:
            raise InvalidInputError(f"covariance needs more than {ddof} rows, have {self.n}")
        return self.m2 / (self.n - ddof)

    def __repr__(self) -> str:
        return f"Moments(n={self.n}, dim={self.dim})"


def iter_blocks(source: Any, rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[np.ndarray]:
    """Blocks of at most ``rows`` rows of a CorpusStore (memory-mapped) or a 2-D array."""
    if hasattr(source, "iter_chunks"):
        for _, block in source.iter_chunks(rows):
            yield block
        return
    X = np.asarray(source) if not isinstance(source, np.ndarray) else source
    if X.ndim != 2:
        raise InvalidInputError(f"expected a CorpusStore or a 2-D array, got shape {X.shape}")
    for a in range(0, len(X), rows):
        yield X[a : a + rows]


def streaming_moments(source: Any, rows: int = DEFAULT_CHUNK_ROWS) -> Moments:
    """:class:`Moments` of every row of ``source``, ``rows`` rows in memory at a time."""
    m = None
    for block in iter_blocks(source, rows):
        m = Moments.of(block) if m is None else m.update(block)
    if m is None or m.n == 0:
        raise InvalidInputError("streaming_moments: the source has no rows")
    return m


def fit_whitening(
    source: Any,
    method: str = "zca",
    n_components: int | None = None,
    eps: float = 1e-5,
    rows: int = DEFAULT_CHUNK_ROWS,
):
    """A fitted :class:`~workbench.geometry.whitening.Whitening` from one streaming pass over
    ``source`` (a CorpusStore or an array): the same transform as ``Whitening(method).fit(X)``
    on the whole matrix, without holding it."""
    from ..geometry.whitening import Whitening

    m = streaming_moments(source, rows)
    return Whitening.from_moments(
        m.mean, m.cov(ddof=1), n=m.n, method=method, n_components=n_components, eps=eps
    )
