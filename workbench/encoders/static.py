"""Static word vectors (GloVe, word2vec/fastText text format): the bag-of-words baseline."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError, WorkbenchError
from ..fingerprint import files_fingerprint
from .base import Encoder

# GloVe 6B was trained on Stanford-tokenised, lower-cased text: contractions split as
# "do n't", "it 's", punctuation as its own token.
_TOKEN = re.compile(r"n't|'\w+|\w+(?=n't)|\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens in GloVe's (Stanford tokenizer's) convention."""
    return _TOKEN.findall(text.lower())


class StaticEncoder(Encoder):
    """Average of the word vectors of a sentence's in-vocabulary tokens.

    A sentence with no known token gets the zero vector and a warning (its cosine with
    anything is then 0).
    """

    default_batch_size = 4096

    def __init__(
        self, vectors: np.ndarray, vocab: Mapping[str, int], *, name: str, identity: str
    ) -> None:
        if vectors.ndim != 2 or len(vocab) > vectors.shape[0]:
            raise WorkbenchError(f"bad word vectors for {name}: shape {vectors.shape}")
        self.vectors = vectors
        self.vocab = vocab
        self.name = name
        self._identity = identity

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def config(self) -> dict[str, Any]:
        return {"kind": "static", "model": self._identity, "pooling": "mean", "tokenizer": 1}

    def describe(self) -> str:
        return f"{self.name} pooling=mean-of-word-vectors"

    def _encode(self, texts: Sequence[str], batch_size: int, show_progress: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        n_empty = 0
        for i, t in enumerate(texts):
            rows = [self.vocab[w] for w in tokenize(t) if w in self.vocab]
            if rows:
                out[i] = self.vectors[rows].mean(0)
            else:
                n_empty += 1
        if n_empty:
            warnings.warn(
                f"{n_empty} of {len(texts)} texts have no in-vocabulary word for {self.name}; "
                "they get the zero vector",
                stacklevel=3,
            )
        return out

    @classmethod
    def from_text_file(cls, path: str | Path, name: str | None = None) -> StaticEncoder:
        """Read GloVe / word2vec / fastText text format (``word v1 v2 ...`` per line; a
        ``count dim`` header line is skipped)."""
        path = Path(path)
        words: list[str] = []
        rows: list[np.ndarray] = []
        with open(path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                parts = line.rstrip().split(" ")
                if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue
                if len(parts) < 2:
                    continue
                try:
                    rows.append(np.asarray(parts[1:], dtype=np.float32))
                except ValueError:
                    raise InvalidInputError(
                        f"{path}:{lineno} is not 'word v1 v2 ...' (static word vector text format)"
                    ) from None
                words.append(parts[0])
        if not rows:
            raise InvalidInputError(f"{path} holds no word vectors ('word v1 v2 ...' lines)")
        dims = {len(r) for r in rows}
        if len(dims) != 1:
            raise InvalidInputError(f"{path}: vectors of different sizes {sorted(dims)[:5]}")
        vocab: dict[str, int] = {}
        for i, w in enumerate(words):
            vocab.setdefault(w, i)
        # the whole file: a change anywhere must change the cache key (see fingerprint)
        ident = files_fingerprint(path)
        return cls(np.stack(rows), vocab, name=name or path.stem, identity=ident)
