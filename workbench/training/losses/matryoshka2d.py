"""2D Matryoshka: nested dimensions at the last layer and at sampled earlier layers.

Li, Li, Li et al. (2024), "2D Matryoshka Sentence Embeddings" (later "ESE: Espresso
Sentence Embeddings"). https://arxiv.org/abs/2402.14776 . sentence-transformers calls it
``Matryoshka2dLoss`` (AdaptiveLayerLoss around MatryoshkaLoss).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from ...errors import InvalidInputError
from .base import EmbeddingLoss
from .matryoshka import MatryoshkaLoss


class Matryoshka2dLoss(EmbeddingLoss):
    """Matryoshka loss at the last layer plus, at ``n_layers_per_step`` sampled earlier
    layers, the same Matryoshka loss and a KL term pulling that layer towards the last::

        loss = last_layer_weight * M(last)
             + prior_layers_weight * mean_{l in sampled} [ M(l)
                   + kl_weight * KL(softmax(last / T) || softmax(l / T)) ]

    where ``M`` is :class:`MatryoshkaLoss` around ``inner``, the softmax runs over the
    embedding coordinates of every row (all columns), ``T = kl_temperature`` and the last
    layer is a fixed teacher in the KL term (no gradient through it).

    Layers are sampled from ``1 .. num_layers - 1`` by :meth:`layers_for_step`, which depends
    only on ``(seed, step)``: every process draws the same layers, and a resumed run draws
    what the uninterrupted run drew.

    Inputs: ``columns`` (last layer), ``labels``, and ``prior_layers = {layer: columns}``.
    """

    uses_layers = True

    def __init__(
        self,
        inner: EmbeddingLoss,
        dims: Sequence[int],
        n_layers_per_step: int = 1,
        last_layer_weight: float = 1.0,
        prior_layers_weight: float = 1.0,
        kl_weight: float = 1.0,
        kl_temperature: float = 0.3,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if n_layers_per_step < 0:
            raise InvalidInputError("n_layers_per_step must be >= 0 (0 = every earlier layer)")
        self.matryoshka = MatryoshkaLoss(inner, dims)
        self.inputs = inner.inputs
        self.n_layers_per_step = int(n_layers_per_step)
        self.last_layer_weight = float(last_layer_weight)
        self.prior_layers_weight = float(prior_layers_weight)
        self.kl_weight = float(kl_weight)
        self.kl_temperature = float(kl_temperature)
        self.seed = int(seed)

    @property
    def dims(self) -> list[int]:
        return self.matryoshka.dims

    def layers_for_step(self, step: int, num_layers: int) -> list[int]:
        """Earlier layers (1-based hidden-state indices) trained at ``step``."""
        candidates = list(range(1, num_layers))
        if self.n_layers_per_step == 0 or self.n_layers_per_step >= len(candidates):
            return candidates
        rng = random.Random(self.seed * 1_000_003 + step)
        return sorted(rng.sample(candidates, self.n_layers_per_step))

    def forward(
        self,
        columns: Sequence[torch.Tensor],
        labels: torch.Tensor | None = None,
        prior_layers: Mapping[int, Sequence[torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        loss = self.last_layer_weight * self.matryoshka(columns, labels)
        if not prior_layers:
            return loss
        teacher = None
        if self.kl_weight and self.kl_temperature > 0:
            last = torch.cat(list(columns), dim=0)
            teacher = F.softmax(last.detach() / self.kl_temperature, dim=-1)
        prior = loss.new_zeros(())
        for _, cols in sorted(prior_layers.items()):
            term = self.matryoshka(cols, labels)
            if teacher is not None:
                student = F.log_softmax(torch.cat(list(cols), dim=0) / self.kl_temperature, -1)
                term = term + self.kl_weight * F.kl_div(student, teacher, reduction="batchmean")
            prior = prior + term
        return loss + self.prior_layers_weight * prior / len(prior_layers)

    def extra_repr(self) -> str:
        return (
            f"dims={self.dims}, n_layers_per_step={self.n_layers_per_step}, "
            f"kl_weight={self.kl_weight}, kl_temperature={self.kl_temperature}"
        )
