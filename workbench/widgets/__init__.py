"""Interactive apps for JupyterLab and Voila, built on :mod:`workbench.plotting` and
:mod:`workbench.evaluation`.

- :func:`compare` (:class:`~.dashboard.CompareDashboard`): STS table with CIs and significance
  against a baseline, a bar chart and the embedding space, for methods you pick.
- :func:`explore` (:class:`~.explorer.EmbeddingExplorer`): nearest neighbours, positive vs
  random similarity, and a dimension slider on the truncation curve.
- :func:`browse_pairs` (:class:`~.pairs.PairBrowser`): STS pairs sorted by a method's rank
  residual or by disagreement; a selected pair shows its sentences, gold, every method's
  prediction and the sentences' nearest neighbours (also a section of the dashboard).
- :func:`corpus_view` (:class:`~.scatter.PointsView`): every sentence of the data folder
  (~200k points) in a WebGL scatter (jupyter-scatter); a lasso or box selection lists the
  sentences and their STS pairs. The embedding-space views switch to it above
  :data:`~.scatter.WEBGL_THRESHOLD` points (:func:`~.scatter.space_view`).
- :mod:`.core`: the logic without widgets (``Method``, ``Workspace``, ``significance``, ...).

Names are imported on first use: ``workbench.widgets.core`` works without ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "compare": "dashboard",
    "CompareDashboard": "dashboard",
    "explore": "explorer",
    "EmbeddingExplorer": "explorer",
    "browse_pairs": "pairs",
    "PairBrowser": "pairs",
    "corpus_view": "scatter",
    "PointsView": "scatter",
    "space_view": "scatter",
    "Method": "core",
    "Workspace": "core",
    "significance": "core",
    "nearest_neighbours": "core",
    "pair_similarities": "core",
    "dimension_curve": "core",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in ("core", "dashboard", "explorer", "pairs", "scatter"):
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
