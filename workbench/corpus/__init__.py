"""The corpus-scale path: encode every sentence of the data into memory-mapped shards.

>>> from workbench.corpus import corpus_texts, embed_corpus, CorpusStore, fit_whitening
>>> texts = corpus_texts("all")                                   # doctest: +SKIP
>>> store = embed_corpus(wb.load_encoder("glove-6b-50d"), texts, "runs/glove")  # doctest: +SKIP
>>> w = fit_whitening(store, "zca")          # streaming: O(dim^2) memory  # doctest: +SKIP
>>> subsample_id(store, m=5000, n_subsamples=5)                   # doctest: +SKIP

- :func:`corpus_texts`: every sentence of the shared SentEval-layout data, de-duplicated, in
  a fixed order (:mod:`.texts`).
- :func:`embed_corpus` / ``workbench embed``: one process or ``torchrun``; resumable
  (:mod:`.embed`); :class:`CorpusStore` reads the result memory-mapped (:mod:`.store`).
- :class:`Moments`, :func:`streaming_moments`, :func:`fit_whitening`: float64 streaming
  mean/covariance and whitening from them (:mod:`.streaming`).
- :func:`subsample_id`: intrinsic dimension on random subsamples with intervals.
- :func:`embed_corpus_ray` (optional extra ``ray``): the same shards from a Ray Data pipeline
  (:mod:`.ray_path`).
"""

from __future__ import annotations

from .embed import embed_corpus, peak_rss_mb
from .intrinsic import subsample_id
from .store import STORE_DTYPES, CorpusStore
from .streaming import Moments, fit_whitening, streaming_moments
from .texts import corpus_texts, texts_digest


def embed_corpus_ray(*args, **kwargs):
    """:func:`workbench.corpus.ray_path.embed_corpus_ray` (needs ``pip install
    'workbench[ray]'``)."""
    from .ray_path import embed_corpus_ray as run

    return run(*args, **kwargs)


__all__ = [
    "STORE_DTYPES",
    "CorpusStore",
    "Moments",
    "corpus_texts",
    "embed_corpus",
    "embed_corpus_ray",
    "fit_whitening",
    "peak_rss_mb",
    "streaming_moments",
    "subsample_id",
    "texts_digest",
]
