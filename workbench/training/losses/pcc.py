"""Pcc-tuning: one minus the Pearson correlation of predicted and gold similarities.

Zhang, Lan, Zhang et al. (2024), "Pcc-tuning: Breaking the Contrastive Learning Ceiling in
Semantic Textual Similarity", EMNLP. https://arxiv.org/abs/2406.09790
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ...errors import InvalidInputError
from .base import EmbeddingLoss, check_pairs


class PccLoss(EmbeddingLoss):
    """``1 - Pearson(cos(u_i, v_i), y_i)`` over the batch.

    Pearson is invariant to the scale and offset of the gold scores, so STS-B's 0-5 and
    SICK's 1-5 need no rescaling. The paper applies it after contrastive training (its
    second stage); on an already sentence-tuned model it is a one-stage fine-tune.

    Inputs: ``columns = [sentence1, sentence2]`` and ``labels`` ``(N,)`` with ``N >= 2`` and
    gold scores that are not all equal.

    >>> loss = PccLoss()
    >>> u, v, y = torch.randn(8, 16), torch.randn(8, 16), torch.rand(8)
    >>> 0 <= float(loss([u, v], y)) <= 2
    True
    """

    inputs = "graded"

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(
        self, columns: Sequence[torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        u, v, y = check_pairs(columns, labels, "PccLoss")
        if y.shape[0] < 2:
            raise InvalidInputError("PccLoss needs a batch of at least 2 pairs")
        x = F.cosine_similarity(u, v, dim=-1)
        xc, yc = x - x.mean(), y - y.mean()
        r = (xc * yc).sum() / (xc.norm() * yc.norm() + self.eps)
        return 1.0 - r
