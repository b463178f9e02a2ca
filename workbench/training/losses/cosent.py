"""CoSENT: a ranking loss over pairs of sentence pairs.

Su Jianlin (2022), "CoSENT: a more efficient sentence vector scheme than Sentence-BERT",
https://kexue.fm/archives/8847 (also the cosine term of AnglE, Li and Li 2023).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .base import EmbeddingLoss, check_pairs, ranking_loss


class CoSENTLoss(EmbeddingLoss):
    """``log(1 + sum_{y_i > y_j} exp(scale * (cos_j - cos_i)))`` over the batch.

    Inputs: ``columns = [sentence1, sentence2]`` (``(N, D)`` each) and ``labels`` ``(N,)``
    gold similarities (any monotone scale; only their order matters). Scale 20 as in the
    paper.

    >>> loss = CoSENTLoss()
    >>> u, v, y = torch.randn(8, 16), torch.randn(8, 16), torch.rand(8)
    >>> float(loss([u, v], y)) >= 0
    True
    """

    inputs = "graded"

    def __init__(self, scale: float = 20.0) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(
        self, columns: Sequence[torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        u, v, y = check_pairs(columns, labels, "CoSENTLoss")
        return ranking_loss(F.cosine_similarity(u, v, dim=-1), y, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
