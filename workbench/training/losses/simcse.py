"""SimCSE's contrastive loss (InfoNCE with in-batch and hard negatives).

Gao, Yao and Chen (2021), "SimCSE: Simple Contrastive Learning of Sentence Embeddings",
EMNLP. https://arxiv.org/abs/2104.08821
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ...errors import InvalidInputError
from .base import EmbeddingLoss


class SimCSELoss(EmbeddingLoss):
    """InfoNCE over cosine similarities divided by a temperature (0.05 in the paper).

    Inputs: ``columns = [anchors, positives]`` or ``[anchors, positives, hard_negatives]``,
    each ``(N, D)``; no labels. Anchor ``i``'s positive is row ``i`` of ``positives``; every
    other positive and every hard negative in the (global) batch is a negative::

        loss = mean_i -log( exp(cos(a_i, p_i) / t)
                            / (sum_j exp(cos(a_i, p_j) / t) + sum_j exp(cos(a_i, n_j) / t)) )

    Unsupervised SimCSE feeds the same sentences twice: dropout makes the two views differ.
    Supervised SimCSE uses NLI triplets (entailment positive, contradiction hard negative).

    >>> loss = SimCSELoss(temperature=0.05)
    >>> a, p = torch.randn(8, 16), torch.randn(8, 16)
    >>> float(loss([a, p])) > 0
    True
    """

    inputs = "contrastive"

    def __init__(self, temperature: float = 0.05) -> None:
        super().__init__()
        if temperature <= 0:
            raise InvalidInputError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(
        self, columns: Sequence[torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        if len(columns) not in (2, 3):
            raise InvalidInputError(
                "SimCSELoss takes [anchors, positives] or [anchors, positives, negatives], "
                f"got {len(columns)} columns"
            )
        anchors = F.normalize(columns[0], dim=-1)
        candidates = F.normalize(torch.cat(list(columns[1:]), dim=0), dim=-1)
        logits = anchors @ candidates.T / self.temperature
        target = torch.arange(anchors.shape[0], device=anchors.device)
        return F.cross_entropy(logits, target)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
