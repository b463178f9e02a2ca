"""The interface every training loss follows."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...errors import InvalidInputError


class EmbeddingLoss(nn.Module):
    """Base class: ``forward(columns, labels)`` returns a scalar loss.

    ``inputs`` names the data kind a loss needs: ``"graded"`` (two columns and a score in
    [0, 1]) or ``"contrastive"`` (anchors, positives and optional hard negatives, no labels).
    """

    inputs: str = "graded"
    #: True for losses that also need embeddings pooled at earlier layers
    uses_layers: bool = False

    def forward(
        self, columns: Sequence[torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def check_pairs(
    columns: Sequence[torch.Tensor], labels: torch.Tensor | None, name: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate graded-pair inputs and return ``(u, v, labels)``."""
    if len(columns) != 2:
        raise InvalidInputError(
            f"{name} takes two columns (sentence1, sentence2), got {len(columns)}"
        )
    if labels is None:
        raise InvalidInputError(f"{name} needs gold scores (graded pairs such as stsb-train)")
    u, v = columns
    if u.shape != v.shape or u.shape[0] != labels.shape[0]:
        raise InvalidInputError(
            f"{name}: column shapes {tuple(u.shape)}, {tuple(v.shape)} and {labels.shape[0]} "
            "labels do not match"
        )
    return u, v, labels.to(u.dtype)


def ranking_loss(scores: torch.Tensor, labels: torch.Tensor, scale: float) -> torch.Tensor:
    """``log(1 + sum_{y_i > y_j} exp(scale * (s_j - s_i)))``: the CoSENT ranking term.

    Every pair of pairs whose gold order is ``i`` above ``j`` is penalised when its predicted
    similarity ``s_j`` comes close to or above ``s_i``.
    """
    s = scores * scale
    diff = s[None, :] - s[:, None]  # diff[i, j] = s_j - s_i
    above = labels[:, None] > labels[None, :]
    # -inf where the pair of pairs is not ordered: exp(-inf) = 0 keeps shapes static
    diff = diff.masked_fill(~above, float("-inf"))
    zero = torch.zeros(1, dtype=diff.dtype, device=diff.device)
    return torch.logsumexp(torch.cat([zero, diff.flatten()]), dim=0)
