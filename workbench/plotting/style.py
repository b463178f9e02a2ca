"""One visual language for every figure: colours, names, axis labels and the paper layout.

- **Colours.** Methods take Okabe & Ito's colour-blind-safe set (Okabe & Ito 2008, "Color
  Universal Design") in the order a session first draws them, and keep that colour in every
  later figure and facet (:func:`method_color`; pin one with :func:`set_colors`). Each task
  has one fixed colour (:data:`TASK_COLORS`), so STS12 and SUBJ never share one even when
  they sit in different facets under one legend. Continuous values use viridis.
- **Names.** One display vocabulary: :func:`task_label` maps every spelling of a task
  (``STSBenchmark``, ``STSB``, ``stsb``) to one label (``STS-B``); :func:`axis_label` gives
  one label per measured quantity (``spearman`` -> ``Spearman ρ × 100``).
- **Paper mode.** :func:`paper_layout` turns a live figure into a paper figure without
  touching its data, scales or colours: one- or two-column width, paper font sizes, no title
  (the caption is kept apart), the legend above the panels.

>>> fig.update_layout(template=style.plotly_template())    # doctest: +SKIP
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

#: Okabe-Ito colours, in the order methods receive them.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow (last: faint on white)
)
#: after the eight Okabe-Ito colours: Paul Tol's "muted" scheme (also colour-blind safe)
EXTRA: tuple[str, ...] = (
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#DDCC77",
    "#CC6677",
    "#882255",
    "#AA4499",
)
#: one fixed colour per task, by display label (:func:`task_label`)
TASK_COLORS: dict[str, str] = {
    "STS12": "#0072B2",
    "STS13": "#D55E00",
    "STS14": "#009E73",
    "STS15": "#CC79A7",
    "STS16": "#E69F00",
    "STS-B": "#56B4E9",
    "SICK-R": "#000000",
    "MR": "#332288",
    "CR": "#88CCEE",
    "SUBJ": "#44AA99",
    "MPQA": "#117733",
    "SST-2": "#999933",
    "SST-5": "#DDCC77",
    "TREC": "#CC6677",
    "MRPC": "#882255",
    "SNLI": "#AA4499",
    "STS-genre": "#661100",
    "avg": "#777777",
}
#: one fixed colour per task family (the families of :mod:`workbench.evaluation.tasks`)
FAMILY_COLORS: dict[str, str] = {
    "STS": "#0072B2",
    "classification": "#D55E00",
    "clustering": "#009E73",
    "retrieval": "#CC79A7",
}
#: continuous colour scale (plotly name)
COLORSCALE = "Viridis"
FONT_FAMILY = "DejaVu Sans"
#: fonts in points for paper figures (9 pt text, 8 pt ticks: the usual journal minimum)
FONT_SIZE = 9
TICK_SIZE = 8
#: widths in inches of a one-column and a two-column figure in a typical two-column paper
WIDTHS = {"single": 3.4, "double": 7.0}
#: CSS pixels per inch: plotly lays out in CSS pixels, and a PDF page of W px is W/96 in
PX_PER_INCH = 96
#: name of the plotly template registered by :func:`plotly_template`
TEMPLATE = "workbench"
GRID_COLOR = "#E5E5E5"
AXIS_COLOR = "#444444"

# ------------------------------------------------------------------------------ names

_TASK_ALIASES = {
    "stsbenchmark": "STS-B",
    "stsb": "STS-B",
    "sts-b": "STS-B",
    "stsbench": "STS-B",
    "sickrelatedness": "SICK-R",
    "sick-r": "SICK-R",
    "sickr": "SICK-R",
    "sick": "SICK-R",
    "sst2": "SST-2",
    "sst-2": "SST-2",
    "sst5": "SST-5",
    "sst-5": "SST-5",
    "sts-genre": "STS-genre",
    "average": "avg",
    "avg": "avg",
}
_FAMILY_LABELS = {
    "sts": "STS",
    "classification": "classification",
    "clustering": "clustering",
    "retrieval": "retrieval",
}
#: one label per quantity, whatever column name a frame uses for it
AXIS_LABELS: dict[str, str] = {
    "spearman": "Spearman ρ × 100",
    "pearson": "Pearson r × 100",
    "dev_spearman": "dev Spearman ρ × 100",
    "score": "score × 100",
    "accuracy": "accuracy × 100",
    "retained": "fraction of the full score kept",
    "retained_over_chance": "fraction of the full score above chance kept",
    "fraction": "fraction of dimensions kept",
    "dim": "dimensions kept (k)",
    "layer": "layer",
    "step": "training step",
    "loss": "training loss",
    "similarity": "cosine similarity",
    "density": "density",
    "component": "principal component",
    "ratio": "explained variance ratio",
    "cumulative": "cumulative explained variance",
    "isoscore": "IsoScore",
    "avg_cosine": "mean cosine",
    "partition_isotropy": "I(W)",
    "effective_rank": "effective rank",
    "id_twonn": "intrinsic dim. (TwoNN)",
    "id_mle": "intrinsic dim. (MLE)",
    "id_lpca": "intrinsic dim. (lPCA)",
    "alignment": "alignment",
    "uniformity": "uniformity",
}


def task_label(name: Any) -> str:
    """The display name of a task (``STSBenchmark``/``STSB``/``stsb`` -> ``STS-B``)."""
    s = str(name)
    return _TASK_ALIASES.get(s.strip().lower(), s)


def family_label(name: Any) -> str:
    """The display name of a task family (``sts`` -> ``STS``)."""
    return _FAMILY_LABELS.get(str(name).strip().lower(), str(name))


def axis_label(key: str, scaled: bool | None = None) -> str:
    """The one label of quantity ``key`` (``spearman`` -> ``Spearman ρ × 100``); unknown keys
    read with spaces for underscores."""
    k = str(key).strip()
    return AXIS_LABELS.get(k.lower(), k.replace("_", " "))


# ------------------------------------------------------------------------------ colours

_assigned: dict[str, str] = {}
_pinned: dict[str, str] = {}


def _cycle() -> tuple[str, ...]:
    return PALETTE + EXTRA


def method_color(name: Any) -> str:
    """The colour of method ``name``: the same in every figure and facet of this session
    (the next unused palette colour the first time it is drawn)."""
    key = str(name)
    if key in _pinned:
        return _pinned[key]
    if key not in _assigned:
        used = set(_assigned.values()) | set(_pinned.values())
        free = [c for c in _cycle() if c not in used]
        _assigned[key] = free[0] if free else _cycle()[len(_assigned) % len(_cycle())]
    return _assigned[key]


def task_color(name: Any) -> str:
    """The fixed colour of a task (any spelling); unknown tasks are coloured as methods."""
    label = task_label(name)
    return TASK_COLORS.get(label) or method_color(f"task:{label}")


def family_color(name: Any) -> str:
    """The fixed colour of a task family."""
    label = family_label(name)
    return FAMILY_COLORS.get(label) or method_color(f"family:{label}")


def color_for(kind: str, name: Any) -> str:
    """Colour of ``name`` when figures colour by column ``kind`` (``task``, ``family`` or
    anything else: a method)."""
    if kind == "task":
        return task_color(name)
    if kind == "family":
        return family_color(name)
    return method_color(name)


def set_colors(colors: Mapping[str, str]) -> None:
    """Pin colours of methods by name (e.g. ``{"base": "#000000"}``), for every figure."""
    _pinned.update({str(k): str(v) for k, v in colors.items()})


def reset_colors() -> None:
    """Forget the colours assigned so far (pinned ones too)."""
    _assigned.clear()
    _pinned.clear()


def color(i: int) -> str:
    """The ``i``-th palette colour (wrapping around), for anything that is not a method,
    a task or a family (e.g. positive vs random pairs)."""
    return _cycle()[i % len(_cycle())]


# ------------------------------------------------------------------------------ plotly


def plotly_template():
    """The plotly template ``"workbench"`` (registered on first call; returns it)."""
    import plotly.graph_objects as go
    import plotly.io as pio

    if TEMPLATE in pio.templates:
        return pio.templates[TEMPLATE]
    axis = dict(
        showgrid=True,
        gridcolor=GRID_COLOR,
        zeroline=False,
        showline=True,
        linecolor=AXIS_COLOR,
        ticks="outside",
        tickcolor=AXIS_COLOR,
        automargin=True,
        # 10^-3 rather than SI prefixes (1m, 1µ), which read as units in a paper
        exponentformat="power",
    )
    tmpl = go.layout.Template(
        layout=dict(
            colorway=list(PALETTE),
            font=dict(family=f"{FONT_FAMILY}, Arial, sans-serif", size=13, color="#222222"),
            title=dict(font=dict(size=15), x=0.0, xanchor="left", xref="container"),
            paper_bgcolor="white",
            plot_bgcolor="white",
            xaxis=axis,
            yaxis=axis,
            legend=dict(bgcolor="rgba(255,255,255,0.8)"),
            colorscale=dict(sequential=COLORSCALE.lower()),
            margin=dict(l=60, r=20, t=50, b=50),
            hoverlabel=dict(align="left"),
        )
    )
    pio.templates[TEMPLATE] = tmpl
    return tmpl


def plotly_go():
    """``plotly.graph_objects``, with the workbench template registered (imported on first
    use, so importing the plotting package stays cheap)."""
    import plotly.graph_objects as go

    plotly_template()
    return go


def need_columns(df: Any, cols: Iterable[str], what: str) -> None:
    """Raise a clear error when the frame ``df`` lacks any of ``cols`` (``what`` names the
    figure that needs them)."""
    from ..errors import InvalidInputError

    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InvalidInputError(f"{what} needs columns {missing}; got {list(df.columns)}")


def _text_width(text: str, size: float) -> float:
    # DejaVu Sans averages ~0.6 em per character: enough to plan legend rows
    return 0.6 * size * len(re.sub(r"<[^>]+>", "", text))


def legend_entries(fig) -> list[str]:
    """Names the legend shows, in order (one per legend group)."""
    names, groups = [], set()
    for t in fig.data:
        show = t.showlegend
        if show is False or (show is None and len(fig.data) == 1 and t.type != "pie"):
            continue
        if show is None and t.type in ("heatmap", "histogram2d", "contour"):
            continue
        if t.name is None or t.name == "":
            continue
        group = t.legendgroup or t.name
        if group in groups:
            continue
        groups.add(group)
        names.append(str(t.name))
    return names


def place_legend(fig, width_px: float, font_px: float, title_px: float = 0.0) -> None:
    """A horizontal legend at the top of the figure, below the title (if any) and above the
    panels and their subplot titles, with the top margin it needs: legend, title and
    subplot titles never overlap."""
    entries = legend_entries(fig)
    if not entries or fig.layout.showlegend is False:
        fig.update_layout(margin_t=max(20, title_px + 10) + _facet_title_px(fig, font_px))
        return
    usable = max(100.0, width_px - 20)
    rows, line = 1, _text_width(fig.layout.legend.title.text or "", font_px)
    for name in entries:
        w = _text_width(name, font_px) + 40 + font_px  # symbol + gap
        if line and line + w > usable:
            rows, line = rows + 1, 0.0
        line += w
    legend_px = rows * font_px * 1.45 + 8
    fig.update_layout(
        legend=dict(
            orientation="h",
            xref="container",
            yref="container",
            x=0.0,
            xanchor="left",
            y=1.0 - title_px / max(fig.layout.height or 450, 1),
            yanchor="top",
            bgcolor="rgba(255,255,255,0)",
        ),
        margin_t=title_px + legend_px + 6 + _facet_title_px(fig, font_px),
    )


def _facet_title_px(fig, font_px: float) -> float:
    """Room above the panels for subplot titles (annotations at the top of a panel)."""
    tops = [
        a
        for a in fig.layout.annotations
        if a.yref == "paper" and a.yanchor == "bottom" and (a.y or 0) >= 0.99
    ]
    if not tops:
        return 0.0
    lines = max(str(a.text or "").count("<br>") + 1 for a in tops)
    return lines * font_px * 1.3 + 4


def figure_meta(fig) -> dict[str, Any]:
    """The workbench metadata a builder stored in ``fig.layout.meta`` (id, caption)."""
    meta = fig.layout.meta
    return dict(meta) if isinstance(meta, Mapping) else {}


def set_meta(fig, figure_id: str | None = None, caption: str | None = None):
    """Store a figure id (stable file name) and a caption in the figure; returns it."""
    meta = figure_meta(fig)
    if figure_id is not None:
        meta["figure_id"] = str(figure_id)
    if caption is not None:
        meta["caption"] = str(caption)
    fig.layout.meta = meta
    return fig


#: the width a live figure is planned for when it has none (a dashboard's half-width
#: panel is about this wide; a wider screen only leaves some room to spare)
LIVE_WIDTH = 520


def _title_px(text: str, font_px: float) -> float:
    lines = str(text).count("<br>") + 1
    return 12 + lines * font_px * 1.35


def finish(fig, figure_id: str, title: str | None, legend: bool = True):
    """Apply the template, the title (at the very top) and the legend placement (below the
    title, above the panels) every builder shares, and record the builder's default id."""
    fig.update_layout(template=plotly_template())
    font_px = 15  # the template's title size
    fig.update_layout(
        title=dict(text=title or "", y=1.0, yanchor="top", yref="container", pad=dict(t=8))
    )
    title_px = _title_px(title, font_px) if title else 0.0
    if legend:
        place_legend(fig, width_px=fig.layout.width or LIVE_WIDTH, font_px=13, title_px=title_px)
    else:
        fig.update_layout(margin_t=max(20, title_px + 8) + _facet_title_px(fig, 13))
    if "figure_id" not in figure_meta(fig):
        set_meta(fig, figure_id=figure_id)
    return fig


