"""Numerical core of STS evaluation: pair similarities, correlations, SentEval aggregation,
bootstrap confidence intervals and paired significance tests.

Pure numpy/scipy. Correlations returned by :func:`correlation` are in ``[-1, 1]``; every table
or dict meant for reporting (:func:`score_task`, :func:`paired_bootstrap`) is ``x100``, as in
the papers.

Aggregation over the subsets of a task (STS12 has MSRpar, MSRvid, ...), as in SentEval
(``senteval/sts.py``; the ``all`` key of the SimCSE fork):

- ``all``: concatenate the predictions and the gold scores of every subset and compute ONE
  correlation on the concatenation. SimCSE and most later papers report this for STS12-16.
- ``mean``: the plain mean of the per-subset correlations.
- ``wmean``: the mean of the per-subset correlations weighted by each subset's number of
  pairs. BERT-flow and BERT-whitening report this.

For a task with a single subset (STS-B, SICK-R) the three coincide.

Choices made here (documented, deliberate):

- Spearman is the Pearson correlation of average ranks (ties get the mean of their ranks),
  which is exactly what ``scipy.stats.spearmanr`` computes.
- A correlation is undefined when either side is constant. SentEval silently gives NaN;
  here that raises :class:`~workbench.errors.InvalidInputError` (a collapsed encoder should be
  noticed, not averaged in as NaN). Inside a bootstrap a constant *resample* can occur on tiny
  or heavily tied data; such replicates are dropped from the percentiles.
- Cosine similarity with a zero vector is defined as 0 (not NaN) and one ``RuntimeWarning``
  per call reports how many rows were zero.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _sps

from workbench.errors import InvalidInputError, UnknownNameError

__all__ = [
    "AGGREGATIONS",
    "COLUMNS",
    "METHODS",
    "SIMILARITIES",
    "aggregate",
    "correlation",
    "pair_scores",
    "paired_bootstrap",
    "score_task",
    "williams_test",
]

SIMILARITIES = ("cosine", "dot", "euclidean", "manhattan")
METHODS = ("spearman", "pearson")
AGGREGATIONS = ("all", "mean", "wmean")
COLUMNS = (
    "task",
    "subset",
    "level",
    "n_pairs",
    "spearman",
    "pearson",
    "spearman_lo",
    "spearman_hi",
    "pearson_lo",
    "pearson_hi",
)

MIN_PAIRS = 3
# Bootstrap replicates are processed in blocks of at most this many resampled values, which
# bounds memory (a block of 1000 x 3000 float64 is 24 MB) without changing the results.
_BLOCK_ELEMENTS = 2_000_000


# --------------------------------------------------------------------------------------------
# validation helpers


def _check_name(name: str, valid: Sequence[str], what: str) -> str:
    if name not in valid:
        raise UnknownNameError(f"unknown {what} {name!r}; choose one of: {', '.join(valid)}")
    return name


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _as_vector(x: Any, what: str, where: str = "") -> np.ndarray:
    """A finite 1-D float64 array, or InvalidInputError."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{_prefix(where)}{what} must be numbers, could not convert ({exc}); "
            "pass a 1-D array of floats"
        ) from None
    if arr.ndim != 1:
        raise InvalidInputError(
            f"{_prefix(where)}{what} must be 1-D (one score per pair), got shape {arr.shape}; "
            "flatten it or pass one score per pair"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InvalidInputError(
            f"{_prefix(where)}{what} contain {int(bad.sum())} NaN/inf value(s) of {arr.size}; "
            "fix the encoder output or drop those pairs"
        )
    return arr


def _check_pair(pred: Any, gold: Any, where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Validated (pred, gold): same length, at least MIN_PAIRS pairs, finite, not constant."""
    p = _as_vector(pred, "predictions", where)
    g = _as_vector(gold, "gold scores", where)
    if p.size != g.size:
        raise InvalidInputError(
            f"{_prefix(where)}{p.size} predictions but {g.size} gold scores; "
            "pass exactly one prediction per gold pair"
        )
    if p.size < MIN_PAIRS:
        raise InvalidInputError(
            f"{_prefix(where)}only {p.size} pair(s); a correlation needs at least {MIN_PAIRS}"
        )
    for arr, what, hint in (
        (
            p,
            "predictions",
            "check the encoder (collapsed embeddings?) and the similarity",
        ),
        (g, "gold scores", "check that the right gold file was read"),
    ):
        if arr[0] == arr[-1] and np.ptp(arr) == 0:
            raise InvalidInputError(
                f"{_prefix(where)}{what} are constant (all {arr[0]:g}), so the correlation "
                f"is undefined; {hint}"
            )
    return p, g


def _check_bootstrap_args(n_boot: int, ci: float) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise InvalidInputError(
            f"n_boot must be a non-negative integer, got {n_boot!r}; use 0 to disable"
        )
    if not (isinstance(ci, (int, float, np.floating)) and 0.0 < float(ci) < 1.0):
        raise InvalidInputError(f"ci must be a level strictly between 0 and 1, got {ci!r}")


# --------------------------------------------------------------------------------------------
# similarities and correlations


def pair_scores(a: np.ndarray, b: np.ndarray, similarity: str = "cosine") -> np.ndarray:
    """Row-wise similarity of two ``(n, d)`` arrays, computed in float64; returns shape ``(n,)``.

    ``similarity`` is one of :data:`SIMILARITIES`. ``euclidean`` and ``manhattan`` return the
    NEGATIVE distance so that higher always means more similar (as sentence-transformers does).
    A cosine involving an all-zero row is 0; one ``RuntimeWarning`` per call says how many rows.
    Raises InvalidInputError on non-2-D input, a shape mismatch, or NaN/inf values.
    """
    _check_name(similarity, SIMILARITIES, "similarity")
    arrays = []
    for name, x in (("a", a), ("b", b)):
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"embeddings {name} must be numbers, could not convert ({exc})"
            ) from None
        if arr.ndim != 2:
            raise InvalidInputError(
                f"embeddings {name} must be 2-D (n, d), got shape {arr.shape}; "
                "stack one vector per sentence"
            )
        arrays.append(arr)
    x, y = arrays
    if x.shape != y.shape:
        raise InvalidInputError(
            f"embedding shapes differ: a is {x.shape}, b is {y.shape}; "
            "both sides of the pairs need the same number of rows and dimensions"
        )
    for name, arr in (("a", x), ("b", y)):
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = int(bad.any(axis=1).sum())
            raise InvalidInputError(
                f"embeddings {name} contain NaN/inf in {rows} row(s) of {arr.shape[0]}; "
                "check the encoder (fp16 overflow?) before scoring"
            )

    if similarity == "dot":
        return np.einsum("ij,ij->i", x, y)
    if similarity == "euclidean":
        diff = x - y
        return -np.sqrt(np.einsum("ij,ij->i", diff, diff))
    if similarity == "manhattan":
        return -np.abs(x - y).sum(axis=1)

    # cosine: normalise first (robust to very large norms), zero rows give 0
    nx = np.linalg.norm(x, axis=1)
    ny = np.linalg.norm(y, axis=1)
    zero = (nx == 0) | (ny == 0)
    if zero.any():
        warnings.warn(
            f"cosine similarity: {int(zero.sum())} of {x.shape[0]} pair(s) involve an all-zero "
            "embedding; their similarity is set to 0",
            RuntimeWarning,
            stacklevel=2,
        )
    nx = np.where(nx == 0, 1.0, nx)
    ny = np.where(ny == 0, 1.0, ny)
    out = np.einsum("ij,ij->i", x / nx[:, None], y / ny[:, None])
    out[zero] = 0.0
    return out


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``x`` with the same row of ``y`` (2-D, same shape).

    A row where either side is constant gives NaN (no warning).
    """
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    num = np.einsum("ij,ij->i", xc, yc)
    den = np.sqrt(np.einsum("ij,ij->i", xc, xc) * np.einsum("ij,ij->i", yc, yc))
    constant = (np.ptp(x, axis=1) == 0) | (np.ptp(y, axis=1) == 0)
    safe = np.where(constant | (den == 0), 1.0, den)
    r = np.clip(num / safe, -1.0, 1.0)
    r[constant | (den == 0)] = np.nan
    return r


def _corr_1d(p: np.ndarray, g: np.ndarray, method: str) -> float:
    if method == "spearman":
        p, g = _sps.rankdata(p), _sps.rankdata(g)
    return float(_pearson_rows(p[None, :], g[None, :])[0])


def correlation(pred: Any, gold: Any, method: str = "spearman") -> float:
    """Spearman or Pearson correlation of predictions with gold scores, in ``[-1, 1]`` (not x100).

    Spearman uses average ranks for ties, i.e. equals ``scipy.stats.spearmanr``. Raises
    InvalidInputError for different lengths, fewer than 3 pairs, NaN/inf, or constant input.
    """
    _check_name(method, METHODS, "correlation method")
    p, g = _check_pair(pred, gold)
    return _corr_1d(p, g, method)


# --------------------------------------------------------------------------------------------
# aggregation


def _aggregate_values(values: np.ndarray, sizes: np.ndarray, how: str) -> float:
    if how == "mean":
        return float(np.mean(values))
    return float(np.average(values, weights=sizes))


def aggregate(per_subset: pd.DataFrame, how: str) -> dict[str, float]:
    """``mean`` or ``wmean`` of per-subset correlations of ONE task.

    ``per_subset`` is a table with a ``spearman`` and/or ``pearson`` column (any scale) and, for
    ``wmean``, ``n_pairs``; if it has a ``level`` column only ``level == "subset"`` rows are
    used, so the output of :func:`score_task` can be passed as is. Returns
    ``{"spearman": .., "pearson": ..}`` for the metric columns present.

    ``all`` cannot be computed from per-subset correlations (it needs the raw scores of every
    subset); asking for it raises InvalidInputError pointing to :func:`score_task`.
    """
    _check_name(how, AGGREGATIONS, "aggregation")
    if how == "all":
        raise InvalidInputError(
            "'all' is one correlation on the concatenated raw scores and cannot be derived from "
            "per-subset correlations; use score_task(...) with the predictions and gold scores"
        )
    if not isinstance(per_subset, pd.DataFrame):
        raise InvalidInputError(
            f"per_subset must be a pandas DataFrame, got {type(per_subset).__name__}"
        )
    df = per_subset
    if "level" in df.columns:
        df = df[df["level"] == "subset"]
    if "task" in df.columns and df["task"].nunique() > 1:
        raise InvalidInputError(
            f"per_subset holds {df['task'].nunique()} tasks; aggregate one task at a time "
            "(e.g. df.groupby('task'))"
        )
    metrics = [m for m in METHODS if m in df.columns]
    if not metrics:
        raise InvalidInputError(
            "per_subset has neither a 'spearman' nor a 'pearson' column; pass per-subset scores"
        )
    if df.empty:
        raise InvalidInputError("per_subset has no subset rows to aggregate")
    if how == "wmean" and "n_pairs" not in df.columns:
        raise InvalidInputError("'wmean' needs an 'n_pairs' column with each subset's size")
    sizes = df["n_pairs"].to_numpy(dtype=np.float64) if "n_pairs" in df.columns else None
    if sizes is not None and (not np.all(np.isfinite(sizes)) or np.any(sizes <= 0)):
        raise InvalidInputError("'n_pairs' must be positive for every subset")
    out = {}
    for m in metrics:
        vals = df[m].to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(vals)):
            raise InvalidInputError(
                f"column {m!r} has NaN/inf for some subset; fix or drop that subset first"
            )
        out[m] = _aggregate_values(vals, sizes, how)
    return out


# --------------------------------------------------------------------------------------------
# vectorised bootstrap machinery


class _Scores:
    """A score vector with what fast resampled ranking needs precomputed."""

    __slots__ = ("codes", "n_unique", "values")

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        uniq, codes = np.unique(values, return_inverse=True)
        self.codes = codes.reshape(-1)
        self.n_unique = uniq.size

    def resample(self, idx: np.ndarray, method: str) -> np.ndarray:
        """Values (pearson) or per-row average ranks (spearman) of ``values[idx]``, ``idx`` 2-D.

        Ranks are computed by counting rather than sorting: for a row with ``c[u]`` copies of
        the ``u``-th smallest distinct value, that value's average rank is
        ``sum(c[:u]) + (c[u] + 1) / 2`` -- exactly ``scipy.stats.rankdata(..., axis=1)``.
        """
        if method == "pearson":
            return self.values[idx]
        g = self.codes[idx]
        n_rows = g.shape[0]
        flat = (g + (np.arange(n_rows) * self.n_unique)[:, None]).ravel()
        counts = np.bincount(flat, minlength=n_rows * self.n_unique).reshape(n_rows, -1)
        avg = np.cumsum(counts, axis=1) - counts + (counts + 1) * 0.5
        return np.take_along_axis(avg, g, axis=1)


def _blocks(n_boot: int, n_total: int) -> list[int]:
    size = max(1, _BLOCK_ELEMENTS // max(n_total, 1))
    return [min(size, n_boot - start) for start in range(0, n_boot, size)]


def _percentiles(boot: np.ndarray, ci: float) -> tuple[float, float]:
    """Percentile interval of the finite replicates (NaN, NaN if there are none)."""
    finite = boot[np.isfinite(boot)]
    if finite.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.percentile(finite, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(lo), float(hi)


# --------------------------------------------------------------------------------------------
# task scoring


def score_task(
    pred_by_subset: Mapping[str, np.ndarray],
    gold_by_subset: Mapping[str, np.ndarray],
    task: str,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Score one STS task: per-subset correlations plus the SentEval ``all``/``mean``/``wmean``.

    Returns a tidy DataFrame with columns :data:`COLUMNS`: one row per subset
    (``level="subset"``, in the order of ``pred_by_subset``) followed by one row per aggregation
    (``level`` in ``all``, ``mean``, ``wmean``; ``subset=""``; ``n_pairs`` = total pairs).
    Correlations and interval bounds are x100.

    Confidence intervals are percentile bootstrap intervals at level ``ci`` from ``n_boot``
    resamples (``n_boot=0``: NaN bounds). Each replicate resamples the pairs of every subset
    with replacement, independently per subset (stratified); the subset rows use those
    resamples directly, ``all`` recomputes one correlation on their concatenation, and
    ``mean``/``wmean`` aggregate the same replicate's per-subset correlations. The same
    ``seed`` gives identical output.
    """
    _check_bootstrap_args(n_boot, ci)
    if not isinstance(pred_by_subset, Mapping) or not isinstance(gold_by_subset, Mapping):
        raise InvalidInputError(
            f"{task}: predictions and gold scores must be dicts {{subset name: scores}}"
        )
    if not pred_by_subset:
        raise InvalidInputError(f"{task}: no subsets given; pass at least one subset's scores")
    missing = [s for s in pred_by_subset if s not in gold_by_subset]
    extra = [s for s in gold_by_subset if s not in pred_by_subset]
    if missing or extra:
        raise InvalidInputError(
            f"{task}: subsets of predictions and gold differ (no gold for {missing}, "
            f"no predictions for {extra}); pass the same subset names in both"
        )

    names = list(pred_by_subset)
    preds: list[np.ndarray] = []
    golds: list[np.ndarray] = []
    for name in names:
        p, g = _check_pair(pred_by_subset[name], gold_by_subset[name], where=f"{task}/{name}")
        preds.append(p)
        golds.append(g)
    sizes = np.array([p.size for p in preds])
    n_total = int(sizes.sum())
    pred_all = np.concatenate(preds)
    gold_all = np.concatenate(golds)

    # point estimates, [-1, 1]
    point_sub = {
        m: np.array([_corr_1d(p, g, m) for p, g in zip(preds, golds, strict=True)]) for m in METHODS
    }
    point_agg = {
        "all": {m: _corr_1d(pred_all, gold_all, m) for m in METHODS},
        "mean": {m: _aggregate_values(point_sub[m], sizes, "mean") for m in METHODS},
        "wmean": {m: _aggregate_values(point_sub[m], sizes, "wmean") for m in METHODS},
    }

    # bootstrap replicates
    n_sub = len(names)
    boot_sub = {m: np.full((n_sub, n_boot), np.nan) for m in METHODS}
    boot_all = {m: np.full(n_boot, np.nan) for m in METHODS}
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        sp = [_Scores(p) for p in preds]
        sg = [_Scores(g) for g in golds]
        sp_all, sg_all = _Scores(pred_all), _Scores(gold_all)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        start = 0
        for size in _blocks(n_boot, n_total):
            stop = start + size
            idx = [rng.integers(0, n, size=(size, n)) for n in sizes]
            for k in range(n_sub):
                for m in METHODS:
                    boot_sub[m][k, start:stop] = _pearson_rows(
                        sp[k].resample(idx[k], m), sg[k].resample(idx[k], m)
                    )
            if n_sub > 1:
                idx_all = np.concatenate([i + o for i, o in zip(idx, offsets, strict=True)], axis=1)
                for m in METHODS:
                    boot_all[m][start:stop] = _pearson_rows(
                        sp_all.resample(idx_all, m), sg_all.resample(idx_all, m)
                    )
            start = stop
        if n_sub == 1:
            boot_all = {m: boot_sub[m][0].copy() for m in METHODS}
    boot_agg = {
        "all": boot_all,
        "mean": {m: boot_sub[m].mean(axis=0) for m in METHODS},
        "wmean": {m: np.average(boot_sub[m], axis=0, weights=sizes) for m in METHODS},
    }

    def interval(boot: np.ndarray) -> tuple[float, float]:
        if n_boot == 0:
            return math.nan, math.nan
        lo, hi = _percentiles(boot, ci)
        return 100.0 * lo, 100.0 * hi

    rows = []
    for k, name in enumerate(names):
        row: dict[str, Any] = {
            "task": task,
            "subset": name,
            "level": "subset",
            "n_pairs": int(sizes[k]),
        }
        for m in METHODS:
            row[m] = 100.0 * point_sub[m][k]
            row[f"{m}_lo"], row[f"{m}_hi"] = interval(boot_sub[m][k])
        rows.append(row)
    for how in AGGREGATIONS:
        row = {"task": task, "subset": "", "level": how, "n_pairs": n_total}
        for m in METHODS:
            row[m] = 100.0 * point_agg[how][m]
            row[f"{m}_lo"], row[f"{m}_hi"] = interval(boot_agg[how][m])
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df["n_pairs"] = df["n_pairs"].astype("int64")
    return df


# --------------------------------------------------------------------------------------------
# significance tests


def paired_bootstrap(
    pred_a: Any,
    pred_b: Any,
    gold: Any,
    n_boot: int = 1000,
    method: str = "spearman",
    seed: int = 0,
    subsets: np.ndarray | None = None,
    ci: float = 0.95,
) -> dict[str, float]:
    """Paired bootstrap comparison of two systems scored on the same pairs.

    Each replicate draws ONE set of pair indices (with replacement) and correlates both
    systems' resampled predictions with the resampled gold, giving
    ``delta* = corr_a* - corr_b*``. With ``subsets`` (one label per pair) resampling is
    stratified within each subset and the correlation is taken on the concatenation (the
    SentEval ``all`` setting).

    Returns (x100 where a correlation) ``delta`` (= corr_a - corr_b on the full data),
    ``lo``/``hi`` (percentile interval of ``delta*`` at level ``ci``), ``p_value``,
    ``n_pairs``, ``corr_a``, ``corr_b``. The two-sided p-value inverts the percentile
    interval, with the usual +1 correction so it is never 0::

        p = min(1, 2 * min((1 + #{delta* <= 0}) / (B + 1), (1 + #{delta* >= 0}) / (B + 1)))

    over the ``B`` replicates where both correlations are defined. Identical systems give
    ``p = 1``; the smallest attainable p is ``2 / (B + 1)``. ``n_boot=0`` gives NaN
    ``lo``/``hi``/``p_value``.
    """
    _check_name(method, METHODS, "correlation method")
    _check_bootstrap_args(n_boot, ci)
    a, g = _check_pair(pred_a, gold, where="system a")
    b, _ = _check_pair(pred_b, gold, where="system b")
    n = g.size

    groups = _groups(subsets, n)
    corr_a = _corr_1d(a, g, method)
    corr_b = _corr_1d(b, g, method)
    delta = 100.0 * (corr_a - corr_b)
    result: dict[str, float] = {
        "delta": delta,
        "lo": math.nan,
        "hi": math.nan,
        "p_value": math.nan,
        "n_pairs": n,
        "corr_a": 100.0 * corr_a,
        "corr_b": 100.0 * corr_b,
    }
    if n_boot == 0:
        return result

    deltas = _paired_deltas(a, b, g, groups, n_boot, seed, method)
    result.update(delta_interval(deltas, ci))
    return result


def _groups(subsets: np.ndarray | None, n: int) -> list[np.ndarray]:
    if subsets is None:
        return [np.arange(n)]
    labels = np.asarray(subsets)
    if labels.ndim != 1 or labels.size != n:
        raise InvalidInputError(
            f"subsets must give one label per pair: got shape {labels.shape} for {n} pairs"
        )
    codes, _ = pd.factorize(labels, use_na_sentinel=False)
    return [np.flatnonzero(codes == k) for k in range(codes.max() + 1)]


def _paired_deltas(a, b, g, groups, n_boot: int, seed: int, method: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sa, sb, sg = _Scores(a), _Scores(b), _Scores(g)
    deltas = np.empty(n_boot)
    start = 0
    for size in _blocks(n_boot, g.size):
        stop = start + size
        idx = np.concatenate(
            [grp[rng.integers(0, grp.size, size=(size, grp.size))] for grp in groups],
            axis=1,
        )
        rg = sg.resample(idx, method)
        ra = _pearson_rows(sa.resample(idx, method), rg)
        rb = _pearson_rows(sb.resample(idx, method), rg)
        deltas[start:stop] = 100.0 * (ra - rb)
        start = stop
    return deltas


def paired_deltas(
    pred_a: Any,
    pred_b: Any,
    gold: Any,
    n_boot: int = 1000,
    method: str = "spearman",
    seed: int = 0,
    subsets: np.ndarray | None = None,
) -> np.ndarray:
    """The ``n_boot`` replicates ``delta* = corr_a* - corr_b*`` (x100) of
    :func:`paired_bootstrap` (NaN where a correlation is undefined). The resampled indices
    depend only on ``seed``, the pair count and ``subsets``, so replicates of different
    system pairs on the same gold pairs can be combined elementwise: averaged over tasks
    (independent resamples of disjoint pairs) or over training seeds (the same resamples)."""
    _check_name(method, METHODS, "correlation method")
    _check_bootstrap_args(max(n_boot, 1), 0.95)
    a, g = _check_pair(pred_a, gold, where="system a")
    b, _ = _check_pair(pred_b, gold, where="system b")
    return _paired_deltas(a, b, g, _groups(subsets, g.size), n_boot, seed, method)


def delta_interval(deltas: np.ndarray, ci: float = 0.95) -> dict[str, float]:
    """``lo``/``hi`` (percentile interval) and the two-sided ``p_value`` of bootstrap
    replicates of a difference, as :func:`paired_bootstrap` reports them."""
    deltas = np.asarray(deltas, dtype=float)
    deltas = deltas[np.isfinite(deltas)]
    if deltas.size == 0:
        return {"lo": math.nan, "hi": math.nan, "p_value": math.nan}
    lo, hi = _percentiles(deltas, ci)
    n_valid = deltas.size
    p_le = (1 + np.count_nonzero(deltas <= 0)) / (n_valid + 1)
    p_ge = (1 + np.count_nonzero(deltas >= 0)) / (n_valid + 1)
    return {"lo": lo, "hi": hi, "p_value": float(min(1.0, 2.0 * min(p_le, p_ge)))}


def williams_test(r12: float, r13: float, r23: float, n: int) -> tuple[float, float]:
    """Williams (1959) t-test for two dependent correlations that share one variable.

    ``r12 = corr(gold, a)``, ``r13 = corr(gold, b)``, ``r23 = corr(a, b)``, all in ``[-1, 1]``
    (not x100), measured on the same ``n`` pairs. With
    ``K = 1 - r12^2 - r13^2 - r23^2 + 2 r12 r13 r23``::

        t = (r12 - r13) * sqrt((n - 1) (1 + r23))
            / sqrt(2 K (n - 1) / (n - 3) + (r12 + r13)^2 / 4 * (1 - r23)^3)

    with ``n - 3`` degrees of freedom; returns ``(t, two-sided p)``. This is Steiger's (1980)
    recommended form, used for MT-metric comparison by Graham & Baldwin (2014, "Testing for
    significance of increased correlation with human judgment"). Steiger's case A
    (``n=103, r12=.4, r13=.5, r23=.1``) gives ``t = -0.89``. The test assumes Pearson
    correlations of roughly normal data; for Spearman it is an approximation.
    """
    vals = {"r12": r12, "r13": r13, "r23": r23}
    for name, r in vals.items():
        if not isinstance(r, (int, float, np.floating, np.integer)) or not math.isfinite(r):
            raise InvalidInputError(f"williams_test: {name} must be a finite number, got {r!r}")
        if abs(r) > 1.0:
            raise InvalidInputError(
                f"williams_test: {name}={r} is outside [-1, 1]; pass correlations, not x100"
            )
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 3:
        raise InvalidInputError(f"williams_test: n must be an integer > 3, got {n!r}")
    r12, r13, r23 = float(r12), float(r13), float(r23)
    k = 1.0 - r12**2 - r13**2 - r23**2 + 2.0 * r12 * r13 * r23
    if k < -1e-12:
        raise InvalidInputError(
            f"williams_test: r12={r12}, r13={r13}, r23={r23} are not a valid correlation matrix "
            "(determinant < 0); compute all three on the same pairs"
        )
    k = max(k, 0.0)
    num = (r12 - r13) * math.sqrt((n - 1) * (1.0 + r23))
    den2 = 2.0 * k * (n - 1) / (n - 3) + (r12 + r13) ** 2 / 4.0 * (1.0 - r23) ** 3
    if den2 <= 0.0:
        if num == 0.0:
            return 0.0, 1.0  # e.g. identical systems: no difference to test
        raise InvalidInputError("williams_test: degenerate correlations (zero variance term)")
    t = num / math.sqrt(den2)
    p = 2.0 * float(_sps.t.sf(abs(t), n - 3))
    return float(t), min(1.0, p)
