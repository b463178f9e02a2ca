"""STS evaluation as the papers do it: encode, score each pair, correlate, aggregate.

What is scored is a named protocol (:mod:`workbench.evaluation.protocols`): ``simcse``
(default: the setting of SimCSE and most later papers), ``senteval`` or ``mteb``. A protocol
pins the files and splits (STS-B tokenised or original; SICK-R test or all of SICK), the
sentence preprocessing, the aggregation over the subsets of STS12-16 (``all``, ``mean``,
``wmean``), the similarity and the truncation. Every result row carries the protocol's label
and the library versions; an argument that departs from the protocol (``split``,
``tokenized``, ``similarity``, ``aggregation``, ``max_pairs``) is recorded in the label
(``simcse+aggregation=wmean``), never silently applied.

Spearman (and Pearson) x 100, per subset, plus ``all`` (one correlation over the
concatenated subsets), ``mean`` and ``wmean``; the rows the protocol reports have
``main=True``. No regression on top: cosine of the two embeddings against the gold score.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..datasets import STS_TASKS
from ..errors import InvalidInputError
from . import stats
from .protocols import Protocol, get_protocol, versions_json

log = logging.getLogger(__name__)

Transform = Callable[[np.ndarray], np.ndarray]

#: fields whose change means other texts or other pairs (they apply when pairs are loaded)
_DATA_FIELDS = ("stsb", "split", "sick", "preprocess", "max_pairs")


def resolve_protocol(
    protocol: str | Protocol | None = None,
    *,
    split: str | None = None,
    tokenized: bool | None = None,
    similarity: str | None = None,
    aggregation: str | None = None,
    max_pairs: int | None = None,
) -> Protocol:
    """The protocol named ``protocol`` (default ``simcse``) with the given arguments applied
    as recorded overrides; ``None`` leaves a field as the protocol has it. ``aggregation``
    ``"subset"`` only selects rows and changes nothing."""
    if aggregation is not None and aggregation not in stats.AGGREGATIONS + ("subset",):
        raise InvalidInputError(
            f"unknown aggregation {aggregation!r}; choose all, mean, wmean or subset"
        )
    return get_protocol(protocol).override(
        split=split,
        tokenized=tokenized,
        similarity=similarity,
        aggregation=None if aggregation == "subset" else aggregation,
        max_pairs=max_pairs,
    )


def load_pairs(
    tasks: str | Sequence[str] | None = None,
    split: str | None = None,
    data_dir=None,
    tokenized: bool | None = None,
    max_pairs: int | None = None,
    protocol: str | Protocol | None = None,
) -> pd.DataFrame:
    """The gold pairs of several STS tasks in one frame, as ``protocol`` reads them.

    ``split``/``tokenized``/``max_pairs`` (first N pairs of each subset, for quick runs)
    override the protocol and are recorded; the protocol travels in ``attrs['protocol']``, so
    :func:`evaluate_sts` on these pairs records it.
    """
    proto = resolve_protocol(protocol, split=split, tokenized=tokenized, max_pairs=max_pairs)
    return proto.load(tasks, data_dir=data_dir)


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


def _pairs_protocol(
    pairs: pd.DataFrame, protocol, split, tokenized, max_pairs
) -> tuple[Protocol, bool]:
    """The protocol given ``pairs`` were loaded under (and whether they were): arguments
    that would change which pairs or texts are scored are refused, not ignored."""
    loaded = pairs.attrs.get("protocol")
    if not isinstance(loaded, Protocol):
        base = resolve_protocol(protocol, split=split, tokenized=tokenized, max_pairs=max_pairs)
        kept = tuple((k, v) for k, v in base.overrides if k == "max_pairs")
        custom = replace(
            base, name="custom", description="pairs given by the caller", overrides=kept
        )
        return custom, False
    if protocol is not None:
        asked = get_protocol(protocol)
        same = asked.name == loaded.name and all(
            getattr(asked, k) == getattr(loaded, k) for k in _DATA_FIELDS if k != "max_pairs"
        )
        if not same:
            raise InvalidInputError(
                f"these pairs were loaded under protocol {loaded.label!r}, not "
                f"{asked.label!r}; load them with load_pairs(protocol=...)"
            )
        loaded = loaded.override(
            aggregation=asked.aggregation,
            similarity=asked.similarity,
            truncation=asked.truncation,
        )
    wanted = loaded.override(split=split, tokenized=tokenized, max_pairs=max_pairs)
    for key in _DATA_FIELDS:
        a = dict(loaded.overrides).get(key) if key == "max_pairs" else getattr(loaded, key)
        b = dict(wanted.overrides).get(key) if key == "max_pairs" else getattr(wanted, key)
        if a != b:
            raise InvalidInputError(
                f"{key}={b} differs from the pairs given ({loaded.label}: {key}={a}); "
                "it applies when pairs are loaded: pass it to load_pairs()"
            )
    return loaded, True


def _n_truncated(encoder, pairs: pd.DataFrame) -> dict[str, int | None]:
    """Per task, how many distinct texts are longer than the encoder's ``max_length``
    tokens (and so are cut); None where that cannot be known (no tokenizer; a prompt adds
    tokens of its own)."""
    tok, limit = getattr(encoder, "tokenizer", None), getattr(encoder, "max_length", None)
    cfg = encoder.config()
    if tok is None or not limit or cfg.get("prompt") or cfg.get("token_prepending"):
        return dict.fromkeys(pd.unique(pairs["task"]))
    out: dict[str, int | None] = {}
    for task, df in pairs.groupby("task", sort=False):
        texts = list(pd.unique(pd.concat([df["sentence1"], df["sentence2"]])))
        ids = tok(texts, add_special_tokens=True, verbose=False)["input_ids"]
        out[task] = int(sum(len(x) > limit for x in ids))
    return out


def evaluate_sts(
    encoder,
    tasks: str | Sequence[str] | None = None,
    split: str | None = None,
    similarity: str | None = None,
    aggregation: str | None = None,
    transform: Transform | None = None,
    data_dir=None,
    tokenized: bool | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int | None = None,
    cache: bool | str = True,
    max_pairs: int | None = None,
    label: str | None = None,
    pairs: pd.DataFrame | None = None,
    protocol: str | Protocol | None = None,
) -> pd.DataFrame:
    """Evaluate an encoder (object or anything :func:`~workbench.load_encoder` takes) on STS
    under ``protocol`` (``simcse`` by default; ``senteval``, ``mteb``; see
    :func:`~workbench.list_protocols`).

    Returns a tidy frame: one row per (task, subset) with ``level="subset"`` and one per
    aggregation (``all``, ``mean``, ``wmean``), with ``spearman``, ``pearson`` (x100),
    bootstrap CI bounds, ``n_pairs`` and the columns ``encoder``, ``split``, ``similarity``,
    ``protocol`` (the label, overrides included), ``main`` (the rows the protocol reports),
    ``max_length`` and ``n_truncated`` (texts longer than the encoder's limit) and
    ``versions`` (JSON). ``split``, ``tokenized``, ``similarity``, ``aggregation`` and
    ``max_pairs`` default to the protocol's; another value is an override recorded in
    ``protocol``. ``aggregation`` also keeps only that level's rows (``subset``: the
    per-subset rows). ``pairs`` (from :func:`load_pairs`) replaces ``tasks``/``data_dir``.
    """
    from ..encoders import load_encoder

    proto = resolve_protocol(protocol, aggregation=aggregation, similarity=similarity)
    if pairs is None:
        proto = proto.override(split=split, tokenized=tokenized, max_pairs=max_pairs)
        pairs = proto.load(tasks, data_dir=data_dir)
    else:
        loaded, _ = _pairs_protocol(pairs, protocol, split, tokenized, max_pairs)
        proto = loaded.override(
            similarity=similarity,
            aggregation=None if aggregation == "subset" else aggregation,
        )
    encoder = load_encoder(encoder)
    preds = predict(
        encoder,
        pairs,
        similarity=proto.similarity,
        transform=transform,
        batch_size=batch_size,
        cache=cache,
    )
    res = scored_records(preds, encoder, proto, label=label, n_boot=n_boot, seed=seed)
    if aggregation is not None:
        res = res[res["level"] == aggregation].reset_index(drop=True)
        res.attrs["protocol"] = proto
    return res


def scored_records(
    preds: pd.DataFrame,
    encoder,
    protocol: Protocol,
    label: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`score` plus the record columns every result carries (encoder, split,
    similarity, protocol, main, max_length, n_truncated, max_pairs, versions)."""
    res = score(preds, n_boot=n_boot, seed=seed)
    res.insert(0, "encoder", label or encoder.describe())
    task_split = preds.groupby("task", sort=False)["split"].agg(lambda s: "+".join(pd.unique(s)))
    res["split"] = res["task"].map(task_split)
    res["similarity"] = protocol.similarity
    truncated = _n_truncated(encoder, preds)
    labels = {}
    for task, n in truncated.items():
        labels[task] = protocol.label
        if n and protocol.truncation == "none":
            log.warning(
                "%s: %d texts are longer than max_length=%s tokens and are cut, which "
                "protocol %s does not do; recorded as +truncated=%d",
                task, n, getattr(encoder, "max_length", None), protocol.name, n,
            )  # fmt: skip
            labels[task] = f"{protocol.label}+truncated={n}"
    res["protocol"] = res["task"].map(labels)
    res["main"] = res["level"] == protocol.aggregation
    res["max_length"] = getattr(encoder, "max_length", None)
    res["n_truncated"] = pd.Series([truncated[t] for t in res["task"]], dtype=object)
    if protocol.max_pairs is not None:
        res["max_pairs"] = protocol.max_pairs
    res["versions"] = versions_json()
    res.attrs["protocol"] = protocol
    return res


