"""Training small variants of sentence encoders.

>>> from workbench.training import train
>>> res = train("cosent", base="all-MiniLM-L6-v2", data="stsb-train",
...             out="runs/minilm-cosent", epochs=4)                   # doctest: +SKIP
>>> wb.evaluate_sts(res.out, tasks="STSBenchmark")                    # doctest: +SKIP

- :func:`train` / :class:`TrainConfig`: the loop (one or many processes, CPU or GPU,
  checkpoints, resume, best-on-dev); see :mod:`.loop`.
- :data:`RECIPES`: simcse-unsup, simcse-sup, cosent, angle, angle-2023, pcc, matryoshka,
  matryoshka2d; see :mod:`.recipes`. Losses, one per module with its paper: :mod:`.losses`.
  The seed papers' methods (:data:`METHODS`: jtcse, simcse-2tier, codiemb, conan,
  starbucks, cross-encoder, dse, defsent, merge), one module each: :mod:`.methods`.
- :func:`study`: every recipe from one base on one budget, one table; see :mod:`.study`.
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
from .recipes import METHODS, RECIPES, build_loss, resolve_recipe
from .study import StudyResult, describe_recipes, study

__all__ = [
    "DATASETS",
    "METHODS",
    "RECIPES",
    "StopTraining",
    "StudyResult",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingData",
    "build_loss",
    "describe_recipes",
    "export_encoder",
    "layer_dim_grid",
    "load_training_data",
    "read_training_info",
    "resolve_recipe",
    "sts_scores",
    "study",
    "train",
    "truncation_curve",
]
