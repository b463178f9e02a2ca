"""Codecs: how a sentence embedding is stored, what that costs and how it is compared.

Every codec is fitted on a *calibration* corpus (never on the pairs it is scored on), encodes
float embeddings into codes, and reports :attr:`Codec.bytes_per_vector` (the per-vector
storage; shared tables such as int8 ranges or PQ codebooks are reported apart in
:attr:`Codec.shared_bytes`). Similarities:

- ``float32``, ``float16``: cosine of the stored floats.
- ``int8``: scalar quantisation exactly as sentence-transformers'
  ``quantize_embeddings(X, precision="int8", calibration_embeddings=C)``
  (``sentence_transformers/util/quantization.py``): per-dimension ``[min, max]`` of the
  calibration embeddings cut into 255 steps, ``floor((x - min) / step)`` clipped to 0..255,
  minus 128. Compared by the cosine of the dequantised vectors ``(code + 128) * step + min``
  (the same file's ``_dequantize_embeddings``, which its rescoring uses).
- ``binary``: one sign bit per dimension, packed (``np.packbits(x > 0)``, ST's ``ubinary``;
  ST's ``binary`` is the same bytes minus 128 as int8). Compared by Hamming distance
  (similarity = ``-hamming``).
- ``binary-rescore``: stored as ``binary``, but the query stays float. Retrieval follows ST's
  recipe (``semantic_search_faiss(..., corpus_precision="ubinary", rescore=True)``):
  Hamming search for ``rescore_multiplier * top_k`` candidates, re-ranked by the dot product
  of the float query with the unpacked 0/1 bits. A pair (STS) has no query side, so its score
  is the mean of ``cos(a, sign(b))`` and ``cos(b, sign(a))`` with signs in {-1, +1}; for a
  fixed query ``q``, ``q . s = 2 q . bits - sum(q)``, so this ranks documents exactly as ST's
  0/1 dot product does.
- ``pq:MxB``: faiss ``ProductQuantizer(d, M, B)``: M sub-vectors of d/M dimensions, each
  replaced by one of 2^B centroids learned by k-means on the calibration embeddings; M*B/8
  bytes per vector. Vectors are L2-normalised before training and encoding (the tasks score
  cosines, so a norm is information the codes need not spend bits on); compared by the
  cosine of the reconstructions (both sides stored, symmetric distance).

:func:`parse_codec` reads the names above (``pq:48x8``; ``pq:48`` means 8 bits).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from ..errors import InvalidInputError, UnknownNameError

log = logging.getLogger(__name__)

__all__ = [
    "CODECS",
    "Binary",
    "BinaryRescore",
    "Codec",
    "Float",
    "Int8",
    "ProductQuantizer",
    "hamming",
    "parse_codec",
    "parse_codecs",
]

CODECS = ("float32", "float16", "int8", "binary", "binary-rescore", "pq:MxB")
DEFAULT_CODECS = "float32,float16,int8,binary,binary-rescore,pq:48x8"


def _as_matrix(X: Any, what: str, dim: int | None = None) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise InvalidInputError(f"{what} must be a non-empty (n, dim) matrix, got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        raise InvalidInputError(f"{what} must be float embeddings, got dtype {X.dtype}")
    if not np.isfinite(X).all():
        raise InvalidInputError(f"{what} contain NaN or inf; fix the embeddings first")
    if dim is not None and X.shape[1] != dim:
        raise InvalidInputError(
            f"{what} are {X.shape[1]}-d but the codec was calibrated on {dim}-d embeddings"
        )
    return X


def _normalize(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(n == 0, 1.0, n)


def _cos_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    # 12 decimals as workbench.evaluation.tasks: equal-in-exact-arithmetic scores tie
    return np.round(np.einsum("ij,ij->i", _normalize(A), _normalize(B)), 12)


def _cos_matrix(Q: np.ndarray, D: np.ndarray) -> np.ndarray:
    return np.round(_normalize(Q) @ _normalize(D).T, 12)


def hamming(a: np.ndarray, b: np.ndarray, pairwise: bool = False) -> np.ndarray:
    """Hamming distances between packed bit codes (uint8 rows): row-wise for aligned rows, or
    the full ``(len(a), len(b))`` matrix with ``pairwise=True``."""
    a, b = np.asarray(a, dtype=np.uint8), np.asarray(b, dtype=np.uint8)
    if pairwise:
        x = a[:, None, :] ^ b[None, :, :]
    else:
        x = a ^ b
    return np.bitwise_count(x).sum(axis=-1, dtype=np.int64)


class Codec:
    """Base class: ``fit(calibration)``, ``encode``/``decode``, ``pair_scores`` (aligned rows,
    STS) and ``search_scores`` (queries x documents, retrieval) on float embeddings."""

    name: str = "codec"
    #: "compressed": queries are stored like documents; "float": the query stays float
    query: str = "compressed"

    def __init__(self) -> None:
        self.dim_: int | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"

    # -- calibration and storage ------------------------------------------------------------
    def fit(self, calibration: Any) -> Codec:
        """Learn what the codec needs from the calibration embeddings (never the test ones)."""
        C = _as_matrix(calibration, "calibration embeddings")
        self.dim_ = C.shape[1]
        self._fit(C)
        return self

    def _fit(self, C: np.ndarray) -> None:
        pass

    def _check(self, X: Any, what: str = "embeddings") -> np.ndarray:
        if self.dim_ is None:
            raise InvalidInputError(f"codec {self.name} is not calibrated; call fit(calibration)")
        return _as_matrix(X, what, self.dim_)

    def encode(self, X: Any) -> np.ndarray:
        """The stored codes of float embeddings ``X``."""
        raise NotImplementedError

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Float vectors whose cosine is the codec's similarity (float64)."""
        raise NotImplementedError

    @property
    def bytes_per_vector(self) -> float:
        raise NotImplementedError

    @property
    def shared_bytes(self) -> int:
        """Bytes stored once for the whole collection (ranges, codebooks)."""
        return 0

    # -- similarity ---------------------------------------------------------------------------
    def pair_scores(self, A: Any, B: Any) -> np.ndarray:
        """Similarity of aligned rows of two float embedding matrices, both sides stored."""
        return _cos_rows(self.decode(self.encode(self._check(A))), self.decode(self.encode(B)))

    def search_scores(self, Q: Any, D: Any, top_k: int = 10) -> np.ndarray:
        """``(n_queries, n_docs)`` scores; higher ranks first (ties by document order)."""
        Dd = self.decode(self.encode(self._check(D, "documents")))
        return _cos_matrix(self.decode(self.encode(self._check(Q, "queries"))), Dd)


