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

#: explained-variance ratios below this are rounding noise, not variance: the eigenvalues
#: of a rank-deficient covariance (fewer sentences than dimensions) computed in float64 come
#: out near 1e-16 of the largest; the smallest real ratio of a sentence-embedding spectrum
#: is many decades above 1e-12.
SPECTRUM_FLOOR = 1e-12


def _name(kind: str | None, value: Any) -> str:
    if kind == "task":
        return style.task_label(value)
    if kind == "family":
        return style.family_label(value)
    return str(value)


def _error_bars(df: pd.DataFrame, y: str) -> dict | None:
    lo, hi = f"{y}_lo", f"{y}_hi"
    if lo not in df.columns or hi not in df.columns:
        return None
    plus, minus = df[hi] - df[y], df[y] - df[lo]
    if not np.isfinite(plus.to_numpy(dtype=float)).any():
        return None
    return dict(type="data", array=plus, arrayminus=minus, symmetric=False, thickness=1)


def _log_ticks(values: pd.Series) -> dict:
    """Ticks at the values measured (when few), written plainly (0.005, 0.25, 384): a log
    axis's default 2-5-10 minor labels read as clutter on a grid of a few points."""
    ticks = sorted({float(v) for v in values if np.isfinite(v) and v > 0})
    if len(ticks) < 2:
        return dict(dtick=1)
    if len(ticks) > 4:  # at most four, evenly spread in log, the ends always kept
        keep = np.unique(np.round(np.linspace(0, len(ticks) - 1, 4)).astype(int))
        ticks = [ticks[i] for i in keep]
    return dict(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])


