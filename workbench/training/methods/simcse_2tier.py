"""2-Tier SimCSE: unsupervised SimCSE, then supervised SimCSE, in one run.

Wang, Wang and Zhou (2025), "2-Tier SimCSE: Elevating BERT for Robust Sentence Embeddings",
arXiv:2501.13758 (a Stanford CS224N project on minBERT). No code is public: a search of
GitHub (the ``search`` tool's code index, names and the strings ``CurriculumDropout`` /
``AdaptiveDropout`` / "2-Tier SimCSE") found none, so every default below is stated with its
source.

What a run does: steps ``0 .. boundary - 1`` train unsupervised SimCSE (each anchor sentence
twice under dropout, in-batch negatives), the remaining steps supervised SimCSE (NLI
entailment positive, contradiction hard negative), both with SimCSE's InfoNCE at temperature
0.05 (Gao, Yao and Chen 2021, github.com/princeton-nlp/SimCSE). ``boundary =
round(unsup_fraction * total_steps)``; the stage of a step is a pure function of the step,
so a run cut in either stage resumes exactly (the checkpoint holds the RNG states).

Options (``--opt KEY=VALUE``):

- ``unsup_fraction`` (default 0.5): the share of the steps spent unsupervised. The paper trains
  the two tiers one after the other on the STS task; its exact split could not be read here, so
  the default gives each tier the same number of steps.
- ``dropout``: the paper's three variants.
  ``standard``: a fixed rate ``p`` (default 0.1, SimCSE's and BERT's). ``curriculum``: the rate
  grows from 0 to ``p`` as ``p * (1 - exp(-gamma * t / T))`` (Morerio et al. 2017, "Curriculum
  Dropout", ICCV; ``gamma`` = ``curriculum_gamma``, default 10, ``t`` the step, ``T`` the run's
  steps), set before every step. ``adaptive``: a standout layer (Ba and Frey 2013, "Adaptive
  dropout for training deep neural networks", NeurIPS) on the pooled embeddings, keep
  probability ``sigmoid(W x + b)`` per coordinate, initialised to keep ``1 - p`` everywhere
  (``W = 0``), scaled by the inverse keep probability so it is the identity in expectation and
  its parameters get gradients; it adds ``D * (D + 1)`` trainable parameters (the paper's
  ablation attributes overfitting to these), is saved in checkpoints and not exported (dropout
  is off at inference). Encoder dropout stays at ``p`` with ``adaptive``.
- ``p`` (default: ``--dropout`` if given, else 0.1), ``curriculum_gamma`` (default 10).

Defaults: SimCSE's batch 64 and max_len 32; lr 3e-5 (SimCSE's unsupervised BERT-base value;
one linear schedule spans both tiers); ``snli-dev`` triplets for 2 epochs (the unsupervised
tier reads the anchor column of the same batches).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from ...errors import InvalidInputError
from .. import distributed as D
from ..export import export_encoder
from ..loop import Trainer, set_dropout
from ..losses import SimCSELoss

DROPOUTS = ("standard", "curriculum", "adaptive")


def curriculum_rate(p: float, step: int, total: int, gamma: float = 10.0) -> float:
    """Morerio et al.'s curriculum: ``p * (1 - exp(-gamma * step / total))``, 0 at the start."""
    return float(p * (1.0 - math.exp(-gamma * step / max(1, total))))


class Standout(torch.nn.Module):
    """Adaptive dropout (Ba and Frey 2013) on ``(N, D)`` embeddings: keep coordinate ``j`` of
    row ``x`` with probability ``pi_j(x) = sigmoid(W_j x + b_j)``, output ``x * m / pi``."""

    def __init__(self, dim: int, p: float) -> None:
        super().__init__()
        self.gate = torch.nn.Linear(dim, dim)
        torch.nn.init.zeros_(self.gate.weight)
        torch.nn.init.constant_(self.gate.bias, math.log((1 - p) / p) if p > 0 else 20.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        keep = torch.sigmoid(self.gate(x)).clamp_min(1e-3)
        mask = torch.bernoulli(keep.detach())
        return x * mask / keep


class TwoTierSimCSETrainer(Trainer):
    """Unsupervised then supervised SimCSE, with standard, curriculum or adaptive dropout."""

    ACCEPTS = ("triplets", "pairs")
    DEFAULTS = {"lr": 3e-5, "batch_size": 64, "max_len": 32, "data": "snli-dev", "epochs": 2}
    OPTIONS = {"unsup_fraction": 0.5, "dropout": "standard", "p": None, "curriculum_gamma": 10.0}

    def setup(self) -> None:
        o = self.options
        frac, p, gamma = o["unsup_fraction"], o["p"], o["curriculum_gamma"]
        if p is None:  # --dropout (TrainConfig.dropout) if given, else SimCSE's 0.1
            p = self.config.dropout if self.config.dropout is not None else 0.1
        if isinstance(frac, bool) or not isinstance(frac, int | float) or not 0 <= frac <= 1:
            raise InvalidInputError(f"simcse-2tier unsup_fraction must lie in [0, 1], got {frac!r}")
        if o["dropout"] not in DROPOUTS:
            raise InvalidInputError(
                f"simcse-2tier dropout must be one of {', '.join(DROPOUTS)}, got {o['dropout']!r}"
            )
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p < 1:
            raise InvalidInputError(f"simcse-2tier p must lie in (0, 1), got {p!r}")
        if isinstance(gamma, bool) or not isinstance(gamma, int | float) or gamma <= 0:
            raise InvalidInputError(f"simcse-2tier curriculum_gamma must be > 0, got {gamma!r}")
        self.p, self.gamma = float(p), float(gamma)
        set_dropout(self.model, self.p)
        self.dropout_used = self.p
        self.standout = None
        if o["dropout"] == "adaptive":
            self.standout = Standout(self.encoder.dim, self.p).to(self.device)
            self.parts = torch.nn.ModuleDict({"model": self.model, "standout": self.standout})

    def make_loss(self) -> torch.nn.Module:
        return SimCSELoss(self.config.temperature)

    def trainable_module(self) -> torch.nn.Module:
        return self.parts if self.standout is not None else self.model

    @property
    def boundary(self) -> int:
        """The first supervised step."""
        return round(float(self.options["unsup_fraction"]) * self.total_steps)

    def stage(self, step: int) -> str:
        """``"unsup"`` or ``"sup"``: a pure function of the step."""
        return "unsup" if step < self.boundary else "sup"

    def before_step(self, step: int) -> None:
        if self.options["dropout"] == "curriculum":
            set_dropout(self.model, curriculum_rate(self.p, step, self.total_steps, self.gamma))

    def compute_loss(self, step: int) -> torch.Tensor:
        rows = self.global_batch(step)
        world, rank = self.dist.world_size, self.dist.rank
        n = len(rows) // world
        local = self.rows[rows[rank * n : (rank + 1) * n]]
        cols = [0, 0] if self.stage(step) == "unsup" else list(range(local.shape[1]))
        ids = [self.token_ids[i] for c in cols for i in local[:, c]]
        input_ids, mask = self.encoder._pad(ids)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            final, _ = self.embed(input_ids.to(self.device), mask.to(self.device), [])
        final = final.float()
        if self.standout is not None:
            final = self.standout(final)
        return self.loss([D.gather(c) for c in final.split(n)])

    def export(self, out: Path, info: dict[str, Any]) -> None:
        info["simcse_2tier"] = {
            "boundary_step": self.boundary,
            "stages": "steps < boundary_step: unsupervised SimCSE; the rest: supervised SimCSE",
            "dropout": self.options["dropout"],
        }
        export_encoder(self.encoder, out, info)
