"""2D Matryoshka: nested dimensions at the last layer and at sampled earlier layers.

Li, Li, Li et al. (2024), "2D Matryoshka Sentence Embeddings" (later "ESE: Espresso
Sentence Embeddings"). https://arxiv.org/abs/2402.14776 . Computed as sentence-transformers'
``Matryoshka2dLoss`` (v6.2.0: ``sentence_transformer/losses/matryoshka_2d.py``, an
``AdaptiveLayerLoss`` in ``adaptive_layer.py`` around a ``MatryoshkaLoss`` in
``matryoshka.py``), with the same defaults, weights and sampling; ``tests/test_loss_parity.py``
runs that class live against this one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ...errors import InvalidInputError
from .base import EmbeddingLoss
from .matryoshka import MatryoshkaLoss

LAYER_WEIGHTINGS = ("uniform", "log", "linear")


@dataclass(frozen=True)
class Matryoshka2dPlan:
    """What one training step computes, drawn by :meth:`Matryoshka2dLoss.plan_for_step`.

    ``last_dims``: the Matryoshka dims trained at the last layer; ``layers``: the earlier
    hidden-state indices trained (0 = the embedding layer's output), in the order drawn;
    ``layer_dims[i]``: the dims trained at ``layers[i]``. Dims are largest first.
    """

    last_dims: tuple[int, ...]
    layers: tuple[int, ...]
    layer_dims: tuple[tuple[int, ...], ...]


class Matryoshka2dLoss(EmbeddingLoss):
    """sentence-transformers' ``Matryoshka2dLoss``, for embeddings the loop has pooled::

        loss = M(last, D_last) * last_layer_weight
             + sum_{l in sampled layers} [ M(l, D_l) * w(l) / n_sampled * prior_layers_weight
                                           + KL(l) * kl_temperature * kl_weight ]

    ``M(x, D) = sum_{d in D} weight_d * inner(shrink(x, d))`` is :class:`MatryoshkaLoss`
    (truncate to ``d``, L2-normalise). ``D_last`` and each ``D_l`` hold ``n_dims_per_step``
    dims drawn afresh for every call (all dims when ``n_dims_per_step`` is -1, 0 or at least
    ``len(dims)``). Layers are ``n_layers_per_step`` hidden-state indices drawn from
    ``0 .. num_layers - 1`` (0 is the embedding layer's output; the last layer is always
    trained); -1 or 0 means every one. ``w(l)`` is ``layer_weighting``: ``"uniform"`` (1, the
    default since sentence-transformers 6), ``"log"`` ``1 / (1 + ln(1 + l))`` or
    ``"linear"`` ``1 / (1 + l)`` (the weighting of older releases), or a callable.

    ``KL(l) = KL(softmax(last / T) || softmax(l / T))`` over the coordinates of every row
    (all columns stacked), ``batchmean`` reduction, ``T = kl_temperature`` (0 turns it
    off), the last layer a fixed teacher (no gradient). It sees the full vectors as the
    model outputs them: L2-normalised when the model ends in a ``Normalize`` module, which
    ``normalize=True`` says (the loop passes the encoder's ``.normalize``).

    Sampling depends only on ``(seed, step)`` (:meth:`plan_for_step`): every process and a
    resumed run draw the same layers and dims. The draws follow sentence-transformers' order
    (dims at the last layer, then the layers, then dims for each layer in drawn order), so a
    ``random.Random`` in the same state as its global ``random`` draws the same plan.

    Inputs: ``columns`` (last layer), ``labels``, ``prior_layers = {layer: columns}`` for
    the layers in ``plan.layers``, and ``plan``.
    """

    uses_layers = True

    def __init__(
        self,
        inner: EmbeddingLoss,
        dims: Sequence[int],
        weights: Sequence[float] | None = None,
        n_layers_per_step: int = 1,
        n_dims_per_step: int = 1,
        last_layer_weight: float = 1.0,
        prior_layers_weight: float = 1.0,
        kl_weight: float = 1.0,
        kl_temperature: float = 0.3,
        layer_weighting: str | Callable[[int], float] = "uniform",
        normalize: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not callable(layer_weighting) and layer_weighting not in LAYER_WEIGHTINGS:
            raise InvalidInputError(
                f"layer_weighting must be one of {', '.join(LAYER_WEIGHTINGS)} or a callable, "
                f"got {layer_weighting!r}"
            )
        if kl_temperature < 0:
            raise InvalidInputError(f"kl_temperature must be >= 0 (0: no KL), got {kl_temperature}")
        self.matryoshka = MatryoshkaLoss(inner, dims, weights)
        self.inputs = inner.inputs
        self.uses_text_ids = getattr(inner, "uses_text_ids", False)
        self.n_layers_per_step = int(n_layers_per_step)
        self.n_dims_per_step = int(n_dims_per_step)
        self.last_layer_weight = float(last_layer_weight)
        self.prior_layers_weight = float(prior_layers_weight)
        self.kl_weight = float(kl_weight)
        self.kl_temperature = float(kl_temperature)
        self.layer_weighting = layer_weighting
        self.normalize = bool(normalize)
        self.seed = int(seed)

    @property
    def dims(self) -> list[int]:
        return self.matryoshka.dims

    @property
    def samples_dims(self) -> bool:
        return 0 < self.n_dims_per_step < len(self.dims)

    def layer_weight(self, layer: int) -> float:
        """``w(layer)`` of the prior-layer term (hidden-state index, 0 = embeddings)."""
        if callable(self.layer_weighting):
            return float(self.layer_weighting(layer))
        if self.layer_weighting == "log":
            return 1.0 / (1.0 + math.log(1 + layer))
        if self.layer_weighting == "linear":
            return 1.0 / (1 + layer)
        return 1.0

    def draw_plan(self, rng: random.Random, num_layers: int) -> Matryoshka2dPlan:
        """The plan drawn from ``rng`` for a model with ``num_layers`` transformer blocks."""
        if num_layers < 1:
            raise InvalidInputError(f"2D Matryoshka needs a model with layers, got {num_layers}")
        n = len(self.dims)

        def draw_dims() -> tuple[int, ...]:
            idx = list(range(n))
            if self.samples_dims:
                idx = sorted(rng.sample(range(n), self.n_dims_per_step))
            return tuple(self.dims[i] for i in idx)

        last = draw_dims()
        layers: Sequence[int] = range(num_layers)
        if 0 < self.n_layers_per_step < num_layers:
            layers = rng.sample(layers, self.n_layers_per_step)
        layers = tuple(layers)
        return Matryoshka2dPlan(last, layers, tuple(draw_dims() for _ in layers))

    def plan_for_step(self, step: int, num_layers: int) -> Matryoshka2dPlan:
        """The layers and dims trained at ``step`` (a pure function of ``seed`` and ``step``).

        ``num_layers``: the number of transformer blocks (``encoder.num_layers``); the
        candidate layers are the hidden-state indices ``0 .. num_layers - 1``.
        """
        return self.draw_plan(random.Random(self.seed * 1_000_003 + int(step)), num_layers)

    def layers_for_step(self, step: int, num_layers: int) -> list[int]:
        """The earlier hidden-state indices trained at ``step`` (``plan_for_step(...).layers``)."""
        return list(self.plan_for_step(step, num_layers).layers)

    def full_plan(self, layers: Sequence[int]) -> Matryoshka2dPlan:
        """Every dim at the last layer and at each of ``layers`` (nothing sampled)."""
        dims = tuple(self.dims)
        return Matryoshka2dPlan(dims, tuple(layers), tuple(dims for _ in layers))

    def forward(
        self,
        columns: Sequence[torch.Tensor],
        labels: torch.Tensor | None = None,
        prior_layers: Mapping[int, Sequence[torch.Tensor]] | None = None,
        plan: Matryoshka2dPlan | None = None,
        **inner_kwargs: Any,
    ) -> torch.Tensor:
        prior_layers = dict(prior_layers or {})
        if plan is None:
            if self.samples_dims:
                raise InvalidInputError(
                    f"this Matryoshka2dLoss samples {self.n_dims_per_step} of its dims per call; "
                    "pass plan=loss.plan_for_step(step, num_layers) (or n_dims_per_step=-1)"
                )
            plan = self.full_plan(list(prior_layers))
        if set(plan.layers) != set(prior_layers):
            raise InvalidInputError(
                f"prior_layers holds layers {sorted(prior_layers)} but the plan trains "
                f"{sorted(plan.layers)}; embed the layers of the plan"
            )
        loss = self.matryoshka(columns, labels, dims=plan.last_dims, **inner_kwargs)
        loss = loss * self.last_layer_weight
        if not plan.layers:
            return loss
        T = self.kl_temperature
        if T > 0:
            teacher = F.softmax(self._kl_input(columns) / T, dim=-1).detach()
        for layer, dims in zip(plan.layers, plan.layer_dims):
            cols = prior_layers[layer]
            layer_loss = self.matryoshka(cols, labels, dims=dims, **inner_kwargs)
            w = self.layer_weight(layer)
            loss = loss + layer_loss * w / len(plan.layers) * self.prior_layers_weight
            if T > 0:
                student = F.log_softmax(self._kl_input(cols) / T, dim=-1)
                kl = F.kl_div(student, teacher, reduction="batchmean")
                loss = loss + kl * T * self.kl_weight
        return loss

    def _kl_input(self, columns: Sequence[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(list(columns), dim=0)
        return F.normalize(x, p=2, dim=-1) if self.normalize else x

    def extra_repr(self) -> str:
        lw = self.layer_weighting
        return (
            f"dims={self.dims}, n_layers_per_step={self.n_layers_per_step}, "
            f"n_dims_per_step={self.n_dims_per_step}, kl_weight={self.kl_weight}, "
            f"kl_temperature={self.kl_temperature}, "
            f"layer_weighting={getattr(lw, '__name__', lw)}, normalize={self.normalize}"
        )
