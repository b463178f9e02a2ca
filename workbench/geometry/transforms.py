"""Transform specs (``whiten:zca``, ``truncate:first:96``, ...) -> a fitted transform.

This is what ``workbench sts --transform SPEC [--transform SPEC ...] [--fit-on CORPUS]``
calls. Specs, applied in the order given:

===========================  ==================================================================
``whiten:METHOD[:K]``        METHOD in pca, zca, pca-cor, zca-cor, cholesky, bert; K kept dims
``whiten:bert:256``          BERT-whitening keeping 256 dimensions (Su et al. 2021)
``truncate:first:K``         the first K dimensions
``truncate:random:K[:SEED]`` K random dimensions (seed 0 by default)
``truncate:pca:K``           the top-K principal directions of the reference corpus
``normalize``                L2-normalise the rows
===========================  ==================================================================

Steps that learn from data (whitening, ``truncate:pca``) are fitted on the embeddings of the
reference corpus ``fit_on`` (a name from :mod:`workbench.geometry.corpora`; default
``stsb-train``), each on the output of the previous steps, as a scikit-learn ``Pipeline``.
``fit_on="target"`` fits on the very embeddings being transformed (the evaluation set): the
leaky mode of BERT-whitening, available only by that name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.pipeline import Pipeline

from ..errors import InvalidInputError
from ._checks import l2_normalize
from .corpora import DEFAULT_FIT_CORPUS, TARGET, load_texts
from .truncation import Truncation, resolve_selection
from .whitening import Whitening, resolve_method

log = logging.getLogger(__name__)

__all__ = [
    "FitOnTarget",
    "FittedTransform",
    "Normalizer",
    "evaluate_transforms",
    "build_pipeline",
    "check_dims",
    "from_specs",
    "needs_fitting",
    "parse_spec",
]


class Normalizer(TransformerMixin, BaseEstimator):
    """L2-normalise rows (stateless)."""

    def fit(self, X: Any, y: Any = None) -> Normalizer:
        self.n_features_in_ = np.shape(X)[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        return l2_normalize(np.asarray(X, dtype=np.float64))


def _int(value: str, spec: str, what: str, least: int = 1) -> int:
    try:
        n = int(value)
    except ValueError:
        raise InvalidInputError(
            f"transform {spec!r}: {what} must be a whole number, got {value!r}"
        ) from None
    if n < least:  # refused here, before any reference corpus is encoded
        raise InvalidInputError(f"transform {spec!r}: {what} must be at least {least}, got {n}")
    return n


def parse_spec(spec: str) -> BaseEstimator:
    """One spec string -> an unfitted transformer (see the module docstring)."""
    parts = [p.strip() for p in str(spec).strip().split(":")]
    kind = parts[0].lower()
    if kind in ("whiten", "whitening"):
        if len(parts) < 2 or len(parts) > 3:
            raise InvalidInputError(
                f"transform {spec!r}: expected whiten:METHOD or whiten:METHOD:K "
                "(e.g. whiten:zca, whiten:bert:256)"
            )
        method = resolve_method(parts[1])
        k = _int(parts[2], spec, "K") if len(parts) == 3 else None
        return Whitening(method, n_components=k)
    if kind in ("truncate", "truncation"):
        if len(parts) not in (3, 4):
            raise InvalidInputError(
                f"transform {spec!r}: expected truncate:first:K, truncate:random:K[:SEED] or "
                "truncate:pca:K"
            )
        sel = resolve_selection(parts[1])
        k = _int(parts[2], spec, "K")
        if len(parts) == 4 and sel != "random":
            raise InvalidInputError(f"transform {spec!r}: only truncate:random takes a seed")
        seed = _int(parts[3], spec, "SEED", least=0) if len(parts) == 4 else 0
        return Truncation(k, sel, seed)
    if kind in ("normalize", "normalise", "l2"):
        if len(parts) > 1:
            raise InvalidInputError(f"transform {spec!r}: normalize takes no arguments")
        return Normalizer()
    raise InvalidInputError(
        f"unknown transform {spec!r}; use whiten:METHOD[:K], truncate:first|random|pca:K[:SEED] "
        "or normalize"
    )


def build_pipeline(specs: Sequence[str] | str) -> Pipeline:
    """Unfitted ``Pipeline`` of the specs, in order."""
    if isinstance(specs, str):
        specs = [specs]
    if not specs:
        raise InvalidInputError("no transform given")
    return Pipeline([(f"{i}:{s}", parse_spec(s)) for i, s in enumerate(specs)])


def needs_fitting(pipe: Pipeline) -> bool:
    """Whether a step of ``pipe`` learns from data (whitening, ``truncate:pca``), so that a
    reference corpus (``fit_on``) matters."""
    return any(
        isinstance(step, Whitening) or (isinstance(step, Truncation) and step.selection == "pca")
        for _, step in pipe.steps
    )


def check_dims(pipe: Pipeline, dim: int) -> None:
    """Refuse a pipeline that keeps more dimensions than its input has, step by step, before
    anything is encoded (``truncate:first:96`` then ``whiten:bert:128`` fails here)."""
    for name, step in pipe.steps:
        k = getattr(step, "n_components", None) if isinstance(step, Whitening) else None
        if isinstance(step, Truncation):
            k = step.k
        if k is None:
            continue
        if k > dim:
            raise InvalidInputError(
                f"transform {name.split(':', 1)[1]!r} keeps {k} dimensions but its input has "
                f"{dim}; choose at most {dim}"
            )
        dim = k


class FittedTransform:
    """A pipeline fitted on a reference corpus, callable on embeddings (what
    :func:`workbench.evaluate_sts` takes as ``transform``)."""

    leaky = False

    def __init__(self, pipeline: Pipeline, fit_on: str | None, n_fit: int) -> None:
        self.pipeline = pipeline
        self.fit_on = fit_on
        self.n_fit = n_fit

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.pipeline.transform(X)

    def __repr__(self) -> str:
        steps = [name.split(":", 1)[1] for name in self.pipeline.named_steps]
        return f"<transform {' -> '.join(steps)} fitted on {self.fit_on} ({self.n_fit} rows)>"


class FitOnTarget:
    """A transform that fits ``pipeline`` on the embeddings it is applied to (a leak: the
    evaluation data is its own reference). Made only by ``from_specs(..., fit_on="target")``."""

    leaky = True

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return clone(self.pipeline).fit(X).transform(X)

    def __repr__(self) -> str:
        return f"FitOnTarget({self.pipeline!r})"


def from_specs(
    specs: Sequence[str] | str,
    encoder: Any = None,
    fit_on: str | None = None,
    data_dir: str | os.PathLike | None = None,
    cache: bool | str = True,
    max_n: int | None = 20_000,
    reference: np.ndarray | None = None,
    protocol: Any = None,
):
    """A fitted transform (callable on ``(n, dim)`` embeddings) from spec strings.

    ``reference`` (embeddings) overrides ``fit_on``; otherwise the texts of corpus ``fit_on``
    (default ``stsb-train``, at most ``max_n`` of them, STS text in the form ``protocol``
    reads it: pass the protocol the transform will be evaluated under) are encoded with
    ``encoder`` (cache used) and the pipeline is fitted on them. ``fit_on="target"`` returns
    a :class:`FitOnTarget` that fits on whatever it transforms.
    """
    pipe = build_pipeline(specs)
    corpus = None
    if fit_on is not None and str(fit_on).strip().lower() == TARGET:
        log.warning("fitting %s on the evaluation data itself (fit_on='target'): a leak", specs)
        return FitOnTarget(pipe)
    if reference is None:
        if not needs_fitting(pipe):
            if encoder is None:
                raise InvalidInputError("from_specs needs encoder= (for the embedding size)")
            from ..encoders import load_encoder

            dim = load_encoder(encoder).dim
            reference = np.zeros((1, dim))
            corpus = "nothing (no step learns from data)"
        else:
            if encoder is None:
                raise InvalidInputError(
                    "from_specs needs encoder= to embed the reference corpus, or reference="
                )
            from ..encoders import load_encoder

            encoder = load_encoder(encoder)
            check_dims(pipe, encoder.dim)
            corpus = fit_on or DEFAULT_FIT_CORPUS
            texts = load_texts(corpus, data_dir=data_dir, max_n=max_n, protocol=protocol)
            log.info("fitting %s on %d sentences of %s", list(pipe.named_steps), len(texts), corpus)
            reference = encoder.encode(texts, cache=cache)
    else:
        corpus = "reference embeddings"
    pipe.fit(reference)
    return FittedTransform(pipe, corpus, len(reference))


def evaluate_transforms(
    encoder: Any,
    specs: dict[str, Sequence[str] | str | None],
    pairs: Any = None,
    tasks: Sequence[str] | str | None = None,
    fit_on: str | None = None,
    data_dir: str | os.PathLike | None = None,
    max_pairs: int | None = None,
    fit_max_n: int | None = 20_000,
    cache: bool | str = True,
):
    """STS (``all`` aggregation, cosine) of one encoder under several transforms.

    ``specs`` maps a label to spec strings (``None`` = untransformed). Every transform is
    fitted on ``fit_on`` (default ``stsb-train``). Returns one row per (label, task) with
    ``spearman``, plus a row per label with task ``avg`` (the plain mean over tasks).
    """
    import pandas as pd

    from ..encoders import load_encoder
    from ..evaluation import evaluate_sts, load_pairs

    enc = load_encoder(encoder)
    if pairs is None:
        pairs = load_pairs(tasks, data_dir=data_dir, max_pairs=max_pairs)
    frames = []
    for label, spec in specs.items():
        tr = None
        if spec:
            tr = from_specs(
                spec,
                encoder=enc,
                fit_on=fit_on,
                data_dir=data_dir,
                cache=cache,
                max_n=fit_max_n,
                protocol=pairs.attrs.get("protocol"),  # fit on text in the evaluated form
            )
        res = evaluate_sts(enc, pairs=pairs, transform=tr, n_boot=0, aggregation="all", cache=cache)
        res = res[["task", "n_pairs", "spearman", "pearson"]].copy()
        res.insert(0, "transform", label)
        frames.append(res)
    df = pd.concat(frames, ignore_index=True)
    avg = df.groupby("transform", sort=False)[["spearman", "pearson"]].mean().reset_index()
    avg["task"] = "avg"
    out = pd.concat([df, avg], ignore_index=True)
    out.insert(0, "encoder", enc.describe())
    out["fit_on"] = fit_on or DEFAULT_FIT_CORPUS
    return out
