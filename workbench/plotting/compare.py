"""Figures for comparing methods and spaces: the layer x layer CKA heatmap and the pair
residual scatter. Builders take the frames of :mod:`workbench.compare` and return a plotly
figure; none shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from . import style

__all__ = ["layer_cka_heatmap", "pair_residuals"]


def layer_cka_heatmap(df: pd.DataFrame, title: str | None = None, **_: Any):
    """Heatmap of linear CKA over the layers of two encoders (rows: ``layer_a``, columns:
    ``layer_b``), from :func:`workbench.compare.layer_cka`; the colour scale is fixed to
    [0, 1] so that figures of several encoders read alike."""
    style.need_columns(df, ["layer_a", "layer_b", "cka"], "layer_cka_heatmap")
    if df.empty:
        raise InvalidInputError("no CKA values to draw")
    go = style.plotly_go()
    grid = df.pivot_table(index="layer_a", columns="layer_b", values="cka", aggfunc="mean")
    grid = grid.sort_index().sort_index(axis=1)
    name_a = str(df["encoder_a"].iloc[0]) if "encoder_a" in df else "a"
    name_b = str(df["encoder_b"].iloc[0]) if "encoder_b" in df else name_a
    debiased = bool(df["debiased"].iloc[0]) if "debiased" in df else False
    label = "debiased linear CKA" if debiased else "linear CKA"
    z = grid.to_numpy()
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(c) for c in grid.columns],
            y=[str(r) for r in grid.index],
            zmin=0.0,
            zmax=1.0,
            colorscale=style.COLORSCALE,
            colorbar=dict(title=dict(text=label)),
            text=np.round(z, 2),
            texttemplate="%{text}",
            hovertemplate="layer %{y} × layer %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis=dict(title=f"layer of {name_b.split(' ')[0]}", type="category"),
        yaxis=dict(title=f"layer of {name_a.split(' ')[0]}", type="category"),
    )
    n = f", {int(df['n'].iloc[0])} texts" if "n" in df else ""
    same = name_a == name_b
    default = f"{label} between layers of {name_a.split(' ')[0]}" + (
        "" if same else f" and {name_b.split(' ')[0]}"
    )
    return style.finish(fig, "layer_cka_heatmap", title or default + n, legend=False)


def pair_residuals(
    df: pd.DataFrame,
    methods: Sequence[str] | None = None,
    highlight: Any = None,
    title: str | None = None,
    height: int = 340,
):
    """Rank residual of every pair against its gold score, one colour per method, from
    :func:`workbench.pairs`; ``highlight`` (an index label of ``df``) rings that pair."""
    go = style.plotly_go()
    methods = list(methods or df.attrs.get("methods") or [])
    if not methods:
        methods = [c.split(":", 1)[1] for c in df.columns if c.startswith("residual:")]
    style.need_columns(df, ["gold", "sentence1", "sentence2"], "pair_residuals")
    style.need_columns(df, [f"residual:{m}" for m in methods], "pair_residuals")
    if df.empty or not methods:
        raise InvalidInputError("no pairs (or no method) to draw")
    hover = [
        f"{a[:80]}<br>{b[:80]}<br>gold {g:.2f}"
        for a, b, g in zip(df["sentence1"], df["sentence2"], df["gold"], strict=True)
    ]
    fig = go.Figure()
    for m in methods:
        fig.add_trace(
            go.Scatter(
                x=df["gold"],
                y=df[f"residual:{m}"],
                mode="markers",
                name=str(m),
                marker=dict(color=style.method_color(m), size=5, opacity=0.6),
                hovertext=hover,
                hoverinfo="text+y",
                customdata=np.asarray(df.index),
            )
        )
    if highlight is not None and highlight in df.index:
        row = df.loc[highlight]
        fig.add_trace(
            go.Scatter(
                x=[row["gold"]] * len(methods),
                y=[row[f"residual:{m}"] for m in methods],
                mode="markers",
                name="selected pair",
                marker=dict(color="rgba(0,0,0,0)", size=14, line=dict(color="#000000", width=2)),
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        height=height,
        xaxis=dict(title="gold score"),
        yaxis=dict(title="rank residual", range=[-1, 1]),
    )
    return style.finish(
        fig,
        "pair_residuals",
        title
        if title is not None
        else "Rank residual of each pair: (rank of prediction − rank of gold) / n",
    )
