"""One visual style for every figure: the live plotly figures and the paper files.

The palette is Okabe & Ito's colour-blind-safe set (Okabe & Ito 2008, "Color Universal
Design"); continuous values use viridis (perceptually uniform, prints in grey). Fonts are
DejaVu Sans, which matplotlib ships, so a PDF made on any machine looks the same.

>>> from workbench.plotting import style
>>> fig.update_layout(template=style.TEMPLATE)          # doctest: +SKIP
>>> with style.paper_style():                           # doctest: +SKIP
...     fig, ax = plt.subplots(figsize=style.figsize("single"))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

#: Okabe-Ito colours, in the order traces receive them (black moved last).
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
#: continuous colour scale (plotly name; matplotlib's is the lower-case name)
COLORSCALE = "Viridis"
FONT_FAMILY = "DejaVu Sans"
#: font sizes in points for paper figures; the live figures use the same ratios in px
FONT_SIZE = 9
TITLE_SIZE = 10
#: widths in inches of a one-column and a two-column figure in a typical two-column paper
WIDTHS = {"single": 3.4, "double": 7.0}
#: name of the plotly template registered by :func:`plotly_template`
TEMPLATE = "workbench"
GRID_COLOR = "#E5E5E5"
AXIS_COLOR = "#444444"


def color(i: int) -> str:
    """The ``i``-th palette colour (wrapping around)."""
    return PALETTE[i % len(PALETTE)]


def figsize(width: str | float = "double", aspect: float = 0.55) -> tuple[float, float]:
    """``(width, height)`` in inches: ``width`` is ``"single"``, ``"double"`` or inches."""
    w = WIDTHS[width] if isinstance(width, str) else float(width)
    return (w, round(w * aspect, 3))


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
    )
    tmpl = go.layout.Template(
        layout=dict(
            colorway=list(PALETTE),
            font=dict(family=f"{FONT_FAMILY}, Arial, sans-serif", size=13, color="#222222"),
            title=dict(font=dict(size=15), x=0.0, xanchor="left"),
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


def mpl_rc() -> dict[str, Any]:
    """matplotlib rcParams of the paper style (vector fonts embedded, reproducible files)."""
    from cycler import cycler

    return {
        "font.family": "sans-serif",
        "font.sans-serif": [FONT_FAMILY, "Arial", "Helvetica"],
        "font.size": FONT_SIZE,
        "axes.titlesize": TITLE_SIZE,
        "axes.titlelocation": "left",
        "axes.labelsize": FONT_SIZE,
        "xtick.labelsize": FONT_SIZE - 1,
        "ytick.labelsize": FONT_SIZE - 1,
        "legend.fontsize": FONT_SIZE - 1,
        "legend.frameon": False,
        "axes.prop_cycle": cycler(color=list(PALETTE)),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.edgecolor": AXIS_COLOR,
        "axes.grid": True,
        "axes.axisbelow": True,
        "grid.color": GRID_COLOR,
        "grid.linewidth": 0.6,
        "lines.linewidth": 1.5,
        "lines.markersize": 4,
        "image.cmap": COLORSCALE.lower(),
        "figure.dpi": 100,
        "savefig.dpi": 300,
        "savefig.bbox": "tight",
        "savefig.pad_inches": 0.03,
        # TrueType fonts in PDFs (editable, accepted by publishers); text as paths in SVG so
        # it looks the same without the font installed
        "pdf.fonttype": 42,
        "svg.fonttype": "path",
        # fixed ids: regenerating a figure gives the same SVG bytes
        "svg.hashsalt": "workbench",
    }


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Context in which matplotlib draws with the paper style."""
    import matplotlib as mpl

    with mpl.rc_context(mpl_rc()):
        yield


def plotly_go():
    """``plotly.graph_objects``, with the workbench template registered (imported on first
    use, so importing the plotting package stays cheap)."""
    import plotly.graph_objects as go

    plotly_template()
    return go


def need_columns(df: Any, cols: Any, what: str) -> None:
    """Raise a clear error when the frame ``df`` lacks any of ``cols`` (``what`` names the
    figure that needs them)."""
    from ..errors import InvalidInputError

    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InvalidInputError(f"{what} needs columns {missing}; got {list(df.columns)}")
