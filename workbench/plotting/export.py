"""Paper-quality files (PDF, SVG, PNG) from plotly and matplotlib figures, one style.

Why matplotlib, not kaleido, by default: plotly's own static export (kaleido >= 1) drives a
headless Chrome. Kaleido 1.5 does work on this project's machines when pointed at Debian's
Chromium (``BROWSER_PATH=/usr/bin/chromium``, tried as root: about 3 s for the first image),
but every machine that makes figures then needs a Chrome: CI runners and Binder images must
install one, Colab has none, and without one kaleido stops and asks for a download
(``plotly_get_chrome``: impossible offline). Its output also changes with each Chromium
release. matplotlib is pure Python, already a dependency, works offline, and writes vector
PDF/SVG with embedded fonts, byte-for-byte reproducibly. So :func:`save_figure` redraws a
plotly figure with matplotlib (:func:`to_matplotlib`), translating the trace types the
workbench's builders use (bar with error bars and labels, scatter/scattergl with lines,
markers, colour scales and filled bands, histogram, heatmap) plus axis titles, log axes,
categories, secondary y axes, shapes, subplot grids and annotations, and applies
:mod:`.style` so plotly-made and matplotlib-made figures look alike. The interactive figure
stays plotly. ``engine="kaleido"`` remains for trace types the translator does not know,
where a Chrome is available.

>>> from workbench.plotting import save_figure, sts_bar
>>> save_figure(sts_bar(results), "figures/sts")    # doctest: +SKIP
[PosixPath('figures/sts.pdf'), PosixPath('figures/sts.svg'), PosixPath('figures/sts.png')]
"""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from . import style

log = logging.getLogger(__name__)

FORMATS = ("pdf", "svg", "png")
PX = 0.75  # one CSS pixel in points

_SYMBOLS = {
    "circle": "o",
    "square": "s",
    "diamond": "D",
    "cross": "P",
    "x": "X",
    "triangle-up": "^",
    "triangle-down": "v",
    "star": "*",
    "line-ns": "|",
}
_DASHES = {"solid": "-", "dash": "--", "dot": ":", "dashdot": "-.", "longdash": "--"}


class UnsupportedFigure(InvalidInputError):
    """The plotly figure uses something the matplotlib translation does not draw."""


# --------------------------------------------------------------------------- helpers


def _text(s: Any) -> str:
    """Plotly's HTML-ish text as plain text (``<br>`` -> newline, tags dropped)."""
    if s is None:
        return ""
    s = re.sub(r"<br\s*/?>", "\n", str(s), flags=re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", s))


def _title(obj: Any) -> str:
    if isinstance(obj, dict):
        return _text(obj.get("text"))
    return _text(obj)


def _color(c: Any, default: Any = None) -> Any:
    """A plotly colour string as something matplotlib takes."""
    if c is None:
        return default
    if isinstance(c, str):
        m = re.fullmatch(r"\s*rgba?\(([^)]*)\)\s*", c)
        if m:
            parts = [float(v) for v in m.group(1).split(",")]
            rgb = [v / 255.0 for v in parts[:3]]
            return (*rgb, parts[3] if len(parts) > 3 else 1.0)
        return c
    return c


def _is_numeric(values: Sequence[Any]) -> bool:
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):
        return False
    return arr.dtype.kind in "iufb" or (
        arr.dtype.kind == "O" and all(isinstance(v, (int, float, np.number)) for v in arr)
    )


def _cmap(scale: Any, default: str = style.COLORSCALE):
    import matplotlib as mpl
    from matplotlib.colors import LinearSegmentedColormap

    if scale is None:
        scale = default
    if isinstance(scale, str):
        name = scale.lower()
        reverse = name.endswith("_r")
        name = name.removesuffix("_r")
        try:
            cmap = mpl.colormaps[name]
        except KeyError:
            cmap = mpl.colormaps[default.lower()]
        return cmap.reversed() if reverse else cmap
    stops = [(float(v), _color(c)) for v, c in scale]
    return LinearSegmentedColormap.from_list("plotly", stops)


