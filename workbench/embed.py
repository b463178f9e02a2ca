"""Batched encoding with de-duplication and the on-disk embedding cache."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path

import numpy as np

from . import config
from .cache import EmbeddingCache, text_digests
from .errors import CacheAccessWarning, InvalidInputError

log = logging.getLogger(__name__)

PROGRESS_THRESHOLD = 1000
_CACHES: dict[tuple[str, str], EmbeddingCache] = {}


def get_cache(encoder, cache: bool | str | os.PathLike = True) -> EmbeddingCache | None:
    """The :class:`EmbeddingCache` of an encoder (one object per folder and fingerprint)."""
    if cache is False or cache is None:
        return None
    root = config.cache_dir(None if cache is True else cache)
    key = (str(root), encoder.fingerprint())
    if key not in _CACHES:
        _CACHES[key] = EmbeddingCache(root, key[1])
    return _CACHES[key]


def encode(
    encoder,
    texts: Sequence[str] | str,
    batch_size: int | None = None,
    show_progress: bool | None = None,
    cache: bool | str | os.PathLike = True,
    normalize: bool | None = None,
) -> np.ndarray:
    """Embed ``texts`` with ``encoder``: ``(len(texts), encoder.dim)`` float32.

    Each distinct text is encoded once; texts already in the cache are not encoded at all.
    ``normalize`` (default: the encoder's own setting) L2-normalises the rows.
    ``batch_size`` (default: the encoder's) must be a positive integer.
    """
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1
    ):
        raise InvalidInputError(f"batch_size must be >= 1 (a whole number), got {batch_size!r}")
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    keys = text_digests(texts)  # also rejects non-strings with a clear message
    first: dict[bytes, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    uniq_keys = list(first)
    uniq_texts = [texts[first[k]] for k in uniq_keys]

    store = get_cache(encoder, cache)
    if store is not None:
        found, vecs = store.get(uniq_keys)
    else:
        found, vecs = np.zeros(len(uniq_keys), dtype=bool), None
    missing = np.flatnonzero(~found)
    if len(missing):
        todo = [uniq_texts[i] for i in missing]
        if show_progress is None:
            show_progress = len(todo) > PROGRESS_THRESHOLD
        new = encoder._encode(todo, batch_size or encoder.default_batch_size, show_progress)
        new = np.asarray(new, dtype=np.float32)
        if new.shape != (len(todo), encoder.dim):
            raise RuntimeError(f"{encoder!r} returned shape {new.shape} for {len(todo)} texts")
        if not np.isfinite(new).all():
            bad = int((~np.isfinite(new).all(1)).sum())
            raise InvalidInputError(
                f"{encoder.describe()} produced NaN/inf embeddings for {bad} texts; try "
                "dtype='float32' (half precision can overflow) or another pooling/layer"
            )
        if store is not None:
            try:
                store.put([uniq_keys[i] for i in missing], new)
            except OSError as e:  # a read-only or full cache must not cost the result
                warnings.warn(
                    f"could not write to the embedding cache {store.path} "
                    f"({e.strerror or e}); the vectors are returned but not cached",
                    CacheAccessWarning,
                    stacklevel=2,
                )
        if vecs is None:
            vecs = np.empty((len(uniq_keys), encoder.dim), dtype=np.float32)
        vecs[missing] = new
        log.debug("encoded %d texts, %d from cache", len(missing), int(found.sum()))
    pos = {k: j for j, k in enumerate(uniq_keys)}
    out = vecs[[pos[k] for k in keys]]
    if normalize if normalize is not None else encoder.normalize:
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = out / np.maximum(norms, 1e-12)
    return out


def cache_path(encoder, cache: bool | str | os.PathLike = True) -> Path | None:
    """Folder holding the cached embeddings of ``encoder`` (``None`` if caching is off)."""
    store = get_cache(encoder, cache)
    return None if store is None else store.path
