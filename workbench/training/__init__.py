"""Training small variants of sentence encoders.

>>> from workbench.training import train
>>> res = train("cosent", base="all-MiniLM-L6-v2", data="stsb-train",
...             out="runs/minilm-cosent", epochs=4)                   # doctest: +SKIP
>>> wb.evaluate_sts(res.out, tasks="STSBenchmark")                    # doctest: +SKIP

- :func:`train` / :class:`TrainConfig`: the loop (one or many processes, CPU or GPU,
  checkpoints, resume, best-on-dev); see :mod:`.loop`.
- :data:`RECIPES`: simcse-unsup, simcse-sup, cosent, angle, angle-2023, pcc, matryoshka,
  matryoshka2d; see :mod:`.recipes`. Losses, one per module with its paper: :mod:`.losses`.
- :func:`load_training_data` and :data:`DATASETS`: what ``--data`` accepts; see :mod:`.data`.
- :func:`truncation_curve`, :func:`layer_dim_grid`: evaluate nested dims and layers.
- The output folder is a sentence-transformers folder plus ``workbench_training.json``
  (:func:`read_training_info`).
"""

from __future__ import annotations

from .analysis import layer_dim_grid, sts_scores, truncation_curve
from .data import DATASETS, TrainingData, load_training_data
from .export import export_encoder, read_training_info
from .loop import StopTraining, TrainConfig, Trainer, TrainResult, train
from .recipes import RECIPES, build_loss, resolve_recipe

__all__ = [
    "DATASETS",
    "RECIPES",
    "StopTraining",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingData",
    "build_loss",
    "export_encoder",
    "layer_dim_grid",
    "load_training_data",
    "read_training_info",
    "resolve_recipe",
    "sts_scores",
    "train",
    "truncation_curve",
]
