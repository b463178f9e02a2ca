"""workbench: a Jupyter-first workbench for studying sentence embeddings.

>>> import workbench as wb
>>> enc = wb.load_encoder("all-MiniLM-L6-v2")                 # doctest: +SKIP
>>> res = wb.evaluate_sts(enc, tasks=["STSBenchmark"])        # doctest: +SKIP
>>> wb.sts_summary(res)                                        # doctest: +SKIP

Submodules are imported on first use, so ``import workbench`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_encoder": "workbench.encoders",
    "list_encoders": "workbench.encoders",
    "Encoder": "workbench.encoders",
    "POOLINGS": "workbench.encoders",
    "PROMPTS": "workbench.encoders",
    "encode": "workbench.embed",
    "evaluate_sts": "workbench.evaluation",
    "evaluate_many": "workbench.evaluation",
    "compare": "workbench.evaluation",
    "predict": "workbench.evaluation",
    "load_pairs": "workbench.evaluation",
    "sts_summary": ("workbench.evaluation", "summary"),
    "reconcile": "workbench.evaluation",
    "get_protocol": "workbench.evaluation",
    "list_protocols": "workbench.evaluation",
    "PROTOCOLS": "workbench.evaluation",
    "library_versions": "workbench.evaluation",
    "load_sts": "workbench.datasets",
    "load_classification": "workbench.datasets",
    "STS_TASKS": "workbench.datasets",
    "WorkbenchError": "workbench.errors",
    "pairs": "workbench.comparison",
    "compare_spaces": "workbench.comparison",
}
_SUBMODULES = {
    "datasets",
    "encoders",
    "evaluation",
    "embed",
    "cache",
    "config",
    "errors",
    "geometry",
    "training",
    "plotting",
    "widgets",
    "comparison",
    "compression",
    "corpus",
}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"workbench.{name}")
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
