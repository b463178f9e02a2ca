"""Intrinsic dimension of a corpus too large for pairwise estimators: random subsamples.

TwoNN and MLE cost ``O(m^2)`` in the number of points, so a 200k-row corpus is measured on
``n_subsamples`` independent random subsets of ``m`` rows each (read from the memory-mapped
store, no more than ``m`` rows in memory), each estimated by
:func:`workbench.geometry.intrinsic.intrinsic_dimension`. Reported per method: the mean over
subsets and their standard deviation, with the normal interval ``mean +- 1.96 std`` of one
``m``-point estimate (the spread a single subsample of that size would show) and the
t-interval of the mean. ID estimates depend on ``m`` (nearest neighbours are farther in a
smaller sample), so ``m`` is part of the result: compare estimates at the same ``m``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError

__all__ = ["subsample_id"]


def _rows(source: Any, idx: np.ndarray) -> np.ndarray:
    if hasattr(source, "rows"):
        return source.rows(idx, dtype=np.float64)
    return np.asarray(source[idx], dtype=np.float64)


def subsample_id(
    source: Any,
    m: int = 5000,
    n_subsamples: int = 5,
    methods: Sequence[str] = ("twonn", "mle"),
    seed: int = 0,
) -> pd.DataFrame:
    """Intrinsic dimension of ``source`` (a CorpusStore or an ``(n, dim)`` array) on
    ``n_subsamples`` random subsets of ``m`` rows, one row per method: ``method, m,
    n_subsamples, mean, std, lo, hi`` (``mean +- 1.96 std``), ``mean_lo, mean_hi`` (95%
    t-interval of the mean) and ``estimates`` (one per subset)."""
    from scipy import stats

    from ..geometry.intrinsic import intrinsic_dimension

    n = len(source)
    if isinstance(m, bool) or int(m) != m or not 10 <= m <= n:
        raise InvalidInputError(f"m must be a whole number in 10..{n} (rows available), got {m}")
    if isinstance(n_subsamples, bool) or int(n_subsamples) != n_subsamples or n_subsamples < 2:
        raise InvalidInputError(f"n_subsamples must be >= 2 for an interval, got {n_subsamples}")
    rng = np.random.default_rng(seed)
    per: dict[str, list[float]] = {}
    for _ in range(int(n_subsamples)):
        idx = np.sort(rng.choice(n, size=int(m), replace=False))
        df = intrinsic_dimension(_rows(source, idx), methods=methods, max_n=None, n_boot=0)
        for r in df.itertuples():
            per.setdefault(r.method, []).append(float(r.estimate))
    out = []
    t = stats.t.ppf(0.975, df=int(n_subsamples) - 1)
    for method, values in per.items():
        v = np.asarray(values)
        mean, std = float(v.mean()), float(v.std(ddof=1))
        half = t * std / np.sqrt(len(v))
        out.append(
            {
                "method": method,
                "m": int(m),
                "n_subsamples": len(v),
                "mean": mean,
                "std": std,
                "lo": mean - 1.96 * std,
                "hi": mean + 1.96 * std,
                "mean_lo": mean - half,
                "mean_hi": mean + half,
                "estimates": [round(x, 4) for x in values],
            }
        )
    return pd.DataFrame(out)
