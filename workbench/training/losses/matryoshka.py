"""Matryoshka representation learning: the loss at several nested prefix dimensions.

Kusupati, Bhatt, Rege et al. (2022), "Matryoshka Representation Learning", NeurIPS.
https://arxiv.org/abs/2205.13147 . Computed as sentence-transformers' ``MatryoshkaLoss``
(v6.2.0, ``sentence_transformer/losses/matryoshka.py``): dims sorted largest first, each
truncated embedding L2-normalised (its ``shrink``), ``sum_k weight_k * inner(truncated)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ...errors import InvalidInputError
from .base import EmbeddingLoss


def default_dims(dim: int, smallest: int = 32) -> list[int]:
    """``[dim, dim/2, dim/4, ...]`` down to ``smallest`` (384 -> 384, 192, 96, 48)."""
    dims = [dim]
    while dims[-1] // 2 >= smallest:
        dims.append(dims[-1] // 2)
    return dims


def shrink(x: torch.Tensor, dim: int) -> torch.Tensor:
    """The first ``dim`` coordinates, L2-normalised (sentence-transformers' ``shrink``)."""
    return F.normalize(x[..., :dim], p=2, dim=-1)


class MatryoshkaLoss(EmbeddingLoss):
    """``sum_k weight_k * inner(first dims[k] coordinates of every column, L2-normalised)``.

    Wraps any other loss (CoSENT, AnglE, Pcc, SimCSE...): after training, the first ``k``
    coordinates of an embedding are a usable ``k``-dimensional embedding. ``dims`` are kept
    largest first (with their weights), as sentence-transformers sorts them; ``forward``
    can be asked for a subset (``dims=``), which :class:`Matryoshka2dLoss` samples.

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
        if len(set(dims)) != len(dims):
            raise InvalidInputError(f"Matryoshka dims must be distinct, got {dims}")
        if weights is None:
            weights = [1.0] * len(dims)
        if len(weights) != len(dims):
            raise InvalidInputError(f"{len(weights)} weights for {len(dims)} Matryoshka dims")
        order = sorted(range(len(dims)), key=lambda i: dims[i], reverse=True)
        self.inner = inner
        self.dims = [dims[i] for i in order]
        self.weights = [float(weights[i]) for i in order]
        self.inputs = inner.inputs
        self.uses_text_ids = getattr(inner, "uses_text_ids", False)

    def forward(
        self,
        columns: Sequence[torch.Tensor],
        labels: torch.Tensor | None = None,
        dims: Sequence[int] | None = None,
        **inner_kwargs: Any,
    ) -> torch.Tensor:
        """The weighted sum over ``dims`` (default: every dim), largest first."""
        full = columns[0].shape[-1]
        too_big = [d for d in self.dims if d > full]
        if too_big:
            raise InvalidInputError(f"Matryoshka dims {too_big} exceed the embedding size {full}")
        chosen = self.dims if dims is None else [int(d) for d in dims]
        unknown = [d for d in chosen if d not in self.dims]
        if unknown:
            raise InvalidInputError(f"dims {unknown} are not among the Matryoshka dims {self.dims}")
        weight = dict(zip(self.dims, self.weights))
        loss = columns[0].new_zeros(())
        for d in sorted(chosen, reverse=True):
            cut = [shrink(c, d) for c in columns]
            loss = loss + weight[d] * self.inner(cut, labels, **inner_kwargs)
        return loss

    def extra_repr(self) -> str:
        return f"dims={self.dims}, weights={self.weights}"
