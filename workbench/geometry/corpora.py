"""Named text sets: reference corpora to fit transforms on, and texts to measure geometry on.

A name is ``dataset[-split]``; several names joined by ``+`` give their union. Texts are the
distinct non-empty sentences in first-seen order (both sides of a pair task);
``max_n`` keeps a reproducible random subset (``seed``), in the same order.

=================  ==========================================================================
name               texts
=================  ==========================================================================
stsb-train         STS-B train sentences; ``stsb`` = ``stsb-train``
stsb-dev/-test     STS-B dev / test sentences
sick-train         SICK train sentences (``sick-dev`` = trial, ``sick-test``)
sts12 .. sts16     the STS12-16 test sentences
sts-all            the test sentences of all seven STS tasks
snli-dev/-test     SNLI premises and hypotheses (``snli`` = ``snli-dev``)
mr, cr, subj,      the classification texts (no split)
mpqa
sst2-train/...     SST-2 split (``sst2`` = train); ``trec-train``/``trec-test``;
                   ``mrpc-train``/``mrpc-test`` (both sentences)
target             not a corpus: "fit on the evaluation data itself" (a leak, by name only)
=================  ==========================================================================

The default reference corpus (:data:`DEFAULT_FIT_CORPUS`) is ``stsb-train``: general
English sentences of the same kind as the STS test sets, none of which is in any STS test set.

STS sentences come in the text form of an evaluation protocol (``protocol=``, default the
workbench's default protocol, ``simcse``: SentEval's tokenised lower-cased STS-B, whitespace
re-joined; ``mteb``: the original cased release). A whitening fitted for an evaluation
therefore sees text in the same form as the sentences it will transform.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError, UnknownNameError
from ._checks import subsample

__all__ = [
    "CORPORA",
    "DEFAULT_FIT_CORPUS",
    "TARGET",
    "load_texts",
    "positive_pairs",
    "resolve_corpus",
]

TARGET = "target"
DEFAULT_FIT_CORPUS = "stsb-train"

_STS_TEST = {f"sts{y}": f"STS{y}" for y in (12, 13, 14, 15, 16)}
#: canonical name -> (kind, task, split)
CORPORA: dict[str, tuple[str, str, str | None]] = {
    "stsb-train": ("sts", "STSBenchmark", "train"),
    "stsb-dev": ("sts", "STSBenchmark", "dev"),
    "stsb-test": ("sts", "STSBenchmark", "test"),
    "sick-train": ("sts", "SICKRelatedness", "train"),
    "sick-dev": ("sts", "SICKRelatedness", "dev"),
    "sick-test": ("sts", "SICKRelatedness", "test"),
    **{k: ("sts", v, "test") for k, v in _STS_TEST.items()},
    "sts-all": ("sts-all", "", "test"),
    "snli-dev": ("pairs", "SNLI", "dev"),
    "snli-test": ("pairs", "SNLI", "test"),
    "mrpc-train": ("pairs", "MRPC", "train"),
    "mrpc-test": ("pairs", "MRPC", "test"),
    "mr": ("cls", "MR", None),
    "cr": ("cls", "CR", None),
    "subj": ("cls", "SUBJ", None),
    "mpqa": ("cls", "MPQA", None),
    "sst2-train": ("cls", "SST2", "train"),
    "sst2-dev": ("cls", "SST2", "dev"),
    "sst2-test": ("cls", "SST2", "test"),
    "trec-train": ("cls", "TREC", "train"),
    "trec-test": ("cls", "TREC", "test"),
}
_ALIASES = {
    "stsb": "stsb-train",
    "stsbenchmark": "stsb-train",
    "sts-b": "stsb-train",
    "sick": "sick-train",
    "sick-trial": "sick-dev",
    "snli": "snli-dev",
    "mrpc": "mrpc-train",
    "sst2": "sst2-train",
    "sst-2": "sst2-train",
    "trec": "trec-train",
    "sts": "sts-all",
}


def resolve_corpus(name: str) -> list[str]:
    """Canonical corpus names of ``name`` (``a+b`` -> ``[a, b]``); ``target`` is rejected."""
    parts = [p.strip().lower() for p in str(name).split("+") if p.strip()]
    if not parts:
        raise InvalidInputError("empty corpus name")
    out = []
    for p in parts:
        p = _ALIASES.get(p, p)
        if p == TARGET:
            raise InvalidInputError(
                "'target' means fitting on the evaluation data itself; it is not a text set "
                "and cannot be combined with others"
            )
        if p not in CORPORA:
            raise UnknownNameError(
                f"unknown corpus {p!r}; choose from {', '.join(CORPORA)} (join with '+'), "
                f"or {TARGET!r} for the leaky fit on the evaluation data"
            )
        out.append(p)
    return out


def _texts_of(name: str, data_dir, protocol) -> list[str]:
    from ..datasets import load_classification, load_pairs

    kind, task, split = CORPORA[name]
    if kind == "sts":
        df = protocol.read(task, split, data_dir)
        return list(pd.concat([df["sentence1"], df["sentence2"]]))
    if kind == "sts-all":
        df = protocol.load(None, data_dir=data_dir)
        return list(pd.concat([df["sentence1"], df["sentence2"]]))
    if kind == "pairs":
        df = load_pairs(task, split=split, data_dir=data_dir)
        return list(pd.concat([df["sentence1"], df["sentence2"]]))
    df = load_classification(task, data_dir=data_dir)
    if split is not None:
        df = df[df["split"] == split]
    return list(df["text"])


def _protocol(protocol):
    from ..evaluation.protocols import get_protocol

    return get_protocol(protocol)


def load_texts(
    name: str | Sequence[str],
    data_dir: str | os.PathLike | None = None,
    max_n: int | None = None,
    seed: int = 0,
    protocol: Any = None,
) -> list[str]:
    """The distinct non-empty texts of a named corpus (see the module docstring); STS
    sentences in the text form of ``protocol`` (a name or Protocol; default ``simcse``)."""
    names = (
        resolve_corpus(name)
        if isinstance(name, str)
        else [n for x in name for n in resolve_corpus(x)]
    )
    proto = _protocol(protocol)
    texts: list[str] = []
    for n in names:
        texts.extend(_texts_of(n, data_dir, proto))
    uniq = list(dict.fromkeys(t for t in texts if isinstance(t, str) and t.strip()))
    if not uniq:
        raise InvalidInputError(f"corpus {name!r} has no texts")
    idx = subsample(len(uniq), max_n, seed)
    return [uniq[i] for i in idx]


def positive_pairs(
    task: str = "STSBenchmark",
    split: str = "test",
    min_score: float = 4.0,
    data_dir: str | os.PathLike | None = None,
    max_n: int | None = None,
    seed: int = 0,
    protocol: Any = None,
) -> tuple[list[str], list[str]]:
    """Pairs of an STS task with gold score >= ``min_score`` (0-5 scale): the positive pairs
    for :func:`~workbench.geometry.isotropy.alignment` (text as ``protocol`` reads it)."""
    df = _protocol(protocol).read(task, split, data_dir)
    df = df[df["score"] >= min_score].reset_index(drop=True)
    if df.empty:
        raise InvalidInputError(f"{task} {split} has no pair scored >= {min_score}")
    idx = subsample(len(df), max_n, seed)
    df = df.iloc[np.asarray(idx)]
    return list(df["sentence1"]), list(df["sentence2"])
