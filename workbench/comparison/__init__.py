"""Compare methods and spaces: pair-level STS errors (:func:`pairs`) and the similarity of
two embeddings of the same texts (:func:`compare_spaces`, :func:`layer_cka`).

- :mod:`.pairs`: one row per STS pair with every method's similarity and rank residual,
  disagreement and the change between two methods; :func:`neighbours` of a pair's sentences.
- :mod:`.spaces`: linear CKA (biased and debiased), k-NN overlap, orthogonal Procrustes
  residual, relative-representation similarity, the layer x layer CKA matrix.

Both modules import only numpy and pandas at the top, so importing them here is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported now, not on first use: the submodule ``pairs`` shares its name with the function,
# and a first import of the submodule would bind the package's ``pairs`` to the module.
from .pairs import pairs as pairs
from .spaces import compare_spaces as compare_spaces

_EXPORTS = {
    "pair_frame": "pairs",
    "neighbours": "pairs",
    "rank_residual": "pairs",
    "sort_pairs": "pairs",
    "resolve_methods": "pairs",
    "PairMethod": "pairs",
    "PairSpace": "pairs",
    "layer_cka": "spaces",
    "linear_cka": "spaces",
    "knn_overlap": "spaces",
    "procrustes_residual": "spaces",
    "relative_similarity": "spaces",
    "space_of": "spaces",
}

__all__ = sorted([*_EXPORTS, "pairs", "compare_spaces"])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    if name in ("spaces", "cli"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