def paper_width(width: str | float) -> float:
    """Width in inches: ``"single"``, ``"double"`` or a number of inches."""
    from ..errors import InvalidInputError

    if isinstance(width, str):
        if width not in WIDTHS:
            raise InvalidInputError(f"width must be 'single', 'double' or inches, not {width!r}")
        return WIDTHS[width]
    w = float(width)
    if not 1.0 <= w <= 20.0:
        raise InvalidInputError(f"width {w} in is not a figure width; give 1 to 20 inches")
    return w


def _one_axis_title_per_row(fig) -> None:
    """Panels side by side with the same x title: the title once, under the middle panel
    (at paper widths repeated titles run into each other)."""
    names = [k for k in fig.layout.to_plotly_json() if re.fullmatch(r"xaxis\d*", k)]
    by_title: dict[str, list[str]] = {}
    for n in names:
        text = fig.layout[n].title.text
        if text:
            by_title.setdefault(text, []).append(n)
    for axes in by_title.values():
        if len(axes) > 1:
            keep = axes[len(axes) // 2]
            for n in axes:
                if n != keep:
                    fig.layout[n].title.text = ""


def _values(v: Any) -> np.ndarray:
    """Plotly trace data as an array (it may hold numbers as base64 "bdata")."""
    import base64

    if isinstance(v, Mapping) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=object)


