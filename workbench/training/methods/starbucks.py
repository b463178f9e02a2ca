"""Starbucks: every (layer, dimension) pair of a fixed small-to-large list, every step.

Zhuang, Wang, Koopman and Zuccon (2024), "Starbucks: Improved Training for 2D Matryoshka
Embeddings", arXiv:2410.13230. Reference code: github.com/ielab/Starbucks, commit
2a3b24f0e9c27bb8ff94f97f84521d3230fe2e55: ``sts/starbucks_loss.py`` (the loss, computed by
:class:`~workbench.training.losses.starbucks.StarbucksLoss`) and ``sts/train_starbucks.py``
(the set-up).

Defaults, from ``train_starbucks.py``: the pairs ``(2, 32), (4, 64), (6, 128), (8, 256),
(10, 512), (12, 768)`` for a 12-layer 768-d base, scaled to a smaller base by
:func:`~workbench.training.losses.starbucks.scaled_pairs` (layer ``ceil(l * L / 12)``, dim
``round(d * D / 768)``; MiniLM-L6 384-d: (1, 16), (2, 32), (3, 64), (4, 128), (5, 256),
(6, 384)); ``kl_div_weight`` 1, ``kl_temperature`` 0.3, every pair every step
(``n_selections_per_step`` -1). Its low-resource STS setting: STS-B train with CoSENT, batch 16,
4 epochs, sentence-transformers' default lr 5e-5 and warmup ratio 0.1 (its full setting,
AllNLI triplets with MultipleNegativesRankingLoss at batch 128, is what triplet or pair data
gets here: SimCSE's InfoNCE at temperature 0.05 is that loss at scale 20). ``max_len`` 128 is
the workbench's graded default (the reference keeps the model's own 512).

The layers and dims come from the loop's ``uses_layers`` machinery that 2D Matryoshka uses
(the loop pools the hidden states of the plan's layers in the same forward pass); the dev score
is the full model's. A smaller pair of the exported model is
``wb.load_encoder(out, layer=l)`` truncated to its first ``d`` coordinates.

Starbucks-MAE, the paper's masked-autoencoder pre-training stage (``smae/`` in the reference,
an MLM + MAE-decoder pre-training of BERT on large corpora), is out of scope for a CPU recipe:
``--opt mae=true`` refuses with a message saying how to use a pre-trained checkpoint instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...errors import InvalidInputError
from ..data import TrainingData
from ..export import export_encoder
from ..loop import Trainer
from ..losses import CoSENTLoss, SimCSELoss
from ..losses.starbucks import StarbucksLoss, check_pairs, scaled_pairs


def _number(opts: dict[str, Any], key: str, minimum: float | None = 0.0) -> float:
    v = opts[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InvalidInputError(f"starbucks option {key} must be a number, got {v!r}")
    if minimum is not None and v < minimum:
        raise InvalidInputError(f"starbucks option {key} must be >= {minimum}, got {v!r}")
    return float(v)


class StarbucksTrainer(Trainer):
    """The Starbucks loss over its (layer, dim) list; exports the full model."""

    ACCEPTS = ("graded", "triplets", "pairs")
    DEFAULTS = {"lr": 5e-5, "batch_size": 16, "max_len": 128, "data": "stsb-train", "epochs": 4}
    OPTIONS = {
        "pairs": None,
        "n_selections_per_step": -1,
        "last_layer_weight": 1.0,
        "kl_weight": 1.0,
        "kl_temperature": 0.3,
        "mae": False,
    }

    def load_data(self, data: TrainingData | None) -> TrainingData:
        if self.options["mae"] not in (False, None, 0, "false", "False"):
            raise InvalidInputError(
                "starbucks: the masked-autoencoder pre-training stage (Starbucks-MAE) is not "
                "part of the workbench; pre-train with ielab/Starbucks smae/pretrain_bert.py (or "
                "take its released checkpoint) and pass that folder as --base"
            )
        return super().load_data(data)

    def make_loss(self) -> torch.nn.Module:
        opts, enc = self.options, self.encoder
        if enc.num_layers < 1:
            raise InvalidInputError(
                f"starbucks needs a layered encoder; {self.config.base} has none"
            )
        if opts["pairs"] is None:
            self.pairs = scaled_pairs(enc.num_layers, enc.dim)
        else:
            self.pairs = check_pairs(opts["pairs"], enc.num_layers, enc.dim)
        k = opts["n_selections_per_step"]
        if isinstance(k, bool) or not isinstance(k, int) or k == 0 or k < -1:
            raise InvalidInputError(
                f"starbucks option n_selections_per_step must be -1 (every pair) or a positive "
                f"integer, got {k!r}"
            )
        if self.data.kind == "graded":
            inner = CoSENTLoss(self.config.scale)
        else:
            inner = SimCSELoss(self.config.temperature)
        return StarbucksLoss(
            inner,
            self.pairs,
            n_selections_per_step=k,
            last_layer_weight=_number(opts, "last_layer_weight"),
            kl_weight=_number(opts, "kl_weight"),
            kl_temperature=_number(opts, "kl_temperature"),
            normalize=bool(getattr(enc, "normalize", False)),
            seed=self.config.seed,
        )

    def export(self, out: Path, info: dict[str, Any]) -> None:
        info["starbucks"] = {
            "pairs": [list(p) for p in self.pairs],
            "inner": type(self.loss.matryoshka.inner).__name__,
            "use": "wb.load_encoder(out, layer=l), first d coordinates, for a pair (l, d)",
        }
        export_encoder(self.encoder, out, info)
