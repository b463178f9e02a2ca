"""Figures for training runs: the loss and dev curves, before/after bars, truncation curves
of several encoders, and layer x dimension grids side by side. Each builder takes tidy
results (a :class:`~workbench.training.TrainResult`, its ``workbench_training.json``, or the
frames of :mod:`workbench.training.analysis`) and returns a plotly figure; none shows it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from . import style

__all__ = [
    "before_after_bars",
    "layer_dim_grids",
    "training_curve",
    "truncation_comparison",
]


_go = style.plotly_go
_need = style.need_columns


def _curves(run: Any) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(train, eval) frames and a label from a TrainResult, an info dict or a folder."""
    if hasattr(run, "train_curve") and hasattr(run, "eval_curve"):
        return run.train_curve, run.eval_curve, str(run.info.get("recipe", ""))
    if isinstance(run, str | os.PathLike):
        from ..training.export import read_training_info

        run = read_training_info(Path(run))
    if isinstance(run, Mapping) and "curve" in run:
        curve = run["curve"]
        return pd.DataFrame(curve["train"]), pd.DataFrame(curve["eval"]), str(run.get("recipe"))
    raise InvalidInputError(
        "training_curve takes a TrainResult, a trained folder or its workbench_training.json"
    )


def training_curve(run: Any, smooth: int = 10, title: str | None = None):
    """Training loss (raw and a running mean over ``smooth`` steps) and the dev score
    against the step, on two y axes. ``run``: a TrainResult, an output folder, or the
    dict of its ``workbench_training.json``."""
    from plotly.subplots import make_subplots

    go = _go()
    train, evals, recipe = _curves(run)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    loss_color, dev_color = style.color(0), style.color(1)
    if not train.empty:
        fig.add_trace(
            go.Scatter(
                x=train["step"],
                y=train["loss"],
                name="loss",
                mode="lines",
                line=dict(color=loss_color, width=1),
                opacity=0.35,
            ),
            secondary_y=False,
        )
        k = max(1, min(int(smooth), len(train)))
        fig.add_trace(
            go.Scatter(
                x=train["step"],
                y=train["loss"].rolling(k, min_periods=1).mean(),
                name=f"loss (mean of {k})",
                mode="lines",
                line=dict(color=loss_color),
            ),
            secondary_y=False,
        )
    if not evals.empty:
        fig.add_trace(
            go.Scatter(
                x=evals["step"],
                y=evals["score"],
                name="dev Spearman",
                mode="lines+markers",
                line=dict(color=dev_color),
            ),
            secondary_y=True,
        )
    fig.update_xaxes(title_text=style.axis_label("step"))
    fig.update_yaxes(title_text=style.axis_label("loss"), secondary_y=False)
    # tickmode "auto": plotly.js would otherwise sync this axis's ticks to the loss axis's
    # grid and label them 80.91, 81.91...
    fig.update_yaxes(
        title_text=style.axis_label("dev_spearman"),
        secondary_y=True,
        showgrid=False,
        tickmode="auto",
    )
    return style.finish(fig, "training_curve", title or f"training curve ({recipe})")


def before_after_bars(scores: pd.DataFrame, metric: str = "spearman", title: str | None = None):
    """Grouped bars from zero of ``metric`` per task (x) and encoder (colour), values
    printed on the bars: the frame of :func:`workbench.training.sts_scores`.

    Error bars come from ``<metric>_lo``/``<metric>_hi`` when the frame has them; an
    ``avg`` row without an interval gets the tasks' combined one
    (:func:`workbench.plotting.sts.average_ci`). A gain of 0.4 on bars that start at 83
    looks large; from zero, with intervals, it looks as large as it is.
    """
    from .sts import _task_order, average_ci

    _need(scores, ["encoder", "task", metric], "before_after_bars")
    go = _go()
    lo_col, hi_col = f"{metric}_lo", f"{metric}_hi"
    frame = scores.copy()
    for c in (lo_col, hi_col):
        if c not in frame.columns:
            frame[c] = np.nan
    order = _task_order([t for t in frame["task"] if t != "avg"])
    if (frame["task"] == "avg").any():
        order.append("avg")
    fig = go.Figure()
    top = 0.0
    for enc, part in frame.groupby("encoder", sort=False):
        part = part.set_index("task").reindex([t for t in order if t in set(part["task"])])
        tasks = [t for t in part.index if t != "avg"]
        if "avg" in part.index and not np.isfinite(part.loc["avg", lo_col]) and tasks:
            _, part.loc["avg", lo_col], part.loc["avg", hi_col] = average_ci(
                part.loc[tasks, metric], part.loc[tasks, lo_col], part.loc[tasks, hi_col]
            )
        plus, minus = part[hi_col] - part[metric], part[metric] - part[lo_col]
        has_ci = bool(np.isfinite(plus.to_numpy(dtype=float)).any())
        top = max(top, float(np.nanmax(np.fmax(part[hi_col], part[metric]))))
        fig.add_trace(
            go.Bar(
                x=[style.task_label(t) for t in part.index],
                y=part[metric],
                name=str(enc),
                marker_color=style.method_color(enc),
                error_y=(
                    dict(type="data", array=plus, arrayminus=minus, symmetric=False, thickness=1)
                    if has_ci
                    else None
                ),
                text=[f"{v:.2f}" for v in part[metric]],
                # inside the foot of the bar: clear of the error bar at its top
                textposition="inside",
                insidetextanchor="start",
                textangle=0,
                showlegend=True,
            )
        )
    fig.update_layout(
        barmode="group",
        yaxis=dict(title=style.axis_label(metric), range=[0, min(100.0, top * 1.05 + 2)]),
        xaxis=dict(title="", type="category", showgrid=False),
    )
    return style.finish(
        fig, "before_after", title or f"STS {style.axis_label(metric)} before and after training"
    )