class Float(Codec):
    """Uncompressed floats (``float32``) or half precision (``float16``)."""

    def __init__(self, dtype: str = "float32") -> None:
        super().__init__()
        if dtype not in ("float32", "float16"):
            raise InvalidInputError(f"Float codec dtype must be float32 or float16, got {dtype}")
        self.name = self.dtype = dtype

    def encode(self, X: Any) -> np.ndarray:
        X = self._check(X)
        if self.dtype == "float16" and np.abs(X).max() > np.finfo(np.float16).max:
            raise InvalidInputError(
                "embeddings exceed float16's range (65504); normalise them before float16"
            )
        return X.astype(self.dtype)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(codes, dtype=np.float64)

    @property
    def bytes_per_vector(self) -> float:
        return float(np.dtype(self.dtype).itemsize * self.dim_)


class Int8(Codec):
    """Calibrated scalar quantisation to int8, as sentence-transformers'
    ``quantize_embeddings(..., precision="int8", calibration_embeddings=...)``."""

    name = "int8"

    def _fit(self, C: np.ndarray) -> None:
        if C.shape[0] < 2:
            raise InvalidInputError(
                f"int8 calibration needs at least 2 embeddings to find per-dimension ranges, "
                f"got {C.shape[0]}; calibrate on a corpus (e.g. stsb-train)"
            )
        # the same float32 ranges and steps as ST, so the codes match it bit for bit
        self.ranges_ = np.vstack((C.min(axis=0), C.max(axis=0))).astype(np.float32)
        steps = (self.ranges_[1] - self.ranges_[0]) / 255
        self.steps_ = np.where(steps == 0, 1, steps)

    def encode(self, X: Any) -> np.ndarray:
        X = self._check(X)
        q = np.clip(np.floor((X - self.ranges_[0]) / self.steps_), 0, 255)
        return (q - 128).astype(np.int8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return (np.asarray(codes, dtype=np.float64) + 128) * self.steps_ + self.ranges_[0]

    @property
    def bytes_per_vector(self) -> float:
        return float(self.dim_)

    @property
    def shared_bytes(self) -> int:
        return int(self.ranges_.nbytes)


class Binary(Codec):
    """Sign bits, packed 8 to a byte; similarity ``-hamming``."""

    name = "binary"

    def encode(self, X: Any) -> np.ndarray:
        return np.packbits(self._check(X) > 0, axis=-1)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Signs in {-1, +1}: their cosine is ``1 - 2 * hamming / dim``."""
        bits = np.unpackbits(np.asarray(codes, dtype=np.uint8), axis=-1)[:, : self.dim_]
        return bits.astype(np.float64) * 2 - 1

    def st_binary(self, codes: np.ndarray) -> np.ndarray:
        """The same codes in ST's ``precision="binary"`` form (int8, packed bytes - 128)."""
        return (np.asarray(codes, dtype=np.uint8).astype(np.int16) - 128).astype(np.int8)

    @property
    def bytes_per_vector(self) -> float:
        return float(math.ceil(self.dim_ / 8))

    def pair_scores(self, A: Any, B: Any) -> np.ndarray:
        return -hamming(self.encode(A), self.encode(B)).astype(np.float64)

    def search_scores(self, Q: Any, D: Any, top_k: int = 10) -> np.ndarray:
        return -hamming(self.encode(Q), self.encode(D), pairwise=True).astype(np.float64)


class BinaryRescore(Binary):
    """Binary documents, float queries: Hamming shortlist of ``rescore_multiplier * top_k``,
    re-ranked by ``query . bits`` (ST's binary rescoring recipe)."""

    name = "binary-rescore"
    query = "float"

    def __init__(self, rescore_multiplier: int = 2) -> None:
        super().__init__()
        if int(rescore_multiplier) < 1:
            raise InvalidInputError(
                f"rescore_multiplier must be at least 1, got {rescore_multiplier}"
            )
        self.rescore_multiplier = int(rescore_multiplier)

    def pair_scores(self, A: Any, B: Any) -> np.ndarray:
        A, B = self._check(A), self._check(B)
        sa, sb = self.decode(self.encode(A)), self.decode(self.encode(B))
        return np.round((_cos_rows(A, sb) + _cos_rows(B, sa)) / 2, 12)

    def search_scores(self, Q: Any, D: Any, top_k: int = 10) -> np.ndarray:
        Q, D = self._check(Q, "queries"), self._check(D, "documents")
        codes = self.encode(D)
        ham = hamming(self.encode(Q), codes, pairwise=True)
        n_short = min(self.rescore_multiplier * int(top_k), D.shape[0])
        short = np.argsort(ham, axis=1, kind="stable")[:, :n_short]
        bits = np.unpackbits(codes, axis=-1)[:, : self.dim_].astype(np.float64)
        rescored = np.einsum("ij,ikj->ik", np.asarray(Q, dtype=np.float64), bits[short])
        # the shortlist ranks above every other document (scores >= 1 > 0 >= -hamming),
        # in the order of its rescored dot products
        scores = -ham.astype(np.float64)
        rows = np.arange(Q.shape[0])[:, None]
        scores[rows, short] = 1 + rescored - rescored.min(axis=1, keepdims=True)
        return scores


class ProductQuantizer(Codec):
    """faiss product quantisation: ``m`` sub-quantisers of ``2**nbits`` centroids each."""

    query = "compressed"

    def __init__(self, m: int = 48, nbits: int = 8) -> None:
        super().__init__()
        for v, what in ((m, "m"), (nbits, "nbits")):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise InvalidInputError(f"PQ {what} must be a positive whole number, got {v!r}")
        if nbits > 16:
            raise InvalidInputError(f"PQ nbits must be at most 16 (2^nbits centroids), got {nbits}")
        self.m, self.nbits = int(m), int(nbits)
        self.name = f"pq:{self.m}x{self.nbits}"

    def _fit(self, C: np.ndarray) -> None:
        try:
            import faiss
        except ImportError:
            raise InvalidInputError(
                "product quantisation needs faiss: pip install 'workbench[compression]' (faiss-cpu)"
            ) from None
        d = C.shape[1]
        if d % self.m:
            raise InvalidInputError(
                f"PQ m={self.m} does not divide the dimension {d}; choose m among the divisors "
                f"of {d} (e.g. {', '.join(str(k) for k in _divisors(d)[-4:])})"
            )
        k = 2**self.nbits
        if C.shape[0] < k:
            raise InvalidInputError(
                f"PQ with nbits={self.nbits} learns {k} centroids per sub-quantiser but the "
                f"calibration set has {C.shape[0]} embeddings; use more calibration texts or "
                f"fewer bits (nbits <= {int(math.log2(C.shape[0]))})"
            )
        if C.shape[0] < 39 * k:  # faiss's own advice (Clustering.min_points_per_centroid)
            log.warning(
                "PQ %s: %d calibration embeddings for %d centroids per sub-quantiser; k-means "
                "wants at least %d, so the codebooks are noisy",
                self.name, C.shape[0], k, 39 * k,
            )  # fmt: skip
        self.pq_ = faiss.ProductQuantizer(d, self.m, self.nbits)
        self.pq_.verbose = False
        # the warning above replaces faiss's stderr print; the bound changes nothing else
        self.pq_.cp.min_points_per_centroid = 1
        self.pq_.train(np.ascontiguousarray(_normalize(C), dtype=np.float32))

    def encode(self, X: Any) -> np.ndarray:
        X = np.ascontiguousarray(_normalize(self._check(X)), dtype=np.float32)
        return self.pq_.compute_codes(X)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return self.pq_.decode(np.ascontiguousarray(codes, dtype=np.uint8)).astype(np.float64)

    def reconstruction_error(self, X: Any) -> float:
        """Mean squared error of the reconstructions of the L2-normalised ``X`` (per vector)."""
        Xn = _normalize(self._check(X))
        return float(((self.decode(self.encode(X)) - Xn) ** 2).sum(axis=1).mean())

    @property
    def bytes_per_vector(self) -> float:
        return float(math.ceil(self.m * self.nbits / 8))

    @property
    def shared_bytes(self) -> int:
        return int(self.dim_ * 2**self.nbits * 4)  # m codebooks of 2^nbits x d/m float32


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


def parse_codec(spec: str | Codec) -> Codec:
    """A fresh codec from its name: ``float32``, ``float16``, ``int8``, ``binary``,
    ``binary-rescore``, ``pq:M`` or ``pq:MxB`` (M sub-quantisers of B bits, default 8)."""
    if isinstance(spec, Codec):
        return spec
    key = str(spec).strip().lower()
    if key in ("float32", "float16"):
        return Float(key)
    if key == "int8":
        return Int8()
    if key in ("binary", "ubinary"):
        return Binary()
    if key in ("binary-rescore", "binary_rescore"):
        return BinaryRescore()
    if key.startswith("pq"):
        body = key[2:].lstrip(":")
        try:
            m, _, b = body.partition("x")
            return ProductQuantizer(int(m), int(b) if b else 8)
        except ValueError:
            raise InvalidInputError(
                f"bad PQ codec {spec!r}; write pq:M or pq:MxB (e.g. pq:48x8)"
            ) from None
    raise UnknownNameError(f"unknown codec {spec!r}; choose from {', '.join(CODECS)}")


def parse_codecs(specs: str | list[Any] | tuple[Any, ...]) -> list[Codec]:
    """Codecs from a comma-separated string or a list (names or :class:`Codec` objects)."""
    items = [s for s in specs.split(",") if s.strip()] if isinstance(specs, str) else list(specs)
    if not items:
        raise InvalidInputError(f"no codec given; choose from {', '.join(CODECS)}")
    codecs = [parse_codec(s) for s in items]
    names = [c.name for c in codecs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidInputError(f"codec {', '.join(dup)} is listed twice")
    return codecs
