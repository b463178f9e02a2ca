"""STS evaluation as the papers do it: encode, score each pair, correlate, aggregate.

Protocol (SentEval, as used by SimCSE and most later papers):

- STS12-16: the test pairs of every subset; pairs with a blank gold line are dropped.
- STS-B: the original cased release (``tokenized=False``) unless asked for SentEval's
  tokenised copy; SICK-R: ``SICK_test_annotated``. No regression on top: cosine of the two
  embeddings against the gold score.
- Spearman (and Pearson) x 100, per subset, plus ``all`` (one correlation over the
  concatenated subsets: the number SimCSE reports), ``mean`` and ``wmean`` (BERT-flow,
  BERT-whitening).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..datasets import STS_TASKS, load_sts, resolve_sts_task
from ..errors import InvalidInputError
from . import stats

Transform = Callable[[np.ndarray], np.ndarray]


def _as_tasks(tasks: str | Sequence[str] | None) -> list[str]:
    if tasks is None:
        return list(STS_TASKS)
    if isinstance(tasks, str):
        tasks = [t for t in tasks.split(",") if t.strip()]
    out = [resolve_sts_task(t.strip()) for t in tasks]
    if not out:
        raise InvalidInputError("no STS task given; choose from " + ", ".join(STS_TASKS))
    return list(dict.fromkeys(out))


def load_pairs(
    tasks: str | Sequence[str] | None = None,
    split: str = "test",
    data_dir=None,
    tokenized: bool = False,
    max_pairs: int | None = None,
) -> pd.DataFrame:
    """The gold pairs of several STS tasks in one frame (``max_pairs`` keeps the first N of
    each subset, for quick runs; it is recorded so reduced numbers are never mistaken for
    full ones)."""
    frames = []
    for t in _as_tasks(tasks):
        df = load_sts(t, split=split, data_dir=data_dir, tokenized=tokenized)
        if max_pairs is not None:
            df = df.groupby("subset", sort=False, group_keys=False).head(max_pairs)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def predict(
    encoder,
    pairs: pd.DataFrame,
    similarity: str = "cosine",
    transform: Transform | None = None,
    batch_size: int | None = None,
    cache: bool | str = True,
    show_progress: bool | None = None,
) -> pd.DataFrame:
    """Add a ``pred`` column (similarity of the two sentences' embeddings) to ``pairs``.

    Every distinct sentence is encoded once across all tasks. ``transform`` maps the
    ``(n, dim)`` embedding matrix to a new one (whitening, truncation, ...); it must be
    fitted beforehand on reference data, not on these pairs.
    """
    from ..encoders import load_encoder

    encoder = load_encoder(encoder)
    sentences = pd.unique(pd.concat([pairs["sentence1"], pairs["sentence2"]], ignore_index=True))
    emb = encoder.encode(
        list(sentences), batch_size=batch_size, cache=cache, show_progress=show_progress
    )
    if transform is not None:
        emb = np.asarray(transform(emb))
        if emb.ndim != 2 or emb.shape[0] != len(sentences):
            raise InvalidInputError(
                f"transform returned shape {emb.shape} for {len(sentences)} embeddings"
            )
    row = pd.Series(np.arange(len(sentences)), index=sentences)
    a = emb[row.loc[pairs["sentence1"]].to_numpy()]
    b = emb[row.loc[pairs["sentence2"]].to_numpy()]
    out = pairs.copy()
    out["pred"] = stats.pair_scores(a, b, similarity)
    return out


def score(
    predictions: pd.DataFrame, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Per-subset and aggregated correlations (x100) with bootstrap CIs, one block per task."""
    frames = []
    for task, df in predictions.groupby("task", sort=False):
        groups = dict(list(df.groupby("subset", sort=False)))
        res = stats.score_task(
            {s: g["pred"].to_numpy() for s, g in groups.items()},
            {s: g["score"].to_numpy() for s, g in groups.items()},
            task=task,
            n_boot=n_boot,
            ci=ci,
            seed=seed,
        )
        frames.append(res)
    return pd.concat(frames, ignore_index=True)


def evaluate_sts(
    encoder,
    tasks: str | Sequence[str] | None = None,
    split: str = "test",
    similarity: str = "cosine",
    aggregation: str | None = None,
    transform: Transform | None = None,
    data_dir=None,
    tokenized: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int | None = None,
    cache: bool | str = True,
    max_pairs: int | None = None,
    label: str | None = None,
    pairs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Evaluate an encoder (object or anything :func:`~workbench.load_encoder` takes) on STS.

    Returns a tidy frame: one row per (task, subset) with ``level="subset"`` and one per
    aggregation (``all``, ``mean``, ``wmean``), with ``spearman``, ``pearson`` (x100),
    bootstrap CI bounds, ``n_pairs`` and the columns ``encoder``, ``split``,
    ``similarity``. ``aggregation`` keeps only that level's rows (one per task).
    ``pairs`` (from :func:`load_pairs`) replaces ``tasks``/``split``/``data_dir``.
    """
    from ..encoders import load_encoder

    if aggregation is not None and aggregation not in stats.AGGREGATIONS + ("subset",):
        raise InvalidInputError(
            f"unknown aggregation {aggregation!r}; choose all, mean, wmean or subset"
        )
    if pairs is None:
        pairs = load_pairs(
            tasks, split=split, data_dir=data_dir, tokenized=tokenized, max_pairs=max_pairs
        )
    encoder = load_encoder(encoder)
    preds = predict(
        encoder,
        pairs,
        similarity=similarity,
        transform=transform,
        batch_size=batch_size,
        cache=cache,
    )
    res = score(preds, n_boot=n_boot, seed=seed)
    res.insert(0, "encoder", label or encoder.describe())
    res["split"] = split
    res["similarity"] = similarity
    if max_pairs is not None:
        res["max_pairs"] = max_pairs
    if aggregation is not None:
        res = res[res["level"] == aggregation].reset_index(drop=True)
    return res


def evaluate_many(encoders: dict[str, Any] | Sequence[Any], **kwargs: Any) -> pd.DataFrame:
    """:func:`evaluate_sts` for several encoders, one tidy frame; keys of a dict are labels.

    The pairs are read once and shared, so every encoder is scored on identical pairs (which
    :func:`compare` and the paired tests need).
    """
    if not isinstance(encoders, dict):
        encoders = dict(enumerate(encoders))  # integer keys: label by encoder.describe()
    if "pairs" not in kwargs:
        kwargs["pairs"] = load_pairs(
            kwargs.pop("tasks", None),
            split=kwargs.get("split", "test"),
            data_dir=kwargs.pop("data_dir", None),
            tokenized=kwargs.pop("tokenized", False),
            max_pairs=kwargs.get("max_pairs"),
        )
    frames = [
        evaluate_sts(enc, label=None if isinstance(label, int) else str(label), **kwargs)
        for label, enc in encoders.items()
    ]
    return pd.concat(frames, ignore_index=True)


def summary(
    results: pd.DataFrame, aggregation: str = "all", metric: str = "spearman"
) -> pd.DataFrame:
    """Wide table: one row per encoder, one column per task, plus ``avg`` (the plain mean
    over tasks, as papers report it)."""
    rows = results[results["level"] == aggregation]
    table = rows.pivot_table(index="encoder", columns="task", values=metric, sort=False)
    order = [t for t in STS_TASKS if t in table.columns]
    table = table[order + [c for c in table.columns if c not in order]]
    table["avg"] = table.mean(axis=1)
    return table


def compare(
    pred_a: pd.DataFrame,
    pred_b: pd.DataFrame,
    n_boot: int = 1000,
    method: str = "spearman",
    seed: int = 0,
) -> pd.DataFrame:
    """Paired bootstrap test, per task, of two systems' predictions on the same pairs.

    Uses the ``all`` setting (resampling stratified by subset, one correlation on the
    concatenation). Returns one row per task with ``delta`` (a - b, x100), its CI and a
    two-sided ``p_value``.
    """
    for col in ("task", "subset", "sentence1", "sentence2", "score"):
        if not pred_a[col].reset_index(drop=True).equals(pred_b[col].reset_index(drop=True)):
            raise InvalidInputError(
                f"the two prediction frames are not on the same pairs (column {col!r} "
                "differs); predict both on the same load_pairs() frame"
            )
    rows: list[dict[str, Any]] = []
    for task in pd.unique(pred_a["task"]):
        m = (pred_a["task"] == task).to_numpy()
        r = stats.paired_bootstrap(
            pred_a["pred"].to_numpy()[m],
            pred_b["pred"].to_numpy()[m],
            pred_a["score"].to_numpy()[m],
            n_boot=n_boot,
            method=method,
            seed=seed,
            subsets=pred_a["subset"].to_numpy()[m],
        )
        rows.append({"task": task, **r})
    return pd.DataFrame(rows)
