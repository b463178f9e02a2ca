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
    if not train.empty:
        fig.add_trace(
            go.Scatter(
                x=train["step"],
                y=train["loss"],
                name="loss",
                mode="lines",
                line=dict(color=style.color(0), width=1),
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
                line=dict(color=style.color(0)),
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
                line=dict(color=style.color(1)),
            ),
            secondary_y=True,
        )
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="training loss", secondary_y=False)
    fig.update_yaxes(title_text="dev Spearman x 100", secondary_y=True, showgrid=False)
    fig.update_layout(template=style.TEMPLATE, title=title or f"training curve ({recipe})")
    return fig


def before_after_bars(scores: pd.DataFrame, metric: str = "spearman", title: str | None = None):
    """Grouped bars of ``metric`` per task (x) and encoder (colour), values printed on the
    bars: the frame of :func:`workbench.training.sts_scores`."""
    _need(scores, ["encoder", "task", metric], "before_after_bars")
    go = _go()
    fig = go.Figure()
    for i, (enc, part) in enumerate(scores.groupby("encoder", sort=False)):
        fig.add_trace(
            go.Bar(
                x=part["task"],
                y=part[metric],
                name=str(enc),
                marker_color=style.color(i),
                text=[f"{v:.2f}" for v in part[metric]],
                textposition="outside",
            )
        )
    lo = float(np.nanmin(scores[metric]))
    fig.update_layout(
        template=style.TEMPLATE,
        barmode="group",
        title=title or f"STS {metric} x 100 before and after training",
        yaxis=dict(title=f"{metric} x 100", range=[max(0.0, lo - 10), 100]),
        xaxis_title="task",
    )
    return fig


def truncation_comparison(curves: pd.DataFrame, title: str | None = None, mark: int | None = None):
    """Spearman against the number of leading dimensions kept, one line per encoder (log
    x axis): the frame of :func:`workbench.training.truncation_curve`. ``mark`` draws a
    vertical line at that dimension."""
    _need(curves, ["encoder", "dim", "spearman"], "truncation_comparison")
    go = _go()
    fig = go.Figure()
    for i, (enc, part) in enumerate(curves.groupby("encoder", sort=False)):
        part = part.sort_values("dim")
        fig.add_trace(
            go.Scatter(
                x=part["dim"],
                y=part["spearman"],
                name=str(enc),
                mode="lines+markers",
                line=dict(color=style.color(i)),
            )
        )
    if mark is not None:
        fig.add_vline(x=mark, line=dict(color="#888888", dash="dot", width=1))
    dims = sorted(curves["dim"].unique())
    fig.update_layout(
        template=style.TEMPLATE,
        title=title or "STS Spearman of the first k dimensions",
        xaxis=dict(title="dimensions kept (first k)", type="log", tickvals=dims),
        yaxis_title="Spearman x 100",
    )
    return fig


def layer_dim_grids(grids: pd.DataFrame, title: str | None = None):
    """One heatmap per encoder, side by side on a shared colour scale: Spearman at each
    (layer, first-k dims), the frame(s) of :func:`workbench.training.layer_dim_grid`
    concatenated."""
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
                colorbar=dict(title="Spearman"),
                text=np.round(g.to_numpy(), 1),
                texttemplate="%{text}",
            ),
            row=1,
            col=j,
        )
        fig.update_xaxes(title_text="first k dims", row=1, col=j)
    fig.update_yaxes(title_text="layer", row=1, col=1)
    fig.update_layout(
        template=style.TEMPLATE, title=title or "STS Spearman by layer and dimensions kept"
    )
    return fig
