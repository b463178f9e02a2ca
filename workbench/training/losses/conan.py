"""Conan-embedding's fine-tuning losses, summed over the tasks of a step (the CBB loss).

Shiyu Li, Yang Tang, Shi-Zhe Chen and Xi Chen (2024), "Conan-embedding: General Text
Embedding with More and Better Negative Samples", arXiv:2408.15710 (Tencent BAC). No training
code is public (the authors released weights only), so this follows the paper, Sec. 3.2:
retrieval uses InfoNCE with hard negatives (``L_neg``), STS uses CoSENT (``L_cos``, scale
20), and the Cross-GPU Batch Balance (CBB) loss is their sum over the tasks of one step, with
each task's negatives taken from every GPU that processes that task.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ...errors import InvalidInputError
from .base import EmbeddingLoss, ranking_loss


def retrieval_infonce(
    queries: torch.Tensor,
    positives: torch.Tensor,
    negatives: Sequence[torch.Tensor],
    temperature: float,
) -> torch.Tensor:
    """``mean_i -log softmax_j(cos(q_i, c_j) / t)[i]`` over the candidates ``c`` = every
    positive then every hard negative of the batch (each ``negatives`` entry ``(B, D)`` is one
    negative slot): the same quantity as sentence-transformers' MultipleNegativesRankingLoss
    with ``scale = 1 / t`` and columns ``[queries, positives, *negatives]``."""
    cands = F.normalize(torch.cat([positives, *negatives], dim=0), dim=-1)
    logits = F.normalize(queries, dim=-1) @ cands.T / temperature
    return F.cross_entropy(logits, torch.arange(len(queries), device=queries.device))


class ConanLoss(EmbeddingLoss):
    """CBB: ``L = L_neg(retrieval batch) + L_cos(STS batch)`` for the tasks present.

    ``forward(columns, labels)``: ``columns = [queries, positives, neg_1, ..., neg_K]`` for
    retrieval (no labels), or ``[sentence1, sentence2]`` with labels for STS; call
    :meth:`cbb` with both to get the step's sum. With one process and one task this is just
    that task's loss.

    >>> loss = ConanLoss(temperature=0.05)
    >>> q, p, n = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
    >>> float(loss([q, p, n])) > 0
    True
    """

    inputs = "contrastive"

    def __init__(self, temperature: float = 0.05, scale: float = 20.0) -> None:
        super().__init__()
        if temperature <= 0 or scale <= 0:
            raise InvalidInputError("Conan's temperature and CoSENT scale must be > 0")
        self.temperature, self.scale = float(temperature), float(scale)

    def retrieval(self, columns: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(columns) < 2:
            raise InvalidInputError("Conan retrieval takes [queries, positives, negatives...]")
        return retrieval_infonce(columns[0], columns[1], columns[2:], self.temperature)

    def sts(self, u: torch.Tensor, v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return ranking_loss(F.cosine_similarity(u, v, dim=-1), labels.to(u.dtype), self.scale)

    def cbb(
        self,
        retrieval: Sequence[torch.Tensor] | None,
        sts: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
    ) -> torch.Tensor:
        """The step's loss: the sum of the present tasks' losses."""
        parts = []
        if retrieval is not None:
            parts.append(self.retrieval(retrieval))
        if sts is not None:
            parts.append(self.sts(*sts))
        if not parts:
            raise InvalidInputError("a CBB step needs at least one task")
        return sum(parts[1:], parts[0])

    def forward(
        self, columns: Sequence[torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        if labels is not None:
            if len(columns) != 2:
                raise InvalidInputError("Conan STS takes [sentence1, sentence2] and scores")
            return self.sts(columns[0], columns[1], labels)
        return self.retrieval(columns)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, scale={self.scale}"
