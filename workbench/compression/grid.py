"""The dimensions x codecs grid: how much of a task's score survives at each bytes per vector.

:func:`compression_grid` encodes, once, a calibration corpus (default ``stsb-train``), the
STS pairs of a named protocol (default ``simcse``, STS-B test) and a retrieval task of
:mod:`workbench.evaluation.tasks` (default ``STSB``: each STS-B test pair with gold >= 4 is a
query that must find its second sentence among all STS-B test second sentences; nDCG@10).
For every k it keeps the first k dimensions (:class:`~workbench.geometry.truncation.Truncation`,
``first``), L2-normalises (what a Matryoshka user stores; cosines are unchanged), fits every
codec of :mod:`.quantize` on the *calibration* embeddings only, and scores:

- STS: Spearman x 100 of the codec's pair similarity against the gold scores, aggregated as
  the protocol says (:func:`workbench.evaluation.sts.score`, its ``main`` level);
- retrieval: nDCG@10 x 100 (and MRR@10) of the codec's query x document scores
  (:func:`workbench.evaluation.tasks.ndcg_mrr_at_k`).

:func:`score_grid` is the same on embeddings already computed (no encoder).
One tidy row per (task, dim, codec): ``score``, ``bytes_per_vector``, ``compression``
(float32 bytes of the full vector / bytes), ``protocol``, ``calibrate_on``, ...
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from .quantize import DEFAULT_CODECS, Codec, ProductQuantizer, parse_codecs

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CALIBRATION",
    "PairSet",
    "SearchSet",
    "compression_grid",
    "default_dims",
    "score_grid",
]

DEFAULT_CALIBRATION = "stsb-train"
RETRIEVAL_K = 10


@dataclass
class PairSet:
    """STS pairs as a protocol loads them (``task``, ``subset``, ``score`` columns) with the
    embeddings of their first (``a``) and second (``b``) sentences, row-aligned."""

    pairs: pd.DataFrame
    a: np.ndarray
    b: np.ndarray
    protocol: Any = None


@dataclass
class SearchSet:
    """A retrieval task: query and document embeddings, and the relevant document positions
    of each query."""

    name: str
    queries: np.ndarray
    docs: np.ndarray
    relevant: list[set[int]]
    info: dict[str, Any] = field(default_factory=dict)


def default_dims(dim: int) -> list[int]:
    """The full size and three halvings (384 -> 384, 192, 96, 48)."""
    from ..geometry.truncation import dimension_grid

    return dimension_grid(int(dim))[:4]


def _check_dims(dims: Sequence[int], dim: int, codecs: Sequence[Codec]) -> list[int]:
    out = []
    for k in dims:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidInputError(f"dimensions must be positive whole numbers, got {k!r}")
        if k > dim:
            raise InvalidInputError(
                f"dimension {k} is larger than the {dim}-d embeddings; choose dims <= {dim}"
            )
        for c in codecs:
            if isinstance(c, ProductQuantizer) and k % c.m:
                raise InvalidInputError(
                    f"PQ m={c.m} does not divide dimension {k}; choose m dividing every "
                    f"dimension of the grid or drop {k} from --dims"
                )
        out.append(int(k))
    if not out:
        raise InvalidInputError("no dimension given")
    if len(set(out)) != len(out):
        raise InvalidInputError(f"dimensions are listed twice: {list(dims)}")
    return out


def _first(X: np.ndarray, k: int) -> np.ndarray:
    from ..geometry.truncation import Truncation

    T = Truncation(k, "first").fit(X[:1])
    X = np.asarray(T.transform(X), dtype=np.float64)
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(n == 0, 1.0, n)


def score_grid(
    calibration: np.ndarray,
    dims: Sequence[int] | None = None,
    codecs: str | Sequence[Any] = DEFAULT_CODECS,
    pair_sets: Sequence[PairSet] = (),
    search_sets: Sequence[SearchSet] = (),
) -> pd.DataFrame:
    """Score every (first-k dimensions, codec) on embeddings already computed.

    Codecs are fitted on ``calibration`` (truncated to k and normalised like the scored
    embeddings), never on the scored data. Returns one row per (task, dim, codec).
    """
    from ..evaluation.sts import score as sts_score
    from ..evaluation.tasks import ndcg_mrr_at_k

    calibration = np.asarray(calibration)
    if calibration.ndim != 2 or calibration.shape[0] == 0:
        raise InvalidInputError(
            f"calibration embeddings must be a non-empty (n, dim) matrix, got {calibration.shape}"
        )
    dim = calibration.shape[1]
    codec_list = parse_codecs(codecs)
    dims = _check_dims(default_dims(dim) if dims is None else list(dims), dim, codec_list)
    for ps in pair_sets:
        if ps.a.shape[1] != dim or ps.b.shape[1] != dim:
            raise InvalidInputError("STS embeddings and calibration embeddings differ in size")
    for ss in search_sets:
        if ss.queries.shape[1] != dim or ss.docs.shape[1] != dim:
            raise InvalidInputError(f"{ss.name}: embeddings and calibration differ in size")
    full_bytes = 4.0 * dim
    rows: list[dict[str, Any]] = []
    for k in dims:
        cal_k = _first(calibration, k)
        for template in codec_list:
            codec = copy.deepcopy(template)  # one fit per k; the caller's codec stays unfitted
            codec.fit(cal_k)
            base = {
                "dim": k,
                "codec": codec.name,
                "query": codec.query,
                "bytes_per_vector": codec.bytes_per_vector,
                "compression": full_bytes / codec.bytes_per_vector,
                "shared_bytes": codec.shared_bytes,
            }
            for ps in pair_sets:
                preds = ps.pairs.copy()
                preds["pred"] = codec.pair_scores(_first(ps.a, k), _first(ps.b, k))
                res = sts_score(preds, n_boot=0)
                level = getattr(ps.protocol, "aggregation", "all")
                res = res[res["level"] == level]
                for r in res.itertuples():
                    rows.append(
                        {
                            "family": "sts",
                            "task": r.task,
                            "metric": "spearman",
                            **base,
                            "score": r.spearman,
                            "pearson": r.pearson,
                            "n": r.n_pairs,
                            "protocol": getattr(ps.protocol, "label", "custom"),
                        }
                    )
            for ss in search_sets:
                sims = codec.search_scores(
                    _first(ss.queries, k), _first(ss.docs, k), top_k=RETRIEVAL_K
                )
                ndcg, mrr = ndcg_mrr_at_k(sims, ss.relevant, RETRIEVAL_K)
                rows.append(
                    {
                        "family": "retrieval",
                        "task": ss.name,
                        "metric": f"ndcg@{RETRIEVAL_K}",
                        **base,
                        "score": 100 * ndcg,
                        f"mrr@{RETRIEVAL_K}": 100 * mrr,
                        "n": len(ss.relevant),
                        "protocol": f"workbench.tasks:retrieval/{ss.name}",
                        **ss.info,
                    }
                )
    if not rows:
        raise InvalidInputError("nothing to score: give STS pairs and/or a retrieval task")
    return pd.DataFrame(rows)


def _split(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def compression_grid(
    encoder: Any,
    dims: Sequence[int] | None = None,
    codecs: str | Sequence[Any] = DEFAULT_CODECS,
    calibrate_on: str = DEFAULT_CALIBRATION,
    sts: str | Sequence[str] | None = "STSBenchmark",
    retrieval: str | Sequence[str] | None = "STSB",
    protocol: Any = "simcse",
    data_dir: str | os.PathLike | None = None,
    max_pairs: int | None = None,
    max_n: int | None = None,
    calibration_max_n: int | None = None,
    seed: int = 0,
    cache: bool | str = True,
    batch_size: int | None = None,
) -> pd.DataFrame:
    """The dimensions x codecs grid of an encoder (see the module docstring).

    ``sts``: STS tasks scored under ``protocol`` (``max_pairs``: first N pairs per subset, a
    recorded override). ``retrieval``: tasks of the retrieval family (``max_n`` random pairs).
    ``calibrate_on``: a corpus name of :mod:`workbench.geometry.corpora` (``calibration_max_n``
    random texts of it). Every row records the protocol, the calibration corpus, its size and
    how many scored texts also occur in it (``calibration_overlap``).
    """
    from ..encoders import load_encoder
    from ..evaluation.sts import resolve_protocol
    from ..evaluation.tasks import load_task
    from ..geometry.corpora import load_texts

    codec_list = parse_codecs(codecs)
    sts_tasks, ret_tasks = _split(sts), _split(retrieval)
    if not sts_tasks and not ret_tasks:
        raise InvalidInputError("nothing to score: give STS tasks and/or retrieval tasks")
    proto = resolve_protocol(protocol, max_pairs=max_pairs)
    # data problems and bad names fail before anything is encoded
    pairs = proto.load(sts_tasks, data_dir=data_dir) if sts_tasks else None
    tasks = [load_task("retrieval", t, data_dir=data_dir, max_n=max_n) for t in ret_tasks]
    cal_texts = load_texts(
        calibrate_on, data_dir=data_dir, max_n=calibration_max_n, seed=seed, protocol=proto
    )
    enc = load_encoder(encoder)
    _check_dims(default_dims(enc.dim) if dims is None else list(dims), enc.dim, codec_list)

    def emb(texts: list[str]) -> np.ndarray:
        return np.asarray(enc.encode(texts, cache=cache, batch_size=batch_size))

    calibration = emb(cal_texts)
    pair_sets, search_sets, scored = [], [], set()
    if pairs is not None:
        sents = list(pd.unique(pd.concat([pairs["sentence1"], pairs["sentence2"]])))
        E = emb(sents)
        row = pd.Series(np.arange(len(sents)), index=sents)
        a = E[row.loc[pairs["sentence1"]].to_numpy()]
        b = E[row.loc[pairs["sentence2"]].to_numpy()]
        pair_sets.append(PairSet(pairs, a, b, proto))
        scored.update(sents)
    for t in tasks:
        E = emb(t.texts)
        p = t.parts
        search_sets.append(
            SearchSet(
                t.name,
                E[p["queries"]],
                E[p["docs"]],
                p["relevant"],
                {"n_docs": len(p["docs"])} | ({"max_n": max_n} if max_n else {}),
            )
        )
        scored.update(t.texts)
    df = score_grid(calibration, dims, codec_list, pair_sets, search_sets)
    df.insert(0, "encoder", enc.describe())
    df["calibrate_on"] = calibrate_on
    df["n_calibration"] = len(cal_texts)
    df["calibration_overlap"] = len(scored & set(cal_texts))
    df.attrs["protocol"] = proto
    return df
