"""Compression as a second redundancy axis: bits per dimension next to dimensions kept.

- :mod:`.quantize`: the codecs (``float32``, ``float16``, calibrated ``int8``, ``binary``
  with Hamming similarity, ``binary-rescore``, faiss product quantisation ``pq:MxB``), each
  with its bytes per vector;
- :mod:`.grid`: :func:`compression_grid`, the first-k dimensions x codecs grid scored on STS
  (a named protocol) and retrieval, against bytes per vector;
- ``workbench compress`` (:mod:`.cli`); the figure is
  :func:`workbench.plotting.compression.compression_figure`.
"""

from __future__ import annotations

from .grid import PairSet, SearchSet, compression_grid, default_dims, score_grid
from .quantize import (
    CODECS,
    Binary,
    BinaryRescore,
    Codec,
    Float,
    Int8,
    ProductQuantizer,
    hamming,
    parse_codec,
    parse_codecs,
)

__all__ = [
    "CODECS",
    "Binary",
    "BinaryRescore",
    "Codec",
    "Float",
    "Int8",
    "PairSet",
    "ProductQuantizer",
    "SearchSet",
    "compression_grid",
    "default_dims",
    "hamming",
    "parse_codec",
    "parse_codecs",
    "score_grid",
]
