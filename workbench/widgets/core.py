"""The logic behind the widgets, free of any widget: methods, a memoising workspace, and the
computations the dashboard and explorer show (significance against a baseline, nearest
neighbours, similarity of positive vs random pairs, score by number of dimensions).

Everything here is a plain function or object a notebook cell, a script or
``workbench report`` can call; the widgets only wire controls to it.

>>> ws = Workspace()
>>> m = [Method("all-MiniLM-L6-v2"), Method("all-MiniLM-L6-v2", pooling="cls")]
>>> res, preds = ws.results(m, tasks=["STSBenchmark"], max_pairs=200)   # doctest: +SKIP
>>> significance(preds, baseline=m[0].name)                            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError, WorkbenchError

log = logging.getLogger(__name__)

#: whitening variants offered (names of ``workbench.geometry.transforms`` specs ``whiten:X``)
WHITENINGS: tuple[str, ...] = ("pca", "zca", "pca-cor", "zca-cor", "cholesky")


def quick_mode() -> bool:
    """True when ``WORKBENCH_QUICK=1`` (CI and tests: small subsets everywhere)."""
    return os.environ.get("WORKBENCH_QUICK", "0") == "1"


class MethodError(WorkbenchError):
    """A method (encoder + pooling + layer + transforms) that cannot be built or run."""


@dataclass(frozen=True)
class Method:
    """One way of embedding sentences: an encoder with pooling/layer and transforms.

    ``encoder`` is anything :func:`workbench.load_encoder` takes (a registered name, a model
    folder such as a training run's output, a hub id) or an already loaded encoder.
    ``whiten`` is one of :data:`WHITENINGS`; ``truncate`` keeps the first k dimensions.
    """

    encoder: Any
    pooling: str | None = None
    layer: int | None = None
    whiten: str | None = None
    truncate: int | None = None
    label: str | None = None

    @property
    def encoder_name(self) -> str:
        e = self.encoder
        if isinstance(e, str | os.PathLike):
            s = str(e).rstrip("/")
            return os.path.basename(s) if os.sep in s else s
        return getattr(e, "name", type(e).__name__)

    @property
    def name(self) -> str:
        """Short label used in tables and legends (``label`` when given)."""
        if self.label:
            return self.label
        parts = [self.encoder_name]
        if self.pooling:
            parts.append(self.pooling)
        if self.layer is not None:
            parts.append(f"L{self.layer}")
        if self.whiten:
            parts.append(f"whiten-{self.whiten}")
        if self.truncate:
            parts.append(f"{self.truncate}d")
        return " · ".join(parts)

    def transform_specs(self) -> list[str]:
        """The transform specs (``whiten:pca``, ``truncate:first:96``) in the order applied."""
        specs = []
        if self.whiten:
            specs.append(f"whiten:{self.whiten}")
        if self.truncate:
            specs.append(f"truncate:first:{int(self.truncate)}")
        return specs

    def base(self) -> Method:
        """The same encoder without transforms (what is encoded and cached)."""
        return Method(self.encoder, self.pooling, self.layer)

    def with_(self, **changes: Any) -> Method:
        return replace(self, **changes)

    @classmethod
    def coerce(cls, obj: Any) -> Method:
        """A Method from a Method, a dict of its fields, a name/path or an encoder object."""
        if isinstance(obj, Method):
            return obj
        if isinstance(obj, Mapping):
            return cls(**obj)
        return cls(obj)


def geometry_transforms():
    """``workbench.geometry.transforms`` when that part of the workbench is present, else None."""
    try:
        from ..geometry import transforms
    except ImportError:
        return None
    return transforms if hasattr(transforms, "from_specs") else None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


class Workspace:
    """Loads encoders, fits transforms and scores methods, remembering every result.

    One workspace serves a dashboard for its whole life: switching back to a method, task
    set or baseline seen before costs nothing, and embeddings come from the on-disk cache
    (``cache``) across sessions. ``progress(message)`` is called before each slow step.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        cache: bool | str = True,
        fit_on: str | None = None,
        fit_max_n: int | None = 20_000,
        n_boot: int = 1000,
        seed: int = 0,
        batch_size: int | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.cache = cache
        self.fit_on = fit_on  # None: geometry's default reference corpus (STS-B train)
        self.fit_max_n = fit_max_n
        self.n_boot = n_boot
        self.seed = seed
        self.batch_size = batch_size
        self.progress = progress or (lambda msg: log.info("%s", msg))
        self._encoders: dict[Any, Any] = {}
        self._transforms: dict[Method, Any] = {}
        self._pairs: dict[tuple, pd.DataFrame] = {}
        self._preds: dict[tuple, pd.DataFrame] = {}
        self._scores: dict[tuple, pd.DataFrame] = {}
        self._emb: dict[tuple, np.ndarray] = {}

    # ------------------------------------------------------------------ building blocks

    def encoder(self, method: Method):
        """The loaded encoder of ``method`` (loaded once; errors become MethodError)."""
        from ..encoders import Encoder, load_encoder

        m = Method.coerce(method)
        if isinstance(m.encoder, Encoder):
            if m.pooling or m.layer is not None:
                raise MethodError(
                    f"{m.name}: pass the pooling/layer to load_encoder, not with an encoder object"
                )
            return m.encoder
        key = (str(m.encoder), m.pooling, m.layer)
        if key not in self._encoders:
            self.progress(f"loading {m.base().name}")
            try:
                self._encoders[key] = load_encoder(str(m.encoder), pooling=m.pooling, layer=m.layer)
            except WorkbenchError as e:
                raise MethodError(f"cannot load {m.base().name}: {e}") from None
            except Exception as e:  # a broken folder fails deep in transformers/torch
                raise MethodError(f"cannot load {m.base().name}: {_first_line(e)}") from None
        return self._encoders[key]

    def transform(self, method: Method) -> Callable[[np.ndarray], np.ndarray] | None:
        """The fitted transform of ``method`` (None without transforms)."""
        m = Method.coerce(method)
        specs = m.transform_specs()
        if not specs:
            return None
        if m in self._transforms:
            return self._transforms[m]
        enc = self.encoder(m)
        if m.truncate is not None:
            k = int(m.truncate)
            if k < 1 or k > enc.dim:
                raise MethodError(
                    f"{m.name}: cannot keep {k} dimensions; {m.encoder_name} has {enc.dim} "
                    f"(choose 1..{enc.dim})"
                )
        if m.whiten is not None and m.whiten not in WHITENINGS:
            raise MethodError(f"unknown whitening {m.whiten!r}; choose {', '.join(WHITENINGS)}")
        geo = geometry_transforms()
        if geo is not None:
            self.progress(f"fitting {', '.join(specs)} on {self.fit_on or 'STS-B train'}")
            try:
                tf = geo.from_specs(
                    specs,
                    encoder=enc,
                    fit_on=self.fit_on,
                    data_dir=self.data_dir,
                    cache=self.cache,
                    max_n=self.fit_max_n,
                )
            except WorkbenchError as e:
                raise MethodError(f"{m.name}: {e}") from None
        elif m.whiten is not None:
            raise MethodError(
                "whitening needs workbench.geometry, which is not part of this installation"
            )
        else:  # truncation alone needs no fitting
            k = int(m.truncate)

            def tf(x: np.ndarray) -> np.ndarray:
                return np.asarray(x)[:, :k]

        self._transforms[m] = tf
        return tf

    def check(self, method: Method) -> Method:
        """Load and fit ``method`` now, so a bad choice fails before it joins a comparison."""
        m = Method.coerce(method)
        self.encoder(m)
        self.transform(m)
        return m

    def pairs(self, tasks: Sequence[str], max_pairs: int | None = None) -> pd.DataFrame:
        """Gold pairs of ``tasks`` (first ``max_pairs`` of each subset); never empty."""
        from ..evaluation import load_pairs

        tasks = tuple(tasks)
        if not tasks:
            raise InvalidInputError("no dataset selected: choose at least one STS task")
        if max_pairs is not None and max_pairs < 3:
            raise InvalidInputError(f"max pairs must be at least 3 (got {max_pairs})")
        key = (tasks, max_pairs)
        if key not in self._pairs:
            df = load_pairs(list(tasks), data_dir=self.data_dir, max_pairs=max_pairs)
            if df.empty:
                raise InvalidInputError(f"no pairs in {', '.join(tasks)}: the dataset is empty")
            self._pairs[key] = df
        return self._pairs[key]

    def embed(self, method: Method, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` under ``method`` (cached on disk, transforms applied)."""
        m = Method.coerce(method)
        texts = list(texts)
        key = (m, tuple(texts))
        if key not in self._emb:
            enc = self.encoder(m)
            self.progress(f"encoding {len(texts)} sentences with {m.base().name}")
            emb = enc.encode(texts, batch_size=self.batch_size, cache=self.cache)
            tf = self.transform(m)
            if tf is not None:
                emb = np.asarray(tf(emb))
            self._emb[key] = emb
        return self._emb[key]

    def predictions(
        self, method: Method, tasks: Sequence[str], max_pairs: int | None = None
    ) -> pd.DataFrame:
        """:func:`workbench.predict` of ``method`` on the pairs of ``tasks`` (memoised)."""
        from ..evaluation import predict

        m = Method.coerce(method)
        key = (m, tuple(tasks), max_pairs)
        if key not in self._preds:
            pairs = self.pairs(tasks, max_pairs)
            enc = self.encoder(m)
            tf = self.transform(m)
            self.progress(f"encoding and scoring {len(pairs)} pairs with {m.name}")
            try:
                self._preds[key] = predict(
                    enc, pairs, transform=tf, batch_size=self.batch_size, cache=self.cache
                )
            except WorkbenchError as e:
                raise MethodError(f"{m.name}: {e}") from None
        return self._preds[key]

    def score(
        self, method: Method, tasks: Sequence[str], max_pairs: int | None = None
    ) -> pd.DataFrame:
        """Tidy STS results of ``method`` (as :func:`workbench.evaluate_sts` gives them)."""
        from ..evaluation.sts import scored_records

        m = Method.coerce(method)
        key = (m, tuple(tasks), max_pairs)
        if key not in self._scores:
            preds = self.predictions(m, tasks, max_pairs)
            # the same record columns as evaluate_sts: protocol, versions, max_pairs...
            protocol = self.pairs(tasks, max_pairs).attrs["protocol"]
            self._scores[key] = scored_records(
                preds, self.encoder(m), protocol, label=m.name, n_boot=self.n_boot, seed=self.seed
            )
        return self._scores[key]

    def results(
        self, methods: Iterable[Method], tasks: Sequence[str], max_pairs: int | None = None
    ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        """Results of several methods in one tidy frame, plus their predictions by name."""
        frames, preds = [], {}
        for m in methods:
            m = Method.coerce(m)
            frames.append(self.score(m, tasks, max_pairs))
            preds[m.name] = self.predictions(m, tasks, max_pairs)
        if not frames:
            raise InvalidInputError("no method to evaluate: add one")
        return pd.concat(frames, ignore_index=True), preds

    # ------------------------------------------------------------------ point sets

    def points(
        self,
        source: str,
        tasks: Sequence[str] = (),
        max_pairs: int | None = None,
        n: int = 500,
    ) -> pd.DataFrame:
        """Sentences to show in a 2-D map: ``text`` plus colour columns.

        ``source="sts"``: the distinct sentences of the pairs of ``tasks`` with columns
        ``dataset``, ``subset`` and ``gold score`` (mean gold of the pairs a sentence is in).
        A classification task name (``TREC``, ``SST2``, ...): its texts with ``label``.
        At most ``n`` points, drawn evenly over the datasets with a fixed seed.
        """
        if source.lower() == "sts":
            pairs = self.pairs(tasks, max_pairs)
            long = pd.concat(
                [
                    pairs[["task", "subset", c, "score"]].rename(columns={c: "text"})
                    for c in ("sentence1", "sentence2")
                ],
                ignore_index=True,
            )
            pts = (
                long.groupby("text", sort=False)
                .agg(dataset=("task", "first"), subset=("subset", "first"), gold=("score", "mean"))
                .reset_index()
                .rename(columns={"gold": "gold score"})
            )
        else:
            from ..datasets import load_classification

            df = load_classification(source, data_dir=self.data_dir, drop_empty=True)
            df = df.drop_duplicates("text")
            pts = pd.DataFrame(
                {"text": df["text"], "dataset": df["task"], "label": df["label_name"]}
            )
        if pts.empty:
            raise InvalidInputError(f"no sentences in {source}")
        if len(pts) > n:
            per = max(1, n // pts["dataset"].nunique())
            rng = np.random.default_rng(self.seed)
            keep = []
            for _, idx in pts.groupby("dataset", sort=False).indices.items():
                keep.extend(sorted(rng.choice(idx, size=min(per, len(idx)), replace=False)))
            pts = pts.iloc[keep]
        return pts.reset_index(drop=True)


# ---------------------------------------------------------------------- computations


def _rank_rows(x: np.ndarray) -> np.ndarray:
    """Average ranks of each row (ties share their mean rank), as scipy's ``rankdata``."""
    from scipy.stats import rankdata

    return rankdata(x, axis=1)


def _corr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching rows (NaN where a row is constant)."""
    ac = a - a.mean(axis=1, keepdims=True)
    bc = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((ac * ac).sum(axis=1) * (bc * bc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ac * bc).sum(axis=1) / den, np.nan)


def paired_test(
    pred_a: pd.DataFrame,
    pred_b: pd.DataFrame,
    aggregation: str = "all",
    n_boot: int = 1000,
    seed: int = 0,
    block: int = 200,
) -> pd.DataFrame:
    """Paired bootstrap test per task of two systems' predictions on the same pairs, on the
    statistic a table shows: Spearman x 100 aggregated over each task's subsets as
    ``aggregation`` says (``all``: one correlation over the concatenated subsets, as
    :func:`workbench.compare`; ``mean``/``wmean``: the plain or size-weighted mean of the
    per-subset correlations, as SentEval defines them).

    Every replicate resamples the pairs of each subset with replacement (one index set
    shared by both systems), recomputes both statistics and takes the difference ``delta*``.
    ``p = min(1, 2 min((1 + #{delta* <= 0}) / (B + 1), (1 + #{delta* >= 0}) / (B + 1)))``
    over the ``B`` finite replicates, the rule of
    :func:`workbench.evaluation.stats.paired_bootstrap`. ``n_boot=0`` gives NaN ``lo``,
    ``hi`` and ``p_value``. Returns columns ``task``, ``delta``, ``lo``, ``hi``,
    ``p_value``, ``n_pairs``, ``corr_a``, ``corr_b`` and ``aggregation``.
    """
    from ..evaluation import compare
    from ..evaluation.stats import AGGREGATIONS, correlation

    if aggregation not in AGGREGATIONS:
        raise InvalidInputError(
            f"unknown aggregation {aggregation!r}; choose {', '.join(AGGREGATIONS)}"
        )
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise InvalidInputError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if aggregation == "all":  # one correlation over the concatenation: the library's test
        out = compare(pred_a, pred_b, n_boot=int(n_boot), seed=seed)
        return out.assign(aggregation="all")
    for col in ("task", "subset", "score"):
        if not pred_a[col].reset_index(drop=True).equals(pred_b[col].reset_index(drop=True)):
            raise InvalidInputError(
                f"the two prediction frames are not on the same pairs (column {col!r} "
                "differs); predict both on the same load_pairs() frame"
            )
    rng = np.random.default_rng(seed)
    rows = []
    for task in pd.unique(pred_a["task"]):
        m = (pred_a["task"] == task).to_numpy()
        a_all, b_all = pred_a["pred"].to_numpy(float)[m], pred_b["pred"].to_numpy(float)[m]
        g_all, subsets = pred_a["score"].to_numpy(float)[m], pred_a["subset"].to_numpy()[m]
        parts = [np.flatnonzero(subsets == s) for s in pd.unique(subsets)]
        sizes = np.array([len(p) for p in parts], dtype=float)
        weights = sizes / sizes.sum() if aggregation == "wmean" else np.full(len(parts), 1.0)
        weights = weights / weights.sum()
        ca = np.array([correlation(a_all[p], g_all[p]) for p in parts])
        cb = np.array([correlation(b_all[p], g_all[p]) for p in parts])
        stat_a, stat_b = 100 * float(weights @ ca), 100 * float(weights @ cb)
        deltas = np.zeros(n_boot)
        for k, p in enumerate(parts):
            a, b, g = a_all[p], b_all[p], g_all[p]
            for start in range(0, n_boot, block):  # blocks bound memory (block x n floats)
                size = min(block, n_boot - start)
                idx = rng.integers(0, len(p), size=(size, len(p)))
                rg = _rank_rows(g[idx])
                da = _corr_rows(_rank_rows(a[idx]), rg) - _corr_rows(_rank_rows(b[idx]), rg)
                deltas[start : start + size] += 100 * weights[k] * da
        row = {
            "task": task,
            "delta": stat_a - stat_b,
            "lo": np.nan,
            "hi": np.nan,
            "p_value": np.nan,
            "n_pairs": int(m.sum()),
            "corr_a": stat_a,
            "corr_b": stat_b,
        }
        finite = deltas[np.isfinite(deltas)]
        if n_boot > 0 and finite.size:
            row["lo"], row["hi"] = (float(v) for v in np.percentile(finite, [2.5, 97.5]))
            b_valid = finite.size
            p_le = (1 + np.count_nonzero(finite <= 0)) / (b_valid + 1)
            p_ge = (1 + np.count_nonzero(finite >= 0)) / (b_valid + 1)
            row["p_value"] = float(min(1.0, 2.0 * min(p_le, p_ge)))
        rows.append(row)
    return pd.DataFrame(rows).assign(aggregation=aggregation)


def significance(
    predictions: Mapping[str, pd.DataFrame],
    baseline: str,
    n_boot: int = 1000,
    seed: int = 0,
    aggregation: str = "all",
) -> pd.DataFrame:
    """Paired bootstrap test of every method against ``baseline``, per task, on the
    ``aggregation`` a table shows (:func:`paired_test`).

    ``predictions`` maps method names to :func:`workbench.predict` frames on the same pairs.
    Returns columns ``encoder``, ``baseline``, ``task``, ``delta`` (method - baseline, x100),
    ``lo``, ``hi``, ``p_value`` and ``aggregation``.
    """
    if baseline not in predictions:
        raise InvalidInputError(
            f"baseline {baseline!r} is not among the methods ({', '.join(predictions)})"
        )
    frames = []
    for name, pred in predictions.items():
        if name == baseline:
            continue
        c = paired_test(pred, predictions[baseline], aggregation, n_boot=n_boot, seed=seed)
        c.insert(0, "baseline", baseline)
        c.insert(0, "encoder", name)
        frames.append(c)
    if not frames:
        cols = ["encoder", "baseline", "task", "delta", "lo", "hi", "p_value", "aggregation"]
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def nearest_neighbours(
    query: np.ndarray,
    embeddings: np.ndarray,
    texts: Sequence[str],
    k: int = 5,
    exclude: str | None = None,
) -> pd.DataFrame:
    """The ``k`` texts most cosine-similar to ``query`` (``exclude`` drops the query's own
    text). Columns ``rank``, ``text``, ``cosine``."""
    if len(texts) != len(embeddings):
        raise InvalidInputError("texts and embeddings differ in length")
    sims = _unit(embeddings) @ _unit(np.asarray(query).reshape(-1))
    order = np.argsort(-sims, kind="stable")
    rows = []
    for i in order:
        if exclude is not None and texts[i] == exclude:
            continue
        rows.append({"rank": len(rows) + 1, "text": texts[i], "cosine": float(sims[i])})
        if len(rows) == k:
            break
    return pd.DataFrame(rows, columns=["rank", "text", "cosine"])


def pair_similarities(
    emb1: np.ndarray,
    emb2: np.ndarray,
    gold: np.ndarray,
    threshold: float = 4.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Cosine similarity of positive pairs (gold >= ``threshold``) and of random pairs (each
    first sentence with the second sentence of a random other pair).

    Returns columns ``pairs`` (``"positive"``/``"random"``) and ``similarity``.
    """
    a, b = _unit(emb1), _unit(emb2)
    gold = np.asarray(gold, dtype=float)
    pos = np.einsum("ij,ij->i", a[gold >= threshold], b[gold >= threshold])
    rng = np.random.default_rng(seed)
    n = len(a)
    perm = (np.arange(n) + rng.integers(1, max(n, 2), size=n)) % n  # never the pair itself
    rand = np.einsum("ij,ij->i", a, b[perm])
    return pd.DataFrame(
        {
            "pairs": ["positive"] * len(pos) + ["random"] * len(rand),
            "similarity": np.concatenate([pos, rand]),
        }
    )


def default_dims(dim: int) -> list[int]:
    """Powers of two up to ``dim``, and ``dim`` itself: the x values of a truncation curve."""
    dims = [d for d in (2**i for i in range(1, 14)) if d < dim]
    return dims + [dim]


def dimension_curve(
    emb1: np.ndarray,
    emb2: np.ndarray,
    gold: np.ndarray,
    dims: Sequence[int] | None = None,
    groups: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Spearman x 100 of cosine similarity when only the first k dimensions are kept.

    ``groups`` (e.g. the task of each pair) gives one correlation per group, averaged (the
    average over tasks a paper reports); without it, one correlation over all pairs.
    Returns columns ``dim`` and ``spearman``.
    """
    from ..evaluation.stats import correlation, pair_scores

    full = emb1.shape[1]
    dims = sorted({int(d) for d in (dims or default_dims(full)) if 1 <= int(d) <= full})
    gold = np.asarray(gold, dtype=float)
    labels = np.asarray(groups) if groups is not None else np.zeros(len(gold))
    rows = []
    for k in dims:
        s = pair_scores(emb1[:, :k], emb2[:, :k], "cosine")
        per = []
        for g in pd.unique(labels):
            try:
                per.append(correlation(s[labels == g], gold[labels == g], "spearman"))
            except InvalidInputError:  # e.g. constant similarities at a tiny k
                per.append(np.nan)
        rows.append({"dim": k, "spearman": 100.0 * float(np.nanmean(per))})
    return pd.DataFrame(rows)