def _arr(v: Any) -> np.ndarray | None:
    if v is None:
        return None
    if isinstance(v, dict) and "bdata" in v:  # plotly >= 6 typed-array encoding
        import base64

        data = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        if "shape" in v:
            shape = v["shape"]
            shape = [int(d) for d in shape.split(",")] if isinstance(shape, str) else shape
            data = data.reshape(shape)
        return data
    return np.asarray(v, dtype=object if not _is_numeric(v) else float)


# --------------------------------------------------------------------------- axes layout


class _Panel:
    """One matplotlib axes standing for one plotly (xaxis, yaxis) pair."""

    def __init__(self, ax, xname: str, yname: str, xlayout: dict, ylayout: dict):
        self.ax = ax
        self.xname, self.yname = xname, yname
        self.xl, self.yl = xlayout, ylayout
        self.xcats: dict[Any, int] = {}
        self.ycats: dict[Any, int] = {}
        self.bar_traces: list[int] = []
        self.last_line: tuple[np.ndarray, np.ndarray] | None = None
        self.handles: list[Any] = []
        self.is_twin = False
        for key, layout, cats in (("x", xlayout, self.xcats), ("y", ylayout, self.ycats)):
            order = layout.get("categoryarray")
            if order is not None and layout.get("categoryorder", "array") == "array":
                for c in order:
                    cats.setdefault(c, len(cats))
            del key

    def pos(self, values: Any, axis: str) -> np.ndarray:
        """Positions on ``axis``: numbers pass through, categories get 0, 1, 2, ..."""
        layout = self.xl if axis == "x" else self.yl
        vals = _arr(values)
        if vals is None:
            return np.array([])
        if layout.get("type") != "category" and _is_numeric(vals):
            return vals.astype(float)
        cats = self.xcats if axis == "x" else self.ycats
        for v in vals:
            cats.setdefault(v, len(cats))
        return np.array([cats[v] for v in vals], dtype=float)

    def ref_transform(self, xref: str | None, yref: str | None):
        import matplotlib.transforms as mtransforms

        ax = self.ax
        xdom = xref is not None and (xref.endswith("domain") or xref == "paper")
        ydom = yref is not None and (yref.endswith("domain") or yref == "paper")
        if xdom and ydom:
            return ax.transAxes
        if xdom:
            return mtransforms.blended_transform_factory(ax.transAxes, ax.transData)
        if ydom:
            return mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
        return ax.transData


def _axis_layout(layout: dict, name: str) -> dict:
    key = ("xaxis" if name[0] == "x" else "yaxis") + name[1:]
    return dict(layout.get(key) or {})


def _grid(pairs: list[tuple[str, str]], layout: dict):
    """Grid cells ``(row0, row1, col0, col1)`` of each axis pair from plotly's domains."""
    doms = {}
    for xa, ya in pairs:
        dx = tuple(_axis_layout(layout, xa).get("domain") or (0.0, 1.0))
        dy = tuple(_axis_layout(layout, ya).get("domain") or (0.0, 1.0))
        doms[(xa, ya)] = (dx, dy)
    starts = sorted({round(d[0][0], 4) for d in doms.values()})
    tops = sorted({round(d[1][1], 4) for d in doms.values()}, reverse=True)
    cells = {}
    for p, (dx, dy) in doms.items():
        c0 = starts.index(round(dx[0], 4))
        c1 = max(c0 + 1, sum(1 for s in starts if s < dx[1] - 1e-6))
        r0 = tops.index(round(dy[1], 4))
        r1 = max(r0 + 1, sum(1 for t in tops if t > dy[0] + 1e-6))
        cells[p] = (r0, r1, c0, c1)
    return cells, len(tops), len(starts), doms


# --------------------------------------------------------------------------- traces


def _error(trace: dict, axis: str, n: int) -> np.ndarray | None:
    e = trace.get(f"error_{axis}")
    if not e or e.get("visible") is False or e.get("array") is None:
        return None
    plus = _arr(e["array"]).astype(float)
    minus = plus if e.get("symmetric", e.get("arrayminus") is None) else _arr(e["arrayminus"])
    return np.vstack([np.asarray(minus, dtype=float), plus])[:, :n]


