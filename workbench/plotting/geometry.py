"""Figures for the geometry notebooks: spectra, isotropy bars, layer profiles, truncation
curves and the layer x dimension heatmap. Every builder takes tidy results (frames from
:mod:`workbench.geometry`) and returns a plotly figure; none shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from . import style

__all__ = [
    "grouped_bars",
    "isotropy_bars",
    "layer_dim_heatmap",
    "layer_profile_figure",
    "spectrum_figure",
    "truncation_figure",
]


_go = style.plotly_go
_need = style.need_columns


def spectrum_figure(
    spectra: Mapping[str, pd.DataFrame | np.ndarray],
    cumulative: bool = False,
    log_y: bool = True,
    title: str = "Explained-variance spectrum",
):
    """One line per label: variance ratio (or cumulative ratio) of each principal component.

    ``spectra`` maps a label to :func:`workbench.geometry.explained_variance`'s frame or to
    an embedding matrix (its spectrum is computed).
    """
    from ..geometry.isotropy import explained_variance

    go = _go()
    fig = go.Figure()
    for i, (label, spec) in enumerate(spectra.items()):
        if not isinstance(spec, pd.DataFrame):
            spec = explained_variance(spec)
        y = spec["cumulative"] if cumulative else spec["ratio"]
        fig.add_trace(
            go.Scatter(
                x=spec["component"],
                y=y,
                mode="lines",
                name=str(label),
                line=dict(color=style.color(i)),
            )
        )
    fig.update_layout(
        template=style.TEMPLATE,
        title=title,
        xaxis_title="principal component",
        yaxis_title="cumulative explained variance" if cumulative else "explained variance ratio",
        xaxis_type="log",
        yaxis_type="log" if (log_y and not cumulative) else "linear",
        legend_title_text="",
    )
    return fig


def grouped_bars(
    df: pd.DataFrame,
    x: str,
    y: str,
    color: str,
    title: str = "",
    y_title: str | None = None,
    text_format: str = ".3g",
):
    """Bars of ``y`` per ``x``, one colour per value of ``color`` (values printed on bars)."""
    _need(df, [x, y, color], "grouped_bars")
    go = _go()
    fig = go.Figure()
    for i, (key, part) in enumerate(df.groupby(color, sort=False)):
        fig.add_trace(
            go.Bar(
                x=part[x].astype(str),
                y=part[y],
                name=str(key),
                marker_color=style.color(i),
                text=[format(v, text_format) for v in part[y]],
                textposition="outside",
            )
        )
    fig.update_layout(
        template=style.TEMPLATE,
        title=title,
        barmode="group",
        yaxis_title=y_title or y,
        xaxis_title="",
        legend_title_text=color,
    )
    return fig


def isotropy_bars(
    df: pd.DataFrame,
    label: str,
    measures: Sequence[str] = ("isoscore", "avg_cosine", "partition_isotropy"),
    title: str = "Isotropy",
):
    """One panel per measure, one bar per row (``label`` names the rows)."""
    from plotly.subplots import make_subplots

    _need(df, [label, *measures], "isotropy_bars")
    go = _go()
    fig = make_subplots(rows=1, cols=len(measures), subplot_titles=list(measures))
    for j, m in enumerate(measures, start=1):
        fig.add_trace(
            go.Bar(
                x=df[label].astype(str),
                y=df[m],
                showlegend=False,
                marker_color=[style.color(i) for i in range(len(df))],
                text=[f"{v:.3g}" for v in df[m]],
                textposition="outside",
            ),
            row=1,
            col=j,
        )
    fig.update_layout(template=style.TEMPLATE, title=title)
    return fig


def layer_profile_figure(
    df: pd.DataFrame,
    measures: Sequence[str] = ("id_twonn", "id_mle", "isoscore", "avg_cosine"),
    color: str | None = None,
    title: str = "Geometry by layer",
):
    """Measures of :func:`workbench.geometry.layer_profile` against the layer (one panel
    each); ``color`` splits rows into lines (e.g. ``encoder``)."""
    from plotly.subplots import make_subplots

    _need(df, ["layer", *measures], "layer_profile_figure")
    go = _go()
    fig = make_subplots(rows=1, cols=len(measures), subplot_titles=list(measures))
    groups = list(df.groupby(color, sort=False)) if color else [("", df)]
    for i, (key, part) in enumerate(groups):
        part = part.sort_values("layer")
        for j, m in enumerate(measures, start=1):
            fig.add_trace(
                go.Scatter(
                    x=part["layer"],
                    y=part[m],
                    mode="lines+markers",
                    name=str(key),
                    legendgroup=str(key),
                    showlegend=bool(color) and j == 1,
                    line=dict(color=style.color(i)),
                ),
                row=1,
                col=j,
            )
            fig.update_xaxes(title_text="layer", row=1, col=j)
    fig.update_layout(template=style.TEMPLATE, title=title)
    return fig


def truncation_figure(
    df: pd.DataFrame,
    y: str = "retained",
    color: str = "task",
    facet: str | None = None,
    dash: str | None = None,
    x: str = "fraction",
    marks: Sequence[float] = (0.25, 0.005),
    title: str = "Score kept when truncating",
):
    """Truncation curves: ``y`` (``retained``, ``score``, ...) against ``x`` (``fraction`` or
    ``dim``, log axis), one line per ``color`` value, optional ``dash`` (e.g. ``selection``)
    and one panel per ``facet`` value (e.g. ``family``). Vertical marks at ``marks``
    (fractions of the full size; only when ``x="fraction"``). Several seeds are averaged."""
    from plotly.subplots import make_subplots

    keys = [k for k in (facet, color, dash) if k]
    _need(df, [x, y, *keys], "truncation_figure")
    go = _go()
    data = df.groupby([*keys, x], sort=False, dropna=False)[y].mean().reset_index()
    panels = list(pd.unique(data[facet])) if facet else [None]
    fig = make_subplots(
        rows=1,
        cols=len(panels),
        subplot_titles=[str(p) for p in panels] if facet else None,
        shared_yaxes=True,
    )
    colors = {v: style.color(i) for i, v in enumerate(pd.unique(data[color]))}
    dashes = ["solid", "dash", "dot", "dashdot", "longdash"]
    dash_of = {v: dashes[i % 5] for i, v in enumerate(pd.unique(data[dash]))} if dash else {}
    seen = set()
    for j, p in enumerate(panels, start=1):
        part = data if p is None else data[data[facet] == p]
        for key, line in part.groupby([k for k in (color, dash) if k], sort=False):
            key = key if isinstance(key, tuple) else (key,)
            c = key[0]
            d = key[1] if dash else None
            name = f"{c}" + (f" ({d})" if dash else "")
            line = line.sort_values(x)
            fig.add_trace(
                go.Scatter(
                    x=line[x],
                    y=line[y],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=name not in seen,
                    line=dict(color=colors[c], dash=dash_of.get(d, "solid")),
                ),
                row=1,
                col=j,
            )
            seen.add(name)
        fig.update_xaxes(
            type="log",
            title_text="fraction of dimensions kept" if x == "fraction" else "dimensions kept",
            row=1,
            col=j,
        )
        if x == "fraction":
            for m in marks:
                fig.add_vline(x=m, line=dict(color="#888888", dash="dot", width=1), row=1, col=j)
    fig.update_yaxes(title_text=y, row=1, col=1)
    fig.update_layout(template=style.TEMPLATE, title=title, legend_title_text="")
    return fig


def layer_dim_heatmap(
    df: pd.DataFrame,
    value: str = "retained",
    task: str = "avg",
    title: str | None = None,
    **_: Any,
):
    """Heatmap of ``value`` over layer (rows) x kept dimensions (columns) for one ``task`` of
    :func:`workbench.geometry.layer_dim_grid` (the 2D Matryoshka view)."""
    _need(df, ["layer", "dim", value, "task"], "layer_dim_heatmap")
    go = _go()
    part = df[df["task"] == task]
    if part.empty:
        raise InvalidInputError(f"no rows for task {task!r}; tasks: {sorted(df['task'].unique())}")
    grid = part.pivot_table(index="layer", columns="dim", values=value, aggfunc="mean")
    grid = grid.sort_index().sort_index(axis=1)
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=[str(c) for c in grid.columns],
            y=grid.index,
            colorscale=style.COLORSCALE,
            colorbar=dict(title=value),
            text=np.round(grid.to_numpy(), 2),
            texttemplate="%{text}",
        )
    )
    fig.update_layout(
        template=style.TEMPLATE,
        title=title or f"{value} by layer and kept dimensions ({task})",
        xaxis_title="dimensions kept (first k)",
        yaxis_title="layer",
    )
    return fig
