"""Four task families on fixed embeddings: STS, classification, clustering, retrieval.

Every task is loaded once as a :class:`Task` (its distinct texts plus a scorer that takes
their embeddings), so one encoding can be scored many times: after whitening, after keeping
k dimensions, per layer. Scores are x100. Definitions, exactly:

**STS** (:data:`FAMILY_TASKS` ``["sts"]``: STS12-16, STS-B, SICK-R; test splits as in
:mod:`workbench.evaluation.sts`). Cosine of the two sentences' embeddings, Spearman
correlation with the gold scores over the concatenation of a task's subsets (SentEval's
``all``). Cosines are rounded to 12 decimals first, so that scores equal in exact
arithmetic (identical sentences: cosine 1) tie exactly instead of being ordered by
floating-point noise. Constant predictions (e.g. 1-dimensional embeddings that all point the
same way, where every cosine is 1) carry no ranking information and score 0 (the correlation
itself is undefined). ``max_n`` keeps that many random pairs per task.

**Classification**: a linear probe (logistic regression) on the frozen embeddings, accuracy.

- MR, CR, SUBJ, MPQA (no split): stratified ``n_folds``-fold cross-validation (shuffled,
  seed 1111), mean test-fold accuracy. Blank lines are dropped (CR has 4, MPQA 3).
- SST2: train on train, test on test (``senteval`` protocol: C chosen on dev).
- TREC (6 coarse classes): train on train_5500, test on TREC_10 (``senteval``: C chosen by
  5-fold CV on train, then refit on all of train).
- MRPC: features ``[|u - v|, u * v]`` of the two sentences' embeddings, exactly as
  SentEval's ``mrpc.py`` (``mrpc_features="full"`` adds ``u`` and ``v``); train/test as TREC.

Two protocols. ``fast`` (default): features standardised (mean/std of the training part
only) and ``LogisticRegression(C=0.01, lbfgs, max_iter=1000)``; standardising makes one C fit
every encoder, transform and truncation, and C=0.01 was the best of {0.01, 0.1, 1} for
all-MiniLM-L6-v2 on 2000 MR and SUBJ sentences (5-fold CV; 74.5 vs 70.4 on MR).
``senteval``: SentEval's scikit-learn path, no standardisation, C tuned from {2^-2..2^3} by
inner ``n_folds``-fold CV (MR/CR/SUBJ/MPQA), on dev (SST2) or from {2^-1..2^5} by 5-fold CV
on train (TREC, MRPC). ``max_n`` keeps that many random examples (for MR/CR/SUBJ/MPQA in
total; for the others per split).
Chance level: the majority-class rate of the evaluated examples.

**Clustering**: k-means (scikit-learn ``KMeans``, k-means++, ``n_init=1``) with k = the number
of gold labels on the raw embeddings, V-measure x100 against the labels, mean over
``n_runs`` seeds (0, 1, ...), as in MTEB's clustering tasks. Sets: TREC (the 6 coarse
question types, train + test), SUBJ (subjective vs objective), STS-genre (the sentences of
the STS12-16 test sets, labelled by their source: news headlines, image captions, forum
posts, ...; one label per subset name). ``max_n`` random texts per set.

**Retrieval**: each first sentence of a positive pair retrieves its partner among all the
second sentences of the set by cosine similarity; nDCG@10 (binary relevance; a query's
relevant documents are all second sentences paired with it) is the score, MRR@10 is reported
too. Sets: SNLI (test entailment pairs: premise -> its entailed hypotheses, among every
entailment hypothesis), STSB (STS-B test pairs with gold >= 4 as queries, among all STS-B
test second sentences), MRPC (test paraphrase pairs as queries, among all MRPC test second
sentences). ``max_n`` random pairs per set (and only their second sentences form the
corpus, so reduced scores are higher than full ones).

Decoder LLMs get a family-specific prompt with :func:`family_encoder` (:data:`FAMILY_PROMPTS`:
PromptEOL-style templates adapted per family; see Tsukagoshi & Sasano on prompt-based
embeddings).
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..datasets.sts import STS_TASKS
from ..errors import InvalidInputError, UnknownNameError

log = logging.getLogger(__name__)

__all__ = [
    "FAMILIES",
    "FAMILY_PROMPTS",
    "FAMILY_TASKS",
    "Task",
    "evaluate_family",
    "evaluate_tasks",
    "family_encoder",
    "load_task",
    "load_tasks",
    "ndcg_mrr_at_k",
]

FAMILIES = ("sts", "classification", "clustering", "retrieval")
FAMILY_TASKS: dict[str, tuple[str, ...]] = {
    "sts": STS_TASKS,
    "classification": ("MR", "CR", "SUBJ", "MPQA", "SST2", "TREC", "MRPC"),
    "clustering": ("TREC", "SUBJ", "STS-genre"),
    "retrieval": ("SNLI", "STSB", "MRPC"),
}
METRICS = {
    "sts": "spearman",
    "classification": "accuracy",
    "clustering": "v_measure",
    "retrieval": "ndcg@10",
}
#: PromptEOL-style templates (last-token pooling) for decoder LLMs, one per family.
FAMILY_PROMPTS: dict[str, str] = {
    "sts": 'This sentence : "{text}" means in one word:"',
    "retrieval": 'This sentence : "{text}" can be found by searching for one word:"',
    "classification": 'This sentence : "{text}" is classified in one word as:"',
    "clustering": 'This sentence : "{text}" belongs to the topic in one word:"',
}
SEED = 1111  # SentEval's
FAST_C = 0.01  # the "fast" protocol's inverse regularisation on standardised features


@dataclass
class Task:
    """One evaluation task: the distinct ``texts`` to embed and a scorer of their embeddings.

    ``score(emb)`` takes the ``(len(texts), d)`` embeddings (rows aligned with ``texts``) and
    returns ``{"score": main metric x100, ...extras}``.
    """

    family: str
    name: str
    texts: list[str]
    metric: str
    n: int
    chance: float
    scorer: Callable[[np.ndarray], dict[str, float]] = field(repr=False)
    info: dict[str, Any] = field(default_factory=dict)
    #: the scorer's index structure, for scoring with another similarity (Hamming, a float
    #: query against compressed documents: :mod:`workbench.compression`). Retrieval:
    #: ``queries`` and ``docs`` (rows of ``texts``) and ``relevant`` (doc positions per query)
    parts: dict[str, Any] = field(default_factory=dict, repr=False)

    def score(self, emb: Any) -> dict[str, float]:
        emb = np.asarray(emb)
        if emb.ndim != 2 or emb.shape[0] != len(self.texts):
            raise InvalidInputError(
                f"{self.family}/{self.name}: expected ({len(self.texts)}, dim) embeddings "
                f"aligned with task.texts, got shape {emb.shape}"
            )
        if not np.isfinite(emb).all():
            raise InvalidInputError(f"{self.family}/{self.name}: embeddings contain NaN/inf")
        return self.scorer(emb)


# ------------------------------------------------------------------------------ helpers


def _resolve_family(family: str) -> str:
    key = str(family).strip().lower()
    if key not in FAMILIES:
        raise UnknownNameError(f"unknown task family {family!r}; choose {', '.join(FAMILIES)}")
    return key


def _resolve_task(family: str, name: str) -> str:
    for t in FAMILY_TASKS[family]:
        if t.lower().replace("-", "") == str(name).strip().lower().replace("-", ""):
            return t
    if family == "sts":
        from ..datasets import resolve_sts_task

        return resolve_sts_task(name)
    raise UnknownNameError(
        f"unknown {family} task {name!r}; choose {', '.join(FAMILY_TASKS[family])}"
    )


def _pick(n: int, max_n: int | None, seed: int) -> np.ndarray:
    if max_n is None or max_n >= n:
        return np.arange(n)
    if max_n < 1:
        raise InvalidInputError(f"max_n must be at least 1, got {max_n}")
    return np.sort(np.random.default_rng(seed).choice(n, size=int(max_n), replace=False))


def _index(texts: Sequence[str]) -> tuple[list[str], dict[str, int]]:
    uniq = list(dict.fromkeys(texts))
    return uniq, {t: i for i, t in enumerate(uniq)}


def _normalize(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(n == 0, 1.0, n)


def _cosine_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    # 12 decimals: equal-in-exact-arithmetic cosines tie (see the module docstring)
    return np.round(np.einsum("ij,ij->i", _normalize(A), _normalize(B)), 12)


# ------------------------------------------------------------------------------ STS


def _sts_task(name: str, data_dir, max_n, seed) -> Task:
    from ..datasets import load_sts
    from .stats import correlation

    df = load_sts(name, split="test", data_dir=data_dir)
    df = df.iloc[_pick(len(df), max_n, seed)].reset_index(drop=True)
    texts, pos = _index(list(df["sentence1"]) + list(df["sentence2"]))
    i1 = df["sentence1"].map(pos).to_numpy()
    i2 = df["sentence2"].map(pos).to_numpy()
    gold = df["score"].to_numpy(dtype=float)

    def scorer(E: np.ndarray) -> dict[str, float]:
        cos = _cosine_rows(E[i1], E[i2])
        if np.ptp(cos) == 0:  # e.g. 1-d embeddings all on one side: no ranking at all
            return {"score": 0.0, "pearson": 0.0}
        return {
            "score": 100 * correlation(cos, gold, "spearman"),
            "pearson": 100 * correlation(cos, gold, "pearson"),
        }

    return Task("sts", name, texts, "spearman", len(df), 0.0, scorer)


# ------------------------------------------------------------------------------ classification


def _logreg(C: float, scale: bool):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = LogisticRegression(C=C, max_iter=1000, random_state=SEED)
    return make_pipeline(StandardScaler(), clf) if scale else clf


def _fit_score(Xtr, ytr, Xte, yte, C: float, scale: bool) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on hard folds: the score stands
        model = _logreg(C, scale).fit(Xtr, ytr)
    return float((model.predict(Xte) == yte).mean())


SENTEVAL_INNER_GRID = tuple(2.0**t for t in range(-2, 4))
SENTEVAL_KFOLD_GRID = tuple(2.0**t for t in range(-1, 6))


def _cv_grid(X, y, grid, folds: int, scale: bool) -> float:
    from sklearn.model_selection import StratifiedKFold

    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    best, best_c = -1.0, grid[0]
    for c in grid:
        acc = np.mean([_fit_score(X[a], y[a], X[b], y[b], c, scale) for a, b in skf.split(X, y)])
        if acc > best:
            best, best_c = acc, c
    return best_c


def _probe_cv(X, y, folds: int, protocol: str) -> float:
    from sklearn.model_selection import StratifiedKFold

    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    accs = []
    for a, b in skf.split(X, y):
        if protocol == "senteval":
            c = _cv_grid(X[a], y[a], SENTEVAL_INNER_GRID, folds, scale=False)
            accs.append(_fit_score(X[a], y[a], X[b], y[b], c, scale=False))
        else:
            accs.append(_fit_score(X[a], y[a], X[b], y[b], FAST_C, scale=True))
    return 100 * float(np.mean(accs))


def _probe_split(Xtr, ytr, Xte, yte, protocol: str, dev=None) -> float:
    if protocol == "senteval":
        if dev is not None:  # SST2: choose C on dev
            Xd, yd = dev
            scores = [_fit_score(Xtr, ytr, Xd, yd, c, False) for c in SENTEVAL_INNER_GRID]
            c = SENTEVAL_INNER_GRID[int(np.argmax(scores))]
        else:  # TREC, MRPC: 5-fold CV on train
            c = _cv_grid(Xtr, ytr, SENTEVAL_KFOLD_GRID, 5, scale=False)
        return 100 * _fit_score(Xtr, ytr, Xte, yte, c, scale=False)
    return 100 * _fit_score(Xtr, ytr, Xte, yte, FAST_C, scale=True)


def _majority(y: np.ndarray) -> float:
    return 100 * float(np.bincount(y).max() / len(y))


def _classification_task(
    name: str, data_dir, max_n, seed, protocol: str, n_folds: int, mrpc_features: str
) -> Task:
    from ..datasets import load_classification, load_pairs

    if protocol not in ("fast", "senteval"):
        raise InvalidInputError(f"unknown protocol {protocol!r}; choose fast or senteval")
    if name == "MRPC":
        if mrpc_features not in ("senteval", "full"):
            raise InvalidInputError("mrpc_features must be 'senteval' or 'full'")
        tr = load_pairs("MRPC", "train", data_dir=data_dir)
        te = load_pairs("MRPC", "test", data_dir=data_dir)
        tr = tr.iloc[_pick(len(tr), max_n, seed)].reset_index(drop=True)
        te = te.iloc[_pick(len(te), max_n, seed)].reset_index(drop=True)
        texts, pos = _index(
            list(tr["sentence1"])
            + list(tr["sentence2"])
            + list(te["sentence1"])
            + list(te["sentence2"])
        )
        idx = {
            s: (d["sentence1"].map(pos).to_numpy(), d["sentence2"].map(pos).to_numpy())
            for s, d in (("train", tr), ("test", te))
        }
        ytr, yte = tr["label"].to_numpy(), te["label"].to_numpy()

        def feats(E, split):
            u, v = E[idx[split][0]], E[idx[split][1]]
            f = [np.abs(u - v), u * v]
            return np.hstack(f + [u, v] if mrpc_features == "full" else f)

        def scorer(E):
            E = np.asarray(E, dtype=np.float64)
            return {"score": _probe_split(feats(E, "train"), ytr, feats(E, "test"), yte, protocol)}

        return Task(
            "classification",
            name,
            texts,
            "accuracy",
            len(te),
            _majority(yte),
            scorer,
            {"n_train": len(tr)},
        )

    df = load_classification(name, data_dir=data_dir, drop_empty=True)
    if name in ("MR", "CR", "SUBJ", "MPQA"):
        df = df.iloc[_pick(len(df), max_n, seed)].reset_index(drop=True)
        texts, pos = _index(list(df["text"]))
        rows = df["text"].map(pos).to_numpy()
        y = df["label"].to_numpy()

        def scorer(E):
            return {"score": _probe_cv(np.asarray(E, dtype=np.float64)[rows], y, n_folds, protocol)}

        return Task(
            "classification",
            name,
            texts,
            "accuracy",
            len(df),
            _majority(y),
            scorer,
            {"n_folds": n_folds},
        )

    parts = {}
    # the dev split is only used (and so only embedded) to choose C in the senteval protocol
    splits = ("train", "dev", "test") if protocol == "senteval" else ("train", "test")
    for split in splits:
        d = df[df["split"] == split].reset_index(drop=True)
        if len(d):
            parts[split] = d.iloc[_pick(len(d), max_n, seed)].reset_index(drop=True)
    texts, pos = _index([t for d in parts.values() for t in d["text"]])
    rows = {s: d["text"].map(pos).to_numpy() for s, d in parts.items()}
    ys = {s: d["label"].to_numpy() for s, d in parts.items()}

    def scorer(E):
        E = np.asarray(E, dtype=np.float64)
        dev = (E[rows["dev"]], ys["dev"]) if "dev" in parts and protocol == "senteval" else None
        acc = _probe_split(
            E[rows["train"]], ys["train"], E[rows["test"]], ys["test"], protocol, dev=dev
        )
        return {"score": acc}

    return Task(
        "classification",
        name,
        texts,
        "accuracy",
        len(parts["test"]),
        _majority(ys["test"]),
        scorer,
        {"n_train": len(parts["train"])},
    )


# ------------------------------------------------------------------------------ clustering


def _clustering_data(name: str, data_dir) -> tuple[list[str], np.ndarray]:
    from ..datasets import STS_TASKS, load_classification, load_sts

    if name == "TREC":
        df = load_classification("TREC", data_dir=data_dir)
        return list(df["text"]), df["label"].to_numpy()
    if name == "SUBJ":
        df = load_classification("SUBJ", data_dir=data_dir)
        return list(df["text"]), df["label"].to_numpy()
    if name == "STS-genre":
        frames = [load_sts(t, split="test", data_dir=data_dir) for t in STS_TASKS[:5]]
        df = pd.concat(frames, ignore_index=True)
        long = pd.DataFrame(
            {
                "text": list(df["sentence1"]) + list(df["sentence2"]),
                "genre": list(df["subset"]) * 2,
            }
        ).drop_duplicates("text")
        labels = pd.factorize(long["genre"], sort=True)[0]
        return list(long["text"]), labels
    raise AssertionError(name)


def _clustering_task(name: str, data_dir, max_n, seed, n_runs: int) -> Task:
    texts, labels = _clustering_data(name, data_dir)
    keep = [i for i, t in enumerate(texts) if t.strip()]
    texts = [texts[i] for i in keep]
    labels = np.asarray(labels)[keep]
    # one label per distinct text (the first), so texts and rows align
    first = pd.Series(texts).drop_duplicates().index.to_numpy()
    texts = [texts[i] for i in first]
    labels = labels[first]
    pick = _pick(len(texts), max_n, seed)
    texts = [texts[i] for i in pick]
    labels = pd.factorize(labels[pick], sort=True)[0]
    k = int(labels.max()) + 1

    def scorer(E):
        from sklearn.cluster import KMeans
        from sklearn.metrics import v_measure_score

        E = np.asarray(E, dtype=np.float64)
        vs = []
        for r in range(n_runs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pred = KMeans(n_clusters=k, n_init=1, random_state=r).fit_predict(E)
            vs.append(v_measure_score(labels, pred))
        return {"score": 100 * float(np.mean(vs)), "score_std": 100 * float(np.std(vs))}

    return Task(
        "clustering",
        name,
        texts,
        "v_measure",
        len(texts),
        0.0,
        scorer,
        {"n_clusters": k, "n_runs": n_runs},
    )


# ------------------------------------------------------------------------------ retrieval


def ndcg_mrr_at_k(
    sims: np.ndarray, relevant: Sequence[set[int]], k: int = 10
) -> tuple[float, float]:
    """Mean nDCG@k (binary relevance) and MRR@k of a ``(n_queries, n_docs)`` score matrix.

    Documents are ranked by decreasing score, ties by index (stable). x1, not x100.
    """
    sims = np.asarray(sims, dtype=np.float64)
    if sims.ndim != 2 or sims.shape[0] != len(relevant):
        raise InvalidInputError("sims must be (n_queries, n_docs) with one relevant set per query")
    if k < 1:
        raise InvalidInputError(f"k must be at least 1, got {k}")
    kk = min(k, sims.shape[1])
    top = np.argsort(-sims, axis=1, kind="stable")[:, :kk]
    disc = 1.0 / np.log2(np.arange(2, kk + 2))
    ndcg, mrr = [], []
    for row, rel in zip(top, relevant):
        if not rel:
            raise InvalidInputError("every query needs at least one relevant document")
        hits = np.array([d in rel for d in row], dtype=float)
        ideal = disc[: min(len(rel), kk)].sum()
        ndcg.append(float((hits * disc).sum() / ideal))
        first = np.flatnonzero(hits)
        mrr.append(1.0 / (first[0] + 1) if len(first) else 0.0)
    return float(np.mean(ndcg)), float(np.mean(mrr))


def _retrieval_pairs(name: str, data_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(positive pairs, all pairs whose second sentences form the corpus)."""
    from ..datasets import load_pairs, load_sts

    if name == "SNLI":
        df = load_pairs("SNLI", "test", data_dir=data_dir)
        pos = df[df["label_name"] == "entailment"].reset_index(drop=True)
        return pos, pos
    if name == "STSB":
        df = load_sts("STSBenchmark", split="test", data_dir=data_dir)
        return df[df["score"] >= 4.0].reset_index(drop=True), df
    if name == "MRPC":
        df = load_pairs("MRPC", "test", data_dir=data_dir)
        return df[df["label"] == 1].reset_index(drop=True), df
    raise AssertionError(name)