def spectrum_figure(
    spectra: Mapping[str, pd.DataFrame | np.ndarray],
    cumulative: bool = False,
    log_y: bool = True,
    title: str = "Explained-variance spectrum",
):
    """One line per label: variance ratio (or cumulative ratio) of each principal component,
    on log axes (one tick per decade). Ratios below :data:`SPECTRUM_FLOOR` (rounding noise
    of a rank-deficient covariance) are not drawn; the legend says how many components are.

    ``spectra`` maps a label to :func:`workbench.geometry.explained_variance`'s frame or to
    an embedding matrix (its spectrum is computed).
    """
    from ..geometry.isotropy import explained_variance

    if not isinstance(spectra, Mapping):
        spectra = {"embeddings": spectra}
    go = _go()
    fig = go.Figure()
    lowest = 1.0
    dropped: list[str] = []
    for label, spec in spectra.items():
        if not isinstance(spec, pd.DataFrame):
            spec = explained_variance(spec)
        shown = spec if cumulative else spec[spec["ratio"] >= SPECTRUM_FLOOR]
        y = shown["cumulative"] if cumulative else shown["ratio"]
        if not cumulative and len(shown):
            lowest = min(lowest, float(y.min()))
        name = str(label)
        if len(shown) < len(spec):  # the rest are rounding noise (see SPECTRUM_FLOOR)
            name += f" ({len(shown)} of {len(spec)} PCs)"
            dropped.append(f"{label}: {len(spec) - len(shown)}")
        fig.add_trace(
            go.Scatter(
                x=shown["component"],
                y=y,
                mode="lines",
                name=name,
                line=dict(color=style.method_color(label)),
                showlegend=True,
            )
        )
    log = log_y and not cumulative
    fig.update_layout(
        xaxis=dict(title=style.axis_label("component"), type="log", dtick=1),
        yaxis=dict(
            title=style.axis_label("cumulative" if cumulative else "ratio"),
            type="log" if log else "linear",
            dtick=1 if log else None,
            range=[np.floor(np.log10(lowest)), 0] if log else None,
        ),
    )
    style.finish(fig, "spectrum", title)
    if dropped:
        style.set_meta(
            fig,
            caption=f"{title}. Components whose variance ratio is below {SPECTRUM_FLOOR:g} "
            f"(rounding noise of a rank-deficient covariance) are not drawn ("
            + ", ".join(dropped)
            + ").",
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
    """Bars of ``y`` per ``x`` from zero, one colour per value of ``color`` (values printed
    on bars; error bars from ``<y>_lo``/``<y>_hi`` when the frame has them)."""
    _need(df, [x, y, color], "grouped_bars")
    go = _go()
    fig = go.Figure()
    for key, part in df.groupby(color, sort=False):
        fig.add_trace(
            go.Bar(
                x=[_name(x, v) for v in part[x]],
                y=part[y],
                name=_name(color, key),
                marker_color=style.color_for(color, key),
                error_y=_error_bars(part, y),
                text=[format(v, text_format) for v in part[y]],
                # inside the foot of the bar: clear of the error bar at its top
                textposition="inside",
                insidetextanchor="start",
                textangle=0,
                showlegend=True,
            )
        )
    fig.update_layout(
        barmode="group",
        yaxis=dict(title=y_title or style.axis_label(y), rangemode="tozero"),
        xaxis=dict(title="", type="category", showgrid=False),
        legend_title_text=color,
    )
    return style.finish(fig, f"bars_{y}", title)


def isotropy_bars(
    df: pd.DataFrame,
    label: str,
    measures: Sequence[str] = ("isoscore", "avg_cosine", "partition_isotropy"),
    title: str = "Isotropy",
):
    """One panel per measure (its own y scale, from zero), one bar per row (``label`` names
    the rows; one colour per row, the same in every panel)."""
    from plotly.subplots import make_subplots

    _need(df, [label, *measures], "isotropy_bars")
    go = _go()
    fig = make_subplots(
        rows=1,
        cols=len(measures),
        subplot_titles=[style.axis_label(m) for m in measures],
        horizontal_spacing=0.08,
    )
    names = [str(v) for v in df[label]]
    colors = [style.color_for(label, v) for v in df[label]]
    for j, m in enumerate(measures, start=1):
        fig.add_trace(
            go.Bar(
                x=names,
                y=df[m],
                showlegend=False,
                marker_color=colors,
                error_y=_error_bars(df, m),
                text=[f"{v:.3g}" for v in df[m]],
                textposition="outside",
            ),
            row=1,
            col=j,
        )
    fig.update_yaxes(rangemode="tozero")
    fig.update_xaxes(type="category", showgrid=False)
    return style.finish(fig, "isotropy_bars", title, legend=False)


def layer_profile_figure(
    df: pd.DataFrame,
    measures: Sequence[str] = ("id_twonn", "id_mle", "isoscore", "avg_cosine"),
    color: str | None = None,
    title: str = "Geometry by layer",
):
    """Measures of :func:`workbench.geometry.layer_profile` against the layer (one panel
    each, each with its own y scale); ``color`` splits rows into lines (e.g. ``encoder``)."""
    from plotly.subplots import make_subplots

    _need(df, ["layer", *measures], "layer_profile_figure")
    go = _go()
    fig = make_subplots(
        rows=1,
        cols=len(measures),
        subplot_titles=[style.axis_label(m) for m in measures],
        shared_xaxes=True,
        horizontal_spacing=0.07,
    )
    groups = list(df.groupby(color, sort=False)) if color else [("", df)]
    for key, part in groups:
        part = part.sort_values("layer")
        line = style.color_for(color, key) if color else style.color(0)
        for j, m in enumerate(measures, start=1):
            fig.add_trace(
                go.Scatter(
                    x=part["layer"],
                    y=part[m],
                    mode="lines+markers",
                    name=_name(color, key),
                    legendgroup=str(key),
                    showlegend=bool(color) and j == 1,
                    line=dict(color=line),
                ),
                row=1,
                col=j,
            )
            fig.update_xaxes(title_text=style.axis_label("layer"), row=1, col=j)
    fig.update_xaxes(showticklabels=True, dtick=1 if df["layer"].nunique() <= 13 else None)
    return style.finish(fig, "layer_profile", title, legend=bool(color))


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
    ``dim``, log axis), one line per ``color`` value (a task keeps its colour in every
    panel), optional ``dash`` (e.g. ``selection``) and one panel per ``facet`` value (e.g.
    ``family``) on one shared y scale, ticks on every panel. Vertical marks at ``marks``
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
        subplot_titles=[_name(facet, p) for p in panels] if facet else None,
        shared_yaxes=True,
        horizontal_spacing=0.05,
    )
    dashes = ["solid", "dash", "dot", "dashdot", "longdash"]
    dash_of = {v: dashes[i % 5] for i, v in enumerate(pd.unique(data[dash]))} if dash else {}
    seen = set()
    for j, p in enumerate(panels, start=1):
        part = data if p is None else data[data[facet] == p]
        for key, line in part.groupby([k for k in (color, dash) if k], sort=False):
            key = key if isinstance(key, tuple) else (key,)
            c = key[0]
            d = key[1] if dash else None
            name = _name(color, c) + (f" ({d})" if dash else "")
            line = line.sort_values(x)
            fig.add_trace(
                go.Scatter(
                    x=line[x],
                    y=line[y],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=name not in seen,
                    line=dict(color=style.color_for(color, c), dash=dash_of.get(d, "solid")),
                    marker=dict(size=5),
                ),
                row=1,
                col=j,
            )
            seen.add(name)
        fig.update_xaxes(
            type="log", title_text=style.axis_label(x), row=1, col=j, **_log_ticks(data[x])
        )
        if x == "fraction":
            for m in marks:
                fig.add_vline(x=m, line=dict(color="#888888", dash="dot", width=1), row=1, col=j)
    fig.update_yaxes(title_text=style.axis_label(y), row=1, col=1)
    fig.update_yaxes(showticklabels=True)
    return style.finish(fig, "truncation", title)


def layer_dim_heatmap(
    df: pd.DataFrame,
    value: str = "retained",
    task: str = "avg",
    title: str | None = None,
    **_: Any,
):
    """Heatmap of ``value`` over layer (rows) x kept dimensions (columns, one equal cell per
    k: the grid is geometric, so a linear axis would squash the small k) for one ``task``
    of :func:`workbench.geometry.layer_dim_grid` (the 2D Matryoshka view)."""
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
            y=[str(r) for r in grid.index],
            colorscale=style.COLORSCALE,
            colorbar=dict(title=dict(text=style.axis_label(value))),
            text=np.round(grid.to_numpy(), 2),
            texttemplate="%{text}",
        )
    )
    fig.update_layout(
        xaxis=dict(title=style.axis_label("dim"), type="category"),
        yaxis=dict(title=style.axis_label("layer"), type="category"),
    )
    label = style.task_label(task)
    return style.finish(
        fig,
        "layer_dim_heatmap",
        title or f"{style.axis_label(value)} by layer and kept dimensions ({label})",
        legend=False,
    )
