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

The seed papers' methods (:data:`METHODS`) need more than a loss on one batch of
embeddings: a second tower, a teacher, a data sampler, re-mined negatives, a second stage, or
no gradient through the encoder at all. Each is a :class:`~workbench.training.loop.Trainer`
subclass in :mod:`workbench.training.methods` (named by ``Recipe.trainer``, imported when a
run needs it) that declares its own ``ACCEPTS``, ``DEFAULTS`` and ``OPTIONS``; options reach
it as ``train(..., options={...})`` or ``workbench train --opt KEY=VALUE``.
"""

from __future__ import annotations

import importlib
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
    #: ``"module:Class"`` of the Trainer subclass that runs it (None: the standard loop)
    trainer: str | None = None


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
#: the seed papers' methods: name -> (what it trains, its Trainer subclass)
METHODS: dict[str, tuple[str, str]] = {
    "jtcse": (
        "JTCSE: unsupervised SimCSE + modulus constraint on positives, twin-tower CLS "
        "cross-attention; exports the single tower",
        "jtcse:JTCSETrainer",
    ),
    "simcse-2tier": (
        "2-Tier SimCSE: unsupervised then supervised SimCSE in one run (dropout: standard, "
        "curriculum, adaptive)",
        "simcse_2tier:TwoTierSimCSETrainer",
    ),
    "codiemb": (
        "CoDiEmb: joint IR + STS, single-task balanced batches, multi-positive/hard-negative "
        "InfoNCE for IR, order-aware loss for STS",
        "codiemb:CoDiEmbTrainer",
    ),
    "conan": (
        "Conan-embedding: hard negatives re-mined from the current model every N steps, "
        "cross-GPU balancing loss",
        "conan:ConanTrainer",
    ),
    "starbucks": (
        "Starbucks: loss over a fixed list of (layer, dimension) pairs each step; optional "
        "masked-autoencoder pre-training",
        "starbucks:StarbucksTrainer",
    ),
    "cross-encoder": (
        "a cross-encoder on graded pairs (the teacher dse distils; exports a CrossEncoder folder)",
        "dse:CrossEncoderTrainer",
    ),
    "dse": (
        "DSE: a bi-encoder student learns a cross-encoder teacher's pair scores",
        "dse:DSETrainer",
    ),
    "defsent": (
        "DefSent+: definition sentences mapped into a progressively built, quasi-isotropic "
        "entry-embedding space (word<TAB>definition data)",
        "defsent:DefSentTrainer",
    ),
    "merge": (
        "Self Positioning: merge task vectors of trained variants with interpolation "
        "weights found by SGD on a dev set",
        "merge:MergeTrainer",
    ),
}
for _name, (_desc, _trainer) in METHODS.items():
    RECIPES[_name] = Recipe(_name, _desc, (), {}, "workbench.training.methods." + _trainer)

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


def trainer_class(recipe: str):
    """The Trainer subclass that runs ``recipe`` (the standard Trainer for loss recipes)."""
    from .loop import Trainer

    spec = RECIPES[recipe].trainer
    if spec is None:
        return Trainer
    module, _, cls = spec.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            raise UnknownNameError(
                f"recipe {recipe!r} is declared but its trainer ({module}) is not installed "
                "in this version of the workbench"
            ) from None
        raise
    return getattr(mod, cls)


def recipe_defaults(recipe: str, inner: str | None) -> dict[str, Any]:
    """Default hyper-parameters (lr, batch_size, max_len, data, epochs) of a recipe."""
    if RECIPES[recipe].trainer is not None:
        return dict(trainer_class(recipe).DEFAULTS)
    base = RECIPES[inner or recipe].defaults
    return dict(base)


def recipe_options(recipe: str) -> dict[str, Any]:
    """The method options a recipe takes (``--opt KEY=VALUE``) and their defaults."""
    if RECIPES[recipe].trainer is not None:
        return dict(trainer_class(recipe).OPTIONS)
    return {}


def accepted_kinds(recipe: str, inner: str | None) -> tuple[str, ...]:
    if RECIPES[recipe].trainer is not None:
        return tuple(trainer_class(recipe).ACCEPTS)
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
