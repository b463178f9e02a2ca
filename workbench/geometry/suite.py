"""The whole measure suite in one call: isotropy, intrinsic dimension, alignment/uniformity.

``measure(X)`` works on any ``(n, dim)`` array; ``measure_encoder(encoder, texts=...)``
encodes a named text set first (default ``mr+subj+trec``: unpaired sentences, since paired
sets such as STS-B deflate nearest-neighbour ID estimates; STS-B positive pairs for
alignment), optionally through a transform; ``layer_profile`` does it at every layer. This is
what ``workbench geometry`` prints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._checks import as_embeddings, subsample
from .intrinsic import ID_METHODS, intrinsic_dimension
from .isotropy import alignment, isotropy_report

__all__ = ["layer_profile", "measure", "measure_encoder"]


def measure(
    X: Any,
    id_methods: Sequence[str] = ID_METHODS,
    max_n: int | None = 10_000,
    n_boot: int = 0,
    seed: int = 0,
    pairs: tuple[Any, Any] | None = None,
) -> dict[str, Any]:
    """Every geometry measure of the rows of ``X`` as one flat dict.

    Keys: ``n``, ``dim``, ``isoscore``, ``avg_cosine``, ``partition_isotropy``,
    ``effective_rank``, ``uniformity``, ``id_<method>`` (and ``id_<method>_std`` with
    ``n_boot``), ``n_duplicates``; ``alignment`` when ``pairs=(A, B)`` (positive pairs'
    embeddings) is given; ``seconds``. At most ``max_n`` random rows are used.
    """
    t0 = time.perf_counter()
    X = as_embeddings(X, min_rows=10, min_dim=2)
    X = X[subsample(len(X), max_n, seed)]
    out: dict[str, Any] = isotropy_report(X, seed=seed)
    if pairs is not None:
        out["alignment"] = alignment(*pairs)
    if id_methods:
        ids = intrinsic_dimension(X, methods=id_methods, max_n=None, n_boot=n_boot, seed=seed)
        for r in ids.itertuples():
            out[f"id_{r.method.lower()}"] = r.estimate
            if n_boot:
                out[f"id_{r.method.lower()}_std"] = r.boot_std
        out["n_duplicates"] = int(ids["n_duplicates"].iloc[0])
    out["seconds"] = time.perf_counter() - t0
    return out


def _pairs(enc, data_dir, cache, transform, max_n, seed):
    from .corpora import positive_pairs

    a, b = positive_pairs(data_dir=data_dir, max_n=max_n, seed=seed)
    A, B = enc.encode(a, cache=cache), enc.encode(b, cache=cache)
    if transform is not None:
        A, B = transform(A), transform(B)
    return A, B


def measure_encoder(
    encoder: Any,
    texts: str | Sequence[str] = "mr+subj+trec",
    max_n: int | None = 5000,
    transform: Any = None,
    id_methods: Sequence[str] = ID_METHODS,
    n_boot: int = 0,
    seed: int = 0,
    with_alignment: bool = True,
    data_dir: str | os.PathLike | None = None,
    cache: bool | str = True,
) -> dict[str, Any]:
    """:func:`measure` of an encoder's embeddings of ``texts`` (a corpus name, see
    :mod:`~workbench.geometry.corpora`, or a list of texts); ``alignment`` on the STS-B test
    pairs with gold >= 4."""
    from ..encoders import load_encoder
    from .corpora import load_texts

    enc = load_encoder(encoder)
    name = texts if isinstance(texts, str) else f"{len(texts)} texts"
    if isinstance(texts, str):
        texts = load_texts(texts, data_dir=data_dir, max_n=max_n, seed=seed)
    X = enc.encode(list(texts), cache=cache)
    if getattr(transform, "leaky", False):  # fit on these texts once, apply to the pairs too
        transform = transform.pipeline.fit(X).transform
    if transform is not None:
        X = transform(X)
    pairs = _pairs(enc, data_dir, cache, transform, None, seed) if with_alignment else None
    res = measure(X, id_methods=id_methods, max_n=max_n, n_boot=n_boot, seed=seed, pairs=pairs)
    return {"encoder": enc.describe(), "texts": name, **res}


def layer_profile(
    encoder: Any,
    texts: str | Sequence[str] = "mr+subj+trec",
    layers: Sequence[int] | str | None = None,
    max_n: int | None = 2000,
    id_methods: Sequence[str] = ID_METHODS,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    cache: bool | str = True,
) -> pd.DataFrame:
    """:func:`measure` at every layer (one forward pass for all layers): one row per layer."""
    from ..encoders import load_encoder
    from .corpora import load_texts
    from .layers import encode_layers

    enc = load_encoder(encoder)
    name = texts if isinstance(texts, str) else f"{len(texts)} texts"
    if isinstance(texts, str):
        texts = load_texts(texts, data_dir=data_dir, max_n=max_n, seed=seed)
    by_layer = encode_layers(enc, list(texts), layers=layers, cache=cache)
    rows = []
    for layer, X in by_layer.items():
        rows.append(
            {
                "encoder": enc.name,
                "layer": layer,
                "texts": name,
                **measure(np.asarray(X), id_methods=id_methods, max_n=max_n, seed=seed),
            }
        )
    return pd.DataFrame(rows)
