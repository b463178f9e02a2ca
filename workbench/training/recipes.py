"""Recipes: a loss, the data it needs, and sensible defaults, under one name.

=============  ==================================================================  ==========
recipe         what it trains                                                      data kind
=============  ==================================================================  ==========
simcse-unsup   SimCSE, dropout positives, in-batch negatives, temperature 0.05     any text
simcse-sup     SimCSE on NLI triplets (entailment +, contradiction hard -)          triplets
cosent         CoSENT ranking loss on graded pairs, scale 20                       graded
angle          AnglE as angle-emb 0.6.1: in-batch negatives + 0.02 x angle term    graded
angle-2023     AnglE as its 2023 release: cosine + in-batch negatives + angle      graded
pcc            Pcc-tuning: 1 - Pearson(cos, gold)                                  graded
matryoshka     Matryoshka around ``inner`` (default cosent), nested dims           inner's
matryoshka2d   2D Matryoshka as sentence-transformers' Matryoshka2dLoss            inner's
=============  ==================================================================  ==========

``matryoshka:pcc`` (or ``matryoshka-pcc``) names the inner loss inline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError, UnknownNameError
from .losses import (
    AnglELoss,
    CoSENTLoss,
    EmbeddingLoss,
    Matryoshka2dLoss,
    MatryoshkaLoss,
    PccLoss,
    SimCSELoss,
)
from .losses.matryoshka import default_dims


@dataclass(frozen=True)
class Recipe:
    """A named training set-up: its data kinds and default hyper-parameters."""

    name: str
    description: str
    accepts: tuple[str, ...]
    defaults: dict[str, Any] = field(default_factory=dict)


_GRADED = {"lr": 2e-5, "batch_size": 32, "max_len": 128, "data": "stsb-train", "epochs": 4}
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            "simcse-unsup",
            "unsupervised SimCSE: each sentence twice under dropout, in-batch negatives",
            ("sentences", "pairs", "triplets", "graded"),
            {
                "lr": 3e-5,
                "batch_size": 64,
                "max_len": 32,
                "data": "stsb-snli-sentences",
                "epochs": 1,
            },
        ),
        Recipe(
            "simcse-sup",
            "supervised SimCSE: NLI entailment positives, contradiction hard negatives",
            ("triplets", "pairs"),
            {"lr": 5e-5, "batch_size": 64, "max_len": 32, "data": "snli-dev", "epochs": 3},
        ),
        Recipe("cosent", "CoSENT ranking loss on graded pairs", ("graded",), _GRADED),
        Recipe(
            "angle",
            "AnglE, angle-emb 0.6.1 defaults: in-batch negatives + 0.02 x angle ranking loss",
            ("graded",),
            _GRADED,
        ),
        Recipe(
            "angle-2023",
            "AnglE, 2023 release: cosine + in-batch negatives + angle (tau 1), int scores",
            ("graded",),
            _GRADED,
        ),
        Recipe("pcc", "Pcc-tuning: 1 - Pearson(cos, gold)", ("graded",), _GRADED),
        Recipe(
            "matryoshka",
            "Matryoshka around an inner loss (default cosent) at nested dimensions",
            (),
            {},
        ),
        Recipe(
            "matryoshka2d",
            "2D Matryoshka (sentence-transformers' Matryoshka2dLoss): sampled dims at the "
            "last and at sampled earlier layers, KL to the last",
            (),
            {},
        ),
    ]
}
INNER = ("simcse-unsup", "simcse-sup", "cosent", "angle", "angle-2023", "pcc")
ANGLE_RECIPES = {"angle": "current", "angle-2023": "2023"}


def resolve_recipe(name: str, inner: str | None = None) -> tuple[str, str | None]:
    """Canonical ``(recipe, inner)``; ``matryoshka:pcc`` splits into both."""
    key = str(name).strip().lower().replace("_", "-")
    for sep in (":", "-"):
        for outer in ("matryoshka2d", "matryoshka"):
            if key.startswith(outer + sep) and key[len(outer) + 1 :] in INNER:
                key, inner = outer, key[len(outer) + 1 :]
    if key not in RECIPES:
        raise UnknownNameError(
            f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)} (matryoshka and "
            f"matryoshka2d wrap an inner loss: matryoshka:pcc, ...)"
        )
    if key in ("matryoshka", "matryoshka2d"):
        inner = (inner or "cosent").strip().lower().replace("_", "-")
        if inner not in INNER:
            raise UnknownNameError(
                f"unknown inner loss {inner!r} for {key}; choose one of {', '.join(INNER)}"
            )
        return key, inner
    return key, None


def recipe_defaults(recipe: str, inner: str | None) -> dict[str, Any]:
    """Default hyper-parameters (lr, batch_size, max_len, data, epochs) of a recipe."""
    base = RECIPES[inner or recipe].defaults
    return dict(base)


def accepted_kinds(recipe: str, inner: str | None) -> tuple[str, ...]:
    return RECIPES[inner or recipe].accepts


def build_loss(
    recipe: str,
    inner: str | None,
    dim: int,
    temperature: float = 0.05,
    scale: float = 20.0,
    dims: list[int] | None = None,
    n_layers_per_step: int = 1,
    kl_weight: float = 1.0,
    seed: int = 0,
    *,
    n_dims_per_step: int = 1,
    kl_temperature: float = 0.3,
    layer_weighting: str = "uniform",
    normalize: bool = False,
) -> EmbeddingLoss:
    """The loss module of a recipe for embeddings of size ``dim``.

    ``normalize``: whether the model L2-normalises its output (2D Matryoshka's KL term
    then compares normalised vectors, as sentence-transformers does after ``Normalize``).
    """

    def single(name: str) -> EmbeddingLoss:
        if name in ("simcse-unsup", "simcse-sup"):
            return SimCSELoss(temperature)
        if name == "cosent":
            return CoSENTLoss(scale)
        if name in ANGLE_RECIPES:
            if scale != 20.0:
                raise InvalidInputError(
                    f"{name} takes its temperatures from its preset; --scale applies to cosent"
                )
            return AnglELoss(ANGLE_RECIPES[name])
        if name == "pcc":
            return PccLoss()
        raise UnknownNameError(f"unknown loss {name!r}")  # pragma: no cover

    if recipe not in ("matryoshka", "matryoshka2d"):
        return single(recipe)
    dims = sorted({int(d) for d in (dims or default_dims(dim))}, reverse=True)
    if dims[0] > dim:
        raise InvalidInputError(f"Matryoshka dims {dims} exceed the embedding size {dim}")
    if recipe == "matryoshka":
        return MatryoshkaLoss(single(inner), dims)
    return Matryoshka2dLoss(
        single(inner),
        dims,
        n_layers_per_step=n_layers_per_step,
        n_dims_per_step=n_dims_per_step,
        kl_weight=kl_weight,
        kl_temperature=kl_temperature,
        layer_weighting=layer_weighting,
        normalize=normalize,
        seed=seed,
    )
