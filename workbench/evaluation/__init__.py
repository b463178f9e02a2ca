"""Evaluation: STS (correlations, SentEval aggregations, CIs, paired tests)."""

from .stats import (
    AGGREGATIONS,
    SIMILARITIES,
    aggregate,
    correlation,
    pair_scores,
    paired_bootstrap,
    score_task,
    williams_test,
)
from .sts import compare, evaluate_many, evaluate_sts, load_pairs, predict, score, summary

__all__ = [
    "AGGREGATIONS",
    "SIMILARITIES",
    "aggregate",
    "compare",
    "correlation",
    "evaluate_many",
    "evaluate_sts",
    "load_pairs",
    "pair_scores",
    "paired_bootstrap",
    "predict",
    "score",
    "score_task",
    "summary",
    "williams_test",
]