def _fit_cell_text(fig, width_px: float, tick_px: float) -> None:
    """Numbers printed in heatmap cells: small enough for the cell at the paper width."""
    for t in fig.data:
        if t.type != "heatmap" or t.texttemplate is None or t.x is None or t.text is None:
            continue
        axis = "xaxis" + (t.xaxis[1:] if t.xaxis and t.xaxis != "x" else "")
        domain = fig.layout[axis].domain or (0, 1)
        # about 60% of the width is panels (the rest: margins, colour bar)
        cell = width_px * 0.6 * (domain[1] - domain[0]) / max(len(t.x), 1)
        chars = max((len(f"{float(v):g}") for v in _values(t.text).ravel()), default=4)
        t.textfont.size = max(6.0, min(tick_px, cell / (0.62 * max(chars, 2))))


def _respace_panels(fig, width_px: float, gap_px: float = 34.0) -> None:
    """Panels side by side (one row) with tick labels on each: gaps wide enough for those
    labels at the paper width (a builder's gap is a fraction of a wider screen figure)."""
    names = [k for k in fig.layout.to_plotly_json() if re.fullmatch(r"xaxis\d*", k)]
    panels = [(n, tuple(fig.layout[n].domain or (0, 1))) for n in names]
    panels = sorted((p for p in panels if p[1] != (0, 1)), key=lambda p: p[1][0])
    if len(panels) < 2:
        return
    lo, hi = panels[0][1][0], panels[-1][1][1]
    gap = min(0.12, gap_px / max(width_px, 1.0))
    width = (hi - lo - gap * (len(panels) - 1)) / len(panels)
    if width <= 0.05:
        return
    for i, (n, _) in enumerate(panels):
        start = lo + i * (width + gap)
        fig.layout[n].domain = (start, start + width)
    # subplot titles sit at the centre of their panel
    centres = {round((a + b) / 2, 6): n for n, (a, b) in panels}
    for ann in fig.layout.annotations:
        if ann.xref == "paper" and ann.yanchor == "bottom" and ann.x is not None:
            n = centres.get(round(ann.x, 6))
            if n is not None:
                d = fig.layout[n].domain
                ann.x = (d[0] + d[1]) / 2