def _retrieval_task(name: str, data_dir, max_n, seed) -> Task:
    pos, pool = _retrieval_pairs(name, data_dir)
    if max_n is not None and max_n < len(pool):
        pool = pool.iloc[_pick(len(pool), max_n, seed)].reset_index(drop=True)
        if name == "SNLI":  # the pool is the positive pairs themselves
            pos = pool
        else:
            keys = set(zip(pool["sentence1"], pool["sentence2"]))
            keep = [(a, b) in keys for a, b in zip(pos["sentence1"], pos["sentence2"])]
            pos = pos[keep].reset_index(drop=True)
    if pos.empty:
        raise InvalidInputError(f"retrieval/{name}: no positive pair left (max_n={max_n})")
    docs = list(dict.fromkeys(pool["sentence2"]))
    queries = list(dict.fromkeys(pos["sentence1"]))
    doc_pos = {t: i for i, t in enumerate(docs)}
    q_pos = {t: i for i, t in enumerate(queries)}
    relevant: list[set[int]] = [set() for _ in queries]
    for a, b in zip(pos["sentence1"], pos["sentence2"]):
        relevant[q_pos[a]].add(doc_pos[b])
    texts, where = _index(queries + docs)
    qi = np.array([where[t] for t in queries])
    di = np.array([where[t] for t in docs])

    def scorer(E):
        sims = np.round(_normalize(E[qi]) @ _normalize(E[di]).T, 12)
        ndcg, mrr = ndcg_mrr_at_k(sims, relevant, 10)
        return {"score": 100 * ndcg, "mrr@10": 100 * mrr}

    return Task(
        "retrieval",
        name,
        texts,
        "ndcg@10",
        len(queries),
        0.0,
        scorer,
        {"n_docs": len(docs)},
        parts={"queries": qi, "docs": di, "relevant": relevant},
    )


