"""The encoder interface every loader returns."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

#: bump when a change to the code changes the numbers an unchanged configuration produces
ENCODING_VERSION = 1


class Encoder(ABC):
    """Texts in, one float32 vector per text out.

    Subclasses implement :meth:`_encode` (no caching, no de-duplication) and
    :meth:`config` (everything that determines the numbers). :meth:`encode` adds the
    on-disk cache, de-duplication and optional L2 normalisation.
    """

    name: str = "encoder"
    #: L2-normalise outputs (a sentence-transformers ``Normalize`` module). Applied after the
    #: cache, so it is not part of the fingerprint.
    normalize: bool = False
    default_batch_size: int = 64

    @property
    @abstractmethod
    def dim(self) -> int:
        """Size of the output vectors."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """JSON-serialisable description of everything that changes the output numbers."""

    @abstractmethod
    def _encode(self, texts: Sequence[str], batch_size: int, show_progress: bool) -> np.ndarray:
        """Encode ``texts`` (already de-duplicated) into an ``(n, dim)`` float32 array."""

    def fingerprint(self) -> str:
        """Stable hash of :meth:`config`: the cache key of this configuration."""
        payload = json.dumps(
            {"v": ENCODING_VERSION, **self.config()}, sort_keys=True, default=str
        ).encode()
        return hashlib.sha256(payload).hexdigest()[:40]

    def encode(
        self,
        texts: Sequence[str] | str,
        batch_size: int | None = None,
        show_progress: bool | None = None,
        cache: bool | str = True,
        normalize: bool | None = None,
    ) -> np.ndarray:
        """Encode texts, reading and filling the embedding cache.

        ``cache`` is True (default folder), False (no cache) or a folder. ``show_progress``
        defaults to a bar when more than 1000 texts must actually be encoded.
        """
        from ..embed import encode

        return encode(
            self,
            texts,
            batch_size=batch_size,
            show_progress=show_progress,
            cache=cache,
            normalize=normalize,
        )

    def describe(self) -> str:
        c = self.config()
        parts = [self.name] + [
            f"{k}={c[k]}" for k in ("pooling", "layer", "prompt") if c.get(k) not in (None, "")
        ]
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()} dim={self.dim}>"
