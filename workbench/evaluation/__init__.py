"""Evaluation: STS under named protocols (correlations, SentEval aggregations, CIs, paired
tests, reconciliation across protocols)."""

from .protocols import (
    DEFAULT_PROTOCOL,
    PROTOCOLS,
    Protocol,
    get_protocol,
    library_versions,
    list_protocols,
)
from .reconcile import Reconciliation, reconcile
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
from .sts import (
    compare,
    evaluate_many,
    evaluate_sts,
    load_pairs,
    predict,
    resolve_protocol,
    score,
    summary,
)

__all__ = [
    "AGGREGATIONS",
    "DEFAULT_PROTOCOL",
    "PROTOCOLS",
    "Protocol",
    "Reconciliation",
    "SIMILARITIES",
    "aggregate",
    "compare",
    "correlation",
    "evaluate_many",
    "evaluate_sts",
    "get_protocol",
    "library_versions",
    "list_protocols",
    "load_pairs",
    "pair_scores",
    "paired_bootstrap",
    "predict",
    "reconcile",
    "resolve_protocol",
    "score",
    "score_task",
    "summary",
    "williams_test",
]