def truncation_comparison(curves: pd.DataFrame, title: str | None = None, mark: int | None = None):
    """Spearman against the number of leading dimensions kept, one line per encoder (log
    x axis): the frame of :func:`workbench.training.truncation_curve`. ``mark`` draws a
    vertical line at that dimension."""
    _need(curves, ["encoder", "dim", "spearman"], "truncation_comparison")
    go = _go()
    fig = go.Figure()
    for enc, part in curves.groupby("encoder", sort=False):
        part = part.sort_values("dim")
        fig.add_trace(
            go.Scatter(
                x=part["dim"],
                y=part["spearman"],
                name=str(enc),
                mode="lines+markers",
                line=dict(color=style.method_color(enc)),
                showlegend=True,
            )
        )
    if mark is not None:
        fig.add_vline(x=mark, line=dict(color="#888888", dash="dot", width=1))
    dims = sorted(int(d) for d in curves["dim"].unique())
    fig.update_layout(
        xaxis=dict(
            title=style.axis_label("dim"),
            type="log",
            tickvals=dims,
            ticktext=[str(d) for d in dims],
        ),
        yaxis_title=style.axis_label("spearman"),
    )
    return style.finish(
        fig, "truncation_comparison", title or "STS Spearman of the first k dimensions"
    )


def layer_dim_grids(grids: pd.DataFrame, title: str | None = None):
    """One heatmap per encoder, side by side on a shared colour scale and shared axes (one
    equal cell per k and layer, tick labels on every panel): Spearman at each (layer,
    first-k dims), the frame(s) of :func:`workbench.training.layer_dim_grid` concatenated."""
    from plotly.subplots import make_subplots

    _need(grids, ["encoder", "layer", "dim", "spearman"], "layer_dim_grids")
    go = _go()
    names = list(pd.unique(grids["encoder"]))
    fig = make_subplots(
        rows=1,
        cols=len(names),
        subplot_titles=[str(n) for n in names],
        shared_yaxes=True,
        horizontal_spacing=0.06,
    )
    lo, hi = float(grids["spearman"].min()), float(grids["spearman"].max())
    for j, name in enumerate(names, start=1):
        g = grids[grids["encoder"] == name].pivot_table(
            index="layer", columns="dim", values="spearman", aggfunc="mean"
        )
        g = g.sort_index().sort_index(axis=1)
        fig.add_trace(
            go.Heatmap(
                z=g.to_numpy(),
                x=[str(c) for c in g.columns],
                y=[str(r) for r in g.index],
                zmin=lo,
                zmax=hi,
                colorscale=style.COLORSCALE,
                showscale=j == len(names),
                colorbar=dict(title=dict(text=style.axis_label("spearman"))),
                text=np.round(g.to_numpy(), 1),
                texttemplate="%{text}",
            ),
            row=1,
            col=j,
        )
        fig.update_xaxes(title_text=style.axis_label("dim"), type="category", row=1, col=j)
    fig.update_yaxes(title_text=style.axis_label("layer"), row=1, col=1)
    fig.update_yaxes(type="category", showticklabels=True)
    return style.finish(
        fig,
        "layer_dim_grids",
        title or "STS Spearman by layer and dimensions kept",
        legend=False,
    )
