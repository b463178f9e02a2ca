"""Figure builders: they take results (tidy frames, arrays) and return figures, never show them.

Live figures are plotly; :func:`save_figure` writes any of them as PDF/SVG/PNG through
plotly's own exporter (kaleido), in paper mode by default (:mod:`.style`: one colour per
method and task, one vocabulary of names and labels, one- and two-column sizes).

- :mod:`.sts`: ``sts_bar`` (CIs, significance marks), ``sts_table``
- :mod:`.space`: ``project`` (PCA/UMAP/t-SNE), ``projection_scatter``,
  ``similarity_histogram``, ``score_by_dimension``
- :mod:`.export`: ``save_figure``, ``full_figure``
- :mod:`.geometry`, :mod:`.training`: the geometry and training figures
- :mod:`.compare`: ``layer_cka_heatmap``, ``pair_residuals`` (comparing spaces and pairs)
- :mod:`.compression`: ``compression_figure`` (score against bytes per vector)

Names are imported on first use, so ``import workbench.plotting`` does not import plotly.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "sts_bar": "sts",
    "sts_table": "sts",
    "stars": "sts",
    "project": "space",
    "projection_scatter": "space",
    "similarity_histogram": "space",
    "score_by_dimension": "space",
    "add_dimension_marker": "space",
    "PROJECTIONS": "space",
    "save_figure": "export",
    "full_figure": "export",
    "PALETTE": "style",
    "plotly_template": "style",
    "paper_layout": "style",
    "set_meta": "style",
    "set_colors": "style",
    "task_label": "style",
    "axis_label": "style",
    "compression_figure": "compression",
}
_SUBMODULES = ("sts", "space", "export", "style", "geometry", "training", "compression", "compare")

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    # builders of the geometry, training and compare modules are reachable here too
    for sub in ("geometry", "training", "compare"):
        try:
            module = importlib.import_module(f"{__name__}.{sub}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{sub}":
                raise
            continue
        if not name.startswith("_") and hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
