"""AnglE: angle-optimised text embeddings.

Li and Li (2024), "AnglE-optimized Text Embeddings", ACL. https://arxiv.org/abs/2309.12871
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .base import EmbeddingLoss, check_pairs, ranking_loss


def angle_similarity(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """AnglE's similarity: the absolute summed angle difference in complex space.

    Each vector is read as ``D/2`` complex numbers (first half real parts, second half
    imaginary parts). As in the paper's code, ``z = a + bi`` is "divided" by ``w = c + di``
    as ``z * conj(w) / |w|^2`` with ``|w|`` the norm of the whole vector, normalised by
    ``|z| / |w|``, and a pair scores ``|sum(Re) + sum(Im)|``: that is ``|cos + sin|`` of
    the L2-normalised vectors. Odd dimensions get one zero pad.
    """
    if u.shape[-1] % 2:
        u, v = F.pad(u, (0, 1)), F.pad(v, (0, 1))
    a, b = torch.chunk(u, 2, dim=-1)
    c, d = torch.chunk(v, 2, dim=-1)
    w2 = (c**2 + d**2).sum(-1, keepdim=True)
    re = (a * c + b * d) / w2
    im = (b * c - a * d) / w2
    ratio = (a**2 + b**2).sum(-1, keepdim=True).sqrt() / w2.sqrt()  # |z| / |w|
    re, im = re / ratio, im / ratio
    return (re.sum(-1) + im.sum(-1)).abs()


class AnglELoss(EmbeddingLoss):
    """``cosine_weight * CoSENT(cos) + angle_weight * CoSENT(angle_similarity)``, scale 20.

    The paper's objective is ``w1 * L_cos + w2 * L_ibn + w3 * L_angle``; the in-batch
    negative term needs duplicate-free positive pairs and is left out here (use the
    ``simcse-sup`` recipe for in-batch negatives). sentence-transformers' ``AnglELoss`` is
    the angle term alone (``cosine_weight=0``). The angle term keeps a gradient where cosine
    saturates near +-1.

    Inputs: ``columns = [sentence1, sentence2]`` and ``labels`` ``(N,)`` gold scores.

    >>> loss = AnglELoss()
    >>> u, v, y = torch.randn(8, 16), torch.randn(8, 16), torch.rand(8)
    >>> float(loss([u, v], y)) >= 0
    True
    """

    inputs = "graded"

    def __init__(
        self, scale: float = 20.0, cosine_weight: float = 1.0, angle_weight: float = 1.0
    ) -> None:
        super().__init__()
        self.scale = float(scale)
        self.cosine_weight = float(cosine_weight)
        self.angle_weight = float(angle_weight)

    def forward(
        self, columns: Sequence[torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        u, v, y = check_pairs(columns, labels, "AnglELoss")
        loss = u.new_zeros(())
        if self.cosine_weight:
            loss = loss + self.cosine_weight * ranking_loss(
                F.cosine_similarity(u, v, dim=-1), y, self.scale
            )
        if self.angle_weight:
            loss = loss + self.angle_weight * ranking_loss(angle_similarity(u, v), y, self.scale)
        return loss

    def extra_repr(self) -> str:
        return (
            f"scale={self.scale}, cosine_weight={self.cosine_weight}, "
            f"angle_weight={self.angle_weight}"
        )