# ------------------------------------------------------------------------------ public API


def load_task(
    family: str,
    name: str,
    data_dir: str | os.PathLike | None = None,
    max_n: int | None = None,
    seed: int = 0,
    protocol: str = "fast",
    n_folds: int = 10,
    n_runs: int = 3,
    mrpc_features: str = "senteval",
) -> Task:
    """One :class:`Task` of a family (see the module docstring for the definitions)."""
    family = _resolve_family(family)
    name = _resolve_task(family, name)
    if family == "sts":
        return _sts_task(name, data_dir, max_n, seed)
    if family == "classification":
        if n_folds < 2:
            raise InvalidInputError(f"n_folds must be at least 2, got {n_folds}")
        return _classification_task(name, data_dir, max_n, seed, protocol, n_folds, mrpc_features)
    if family == "clustering":
        return _clustering_task(name, data_dir, max_n, seed, n_runs)
    return _retrieval_task(name, data_dir, max_n, seed)


def load_tasks(family: str, tasks: str | Sequence[str] | None = None, **kwargs: Any) -> list[Task]:
    """The tasks of a family (all by default, or a comma-separated/list subset)."""
    family = _resolve_family(family)
    if tasks is None:
        names = list(FAMILY_TASKS[family])
    elif isinstance(tasks, str):
        names = [t.strip() for t in tasks.split(",") if t.strip()]
    else:
        names = list(tasks)
    if not names:
        raise InvalidInputError(f"no {family} task given")
    return [load_task(family, n, **kwargs) for n in names]


