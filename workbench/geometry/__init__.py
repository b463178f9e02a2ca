"""Geometry of embedding spaces: isotropy, intrinsic dimension, whitening, truncation.

>>> import workbench.geometry as geo
>>> X = enc.encode(geo.load_texts("stsb-test"))                     # doctest: +SKIP
>>> geo.measure(X)                      # isoscore, avg_cosine, ..., id_twonn  # doctest: +SKIP
>>> Z = geo.Whitening("zca").fit(reference).transform(X)             # doctest: +SKIP
>>> geo.truncation_curve("all-MiniLM-L6-v2", "sts")                  # doctest: +SKIP

Modules: :mod:`.isotropy`, :mod:`.intrinsic`, :mod:`.whitening`, :mod:`.truncation`,
:mod:`.transforms` (``whiten:zca``-style specs), :mod:`.corpora` (named text sets),
:mod:`.layers` (all layers in one pass), :mod:`.suite` (the measure suite in one call),
:mod:`.redundancy` (truncation curves, layer x dimension grids). Submodules load on first
use, so ``import workbench.geometry`` is cheap (the command line imports it for every call).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # isotropy
    "isoscore": "isotropy",
    "isoscore_reference": "isotropy",
    "avg_cosine": "isotropy",
    "partition_isotropy": "isotropy",
    "effective_rank": "isotropy",
    "explained_variance": "isotropy",
    "covariance_eigenvalues": "isotropy",
    "alignment": "isotropy",
    "uniformity": "isotropy",
    "isotropy_report": "isotropy",
    # intrinsic dimension
    "intrinsic_dimension": "intrinsic",
    "estimate_id": "intrinsic",
    "knn": "intrinsic",
    "dedupe_rows": "intrinsic",
    "ID_METHODS": "intrinsic",
    # transforms
    "Whitening": "whitening",
    "whiten": "whitening",
    "WHITENING_METHODS": "whitening",
    "Truncation": "truncation",
    "truncate": "truncation",
    "dimension_grid": "truncation",
    "SELECTIONS": "truncation",
    "from_specs": "transforms",
    "parse_spec": "transforms",
    "build_pipeline": "transforms",
    "evaluate_transforms": "transforms",
    # data
    "load_texts": "corpora",
    "positive_pairs": "corpora",
    "CORPORA": "corpora",
    "DEFAULT_FIT_CORPUS": "corpora",
    # encoders x layers, suites, curves
    "encode_layers": "layers",
    "layer_encoders": "layers",
    "measure": "suite",
    "measure_encoder": "suite",
    "layer_profile": "suite",
    "truncation_curve": "redundancy",
    "layer_dim_grid": "redundancy",
    "summarize_curve": "redundancy",
}
_SUBMODULES = {
    "isotropy",
    "intrinsic",
    "whitening",
    "truncation",
    "transforms",
    "corpora",
    "layers",
    "suite",
    "redundancy",
    "cli",
}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