def paper_layout(
    fig,
    width: str | float = "double",
    height: float | None = None,
    title: bool = False,
):
    """A copy of ``fig`` laid out for a paper: ``width`` (``"single"``, ``"double"`` or
    inches), ``height`` in inches (default: the live figure's aspect), fonts of 9/8 pt, no
    title unless ``title`` (papers use captions), the legend above the panels. Data, axis
    types and ranges, ticks and colours are left as they are."""
    w_in = paper_width(width)
    live_w = fig.layout.width or 700
    live_h = fig.layout.height or 450
    aspect = min(1.0, max(0.42, live_h / live_w))
    h_in = float(height) if height is not None else w_in * aspect
    out = copy.deepcopy(fig)
    pt = PX_PER_INCH / 72  # CSS px per point
    font_px, tick_px = FONT_SIZE * pt, TICK_SIZE * pt
    w_px, h_px = round(w_in * PX_PER_INCH), round(h_in * PX_PER_INCH)
    out.update_layout(width=w_px, height=h_px, autosize=False)
    out.update_layout(
        font=dict(family=f"{FONT_FAMILY}, Arial, sans-serif", size=font_px),
        legend=dict(font=dict(size=tick_px)),
    )
    if not title:
        out.update_layout(title=dict(text=""))
    out.update_xaxes(tickfont=dict(size=tick_px), title_font=dict(size=font_px))
    out.update_yaxes(tickfont=dict(size=tick_px), title_font=dict(size=font_px))
    for a in out.layout.annotations:  # subplot titles and labels: the text size
        if a.font is None or a.font.size is None or a.font.size > font_px:
            a.font = dict(size=font_px)
    for t in out.data:  # text on bars and cells at tick size; slim colour bars
        textfont = getattr(t, "textfont", None)
        if textfont is not None and (textfont.size is None or textfont.size > tick_px):
            textfont.size = tick_px
        marker = getattr(t, "marker", None)
        bars = []
        if marker is not None and getattr(marker, "showscale", None):
            bars.append(marker.colorbar)
        if t.type == "heatmap" and t.showscale is not False:
            bars.append(t.colorbar)
        for bar in bars:
            bar.update(
                thickness=10,
                tickfont=dict(size=tick_px),
                title=dict(font=dict(size=font_px), side="right"),
            )
    _one_axis_title_per_row(out)
    _respace_panels(out, w_px)
    _fit_cell_text(out, w_px, tick_px)
    title_px = _title_px(out.layout.title.text, font_px) if title and out.layout.title.text else 0.0
    margin = out.layout.margin
    out.update_layout(
        margin=dict(l=min(margin.l or 60, 50), r=min(margin.r or 20, 12), b=min(margin.b or 50, 40))
    )
    place_legend(out, width_px=w_px, font_px=tick_px, title_px=title_px)
    return out
