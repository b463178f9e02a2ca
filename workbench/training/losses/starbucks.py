"""Starbucks: the loss over a fixed list of (layer, dimension) pairs, small to large.

Zhuang, Wang, Koopman and Zuccon (2024), "Starbucks: Improved Training for 2D Matryoshka
Embeddings", arXiv:2410.13230. Computed as the reference ``StarbucksLoss``,
github.com/ielab/Starbucks at commit 2a3b24f0e9c27bb8ff94f97f84521d3230fe2e55,
``sts/starbucks_loss.py`` (with ``sts/matryoshkaloss_modified.py``);
``tests/test_method_starbucks.py`` pins values produced by running that class. Where 2D
Matryoshka (:mod:`.matryoshka2d`) samples a layer and a dimension each step, Starbucks trains
every pair of its list every step.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ...errors import InvalidInputError
from .base import EmbeddingLoss
from .matryoshka import MatryoshkaLoss

#: the paper's (layer, dim) list for a 12-layer, 768-d base (``train_starbucks.py``)
PAPER_PAIRS = ((2, 32), (4, 64), (6, 128), (8, 256), (10, 512), (12, 768))


def scaled_pairs(num_layers: int, dim: int) -> list[tuple[int, int]]:
    """The paper's pairs for a base of ``num_layers`` blocks and width ``dim``.

    BERT-base (12, 768) gets the paper's list. Otherwise each layer becomes
    ``ceil(layer * num_layers / 12)`` and each dim ``max(1, round(d * dim / 768))`` (MiniLM-L6,
    384-d: (1, 16), (2, 32), ..., (6, 384)); when two pairs land on one layer the larger one
    is kept, so layers and dims both grow strictly and the last pair is the full model.
    """
    if num_layers < 1 or dim < 1:
        raise InvalidInputError(f"Starbucks needs layers and a width, got {num_layers}, {dim}")
    by_layer: dict[int, int] = {}
    for layer, d in PAPER_PAIRS:
        scaled_layer = -(-layer * num_layers // 12)  # ceil
        by_layer[scaled_layer] = max(1, round(d * dim / 768))
    pairs = sorted(by_layer.items())
    pairs[-1] = (num_layers, dim)
    return pairs


def check_pairs(pairs: Sequence[Sequence[int]], num_layers: int, dim: int) -> list[tuple[int, int]]:
    """Validate a user's (layer, dim) list: small to large, ending with the full model."""
    try:
        out = [(int(p[0]), int(p[1])) for p in pairs]
        ok = all(len(p) == 2 for p in pairs) and len(out) > 0
    except (TypeError, ValueError, IndexError):
        ok = False
    if not ok:
        raise InvalidInputError(
            f"Starbucks pairs must be a list of [layer, dim] pairs, e.g. [[2, 32], [4, 64]], "
            f"got {pairs!r}"
        )
    for (l1, d1), (l2, d2) in zip(out, out[1:]):
        if not (l1 < l2 and d1 < d2):
            raise InvalidInputError(f"Starbucks pairs must grow in layer and dim, got {out}")
    if out[0][0] < 1 or out[0][1] < 1:
        raise InvalidInputError(f"Starbucks layers and dims start at 1, got {out}")
    if out[-1] != (num_layers, dim):
        raise InvalidInputError(
            f"the last Starbucks pair must be the full model ({num_layers}, {dim}); got {out[-1]}"
        )
    return out


@dataclass(frozen=True)
class StarbucksPlan:
    """The earlier pairs one step trains: hidden-state indices ``layers`` and their ``dims``."""

    layers: tuple[int, ...]
    dims: tuple[int, ...]


