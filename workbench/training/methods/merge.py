"""Self Positioning: merge trained variants by learning the weights of their task vectors.

Paper: Mingxin Li, Zhijie Nie, Yanzhao Zhang, Dingkun Long, Richong Zhang, Pengjun Xie,
"Improving General Text Embedding Model: Tackling Task Conflict and Data Imbalance through
Model Merging", 2024 (arXiv:2410.15035). No code was published with the paper (none found in
the public code index searched for this module), so the procedure follows the paper's
description: with variants ``theta_i`` trained from the same base ``theta_0``, task vectors
``tau_i = theta_i - theta_0``; the merged model is ``theta_0 + sum_i alpha_i tau_i`` and only
the interpolation weights ``alpha`` are trained, by gradient descent on the embedding loss of
a probe (dev) set; the merged encoder is exported.

Here the loss is the workbench's loss for the probe data's kind: CoSENT (scale
``--scale``, default 20) on graded pairs (the default probe, STS-B dev), InfoNCE with
in-batch negatives (temperature ``--temperature``, default 0.05, as the paper's contrastive
training) on pairs or triplets. Options: ``variants`` (folders, or a comma-separated string),
``init`` (the starting weight of every variant; default ``1/K``, the average of the
variants), ``reg`` (an L2 penalty ``reg * sum alpha_i^2``, default 0: a choice of this
module, not a value from the paper). Dropout is off (the weights, not the encoder, are
fitted) and the learning rate is 1e-2: Adam moves each weight by about ``lr`` a step, so one
pass over STS-B dev (46 steps of 32) can move a weight by up to about 0.5.
Checkpoints and resumption hold ``alpha``; the task vectors are rebuilt from the folders.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import InvalidInputError, WorkbenchError
from ..data import TrainingData
from ..export import TRAINING_FILE
from ..loop import Trainer
from ..losses import CoSENTLoss, SimCSELoss

log = logging.getLogger(__name__)


def _variant_list(value: Any) -> list[Path]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise InvalidInputError(
            "merge needs variants: --opt variants=FOLDER1,FOLDER2 (encoders trained from the "
            "same base; options={'variants': [...]} in Python)"
        )
    out = []
    for v in value:
        p = Path(str(v)).expanduser()
        if not (p / "config.json").is_file():
            raise InvalidInputError(f"variant {v!r} is not a model folder (no config.json)")
        out.append(p)
    return out


def merged_parameters(
    base: dict[str, torch.Tensor], task_vectors: list[dict[str, torch.Tensor]], alpha: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``theta_0 + sum_i alpha_i tau_i`` for every parameter (differentiable in ``alpha``)."""
    return {
        name: theta + sum(alpha[i] * tv[name] for i, tv in enumerate(task_vectors))
        for name, theta in base.items()
    }


class MergeWeights(torch.nn.Module):
    """The interpolation weights, one per variant."""

    def __init__(self, k: int, init: float) -> None:
        super().__init__()
        self.alpha = torch.nn.Parameter(torch.full((k,), float(init)))


