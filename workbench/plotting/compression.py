"""The compression figure: score against bytes per vector, one line per codec.

Takes :func:`workbench.compression.compression_grid`'s tidy frame and returns a plotly
figure (never shows it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import style

__all__ = ["compression_figure"]

#: y-axis titles of the grid's metrics that the shared vocabulary (style.AXIS_LABELS) lacks
_METRIC_LABELS = {"ndcg@10": "nDCG@10 × 100", "mrr@10": "MRR@10 × 100"}


def _byte_ticks(values: pd.Series) -> dict:
    """Ticks at the powers of two spanned (6 B ... 1536 B reads as 8, 32, 128, 512, 2048)."""
    v = np.asarray([x for x in values if np.isfinite(x) and x > 0], dtype=float)
    if v.size == 0:
        return {}
    lo, hi = int(np.floor(np.log2(v.min()))), int(np.ceil(np.log2(v.max())))
    step = max(1, int(np.ceil((hi - lo) / 5)))
    ticks = [2.0**e for e in range(lo, hi + 1, step)]
    return dict(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])


def compression_figure(
    df: pd.DataFrame,
    y: str = "score",
    color: str = "codec",
    x: str = "bytes_per_vector",
    title: str = "Score against storage",
):
    """``y`` against bytes per vector (log axis), one line per codec through the kept
    dimensions (markers labelled with k on hover), one panel per task (``family/task``, each
    with its own metric and y scale)."""
    from plotly.subplots import make_subplots

    style.need_columns(df, [x, y, color, "task", "dim"], "compression_figure")
    go = style.plotly_go()
    data = df.copy()
    data["_panel"] = (
        data["family"].astype(str) + "/" + data["task"].astype(str)
        if "family" in data.columns
        else data["task"].astype(str)
    )
    panels = list(pd.unique(data["_panel"]))
    metric = (
        data.groupby("_panel", sort=False)["metric"].first()
        if "metric" in data.columns
        else pd.Series(y, index=panels)
    )
    fig = make_subplots(
        rows=1,
        cols=len(panels),
        subplot_titles=[f"{style.task_label(p.split('/')[-1])} ({p.split('/')[0]})" for p in panels]
        if "family" in data.columns
        else [style.task_label(p) for p in panels],
        horizontal_spacing=0.12,
    )
    seen = set()
    for j, p in enumerate(panels, start=1):
        part = data[data["_panel"] == p]
        for c, line in part.groupby(color, sort=False):
            line = line.sort_values([x, "dim"])  # PQ keeps its bytes as k changes
            name = str(c)
            fig.add_trace(
                go.Scatter(
                    x=line[x],
                    y=line[y],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=name not in seen,
                    line=dict(color=style.color_for(color, c)),
                    marker=dict(size=5),
                    customdata=line[["dim"]].to_numpy(),
                    hovertemplate=f"{name}<br>k=%{{customdata[0]}}<br>%{{x:g}} B"
                    "<br>%{y:.2f}<extra></extra>",
                ),
                row=1,
                col=j,
            )
            seen.add(name)
        fig.update_xaxes(
            type="log", title_text="bytes per vector", row=1, col=j, **_byte_ticks(data[x])
        )
        key = str(metric[p] if y == "score" else y)
        fig.update_yaxes(title_text=_METRIC_LABELS.get(key, style.axis_label(key)), row=1, col=j)
    return style.finish(fig, "compression", title)