def family_encoder(encoder: Any, family: str, prompt: str | None = "auto"):
    """The encoder to use for ``family``: decoder LLMs get :data:`FAMILY_PROMPTS` [family]
    (``prompt="auto"``), or ``prompt`` if it is a template; encoder-only models unchanged."""
    from ..encoders import load_encoder

    family = _resolve_family(family)
    enc = load_encoder(encoder)
    if prompt is None or not getattr(enc, "is_decoder", False):
        return enc
    template = FAMILY_PROMPTS[family] if prompt == "auto" else prompt
    from ..encoders.prompts import resolve_prompt

    name, template = resolve_prompt(template)
    out = copy.copy(enc)  # shares the model; only the prompt (and so the cache key) differs
    out.prompt_name, out.prompt = name, template
    return out


def _embed(encoder, task: Task, cache, transform, batch_size) -> np.ndarray:
    E = encoder.encode(task.texts, cache=cache, batch_size=batch_size)
    if transform is not None:
        E = np.asarray(transform(E))
    return E


def evaluate_tasks(
    encoder: Any,
    tasks: Sequence[Task],
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    cache: bool | str = True,
    batch_size: int | None = None,
    label: str | None = None,
) -> pd.DataFrame:
    """Score loaded tasks: one row per task (``family, task, metric, score, chance, n`` and
    extras such as ``mrr@10``)."""
    from ..encoders import load_encoder

    encoder = load_encoder(encoder)
    rows = []
    for t in tasks:
        res = t.score(_embed(encoder, t, cache, transform, batch_size))
        rows.append(
            {
                "encoder": label or encoder.describe(),
                "family": t.family,
                "task": t.name,
                "metric": t.metric,
                "score": res.pop("score"),
                "chance": t.chance,
                "n": t.n,
                **res,
            }
        )
    return pd.DataFrame(rows)


def evaluate_family(
    encoder: Any,
    family: str,
    tasks: str | Sequence[str] | None = None,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    prompt: str | None = "auto",
    cache: bool | str = True,
    batch_size: int | None = None,
    **task_kwargs: Any,
) -> pd.DataFrame:
    """Evaluate an encoder on one task family (decoder LLMs with the family's prompt).

    ``task_kwargs`` go to :func:`load_task` (``data_dir``, ``max_n``, ``protocol``,
    ``n_folds``, ...). Returns one row per task.
    """
    enc = family_encoder(encoder, family, prompt=prompt)
    return evaluate_tasks(
        enc, load_tasks(family, tasks, **task_kwargs), transform, cache, batch_size
    )