class MergeTrainer(Trainer):
    """``merge``: learn the weights of the variants' task vectors on a probe set."""

    ACCEPTS = ("graded", "pairs", "triplets")
    DEFAULTS = {
        "lr": 1e-2,
        "batch_size": 32,
        "max_len": 128,
        "data": "stsb-dev",
        "epochs": 1,
        "dropout": 0.0,
    }
    OPTIONS = {"variants": None, "init": None, "reg": 0.0}

    def load_data(self, data: TrainingData | None) -> TrainingData:
        opts = self.options
        self.variant_paths = _variant_list(opts["variants"])
        for key in ("init", "reg"):
            v = opts[key]
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise InvalidInputError(f"{key} must be a number, got {v!r}")
        if opts["reg"] is None or opts["reg"] < 0:
            raise InvalidInputError(f"reg must be >= 0, got {opts['reg']!r}")
        return super().load_data(data)

    def setup(self) -> None:
        model = self.model
        self.base_params = {n: p.detach().clone() for n, p in model.named_parameters()}
        self.task_vectors: list[dict[str, torch.Tensor]] = []
        for path in self.variant_paths:
            self._check_variant(path)
            try:
                other = type(model).from_pretrained(path)
            except Exception as e:  # noqa: BLE001 - any load failure is the user's folder
                raise WorkbenchError(
                    f"variant {path} cannot be loaded as {type(model).__name__}: "
                    f"{type(e).__name__}: {e}"
                ) from None
            theirs = dict(other.named_parameters())
            bad = [
                n
                for n, p in self.base_params.items()
                if n not in theirs or theirs[n].shape != p.shape
            ]
            if bad or len(theirs) != len(self.base_params):
                raise InvalidInputError(
                    f"variant {path} does not have the base's parameters (first difference: "
                    f"{(bad or sorted(set(theirs) - set(self.base_params)))[0]}); merge needs "
                    "variants trained from the same base"
                )
            self.task_vectors.append(
                {n: (theirs[n].detach().to(p) - p) for n, p in self.base_params.items()}
            )
            del other
        for p in model.parameters():
            p.requires_grad_(False)
        k = len(self.task_vectors)
        init = self.options["init"]
        self.weights = MergeWeights(k, 1.0 / k if init is None else init).to(self.device)

    def _check_variant(self, path: Path) -> None:
        """Warn when a variant's recorded base or pooling is not the merge's."""
        try:
            info = json.loads((path / TRAINING_FILE).read_text())
        except (OSError, ValueError):
            return
        pooling = (info.get("evaluate_with") or {}).get("pooling")
        if pooling and pooling != self.encoder.pooling:
            log.warning(
                "variant %s was trained with %s pooling; the merged encoder uses %s",
                path,
                pooling,
                self.encoder.pooling,
            )
        base = info.get("base")
        if base and base != self.config.base:
            log.warning(
                "variant %s records base %s, the merge's base is %s", path, base, self.config.base
            )

    def make_loss(self) -> torch.nn.Module:
        if self.data.kind == "graded":
            return CoSENTLoss(self.config.scale)
        return SimCSELoss(self.config.temperature)

    def trainable_module(self) -> torch.nn.Module:
        return torch.nn.ModuleDict({"model": self.model, "merge": self.weights})

    def merged(self) -> dict[str, torch.Tensor]:
        return merged_parameters(self.base_params, self.task_vectors, self.weights.alpha)

    def embed(self, input_ids: torch.Tensor, mask: torch.Tensor, layers: list[int]):
        from torch.func import functional_call

        from ...encoders.pooling import TOKEN_POOLERS

        pool = TOKEN_POOLERS[self.encoder.pooling]
        out = functional_call(
            self.model,
            self.merged(),
            args=(),
            kwargs={
                "input_ids": input_ids,
                "attention_mask": mask,
                "output_hidden_states": bool(layers),
            },
            strict=False,
        )
        final = pool(out.last_hidden_state, mask)
        prior = {layer: pool(out.hidden_states[layer], mask) for layer in layers}
        return final, prior

    def compute_loss(self, step: int) -> torch.Tensor:
        loss = super().compute_loss(step)
        reg = float(self.options["reg"])
        if reg:
            loss = loss + reg * (self.weights.alpha**2).sum()
        return loss

    @torch.no_grad()
    def materialize(self) -> None:
        """Write the merged weights into the encoder's model (evaluation, export)."""
        params = dict(self.model.named_parameters())
        for name, value in self.merged().items():
            params[name].copy_(value)

    def evaluate(self) -> dict[str, float]:
        self.materialize()
        return super().evaluate()

    def export(self, out: Path, info: dict[str, Any]) -> None:
        self.materialize()
        alpha = self.weights.alpha.detach().cpu().numpy().astype(np.float64)
        # in place: the TrainResult shares this dict
        info["merge"] = {
            "variants": [str(p) for p in self.variant_paths],
            "weights": [round(float(a), 6) for a in alpha],
        }
        super().export(out, info)