def _marker_colors(marker: dict, default: Any) -> Any:
    c = marker.get("color")
    if c is None:
        return default
    if isinstance(c, (list, tuple, np.ndarray, dict)) and not isinstance(c, str):
        arr = _arr(c)
        if _is_numeric(arr):
            return arr.astype(float)
        return [_color(v) for v in arr]
    return _color(c)


def _draw_bar(p: _Panel, t: dict, color: Any, barmode: str, stacks: dict) -> None:
    horizontal = t.get("orientation") == "h"
    cat_axis, val_axis = ("y", "x") if horizontal else ("x", "y")
    vals = _arr(t.get(val_axis))
    if vals is None:
        return
    vals = vals.astype(float)
    pos = p.pos(t.get(cat_axis) if t.get(cat_axis) is not None else np.arange(len(vals)), cat_axis)
    if t.get("width") is not None:  # the builder placed the bars itself
        width, offs = t["width"], pos + float(t.get("offset") or 0.0)
        if t.get("offset") is not None:
            offs = offs + width / 2  # plotly's offset is to the bar's left edge
    else:
        n_groups = max(1, len(p.bar_traces)) if barmode == "group" else 1
        k = p.bar_traces.index(id(t)) if barmode == "group" and id(t) in p.bar_traces else 0
        width = 0.8 / n_groups
        offs = pos - 0.4 + width * (k + 0.5) if barmode == "group" else pos
    marker = t.get("marker") or {}
    colors = _marker_colors(marker, color)
    if isinstance(colors, np.ndarray):
        colors = _cmap(marker.get("colorscale"))(
            (colors - np.nanmin(colors)) / max(np.ptp(colors), 1e-12)
        )
    base = None
    if barmode in ("stack", "relative"):
        base = np.array([stacks.get((p.xname, v), 0.0) for v in pos])
        for v, h in zip(pos, vals):
            stacks[(p.xname, v)] = stacks.get((p.xname, v), 0.0) + h
    err = _error(t, val_axis, len(vals))
    kw = dict(
        color=colors,
        alpha=t.get("opacity", marker.get("opacity", 1.0)),
        label=_text(t.get("name")) or None,
        edgecolor=_color((marker.get("line") or {}).get("color"), "none"),
        linewidth=(marker.get("line") or {}).get("width", 0) * PX,
        error_kw=dict(ecolor="#333333", elinewidth=0.8, capsize=2, capthick=0.8),
    )
    if horizontal:
        h = p.ax.barh(offs, vals, height=width, left=base, xerr=err, **kw)
    else:
        h = p.ax.bar(offs, vals, width=width, bottom=base, yerr=err, **kw)
    if t.get("showlegend", True) is not False and t.get("name"):
        p.handles.append(h)
    text = t.get("text")
    if text is not None and t.get("textposition", "auto") in ("outside", "auto"):
        texts = [text] * len(vals) if isinstance(text, str) else list(text)
        p.ax.margins(**({"x": 0.15} if horizontal else {"y": 0.15}))  # room for the labels
        for x, v, s in zip(offs, vals, texts):
            if s:
                p.ax.annotate(
                    _text(s),
                    (v, x) if horizontal else (x, v),
                    xytext=(3, 0) if horizontal else (0, 2),
                    textcoords="offset points",
                    ha="left" if horizontal else "center",
                    va="center" if horizontal else "bottom",
                    # many thin bars: vertical labels, or they overlap
                    rotation=90 if not horizontal and width < 0.2 else 0,
                    fontsize=style.FONT_SIZE - 2,
                )


