"""STS results as a bar chart with confidence intervals and significance marks, and as a
compact table.

Both take the tidy frame of :func:`workbench.evaluate_sts` (several encoders concatenated)
and, optionally, the per-task paired-bootstrap tests against a baseline from
:func:`workbench.widgets.core.significance` (columns ``encoder``, ``task``, ``delta``,
``p_value``).

>>> res = pd.concat([wb.evaluate_sts(a), wb.evaluate_sts(b)])     # doctest: +SKIP
>>> sts_bar(res, significance=sig, baseline="a")                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from . import style

#: p-value thresholds and their marks, strictest first
STARS: tuple[tuple[float, str], ...] = ((0.001, "***"), (0.01, "**"), (0.05, "*"))
AVG = "avg"


def stars(p: float) -> str:
    """``***``/``**``/``*`` for p below 0.001/0.01/0.05, else ``""`` (NaN gives ``""``)."""
    if p is None or not np.isfinite(p):
        return ""
    for threshold, mark in STARS:
        if p < threshold:
            return mark
    return ""


def _rows(results: pd.DataFrame, aggregation: str, metric: str) -> pd.DataFrame:
    need = {"encoder", "task", "level", metric}
    missing = need - set(results.columns)
    if missing:
        raise InvalidInputError(
            f"results lack column(s) {sorted(missing)}; pass the frame of evaluate_sts()"
        )
    rows = results[results["level"] == aggregation]
    if rows.empty:
        raise InvalidInputError(
            f"no rows with level={aggregation!r} in the results (levels present: "
            f"{sorted(results['level'].unique())})"
        )
    return rows


def _task_order(tasks: Sequence[str]) -> list[str]:
    from ..datasets import STS_TASKS

    present = list(dict.fromkeys(tasks))
    return [t for t in STS_TASKS if t in present] + [t for t in present if t not in STS_TASKS]


def _short(task: str) -> str:
    return {"STSBenchmark": "STS-B", "SICKRelatedness": "SICK-R"}.get(task, task)


def sts_bar(
    results: pd.DataFrame,
    aggregation: str = "all",
    metric: str = "spearman",
    significance: pd.DataFrame | None = None,
    baseline: str | None = None,
    show_average: bool = True,
    title: str | None = None,
    height: int = 420,
):
    """Grouped bars, one group per task (plus the average), one colour per encoder.

    Error bars are the bootstrap CI (``<metric>_lo``/``_hi``) where present; with
    ``significance``, bars that differ from ``baseline`` carry ``*``/``**``/``***`` (paired
    bootstrap p < .05/.01/.001) above their interval. The average bar has no interval (the
    paper convention: a plain mean over tasks).
    """
    import plotly.graph_objects as go

    rows = _rows(results, aggregation, metric)
    methods = list(pd.unique(rows["encoder"]))
    tasks = _task_order(rows["task"])
    cats = tasks + ([AVG] if show_average and len(tasks) > 1 else [])
    table = rows.pivot_table(index="encoder", columns="task", values=metric, sort=False)
    lo_col, hi_col = f"{metric}_lo", f"{metric}_hi"
    has_ci = lo_col in rows.columns and hi_col in rows.columns
    lo = (
        rows.pivot_table(index="encoder", columns="task", values=lo_col, sort=False)
        if has_ci
        else None
    )
    hi = (
        rows.pivot_table(index="encoder", columns="task", values=hi_col, sort=False)
        if has_ci
        else None
    )
    sig = {}
    if significance is not None and not significance.empty:
        for r in significance.itertuples(index=False):
            sig[(r.encoder, r.task)] = stars(r.p_value)

    n = len(methods)
    width = 0.8 / n
    fig = go.Figure()
    top = 0.0
    for i, m in enumerate(methods):
        x = np.arange(len(cats)) - 0.4 + width * (i + 0.5)
        y = [table.loc[m].get(t, np.nan) if t != AVG else table.loc[m][tasks].mean() for t in cats]
        y = np.asarray(y, dtype=float)
        plus = minus = None
        if has_ci:
            h = np.array([hi.loc[m].get(t, np.nan) if t != AVG else np.nan for t in cats])
            low = np.array([lo.loc[m].get(t, np.nan) if t != AVG else np.nan for t in cats])
            plus, minus = h - y, y - low  # NaN (the average): no error bar
            top = max(top, np.nanmax(np.where(np.isnan(h), y, h)))
        else:
            top = max(top, np.nanmax(y))
        label = f"{m} (baseline)" if baseline is not None and m == baseline else m
        fig.add_trace(
            go.Bar(
                x=x,
                y=y,
                width=width * 0.95,
                name=label,
                marker_color=style.color(i),
                error_y=(
                    dict(type="data", array=plus, arrayminus=minus, symmetric=False, thickness=1)
                    if has_ci
                    else None
                ),
                customdata=np.array(cats, dtype=object),
                hovertemplate="%{customdata}: %{y:.2f}<extra>" + label + "</extra>",
            )
        )
        marks = [sig.get((m, t), "") for t in cats]
        if any(marks):
            ytext = y + (np.nan_to_num(plus) if plus is not None else 0) + 0.5
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=ytext,
                    mode="text",
                    text=marks,
                    textposition="top center",
                    showlegend=False,
                    hoverinfo="skip",
                    textfont=dict(size=12, color=style.color(i)),
                )
            )
    ylabel = {"spearman": "Spearman ρ × 100", "pearson": "Pearson r × 100"}.get(metric, metric)
    note = ""
    if sig and baseline is not None:
        note = "; * p<.05, ** p<.01, *** p<.001 vs baseline"
    fig.update_layout(
        template=style.plotly_template(),
        barmode="overlay",
        height=height,
        title=title if title is not None else f"STS, {aggregation} aggregation{note}",
        yaxis=dict(title=ylabel, range=[0, min(100.0, top * 1.08 + 4)]),
        xaxis=dict(
            tickvals=list(range(len(cats))),
            ticktext=[_short(t) for t in cats],
            range=[-0.6, len(cats) - 0.4],
            showgrid=False,
        ),
        legend=dict(orientation="h", yanchor="top", y=-0.12, x=0, title=None),
        margin=dict(t=50, b=40),
    )
    return fig


def sts_table(
    results: pd.DataFrame,
    aggregation: str = "all",
    metric: str = "spearman",
    significance: pd.DataFrame | None = None,
    baseline: str | None = None,
    ci: bool = True,
    digits: int = 1,
) -> pd.DataFrame:
    """Encoders x tasks (+ ``avg``) as display strings, e.g. ``"82.0 [79.9, 84.2] ↑**"``.

    ``↑``/``↓`` with stars mark a significant difference from ``baseline`` (paired bootstrap,
    see :func:`sts_bar`); the baseline's row is labelled ``(baseline)``.
    """
    rows = _rows(results, aggregation, metric)
    tasks = _task_order(rows["task"])
    sig = {}
    if significance is not None and not significance.empty:
        for r in significance.itertuples(index=False):
            sig[(r.encoder, r.task)] = (r.delta, r.p_value)
    out: dict[str, dict[str, str]] = {}
    for m, g in rows.groupby("encoder", sort=False):
        g = g.set_index("task")
        cells = {}
        for t in tasks:
            if t not in g.index:
                cells[_short(t)] = ""
                continue
            r = g.loc[t]
            s = f"{r[metric]:.{digits}f}"
            if ci and f"{metric}_lo" in g.columns and np.isfinite(r[f"{metric}_lo"]):
                s += f" [{r[f'{metric}_lo']:.{digits}f}, {r[f'{metric}_hi']:.{digits}f}]"
            d, p = sig.get((m, t), (np.nan, np.nan))
            mark = stars(p)
            if mark:
                s += (" ↑" if d > 0 else " ↓") + mark
            cells[_short(t)] = s
        cells[AVG] = f"{g.loc[[t for t in tasks if t in g.index], metric].mean():.{digits}f}"
        name = f"{m} (baseline)" if baseline is not None and m == baseline else m
        out[name] = cells
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.name = "encoder"
    return table