def evaluate_many(encoders: dict[str, Any] | Sequence[Any], **kwargs: Any) -> pd.DataFrame:
    """:func:`evaluate_sts` for several encoders, one tidy frame; keys of a dict are labels.

    The pairs are read once (under ``protocol``) and shared, so every encoder is scored on
    identical pairs (which :func:`compare` and the paired tests need).
    """
    if not isinstance(encoders, dict):
        encoders = dict(enumerate(encoders))  # integer keys: label by encoder.describe()
    if "pairs" not in kwargs:
        kwargs["pairs"] = load_pairs(
            kwargs.pop("tasks", None),
            split=kwargs.pop("split", None),
            data_dir=kwargs.pop("data_dir", None),
            tokenized=kwargs.pop("tokenized", None),
            max_pairs=kwargs.pop("max_pairs", None),
            protocol=kwargs.get("protocol"),
        )
    frames = [
        evaluate_sts(enc, label=None if isinstance(label, int) else str(label), **kwargs)
        for label, enc in encoders.items()
    ]
    return pd.concat(frames, ignore_index=True)


def summary(
    results: pd.DataFrame, aggregation: str | None = None, metric: str = "spearman"
) -> pd.DataFrame:
    """Wide table: one row per encoder (per encoder and protocol when the results hold
    several), one column per task, plus ``avg`` (the plain mean over tasks, as papers report
    it). ``aggregation=None`` takes each protocol's own rows (``main``), else that level."""
    if aggregation is None and "main" in results:
        rows = results[results["main"].astype(bool)]
    else:
        rows = results[results["level"] == (aggregation or "all")]
    index: str | list[str] = "encoder"
    if "protocol" in rows:
        # never average numbers of different protocols (a per-task +truncated=N is the same)
        base = rows["protocol"].str.replace(r"\+truncated=\d+", "", regex=True)
        if base.nunique() > 1:
            rows = rows.assign(protocol=base)
            index = ["encoder", "protocol"]
    table = rows.pivot_table(index=index, columns="task", values=metric, sort=False)
    order = [t for t in STS_TASKS if t in table.columns]
    table = table[order + [c for c in table.columns if c not in order]]
    table.columns.name = "task"
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
