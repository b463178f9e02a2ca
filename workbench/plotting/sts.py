"""STS results as a bar chart with confidence intervals and significance marks, and as a
compact table.

Both take the tidy frame of :func:`workbench.evaluate_sts` (several encoders concatenated)
and, optionally, the per-task paired-bootstrap tests against a baseline from
:func:`workbench.widgets.core.significance` (columns ``encoder``, ``task``, ``delta``,
``p_value`` and ``aggregation``). The marks must come from the test of the aggregation
shown: a ``wmean`` table with marks of the ``all`` test is refused.

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


def _marks(
    significance: pd.DataFrame | None, aggregation: str
) -> dict[tuple[str, str], tuple[float, float]]:
    """(encoder, task) -> (delta, p) of the test on ``aggregation``; refuses another test."""
    if significance is None or significance.empty:
        return {}
    tested = (
        set(significance["aggregation"].astype(str))
        if "aggregation" in significance.columns
        else {"all"}  # workbench.compare tests the `all` setting
    )
    if tested != {aggregation}:
        raise InvalidInputError(
            f"the significance tests are on aggregation {sorted(tested)}, the results shown "
            f"on {aggregation!r}; compute significance(..., aggregation={aggregation!r})"
        )
    return {
        (str(r.encoder), str(r.task)): (float(r.delta), float(r.p_value))
        for r in significance.itertuples(index=False)
    }


def average_ci(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[float, float, float]:
    """Mean over tasks with a 95% interval: ``(mean, lo, hi)``.

    The tasks are scored on disjoint pairs, so their bootstrap estimates are independent and
    the variance of the mean of T tasks is the sum of their variances over T². Each task's
    half-widths (below and above its estimate, kept apart since percentile intervals are not
    symmetric) are combined the same way:
    ``mean ± sqrt(Σ halfwidth_i²) / T`` (a normal approximation of the interval of the
    mean). NaN bounds when any task lacks an interval.
    """
    v, lo, hi = (np.asarray(a, dtype=float) for a in (values, lo, hi))
    mean = float(np.mean(v))
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()) or v.size == 0:
        return mean, np.nan, np.nan
    t = v.size
    below = float(np.sqrt(np.sum((v - lo) ** 2)) / t)
    above = float(np.sqrt(np.sum((hi - v) ** 2)) / t)
    return mean, mean - below, mean + above


def _cells(rows: pd.DataFrame, metric: str, tasks: list[str], average: bool):
    """Per encoder: {task: (value, lo, hi)} (+ the average over tasks with its interval)."""
    lo_col, hi_col = f"{metric}_lo", f"{metric}_hi"
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    for m, g in rows.groupby("encoder", sort=False):
        g = g.drop_duplicates("task").set_index("task")
        cells = {}
        for t in tasks:
            if t not in g.index:
                continue
            r = g.loc[t]
            lo = float(r[lo_col]) if lo_col in g.columns else np.nan
            hi = float(r[hi_col]) if hi_col in g.columns else np.nan
            cells[t] = (float(r[metric]), lo, hi)
        if average and cells:
            vals = np.array([c for c in cells.values()])
            cells[AVG] = average_ci(vals[:, 0], vals[:, 1], vals[:, 2])
        out[str(m)] = cells
    return out


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
    """Grouped bars from zero, one group per task (plus the average), one colour per encoder
    (the same in every figure: :func:`~workbench.plotting.style.method_color`).

    Error bars are the bootstrap CI (``<metric>_lo``/``_hi``) where present; the average's
    interval combines the tasks' (:func:`average_ci`). With ``significance`` (tested on the
    same ``aggregation``), bars that differ from ``baseline`` carry ``*``/``**``/``***``
    (paired bootstrap p < .05/.01/.001) above their interval.
    """
    go = style.plotly_go()

    rows = _rows(results, aggregation, metric)
    tasks = _task_order(rows["task"])
    average = show_average and len(tasks) > 1
    cats = tasks + ([AVG] if average else [])
    cells = _cells(rows, metric, tasks, average)
    sig = _marks(significance, aggregation)

    methods = list(cells)
    n = len(methods)
    width = 0.8 / n
    fig = go.Figure()
    top = 0.0
    for i, m in enumerate(methods):
        x = np.arange(len(cats)) - 0.4 + width * (i + 0.5)
        got = [cells[m].get(t, (np.nan, np.nan, np.nan)) for t in cats]
        y, low, high = (np.array(v, dtype=float) for v in zip(*got))
        has_ci = bool(np.isfinite(high).any())
        plus, minus = high - y, y - low  # NaN: no error bar on that bar
        top = max(top, float(np.nanmax(np.where(np.isfinite(high), high, y))))
        label = f"{m} (baseline)" if baseline is not None and m == baseline else m
        color = style.method_color(m)
        fig.add_trace(
            go.Bar(
                x=x,
                y=y,
                width=width * 0.95,
                name=label,
                legendgroup=label,
                marker_color=color,
                error_y=(
                    dict(type="data", array=plus, arrayminus=minus, symmetric=False, thickness=1)
                    if has_ci
                    else None
                ),
                customdata=np.array([style.task_label(t) for t in cats], dtype=object),
                hovertemplate="%{customdata}: %{y:.2f}<extra>" + label + "</extra>",
            )
        )
        marks = [stars(sig.get((m, t), (np.nan, np.nan))[1]) for t in cats]
        if any(marks):
            ytext = y + np.nan_to_num(plus) + 0.5
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=ytext,
                    mode="text",
                    text=marks,
                    textposition="top center",
                    showlegend=False,
                    legendgroup=label,
                    hoverinfo="skip",
                    textfont=dict(size=12, color=color),
                )
            )
    note = ""
    if sig and baseline is not None:
        note = "; * p<.05, ** p<.01, *** p<.001 vs baseline"
    fig.update_layout(
        barmode="overlay",
        height=height,
        yaxis=dict(title=style.axis_label(metric), range=[0, min(100.0, top * 1.08 + 4)]),
        xaxis=dict(
            tickvals=list(range(len(cats))),
            ticktext=[style.task_label(t) for t in cats],
            range=[-0.6, len(cats) - 0.4],
            showgrid=False,
        ),
    )
    return style.finish(
        fig,
        "sts_bar",
        title if title is not None else f"STS, {aggregation} aggregation{note}",
    )


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

    ``↑``/``↓`` with stars mark a significant difference from ``baseline`` (paired bootstrap
    on the same ``aggregation``, see :func:`sts_bar`); the baseline's row is labelled
    ``(baseline)``. The average's interval is :func:`average_ci`.
    """
    rows = _rows(results, aggregation, metric)
    tasks = _task_order(rows["task"])
    sig = _marks(significance, aggregation)
    cells = _cells(rows, metric, tasks, average=True)
    out: dict[str, dict[str, str]] = {}
    for m, per in cells.items():
        row = {}
        for t in [*tasks, AVG]:
            if t not in per:
                row[style.task_label(t)] = ""
                continue
            v, lo, hi = per[t]
            s = f"{v:.{digits}f}"
            if ci and np.isfinite(lo) and np.isfinite(hi):
                s += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
            d, p = sig.get((m, t), (np.nan, np.nan))
            mark = stars(p)
            if mark:
                s += (" ↑" if d > 0 else " ↓") + mark
            row[style.task_label(t)] = s
        name = f"{m} (baseline)" if baseline is not None and m == baseline else m
        out[name] = row
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.name = "encoder"
    return table
