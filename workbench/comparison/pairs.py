"""Pair-level error analysis: which STS pairs a method gets wrong, where two methods disagree,
and how a transform (whitening, truncation, a layer) moves each pair.

>>> df = wb.pairs(["all-MiniLM-L6-v2", "glove-6b-50d"])                  # doctest: +SKIP
>>> df = wb.pairs([("raw", "glove-6b-50d", None),
...                ("zca", "glove-6b-50d", ["whiten:zca"])], delta=("raw", "zca"))  # doctest: +SKIP
>>> from workbench.comparison import neighbours
>>> neighbours(df, df.index[0])                                 # doctest: +SKIP

One row per STS pair, in the order :func:`workbench.load_pairs` reads them (the frame's index
is that position, kept through sorting): ``task``, ``subset``, ``split``, ``sentence1``,
``sentence2``, ``gold``, then for each method ``sim:LABEL`` (its similarity under the
protocol's similarity, as :func:`workbench.predict` computes it) and ``residual:LABEL``, then
``disagreement`` (two or more methods) and, with ``delta=(a, b)``, ``delta_sim``,
``delta_residual`` and ``gain``; ``protocol`` holds the protocol's label.

The **rank residual** of a pair is ``(rank of its prediction - rank of its gold score) / n``
among the ``n`` pairs that one Spearman correlation of the protocol ranks together (a task
under ``aggregation=all``; a subset under ``mean``/``wmean``), with average ranks for ties,
as Spearman's rho uses them. It lies in (-1, 1): ``+0.3`` means the method puts the pair 30%
of the way higher (more similar) than the annotators did, ``-0.3`` lower. Residuals of one
group sum to 0, and without ties ``rho = 1 - 6 n sum(r^2) / (n^2 - 1)``: the pairs with the
largest ``|r|`` are exactly what costs a method its Spearman.

``disagreement`` is the spread (max - min) of the methods' residuals: how far apart their
rankings put the pair. ``delta_sim = sim_b - sim_a``, ``delta_residual = residual_b -
residual_a`` and ``gain = |residual_a| - |residual_b|`` (> 0: ``b`` ranks the pair closer to
its gold rank).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError

log = logging.getLogger(__name__)

__all__ = [
    "PairMethod",
    "PairSpace",
    "SORTS",
    "neighbours",
    "pair_frame",
    "pairs",
    "rank_residual",
    "resolve_methods",
    "sort_pairs",
]

#: what a pair table can be sorted by
SORTS = ("residual", "disagreement", "delta", "gain")


@dataclass(frozen=True)
class PairMethod:
    """One method of a pair analysis: a label, an encoder (object or anything
    :func:`~workbench.load_encoder` takes) and its transform (spec strings as ``workbench sts
    --transform`` takes them, a fitted callable, or None)."""

    label: str
    encoder: Any
    transforms: Any = None


def _transform_name(tf: Any) -> str:
    if tf is None:
        return ""
    if isinstance(tf, str):
        return tf
    if callable(tf):
        return getattr(tf, "__name__", type(tf).__name__)
    return " -> ".join(str(s) for s in tf)


def _encoder_label(enc: Any) -> str:
    if isinstance(enc, str | os.PathLike):
        return str(enc)
    describe = getattr(enc, "describe", None)
    return describe() if callable(describe) else type(enc).__name__


def resolve_methods(methods: Any) -> list[PairMethod]:
    """``methods`` as :class:`PairMethod`: one encoder or name; a list of encoders, names,
    ``(label, encoder)`` or ``(label, encoder, transforms)``; or a dict ``{label: encoder}``
    / ``{label: (encoder, transforms)}``. Labels must be unique."""
    if isinstance(methods, Mapping):
        items: list[Any] = []
        for label, value in methods.items():
            if isinstance(value, tuple):
                items.append((label, *value))
            else:
                items.append((label, value))
    elif isinstance(methods, str | os.PathLike) or not isinstance(methods, Iterable):
        items = [methods]
    else:
        items = list(methods)
    if not items:
        raise InvalidInputError("no method given: pass encoders, names or (label, encoder)")
    out = []
    for item in items:
        if isinstance(item, PairMethod):
            out.append(item)
        elif isinstance(item, tuple):
            if len(item) not in (2, 3):
                raise InvalidInputError(
                    f"a method tuple is (label, encoder) or (label, encoder, transforms), got "
                    f"{len(item)} items"
                )
            out.append(PairMethod(str(item[0]), item[1], item[2] if len(item) == 3 else None))
        else:
            out.append(PairMethod(_encoder_label(item), item))
    labels = [m.label for m in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise InvalidInputError(
            f"two methods share the label {dup[0]!r}; give (label, encoder, transforms) tuples "
            "with distinct labels"
        )
    return out


def rank_residual(
    pred: Sequence[float], gold: Sequence[float], groups: Sequence[Any] | None = None
) -> np.ndarray:
    """``(rank(pred) - rank(gold)) / n`` within each group (average ranks for ties)."""
    from scipy.stats import rankdata

    p, g = np.asarray(pred, dtype=float), np.asarray(gold, dtype=float)
    if p.shape != g.shape or p.ndim != 1:
        raise InvalidInputError(f"pred and gold must be 1-D of one length, got {p.shape} {g.shape}")
    if not (np.isfinite(p).all() and np.isfinite(g).all()):
        raise InvalidInputError("pred and gold must be finite numbers (NaN or inf found)")
    labels = np.zeros(len(p)) if groups is None else np.asarray(groups)
    out = np.empty(len(p))
    for key in pd.unique(labels):
        m = labels == key
        n = int(m.sum())
        out[m] = (rankdata(p[m]) - rankdata(g[m])) / n
    return out


def _rank_groups(df: pd.DataFrame, protocol: Any) -> tuple[np.ndarray, str]:
    """What one Spearman of the protocol ranks together: the task (``all``), or the subset."""
    agg = getattr(protocol, "aggregation", "all")
    if agg == "all":
        return df["task"].to_numpy(), "task"
    return (df["task"] + "/" + df["subset"]).to_numpy(), "subset"


class PairSpace:
    """The sentences of each task and a way to embed them per method, for the nearest
    neighbours of a pair's sentences (embedded on first use, then remembered).

    ``embedders`` maps a method label to ``f(texts) -> (n, d) array`` (transforms applied).
    Kept in a pair frame's ``attrs['space']``; copying a frame shares it.
    """

    def __init__(
        self,
        texts: Mapping[str, Sequence[str]],
        embedders: Mapping[str, Callable[[list[str]], np.ndarray]],
    ) -> None:
        self.texts = {task: list(dict.fromkeys(t)) for task, t in texts.items()}
        self.embedders = dict(embedders)
        self._emb: dict[tuple[str, str], np.ndarray] = {}

    def __deepcopy__(self, memo: dict) -> PairSpace:  # pandas deep-copies attrs on every op
        return self

    def embeddings(self, label: str, task: str) -> np.ndarray:
        if label not in self.embedders:
            raise InvalidInputError(f"no method {label!r}; methods: {', '.join(self.embedders)}")
        if task not in self.texts:
            raise InvalidInputError(f"no task {task!r}; tasks: {', '.join(self.texts)}")
        key = (label, task)
        if key not in self._emb:
            emb = np.asarray(self.embedders[label](self.texts[task]))
            if emb.ndim != 2 or len(emb) != len(self.texts[task]):
                raise InvalidInputError(
                    f"{label}: embedding gave shape {emb.shape} for {len(self.texts[task])} texts"
                )
            self._emb[key] = emb
        return self._emb[key]

    def neighbours(self, label: str, task: str, sentence: str, k: int = 5) -> pd.DataFrame:
        """The ``k`` sentences of ``task`` most cosine-similar to ``sentence`` under method
        ``label`` (the sentence itself left out): ``rank``, ``text``, ``cosine``."""
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidInputError(f"k must be a whole number >= 1, got {k!r}")
        texts = self.texts.get(task, [])
        if sentence not in texts:
            raise InvalidInputError(f"{sentence!r} is not a sentence of {task}")
        emb = self.embeddings(label, task)
        norms = np.linalg.norm(emb, axis=1)
        unit = emb / np.maximum(norms, 1e-12)[:, None]
        q = unit[texts.index(sentence)]
        sims = unit @ q
        order = np.argsort(-sims, kind="stable")
        rows = []
        for i in order:
            if texts[i] == sentence:
                continue
            rows.append({"rank": len(rows) + 1, "text": texts[i], "cosine": float(sims[i])})
            if len(rows) == k:
                break
        return pd.DataFrame(rows, columns=["rank", "text", "cosine"])


def pair_frame(
    predictions: Mapping[str, pd.DataFrame],
    protocol: Any = None,
    delta: tuple[str, str] | None = None,
    sort: str | None = None,
    space: PairSpace | None = None,
) -> pd.DataFrame:
    """The pair table (see the module docstring) from :func:`workbench.predict` frames of
    several methods on the same pairs, ``{label: frame}`` (what the dashboard holds).

    ``protocol`` (default: the pairs' ``attrs['protocol']``) decides which pairs are ranked
    together; ``sort`` is one of :data:`SORTS` or None (pair order).
    """
    if not predictions:
        raise InvalidInputError("no predictions given: score at least one method")
    labels = list(predictions)
    first = predictions[labels[0]]
    for label in labels[1:]:
        other = predictions[label]
        for col in ("task", "subset", "sentence1", "sentence2", "score"):
            if not other[col].reset_index(drop=True).equals(first[col].reset_index(drop=True)):
                raise InvalidInputError(
                    f"{label!r} was scored on other pairs than {labels[0]!r} (column {col!r} "
                    "differs); predict every method on the same load_pairs() frame"
                )
    if protocol is None:
        protocol = first.attrs.get("protocol")
    base = first.reset_index(drop=True)
    df = pd.DataFrame(
        {
            "task": base["task"],
            "subset": base["subset"],
            "split": base.get("split"),
            "sentence1": base["sentence1"],
            "sentence2": base["sentence2"],
            "gold": base["score"].astype(float),
        }
    )
    groups, level = _rank_groups(df, protocol)
    gold = df["gold"].to_numpy()
    for label in labels:
        pred = predictions[label]["pred"].to_numpy(dtype=float)
        df[f"sim:{label}"] = pred
        df[f"residual:{label}"] = rank_residual(pred, gold, groups)
    if len(labels) > 1:
        res = df[[f"residual:{x}" for x in labels]].to_numpy()
        df["disagreement"] = res.max(axis=1) - res.min(axis=1)
    if delta is not None:
        if len(delta) != 2 or any(d not in predictions for d in delta):
            raise InvalidInputError(
                f"delta must name two of the methods ({', '.join(labels)}), got {delta!r}"
            )
        a, b = delta
        df["delta_sim"] = df[f"sim:{b}"] - df[f"sim:{a}"]
        df["delta_residual"] = df[f"residual:{b}"] - df[f"residual:{a}"]
        df["gain"] = df[f"residual:{a}"].abs() - df[f"residual:{b}"].abs()
    label = getattr(protocol, "label", None) if protocol is not None else None
    df["protocol"] = label or "custom"
    df.attrs.update(
        protocol=protocol,
        methods=labels,
        delta=tuple(delta) if delta is not None else None,
        rank_groups=level,
        space=space,
    )
    return sort_pairs(df, sort) if sort else df


def sort_pairs(df: pd.DataFrame, by: str = "residual", method: str | None = None) -> pd.DataFrame:
    """The pair table sorted, largest first, by ``|residual|`` of ``method`` (default: the
    first), ``disagreement``, ``|delta_residual|`` (``delta``) or ``gain`` (most improved
    first; the last rows are the pairs ``b`` made worse)."""
    methods = df.attrs.get("methods") or [
        c.split(":", 1)[1] for c in df.columns if c.startswith("residual:")
    ]
    if by == "residual":
        m = method or (methods[0] if methods else None)
        col = f"residual:{m}"
        if col not in df:
            raise InvalidInputError(f"no method {m!r} in the pair table; methods: {methods}")
        key = df[col].abs()
    elif by == "disagreement":
        if "disagreement" not in df:
            raise InvalidInputError("disagreement needs two or more methods")
        key = df["disagreement"]
    elif by in ("delta", "gain"):
        if "delta_residual" not in df:
            raise InvalidInputError(f"sorting by {by} needs delta=(a, b) when the table is made")
        key = df["delta_residual"].abs() if by == "delta" else df["gain"]
    else:
        raise InvalidInputError(f"unknown sort {by!r}; choose {', '.join(SORTS)}")
    order = np.argsort(-key.to_numpy(dtype=float), kind="stable")
    return df.iloc[order]


def neighbours(
    df: pd.DataFrame, index: Any, k: int = 5, methods: Sequence[str] | None = None
) -> pd.DataFrame:
    """Nearest neighbours of both sentences of pair ``index`` (a label of ``df``'s index)
    within its task's sentences, under each method: ``method``, ``side``
    (``sentence1``/``sentence2``), ``rank``, ``text``, ``cosine``."""
    space = df.attrs.get("space")
    if not isinstance(space, PairSpace):
        raise InvalidInputError(
            "this pair table holds no embedding space (made by pair_frame without space=, or "
            "rebuilt by concat/IO); make it with wb.pairs(...)"
        )
    if index not in df.index:
        raise InvalidInputError(f"no pair {index!r} in the table")
    row = df.loc[index]
    frames = []
    for label in methods or df.attrs.get("methods") or list(space.embedders):
        for side in ("sentence1", "sentence2"):
            nn = space.neighbours(label, row["task"], row[side], k=k)
            nn.insert(0, "side", side)
            nn.insert(0, "method", label)
            frames.append(nn)
    return pd.concat(frames, ignore_index=True)


def _fitted(method: PairMethod, enc: Any, protocol: Any, fit_on, data_dir, cache):
    tf = method.transforms
    if tf is None or callable(tf):
        return tf
    from ..geometry.transforms import from_specs

    return from_specs(
        tf, encoder=enc, fit_on=fit_on, data_dir=data_dir, cache=cache, protocol=protocol
    )


def pairs(
    methods: Any,
    task: str | Sequence[str] = "STSBenchmark",
    protocol: Any = "simcse",
    *,
    split: str | None = None,
    max_pairs: int | None = None,
    delta: tuple[str, str] | None = None,
    sort: str | None = "residual",
    fit_on: str | None = None,
    data_dir: str | os.PathLike | None = None,
    cache: bool | str = True,
    batch_size: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per STS pair of ``task`` (a task or a list) under ``protocol``, with every
    method's similarity and rank residual (see the module docstring).

    ``methods``: encoders, names, ``(label, encoder)`` or ``(label, encoder, transforms)``
    tuples, or a dict (see :func:`resolve_methods`); transform specs are fitted on ``fit_on``
    (default STS-B train, in the protocol's text form), never on the pairs scored.
    ``delta=(a, b)`` adds the change from method ``a`` to ``b``. ``sort`` (default: the
    first method's ``|residual|``, largest first) is one of :data:`SORTS` or None.
    ``split``/``max_pairs`` override the protocol and are recorded in ``protocol``.
    The frame's ``attrs`` hold the Protocol, the method labels and the space that
    :func:`neighbours` reads; with ``delta``, ``attrs['delta_test']`` is
    :func:`workbench.compare` of ``b`` against ``a`` per task (the Spearman change x 100 in
    the ``all`` setting, its paired-bootstrap CI and p-value over ``n_boot`` resamples).
    """
    from ..encoders import load_encoder
    from ..evaluation import compare, load_pairs, predict

    resolved = resolve_methods(methods)
    pairs_df = load_pairs(
        task, split=split, data_dir=data_dir, max_pairs=max_pairs, protocol=protocol
    )
    if pairs_df.empty:
        raise InvalidInputError(f"no pairs in {task}")
    proto = pairs_df.attrs["protocol"]
    if delta is not None and (
        len(delta) != 2 or any(d not in [m.label for m in resolved] for d in delta)
    ):
        raise InvalidInputError(
            f"delta must name two of the methods ({', '.join(m.label for m in resolved)}), "
            f"got {delta!r}"
        )
    preds: dict[str, pd.DataFrame] = {}
    embedders: dict[str, Callable[[list[str]], np.ndarray]] = {}
    for m in resolved:
        enc = load_encoder(m.encoder)
        tf = _fitted(m, enc, proto, fit_on, data_dir, cache)
        log.info("scoring %d pairs with %s", len(pairs_df), m.label)
        preds[m.label] = predict(
            enc,
            pairs_df,
            similarity=proto.similarity,
            transform=tf,
            batch_size=batch_size,
            cache=cache,
        )

        def embed(texts: list[str], enc=enc, tf=tf) -> np.ndarray:
            emb = enc.encode(texts, batch_size=batch_size, cache=cache)
            return emb if tf is None else np.asarray(tf(emb))

        embedders[m.label] = embed
    texts = {
        t: list(pd.concat([g["sentence1"], g["sentence2"]]))
        for t, g in pairs_df.groupby("task", sort=False)
    }
    space = PairSpace(texts, embedders)
    df = pair_frame(preds, proto, delta=delta, sort=sort, space=space)
    if delta is not None:  # the per-pair changes add up to this change of the score
        a, b = delta
        test = compare(preds[b], preds[a], n_boot=n_boot, seed=seed)
        df.attrs["delta_test"] = test.assign(a=a, b=b, aggregation="all")
    return df