def _draw_scatter(p: _Panel, t: dict, color: Any, fig) -> None:
    x, y = t.get("x"), t.get("y")
    if y is None:
        return
    y = p.pos(y, "y")
    x = p.pos(x if x is not None else np.arange(len(y)), "x")
    mode = t.get("mode") or ("lines+markers" if len(x) < 20 else "lines")
    marker = t.get("marker") or {}
    line = t.get("line") or {}
    name = _text(t.get("name")) or None
    alpha = t.get("opacity", 1.0)
    lcolor = _color(line.get("color"), color)
    fill = t.get("fill")
    if fill in ("tonexty", "tonextx") and p.last_line is not None:
        px_, py_ = p.last_line
        if len(px_) == len(x):
            p.ax.fill_between(
                x, py_, y, color=_color(t.get("fillcolor"), lcolor), alpha=0.25, linewidth=0
            )
    elif fill == "toself":
        p.ax.fill(x, y, color=_color(t.get("fillcolor"), lcolor), alpha=0.25, linewidth=0)
    elif fill == "tozeroy":
        p.ax.fill_between(x, 0, y, color=_color(t.get("fillcolor"), lcolor), alpha=0.25)
    p.last_line = (x, y)
    handle = None
    if "lines" in mode and line.get("width", 1) != 0:
        (handle,) = p.ax.plot(
            x,
            y,
            color=lcolor,
            linewidth=line.get("width", 2) * PX,
            linestyle=_DASHES.get(line.get("dash", "solid"), "-"),
            alpha=alpha,
            label=name,
            marker=_SYMBOLS.get(marker.get("symbol", "circle"), "o") if "markers" in mode else None,
            markersize=(marker.get("size", 6) * PX * 0.8) if "markers" in mode else None,
        )
    elif "markers" in mode:
        colors = _marker_colors(marker, color)
        size = marker.get("size", 6)
        sizes = (_arr(size).astype(float) if not np.isscalar(size) else size) * PX * 0.8
        kw: dict[str, Any] = dict(
            s=np.asarray(sizes) ** 2,
            marker=_SYMBOLS.get(str(marker.get("symbol", "circle")), "o"),
            alpha=marker.get("opacity", alpha),
            linewidths=0,
            label=name,
            rasterized=len(x) > 2000,  # huge vector scatters make unwieldy PDFs
        )
        if isinstance(colors, np.ndarray):
            kw.update(
                c=colors,
                cmap=_cmap(marker.get("colorscale")),
                vmin=marker.get("cmin"),
                vmax=marker.get("cmax"),
            )
        else:
            kw["color"] = colors
        handle = p.ax.scatter(x, y, **kw)
        if isinstance(colors, np.ndarray) and marker.get("showscale", False):
            cb = fig.colorbar(handle, ax=p.ax, shrink=0.9)
            cb.set_label(_title((marker.get("colorbar") or {}).get("title")))
    err = _error(t, "y", len(y))
    if err is not None:
        p.ax.errorbar(x, y, yerr=err, fmt="none", ecolor=lcolor, elinewidth=0.8, capsize=2)
    if "text" in mode and t.get("text") is not None:
        texts = t["text"] if not isinstance(t["text"], str) else [t["text"]] * len(x)
        for xi, yi, s in zip(x, y, texts):
            p.ax.annotate(
                _text(s), (xi, yi), xytext=(0, 4), textcoords="offset points", ha="center"
            )
    if handle is not None and name and t.get("showlegend", True) is not False:
        p.handles.append(handle)


def _draw_histogram(p: _Panel, t: dict, color: Any, barmode: str) -> None:
    horizontal = t.get("x") is None and t.get("y") is not None
    vals = _arr(t.get("y") if horizontal else t.get("x"))
    if vals is None or len(vals) == 0:
        return
    vals = vals.astype(float)
    vals = vals[np.isfinite(vals)]
    binspec = t.get("ybins" if horizontal else "xbins") or {}
    nb = t.get("nbinsy" if horizontal else "nbinsx")
    if binspec.get("size") and binspec.get("start") is not None:
        end = binspec.get("end", vals.max())
        bins: Any = np.arange(binspec["start"], end + binspec["size"] * 1.0001, binspec["size"])
    elif nb:
        bins = int(nb)
    else:
        bins = "auto"
    norm = t.get("histnorm") or ""
    weights = None
    density = norm in ("density", "probability density")
    if norm in ("probability", "percent"):
        weights = np.full(len(vals), (100.0 if norm == "percent" else 1.0) / len(vals))
    marker = t.get("marker") or {}
    c = _color(marker.get("color"), color)
    _, _, patches = p.ax.hist(
        vals,
        bins=bins,
        density=density,
        weights=weights,
        orientation="horizontal" if horizontal else "vertical",
        color=c,
        alpha=t.get("opacity", 0.6 if barmode == "overlay" else 1.0),
        label=_text(t.get("name")) or None,
        histtype="stepfilled",
        edgecolor=c,
        linewidth=0.6,
    )
    if t.get("name") and t.get("showlegend", True) is not False:
        p.handles.append(patches[0] if len(patches) else None)


