"""Evaluation data in SentEval's ``downstream`` layout: readers, ``available`` and ``download``.

The data folder is resolved by :func:`workbench.config.data_dir` (an explicit ``data_dir``,
else ``$WORKBENCH_DATA_DIR``, else ``~/.cache/workbench/data/senteval``).
"""

from __future__ import annotations

from .download import DOWNLOAD_UNITS, SOURCES, available, download, ptb_tokenize, tokenize
from .sts import STS_SPLITS, STS_SUBSETS, STS_TASKS, load_sts, load_sts_tasks, resolve_sts_task
from .transfer import (
    CLASSIFICATION_SPLITS,
    CLASSIFICATION_TASKS,
    PAIR_SPLITS,
    PAIR_TASKS,
    SNLI_LABELS,
    TREC_CLASSES,
    load_classification,
    load_pairs,
    resolve_classification_task,
    resolve_pair_task,
)

__all__ = [
    "STS_TASKS",
    "STS_SUBSETS",
    "STS_SPLITS",
    "CLASSIFICATION_TASKS",
    "CLASSIFICATION_SPLITS",
    "PAIR_TASKS",
    "PAIR_SPLITS",
    "TREC_CLASSES",
    "SNLI_LABELS",
    "DOWNLOAD_UNITS",
    "SOURCES",
    "load_sts",
    "load_sts_tasks",
    "resolve_sts_task",
    "load_classification",
    "load_pairs",
    "resolve_classification_task",
    "resolve_pair_task",
    "available",
    "download",
    "tokenize",
    "ptb_tokenize",
]