class StarbucksLoss(EmbeddingLoss):
    """The reference ``StarbucksLoss`` for embeddings the loop has pooled::

        loss = inner(shrink(last, D)) * last_layer_weight
             + sum_{(l, d) earlier pairs} [ inner(shrink(x_l, d))
                                            + KL(softmax(last[:, :d]) || softmax(x_l[:, :d]))
                                              * kl_temperature * kl_weight ]

    ``shrink(x, d)``: the first ``d`` coordinates, L2-normalised. The last pair is the full
    model (last layer, every dim). As in the reference the KL term takes no temperature inside
    the softmaxes (``kl_temperature`` only scales it), sees the embeddings the model outputs
    (L2-normalised when it ends in ``Normalize``: ``normalize=True``), stacks all columns, and
    lets gradients reach the last layer too. ``n_selections_per_step`` > 0 trains that many
    earlier pairs each step, drawn from ``(seed, step)``; -1 (the reference default) all.

    Inputs: ``columns`` (last layer), ``labels``, ``prior_layers = {layer: columns}`` for the
    layers of ``plan`` (hidden-state indices: 1-based block numbers), and ``plan``.
    """

    uses_layers = True

    def __init__(
        self,
        inner: EmbeddingLoss,
        pairs: Sequence[tuple[int, int]],
        n_selections_per_step: int = -1,
        last_layer_weight: float = 1.0,
        kl_weight: float = 1.0,
        kl_temperature: float = 0.3,
        normalize: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if kl_temperature < 0:
            raise InvalidInputError(f"kl_temperature must be >= 0 (0: no KL), got {kl_temperature}")
        self.pairs = [(int(a), int(b)) for a, b in pairs]
        self.matryoshka = MatryoshkaLoss(inner, sorted({d for _, d in self.pairs}))
        self.inputs = inner.inputs
        self.uses_text_ids = getattr(inner, "uses_text_ids", False)
        self.n_selections_per_step = int(n_selections_per_step)
        self.last_layer_weight = float(last_layer_weight)
        self.kl_weight = float(kl_weight)
        self.kl_temperature = float(kl_temperature)
        self.normalize = bool(normalize)
        self.seed = int(seed)

    def plan_for_step(self, step: int, num_layers: int) -> StarbucksPlan:
        """The earlier pairs trained at ``step`` (all, or a draw that depends on seed and step)."""
        if self.pairs[-1][0] != num_layers:
            raise InvalidInputError(
                f"the last Starbucks pair {self.pairs[-1]} must sit at the model's last layer "
                f"({num_layers})"
            )
        earlier = [p for p in self.pairs if p[0] < num_layers]
        k = self.n_selections_per_step
        if 0 < k < len(earlier):
            # the reference draws with the global random module and then pairs the drawn
            # layers with the *first* k dims (its dim_indices line); we keep each layer's dim
            rng = random.Random(self.seed * 1_000_003 + int(step))
            earlier = sorted(rng.sample(earlier, k))
        return StarbucksPlan(tuple(p[0] for p in earlier), tuple(p[1] for p in earlier))

    def full_plan(self, num_layers: int) -> StarbucksPlan:
        earlier = [p for p in self.pairs if p[0] < num_layers]
        return StarbucksPlan(tuple(p[0] for p in earlier), tuple(p[1] for p in earlier))

    def forward(
        self,
        columns: Sequence[torch.Tensor],
        labels: torch.Tensor | None = None,
        prior_layers: Mapping[int, Sequence[torch.Tensor]] | None = None,
        plan: StarbucksPlan | None = None,
        **inner_kwargs: Any,
    ) -> torch.Tensor:
        prior_layers = dict(prior_layers or {})
        if plan is None:
            raise InvalidInputError("pass plan=loss.plan_for_step(step, num_layers)")
        if set(plan.layers) != set(prior_layers):
            raise InvalidInputError(
                f"prior_layers holds layers {sorted(prior_layers)} but the plan trains "
                f"{sorted(plan.layers)}"
            )
        full = columns[0].shape[-1]
        if self.pairs[-1][1] != full:
            raise InvalidInputError(
                f"the last Starbucks pair {self.pairs[-1]} must use every dim ({full})"
            )
        loss = self.matryoshka(columns, labels, dims=[full], **inner_kwargs)
        loss = loss * self.last_layer_weight
        T = self.kl_temperature
        last = self._kl_input(columns) if T > 0 else None
        for layer, d in zip(plan.layers, plan.dims):
            cols = prior_layers[layer]
            loss = loss + self.matryoshka(cols, labels, dims=[d], **inner_kwargs)
            if T > 0:
                student = F.log_softmax(self._kl_input(cols)[:, :d], dim=-1)
                teacher = F.softmax(last[:, :d], dim=-1)
                kl = F.kl_div(student, teacher, reduction="batchmean")
                loss = loss + kl * T * self.kl_weight
        return loss

    def _kl_input(self, columns: Sequence[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(list(columns), dim=0)
        return F.normalize(x, p=2, dim=-1) if self.normalize else x

    def extra_repr(self) -> str:
        return (
            f"pairs={self.pairs}, n_selections_per_step={self.n_selections_per_step}, "
            f"kl_weight={self.kl_weight}, kl_temperature={self.kl_temperature}, "
            f"normalize={self.normalize}"
        )
