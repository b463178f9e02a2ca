"""The embedding space in two dimensions, similarity histograms, and scores by dimension.

``project`` maps embeddings to 2-D (PCA by default: instant and deterministic; UMAP and
t-SNE on request: UMAP's first import compiles numba code for ~20 s). The figure builders
return plotly figures; pass them to :func:`workbench.plotting.save_figure` for paper files.

>>> xy = project(emb, "pca")                                             # doctest: +SKIP
>>> projection_scatter(xy, texts=sentences, color=gold, color_name="gold score")  # doctest: +SKIP
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from . import style

PROJECTIONS = ("pca", "umap", "tsne")


def project(
    embeddings: np.ndarray, method: str = "pca", seed: int = 0, **kwargs: Any
) -> np.ndarray:
    """``(n, dim)`` embeddings -> ``(n, 2)`` coordinates by ``pca``, ``umap`` or ``tsne``.

    Rows are L2-normalised first (so the map reflects cosine geometry, what STS scores).
    ``kwargs`` go to the reducer (``n_neighbors`` for UMAP, ``perplexity`` for t-SNE); the
    neighbourhood sizes are capped for small ``n`` so a quick run never fails.
    """
    x = np.asarray(embeddings, dtype=np.float32)
    method = method.lower().replace("-", "")
    if method not in PROJECTIONS:
        raise InvalidInputError(f"unknown projection {method!r}; choose pca, umap or tsne")
    if x.ndim != 2 or x.shape[0] < 3:
        raise InvalidInputError(
            f"need at least 3 embeddings (a 2-D array) to project; got shape {x.shape}"
        )
    if not np.isfinite(x).all():
        raise InvalidInputError("embeddings contain NaN/inf; cannot project them")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = x.shape[0]
    if x.shape[1] == 1:
        return np.hstack([x, np.zeros_like(x)])
    if method == "pca":
        from sklearn.decomposition import PCA

        out = PCA(n_components=2, random_state=seed).fit_transform(x)
        # fix PCA's sign ambiguity so the same data always gives the same picture
        signs = np.sign(out[np.abs(out).argmax(axis=0), np.arange(2)])
        return out * np.where(signs == 0, 1, signs)
    if method == "tsne":
        from sklearn.manifold import TSNE

        kwargs.setdefault("perplexity", float(min(30.0, max(2.0, (n - 1) / 3))))
        kwargs.setdefault("init", "pca")
        return TSNE(n_components=2, random_state=seed, **kwargs).fit_transform(x)
    try:
        import umap
    except ImportError as e:  # pragma: no cover - depends on the install
        raise InvalidInputError(
            "UMAP needs the umap-learn package: pip install 'workbench[geometry]'"
        ) from e
    kwargs.setdefault("n_neighbors", int(min(15, n - 1)))
    kwargs.setdefault("metric", "cosine")
    reducer = umap.UMAP(n_components=2, random_state=seed, init="random", **kwargs)
    return np.asarray(reducer.fit_transform(x))


def _wrap(text: str, width: int = 60) -> str:
    return "<br>".join(textwrap.wrap(str(text), width)) or " "


def projection_scatter(
    coords: np.ndarray,
    texts: Sequence[str] | None = None,
    color: Sequence[Any] | None = None,
    color_name: str = "",
    title: str | None = None,
    method: str = "pca",
    height: int = 460,
    marker_size: int = 6,
):
    """Scatter of 2-D ``coords``; hover shows each sentence (``texts``).

    ``color`` is one value per point: numbers (e.g. gold scores) give a colour scale,
    anything else (dataset, label) one legend entry per category.
    """
    go = style.plotly_go()

    xy = np.asarray(coords, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise InvalidInputError(f"coords must have shape (n, 2), got {xy.shape}")
    n = xy.shape[0]
    hover = [_wrap(t) for t in texts] if texts is not None else [str(i) for i in range(n)]
    if len(hover) != n or (color is not None and len(color) != n):
        raise InvalidInputError("coords, texts and color must have the same length")
    fig = go.Figure()
    numeric = color is not None and pd.api.types.is_numeric_dtype(pd.Series(list(color)))
    if color is None:
        fig.add_trace(
            go.Scatter(
                x=xy[:, 0],
                y=xy[:, 1],
                mode="markers",
                marker=dict(size=marker_size, opacity=0.75, color=style.color(0)),
                hovertext=hover,
                hoverinfo="text",
                showlegend=False,
            )
        )
    elif numeric:
        c = np.asarray(list(color), dtype=float)
        fig.add_trace(
            go.Scatter(
                x=xy[:, 0],
                y=xy[:, 1],
                mode="markers",
                marker=dict(
                    size=marker_size,
                    opacity=0.8,
                    color=c,
                    colorscale=style.COLORSCALE,
                    showscale=True,
                    colorbar=dict(title=dict(text=color_name), thickness=12),
                ),
                customdata=c,
                hovertext=hover,
                hovertemplate="%{hovertext}<br>" + (color_name or "value") + "=%{customdata:.2f}"
                "<extra></extra>",
                showlegend=False,
            )
        )
    else:
        labels = pd.Series([str(v) for v in color])
        kind = "task" if color_name in ("dataset", "task") else color_name
        for i, cat in enumerate(pd.unique(labels)):
            m = (labels == cat).to_numpy()
            c = style.color_for(kind, cat) if kind in ("task", "method") else style.color(i)
            name = style.task_label(cat) if kind == "task" else cat
            fig.add_trace(
                go.Scatter(
                    x=xy[m, 0],
                    y=xy[m, 1],
                    mode="markers",
                    name=name,
                    marker=dict(size=marker_size, opacity=0.75, color=c),
                    hovertext=[h for h, k in zip(hover, m) if k],
                    hovertemplate="%{hovertext}<extra>" + name + "</extra>",
                )
            )
    label = {"pca": "PC", "umap": "UMAP ", "tsne": "t-SNE "}.get(method.lower(), "")
    fig.update_layout(
        height=height,
        xaxis=dict(title=f"{label}1", zeroline=False),
        yaxis=dict(title=f"{label}2", zeroline=False, scaleanchor=None),
        legend_title_text=color_name if color is not None and not numeric else None,
    )
    return style.finish(
        fig,
        f"space_{method.lower()}",
        title if title is not None else f"Embedding space ({method.upper()}, n={n})",
    )


def similarity_histogram(
    sims: pd.DataFrame,
    bins: int = 40,
    title: str | None = None,
    height: int = 320,
):
    """Overlaid histograms of cosine similarity for positive vs random pairs.

    ``sims`` is tidy: columns ``method``, ``pairs`` (e.g. ``"positive"``, ``"random"``) and
    ``similarity``; one panel per method, both kinds of pairs on the same bins.
    """
    from plotly.subplots import make_subplots

    go = style.plotly_go()
    need = {"method", "pairs", "similarity"}
    if not need <= set(sims.columns):
        raise InvalidInputError(f"sims needs columns {sorted(need)}")
    if sims.empty:
        raise InvalidInputError("no similarities to plot")
    methods = list(pd.unique(sims["method"]))
    kinds = list(pd.unique(sims["pairs"]))
    fig = make_subplots(
        rows=1,
        cols=len(methods),
        subplot_titles=[_wrap(m, 40) for m in methods],
        shared_yaxes=True,
        horizontal_spacing=0.04,
    )
    for j, m in enumerate(methods):
        # bins per panel: methods live on very different cosine ranges (GloVe near 1)
        vals = sims.loc[sims["method"] == m, "similarity"]
        lo = float(np.floor(vals.min() * 50) / 50)
        hi = float(np.ceil(vals.max() * 50) / 50)
        size = max((hi - lo) / bins, 1e-3)
        for i, k in enumerate(kinds):
            v = sims.loc[(sims["method"] == m) & (sims["pairs"] == k), "similarity"]
            fig.add_trace(
                go.Histogram(
                    x=v.to_numpy(),
                    name=str(k),
                    legendgroup=str(k),
                    showlegend=j == 0,
                    marker_color=style.color(i),
                    opacity=0.6,
                    xbins=dict(start=lo, end=hi, size=size),
                    histnorm="probability density",
                ),
                row=1,
                col=j + 1,
            )
        fig.update_xaxes(title_text=style.axis_label("similarity"), row=1, col=j + 1)
    fig.update_yaxes(title_text=style.axis_label("density"), row=1, col=1)
    # one y scale for every panel (shared), and its ticks on every panel: a reader can read
    # each panel on its own
    fig.update_yaxes(showticklabels=True)
    fig.update_layout(barmode="overlay", height=height)
    return style.finish(
        fig,
        "similarity_hist",
        title if title is not None else "Similarity of positive vs random pairs",
    )


def score_by_dimension(
    curve: pd.DataFrame,
    dim: int | None = None,
    metric: str = "spearman",
    title: str | None = None,
    height: int = 340,
):
    """Score against the number of dimensions kept, one line per method, a marker at ``dim``.

    ``curve`` has columns ``method``, ``dim`` and ``metric`` (as from
    :func:`workbench.widgets.core.dimension_curve`). The x axis is logarithmic.
    """
    go = style.plotly_go()
    if curve.empty:
        raise InvalidInputError("no points in the curve")
    ticks = _ticks(curve)
    fig = go.Figure()
    for m, g in curve.groupby("method", sort=False):
        g = g.sort_values("dim")
        fig.add_trace(
            go.Scatter(
                x=g["dim"],
                y=g[metric],
                mode="lines+markers",
                name=str(m),
                line=dict(color=style.method_color(m)),
                marker=dict(size=6),
            )
        )
    fig.update_layout(
        height=height,
        xaxis=dict(
            title=style.axis_label("dim"),
            type="log",
            tickvals=ticks,
            ticktext=[str(t) for t in ticks],
        ),
        yaxis=dict(title=style.axis_label(metric)),
    )
    if dim is not None:
        add_dimension_marker(fig, dim)
    return style.finish(
        fig,
        "score_by_dimension",
        title if title is not None else "Truncation: first k dimensions kept",
    )


def _ticks(curve: pd.DataFrame) -> list[int]:
    # the grid of the widest method: grids of several sizes interleave (24, 25, 48, 50, ...)
    widest = curve.loc[curve["dim"].idxmax(), "method"]
    return sorted(int(d) for d in curve.loc[curve["method"] == widest, "dim"].unique())


def add_dimension_marker(fig, dim: int, label: str | None = None):
    """Draw (or move) a vertical marker at ``dim`` on a score-by-dimension figure."""
    fig.layout.shapes = [s for s in fig.layout.shapes if s.name != "dimension-marker"]
    fig.layout.annotations = [a for a in fig.layout.annotations if a.name != "dimension-marker"]
    fig.add_shape(
        type="line",
        x0=dim,
        x1=dim,
        y0=0,
        y1=1,
        xref="x",
        yref="y domain",
        line=dict(color="#444444", dash="dash", width=1.5),
        name="dimension-marker",
    )
    fig.add_annotation(
        x=np.log10(dim) if fig.layout.xaxis.type == "log" else dim,
        y=1,
        xref="x",
        yref="y domain",
        text=label or f"k={dim}",
        showarrow=False,
        yanchor="top",
        xanchor="left",
        xshift=4,
        name="dimension-marker",
    )
    return fig
