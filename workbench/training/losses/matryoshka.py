"""Matryoshka representation learning: the loss at several nested prefix dimensions.

Kusupati, Bhatt, Rege et al. (2022), "Matryoshka Representation Learning", NeurIPS.
https://arxiv.org/abs/2205.13147
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ...errors import InvalidInputError
from .base import EmbeddingLoss


def default_dims(dim: int, smallest: int = 32) -> list[int]:
    """``[dim, dim/2, dim/4, ...]`` down to ``smallest`` (384 -> 384, 192, 96, 48)."""
    dims = [dim]
    while dims[-1] // 2 >= smallest:
        dims.append(dims[-1] // 2)
    return dims


class MatryoshkaLoss(EmbeddingLoss):
    """``sum_k weight_k * inner(first dims[k] coordinates of every column)``.

    Wraps any other loss (CoSENT, AnglE, Pcc, SimCSE...): after training, the first ``k``
    coordinates of an embedding are a usable ``k``-dimensional embedding. Cosine-based inner
    losses renormalise the truncated vectors themselves.

    >>> from .cosent import CoSENTLoss
    >>> loss = MatryoshkaLoss(CoSENTLoss(), dims=[16, 8, 4])
    >>> u, v, y = torch.randn(8, 16), torch.randn(8, 16), torch.rand(8)
    >>> float(loss([u, v], y)) >= 0
    True
    """

    def __init__(
        self,
        inner: EmbeddingLoss,
        dims: Sequence[int],
        weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        dims = [int(d) for d in dims]
        if not dims or any(d < 1 for d in dims):
            raise InvalidInputError(f"Matryoshka dims must be positive integers, got {dims}")
        if weights is None:
            weights = [1.0] * len(dims)
        if len(weights) != len(dims):
            raise InvalidInputError(f"{len(weights)} weights for {len(dims)} Matryoshka dims")
        self.inner = inner
        self.dims = dims
        self.weights = [float(w) for w in weights]
        self.inputs = inner.inputs

    def forward(
        self, columns: Sequence[torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        full = columns[0].shape[-1]
        too_big = [d for d in self.dims if d > full]
        if too_big:
            raise InvalidInputError(f"Matryoshka dims {too_big} exceed the embedding size {full}")
        loss = columns[0].new_zeros(())
        for d, w in zip(self.dims, self.weights):
            loss = loss + w * self.inner([c[..., :d] for c in columns], labels)
        return loss

    def extra_repr(self) -> str:
        return f"dims={self.dims}, weights={self.weights}"