def _draw_heatmap(p: _Panel, t: dict, fig) -> None:
    z = _arr(t.get("z"))
    if z is None:
        return
    z = np.asarray(z, dtype=float)
    ny, nx = z.shape
    x = t.get("x")
    y = t.get("y")
    xs = p.pos(x, "x") if x is not None else np.arange(nx, dtype=float)
    ys = p.pos(y, "y") if y is not None else np.arange(ny, dtype=float)
    cmap = _cmap(t.get("colorscale"))
    if t.get("reversescale"):
        cmap = cmap.reversed()
    mesh = p.ax.pcolormesh(
        _edges(xs), _edges(ys), z, cmap=cmap, vmin=t.get("zmin"), vmax=t.get("zmax"), shading="flat"
    )
    p.ax.grid(False)
    if t.get("showscale", True) is not False:
        cb = fig.colorbar(mesh, ax=p.ax, shrink=0.9)
        cb.set_label(_title((t.get("colorbar") or {}).get("title")))


def _edges(centres: np.ndarray) -> np.ndarray:
    c = np.asarray(centres, dtype=float)
    if len(c) == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


# --------------------------------------------------------------------------- axes finish


def _finish_axis(p: _Panel, axis: str) -> None:
    ax = p.ax
    layout = p.xl if axis == "x" else p.yl
    cats = p.xcats if axis == "x" else p.ycats
    set_label = ax.set_xlabel if axis == "x" else ax.set_ylabel
    set_scale = ax.set_xscale if axis == "x" else ax.set_yscale
    set_lim = ax.set_xlim if axis == "x" else ax.set_ylim
    set_ticks = ax.set_xticks if axis == "x" else ax.set_yticks
    set_labels = ax.set_xticklabels if axis == "x" else ax.set_yticklabels
    set_label(_title(layout.get("title")))
    log_axis = layout.get("type") == "log"
    if log_axis:
        from matplotlib.ticker import FuncFormatter

        set_scale("log")
        (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(
            FuncFormatter(lambda v, _: f"{v:g}")
        )
    rng = layout.get("range")
    if rng is not None and None not in rng:
        lo, hi = (10 ** float(r) for r in rng) if log_axis else (float(r) for r in rng)
        if cats and not _is_numeric(list(rng)):
            lo, hi = cats.get(rng[0], lo), cats.get(rng[1], hi)
        set_lim(lo, hi)
    if cats:
        labels = [_text(c) for c in cats]
        set_ticks(list(cats.values()))
        long = axis == "x" and (len(labels) > 6 or sum(len(s) for s in labels) > 48)
        set_labels(labels, rotation=30 if long else 0, ha="right" if long else "center")
        if axis == "x":
            ax.grid(False, axis="x")
        else:
            ax.grid(False, axis="y")
    if layout.get("tickvals") is not None:
        set_ticks(list(_arr(layout["tickvals"]).astype(float)))
        if layout.get("ticktext") is not None:
            set_labels([_text(s) for s in layout["ticktext"]])
    if layout.get("autorange") == "reversed":
        (ax.invert_xaxis if axis == "x" else ax.invert_yaxis)()
    if layout.get("showticklabels") is False or layout.get("visible") is False:
        (ax.xaxis if axis == "x" else ax.yaxis).set_ticklabels([])
    if layout.get("showgrid") is False:
        ax.grid(False, axis=axis)


def _draw_shape(p: _Panel, s: dict) -> None:
    tr = p.ref_transform(s.get("xref"), s.get("yref"))
    line = s.get("line") or {}
    kind = s.get("type", "line")
    x0, x1, y0, y1 = (s.get(k) for k in ("x0", "x1", "y0", "y1"))
    if kind == "line":
        p.ax.plot(
            [x0, x1],
            [y0, y1],
            transform=tr,
            color=_color(line.get("color"), "#444444"),
            linewidth=line.get("width", 2) * PX,
            linestyle=_DASHES.get(line.get("dash", "solid"), "-"),
            zorder=3,
        )
    elif kind == "rect":
        from matplotlib.patches import Rectangle

        p.ax.add_patch(
            Rectangle(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                transform=tr,
                facecolor=_color(s.get("fillcolor"), "#cccccc"),
                alpha=s.get("opacity", 0.3),
                edgecolor="none",
                zorder=0,
            )
        )


def _draw_annotation(panels: dict, default: _Panel, a: dict, doms: dict, fig) -> None:
    text = _text(a.get("text"))
    if not text:
        return
    xref, yref = a.get("xref", "x"), a.get("yref", "y")
    fontsize = (a.get("font") or {}).get("size")
    size = min(style.TITLE_SIZE, fontsize * PX) if fontsize else style.FONT_SIZE - 1
    if xref == "paper" and yref == "paper":
        # make_subplots writes subplot titles as paper annotations just above each panel
        for key, (dx, dy) in doms.items():
            if abs((dx[0] + dx[1]) / 2 - a.get("x", -1)) < 0.02 and abs(dy[1] - a["y"]) < 0.03:
                panels[key].ax.set_title(text, loc="center", fontsize=style.FONT_SIZE)
                return
        p = default
    else:
        p = next(
            (
                q
                for q in panels.values()
                if q.xname == xref.split(" ")[0] and q.yname == yref.split(" ")[0]
            ),
            default,
        )
    x, y = a.get("x", 0.5), a.get("y", 0.5)
    if not xref.endswith(("domain", "paper")):
        if isinstance(x, str):
            x = p.pos([x], "x")[0]
        elif p.xl.get("type") == "log":  # plotly places annotations in log10 units there
            x = 10**x
    if not yref.endswith(("domain", "paper")):
        if isinstance(y, str):
            y = p.pos([y], "y")[0]
        elif p.yl.get("type") == "log":
            y = 10**y
    ha = {"left": "left", "right": "right"}.get(a.get("xanchor", "center"), "center")
    va = {"top": "top", "bottom": "bottom"}.get(a.get("yanchor", "middle"), "center")
    p.ax.annotate(
        text,
        (x, y),
        xycoords=p.ref_transform(xref, yref),
        xytext=(a.get("xshift", 0) * PX, a.get("yshift", 0) * PX),
        textcoords="offset points",
        ha=ha,
        va=va,
        fontsize=size,
        color=_color((a.get("font") or {}).get("color"), "#222222"),
        annotation_clip=False,
    )


# --------------------------------------------------------------------------- public API


def to_matplotlib(fig, width: float | None = None, height: float | None = None):
    """Redraw a plotly figure as a matplotlib figure in the workbench's paper style.

    ``width``/``height`` are inches (default: a two-column width for grids of panels, 5 in
    for one panel). Raises :class:`UnsupportedFigure` for trace types it does not draw.
    """
    import matplotlib.pyplot as plt

    spec = fig.to_dict() if hasattr(fig, "to_dict") else dict(fig)
    traces: list[dict] = spec.get("data") or []
    layout: dict = spec.get("layout") or {}
    known = {"bar", "scatter", "scattergl", "histogram", "heatmap"}
    bad = sorted({t.get("type", "scatter") for t in traces} - known)
    if bad:
        raise UnsupportedFigure(
            f"cannot redraw plotly trace type(s) {', '.join(bad)} with matplotlib; "
            "use save_figure(..., engine='kaleido') with a Chrome available"
        )
    pairs: list[tuple[str, str]] = []
    for t in traces:
        pair = (t.get("xaxis", "x"), t.get("yaxis", "y"))
        if pair not in pairs:
            pairs.append(pair)
    if not pairs:
        pairs = [("x", "y")]
    # a secondary y axis (``overlaying``) shares its panel: a matplotlib twin axes
    overlay = {p: _axis_layout(layout, p[1]).get("overlaying") for p in pairs}
    bases = [p for p in pairs if not overlay[p]]
    for p in pairs:
        if overlay[p] and (p[0], overlay[p]) not in bases:
            bases.append((p[0], overlay[p]))
    cells, nrows, ncols, doms = _grid(bases, layout)
    if width is None:
        width = style.WIDTHS["double"] if ncols > 1 else 5.0
    if height is None:
        height = width * 0.62 if nrows == 1 and ncols == 1 else max(2.2 * nrows, width * 0.4)
    with style.paper_style():
        mfig = plt.figure(figsize=(width, height), layout="constrained")
        gs = mfig.add_gridspec(nrows, ncols)
        panels: dict[tuple[str, str], _Panel] = {}
        for pair in bases:
            r0, r1, c0, c1 = cells[pair]
            ax = mfig.add_subplot(gs[r0:r1, c0:c1])
            panels[pair] = _Panel(
                ax, pair[0], pair[1], _axis_layout(layout, pair[0]), _axis_layout(layout, pair[1])
            )
        for pair in pairs:
            if overlay[pair]:
                base = panels[(pair[0], overlay[pair])]
                twin = base.ax.twinx()
                twin.spines["right"].set_visible(True)
                twin.grid(False)
                panels[pair] = _Panel(
                    twin, pair[0], pair[1], base.xl, _axis_layout(layout, pair[1])
                )
                panels[pair].xcats = base.xcats
                panels[pair].is_twin = True
        barmode = layout.get("barmode", "group")
        for t in traces:
            if t.get("type") == "bar":
                panels[(t.get("xaxis", "x"), t.get("yaxis", "y"))].bar_traces.append(id(t))
        stacks: dict = {}
        for i, t in enumerate(traces):
            if t.get("visible", True) in (False, "legendonly"):
                continue
            p = panels[(t.get("xaxis", "x"), t.get("yaxis", "y"))]
            color = style.color(i)
            kind = t.get("type", "scatter")
            if kind == "bar":
                _draw_bar(p, t, color, barmode, stacks)
            elif kind in ("scatter", "scattergl"):
                _draw_scatter(p, t, color, mfig)
            elif kind == "histogram":
                _draw_histogram(p, t, color, barmode)
            elif kind == "heatmap":
                _draw_heatmap(p, t, mfig)
        first = panels[bases[0]]
        for s in layout.get("shapes") or []:
            xr = (s.get("xref") or "x").split(" ")[0]
            yr = (s.get("yref") or "y").split(" ")[0]
            p = next(
                (q for q in panels.values() if q.xname == xr and q.yname == yr),
                next((q for q in panels.values() if q.xname == xr), first),
            )
            _draw_shape(p, s)
        for p in panels.values():
            if not p.is_twin:
                _finish_axis(p, "x")
            _finish_axis(p, "y")
        # the same x title under every panel of a grid: once, centred (it would overlap)
        mains = [p.ax for p in panels.values() if not p.is_twin]
        xlabels = {ax.get_xlabel() for ax in mains}
        if len(mains) > 1 and len(xlabels) == 1 and "" not in xlabels:
            for ax in mains:
                ax.set_xlabel("")
            mfig.supxlabel(xlabels.pop(), fontsize=style.FONT_SIZE)
        for a in layout.get("annotations") or []:
            _draw_annotation(panels, first, a, doms, mfig)
        handles = [h for p in panels.values() for h in p.handles if h is not None]
        seen: dict[str, Any] = {}
        for h in handles:
            seen.setdefault(h.get_label(), h)
        show = layout.get("showlegend")
        title = _title(layout.get("title"))
        on_top = False
        if (show is not False and len(seen) > 1) or (show is True and seen):
            leg = layout.get("legend") or {}
            legend_title = _title(leg.get("title")) or None
            on_top = leg.get("orientation") == "h" and (leg.get("y") or 0) >= 1
            below = leg.get("orientation") == "h" and (leg.get("y") or 0) < 0
            if below:  # a horizontal legend under the plot, as plotly draws it
                mfig.legend(
                    list(seen.values()),
                    list(seen),
                    loc="outside lower left",
                    ncols=min(len(seen), 4),
                    title=legend_title,
                )
            elif on_top:  # plotly's horizontal legend above the plot: the same here
                mfig.legend(
                    list(seen.values()),
                    list(seen),
                    loc="outside upper left",
                    ncols=min(len(seen), 4),
                    title=legend_title,
                )
            elif len(panels) == 1 and not any(p.bar_traces for p in panels.values()):
                # one plain panel: the legend inside it
                first.ax.legend(list(seen.values()), list(seen), title=legend_title)
            else:
                mfig.legend(
                    list(seen.values()), list(seen), loc="outside right upper", title=legend_title
                )
        if title:
            if len(cells) == 1 and not on_top:
                first.ax.set_title(title)
            else:
                mfig.suptitle(title, x=0.01, ha="left", fontsize=style.TITLE_SIZE)
    return mfig


def _is_plotly(fig) -> bool:
    return type(fig).__module__.startswith("plotly") or (
        isinstance(fig, dict) and "data" in fig and "layout" in fig
    )


def _save_matplotlib(mfig, stem: Path, formats: Iterable[str], dpi: int) -> list[Path]:
    out = []
    with style.paper_style():
        for fmt in formats:
            path = stem.with_name(stem.name + "." + fmt)
            meta: dict[str, Any] = {
                "pdf": {"CreationDate": None, "Producer": None},
                "svg": {"Date": None},
                "png": {},
            }.get(fmt, {})
            mfig.savefig(path, format=fmt, dpi=dpi, metadata=meta or None)
            out.append(path)
    return out


def save_figure(
    fig,
    path_stem: str | os.PathLike,
    formats: Sequence[str] = FORMATS,
    width: float | None = None,
    height: float | None = None,
    dpi: int = 300,
    engine: str = "matplotlib",
) -> list[Path]:
    """Write ``fig`` (plotly or matplotlib) as ``<path_stem>.pdf/.svg/.png``; returns the paths.

    Plotly figures are redrawn with matplotlib (see the module docstring for why) unless
    ``engine="kaleido"``; ``width``/``height`` are inches. Folders are created as needed; a
    suffix on ``path_stem`` that names a format is dropped (``"fig.pdf"`` -> ``"fig"``).
    """
    formats = [f.lower().lstrip(".") for f in ([formats] if isinstance(formats, str) else formats)]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise InvalidInputError(f"unknown figure format(s) {bad}; choose from {', '.join(FORMATS)}")
    if engine not in ("matplotlib", "kaleido"):
        raise InvalidInputError(f"engine must be 'matplotlib' or 'kaleido', not {engine!r}")
    stem = Path(path_stem)
    if stem.suffix.lstrip(".").lower() in FORMATS:
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    if _is_plotly(fig):
        if engine == "kaleido":
            out = []
            for fmt in formats:
                path = stem.with_name(stem.name + "." + fmt)
                w = int((width or 7.0) * 96)
                h = int((height or (width or 7.0) * 0.6) * 96)
                fig.write_image(str(path), format=fmt, width=w, height=h, scale=dpi / 96)
                out.append(path)
            return out
        import matplotlib.pyplot as plt

        mfig = to_matplotlib(fig, width=width, height=height)
        try:
            return _save_matplotlib(mfig, stem, formats, dpi)
        finally:
            plt.close(mfig)
    if hasattr(fig, "savefig"):
        if width is not None or height is not None:
            w, h = fig.get_size_inches()
            fig.set_size_inches(width or w, height or (width or w) * h / w)
        return _save_matplotlib(fig, stem, formats, dpi)
    raise InvalidInputError(
        f"save_figure takes a plotly or matplotlib figure, not {type(fig).__name__}"
    )
