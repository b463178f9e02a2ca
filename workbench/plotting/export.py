"""Paper files (PDF, SVG, PNG) of the figures on screen, drawn by the same renderer.

:func:`save_figure` hands the plotly figure to plotly's own static exporter, kaleido, which
renders it with plotly.js in a headless Chromium: the file shows the same data, axis ranges,
shared axes, ticks and colours as the live figure, because the same code draws both
(DESIGN.md: "exporting it must not redraw it with other code"). In paper mode (the default)
the figure is first laid out for a paper by :func:`~workbench.plotting.style.paper_layout`
(one- or two-column width, 9/8 pt fonts, no title, the legend above the panels), which
changes no data, scale or colour; the title, or ``caption``, goes to ``<id>.caption.txt``.

Kaleido needs a Chrome or Chromium; it looks for one on ``PATH`` (Debian's ``chromium``,
``google-chrome``...) or at ``$BROWSER_PATH`` (``$WORKBENCH_CHROMIUM`` is honoured too):

- Debian/Ubuntu with apt: ``apt-get install chromium`` (CI does this in ``.ci/prepare``);
- anywhere with internet (Colab, Binder's postBuild): ``plotly_get_chrome -y`` downloads
  Chrome for Testing into kaleido's folder.

One browser is started on the first export and reused (about a second per file after
that); PDFs embed their fonts (TrueType subsets), and SVG/PDF bytes are made reproducible
(plotly's random element ids and the PDF dates are fixed).

>>> from workbench.plotting import save_figure, sts_bar
>>> save_figure(sts_bar(results), "figures/fig2-sts", width="single")   # doctest: +SKIP
[PosixPath('figures/fig2-sts.pdf'), PosixPath('figures/fig2-sts.svg'), ...]
"""

from __future__ import annotations

import atexit
import html
import logging
import os
import re
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, WorkbenchError
from . import style

log = logging.getLogger(__name__)

FORMATS = ("pdf", "svg", "png")
#: seconds kaleido may take for one image before it gives up (a loaded 2-core CI machine
#: renders one in 1-3 s once the browser runs; this only stops a hung browser)
RENDER_TIMEOUT = 300
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_lock = threading.Lock()
_started = False


class ExportUnavailable(WorkbenchError):
    """No static export: kaleido or a Chrome/Chromium for it is missing."""


def browser_path() -> str | None:
    """The Chrome/Chromium kaleido will use: ``$BROWSER_PATH``, ``$WORKBENCH_CHROMIUM``,
    then ``chromium``/``google-chrome`` on ``PATH`` or kaleido's own download."""
    for var in ("BROWSER_PATH", "WORKBENCH_CHROMIUM"):
        p = os.environ.get(var)
        if p and os.access(p, os.X_OK):
            return p
    try:
        from choreographer.browsers.chromium import Chromium

        return Chromium.find_browser(skip_local=False)
    except ImportError:
        for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
            if shutil.which(name):
                return shutil.which(name)
    return None


def _start() -> None:
    """Start kaleido's browser once per process (reused by every later export)."""
    global _started
    with _lock:
        if _started:
            return
        try:
            import kaleido
        except ImportError as e:
            raise ExportUnavailable(
                "saving plotly figures needs kaleido: pip install 'kaleido>=1.5'"
            ) from e
        path = browser_path()
        if path is None:
            raise ExportUnavailable(
                "saving plotly figures needs Chrome or Chromium for kaleido and none was "
                "found: apt-get install chromium (Debian/Ubuntu), or plotly_get_chrome -y "
                "(downloads one), or set BROWSER_PATH to a Chrome binary"
            )
        os.environ.setdefault("BROWSER_PATH", path)
        # mathjax=False: no figure here uses LaTeX, and kaleido would fetch MathJax from a CDN
        kaleido.start_sync_server(n=1, timeout=RENDER_TIMEOUT, mathjax=False, silence_warnings=True)
        atexit.register(kaleido.stop_sync_server, silence_warnings=True)
        _started = True


def render(fig, fmt: str, width_px: int, height_px: int, scale: float = 1.0) -> bytes:
    """The bytes of ``fig`` as ``fmt`` (``pdf``/``svg``/``png``/``json``) at that size."""
    import kaleido

    _start()
    spec = fig.to_dict() if hasattr(fig, "to_dict") else dict(fig)
    # fixed trace ids: plotly.js names SVG groups after them (random ones by default)
    spec["data"] = [{**t, "uid": t.get("uid") or f"wbtrace{i}"} for i, t in enumerate(spec["data"])]
    opts = dict(format=fmt, width=int(width_px), height=int(height_px), scale=float(scale))
    return kaleido.calc_fig_sync(spec, opts=opts)


def full_figure(fig):
    """plotly's full figure (every default and autorange resolved by plotly.js), computed by
    the same browser as the exports."""
    import plotly.graph_objects as go

    _start()
    return go.Figure(fig).full_figure_for_development(warn=False)


def _axis_names(layout) -> list[str]:
    return [k for k in layout.to_plotly_json() if re.fullmatch(r"[xy]axis\d*", k)]


def axis_ranges(fig) -> dict[str, dict[str, Any]]:
    """Per axis of ``fig`` as plotly.js draws it: ``type``, ``range`` and ``matches``
    (the axis it shares its scale with), from :func:`full_figure`."""
    full = full_figure(fig)
    out = {}
    for name in _axis_names(full.layout):
        ax = full.layout[name]
        out[name] = {
            "type": ax.type,
            "range": tuple(float(v) for v in ax.range) if ax.range is not None else None,
            "matches": ax.matches,
        }
    return out


def paper_figure(
    fig, width: str | float = "double", height: float | None = None, title: bool = False
):
    """The figure :func:`save_figure` renders in paper mode: :func:`~.style.paper_layout`
    with every axis range pinned to the range plotly.js gives the live figure (autorange
    pads by pixels, so a smaller figure would otherwise get a slightly different range)."""
    ranges = axis_ranges(fig)
    out = style.paper_layout(fig, width=width, height=height, title=title)
    for name, ax in ranges.items():
        if ax["range"] is not None and ax["type"] != "multicategory":
            out.layout[name].update(range=list(ax["range"]), autorange=False)
    return out


def _reproducible(data: bytes, fmt: str) -> bytes:
    """Fix what changes from run to run: plotly's random figure id in SVG element ids, and
    the creation dates of a PDF (replaced by strings of the same length, so the PDF's byte
    offsets stay valid)."""
    if fmt == "svg":
        text = data.decode("utf-8")
        m = re.search(r'id="defs-([0-9a-f]+)"', text)
        if m:
            uid = re.escape(m.group(1))
            text = re.sub(r'((?:id="|url\(#|href="#)[A-Za-z_-]*)' + uid, r"\1wbfig0", text)
        return text.encode("utf-8")
    if fmt == "pdf":
        return re.sub(rb"(/(?:CreationDate|ModDate) \(D:)\d{14}", rb"\g<1>20000101000000", data)
    return data


def _stem(path_stem: str | os.PathLike, folder: str | os.PathLike | None) -> Path:
    stem = Path(path_stem)
    if stem.suffix.lstrip(".").lower() in FORMATS:
        stem = stem.with_suffix("")
    if folder is not None:
        stem = Path(folder) / stem
    if not _ID.fullmatch(stem.name):
        raise InvalidInputError(
            f"figure id {stem.name!r} would make a fragile file name; use letters, digits "
            "and . _ + - (e.g. 'fig3-truncation')"
        )
    return stem


def _caption_text(fig, caption: str | None) -> str:
    if caption is None:
        caption = style.figure_meta(fig).get("caption") or (fig.layout.title.text or "")
    text = re.sub(r"<br\s*/?>", " ", str(caption), flags=re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _is_plotly(fig) -> bool:
    return type(fig).__module__.startswith("plotly")


def _save_matplotlib(fig, stem: Path, formats: Sequence[str], dpi: int) -> list[Path]:
    import matplotlib as mpl

    out = []
    # TrueType fonts in PDFs (embedded, editable); text as paths in SVG
    with mpl.rc_context({"pdf.fonttype": 42, "svg.fonttype": "path", "svg.hashsalt": "wb"}):
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            meta: dict[str, Any] = {
                "pdf": {"CreationDate": None, "Producer": None},
                "svg": {"Date": None},
            }.get(fmt, {})
            fig.savefig(path, format=fmt, dpi=dpi, metadata=meta or None, bbox_inches="tight")
            out.append(path)
    return out


def save_figure(
    fig,
    path_stem: str | os.PathLike,
    formats: Sequence[str] | str = FORMATS,
    width: str | float = "double",
    height: float | None = None,
    paper: bool = True,
    title: bool = False,
    caption: str | None = None,
    dpi: int = 300,
    folder: str | os.PathLike | None = None,
) -> list[Path]:
    """Write ``fig`` as ``<path_stem>.pdf/.svg/.png``; returns the paths written.

    ``path_stem`` is the figure id you choose (``"fig3-truncation"``, or with a folder:
    ``"figures/fig3-truncation"``; ``folder`` prepends one): file names never depend on
    the title, so ``\\includegraphics`` keeps working when a title changes.

    Plotly figures are rendered by kaleido (see the module docstring). ``paper=True``:
    ``width`` ``"single"`` (3.4 in) or ``"double"`` (7 in) or inches, ``height`` in inches
    (default: the live figure's aspect), paper fonts, no title unless ``title=True``; the
    caption (``caption``, else the figure's caption or title) is written to
    ``<path_stem>.caption.txt``. ``paper=False`` writes the figure as on screen. PNGs have
    ``dpi`` pixels per inch. Matplotlib figures are saved with their own layout.
    """
    if isinstance(formats, str):  # "pdf" or "pdf,svg,png"
        formats = formats.split(",")
    formats = [f.strip().lower().lstrip(".") for f in formats if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise InvalidInputError(f"unknown figure format(s) {bad}; choose from {', '.join(FORMATS)}")
    if not isinstance(dpi, int) or not 50 <= dpi <= 1200:
        raise InvalidInputError(f"dpi must be an integer from 50 to 1200, not {dpi!r}")
    stem = _stem(path_stem, folder)
    if _is_plotly(fig):
        style.paper_width(width)  # a bad width fails before anything is written
        if paper:
            text = _caption_text(fig, caption)
            out_fig = paper_figure(fig, width=width, height=height, title=title)
        else:
            text = _caption_text(fig, caption) if caption is not None else ""
            out_fig = fig
        w = out_fig.layout.width or 700
        h = out_fig.layout.height or 450
        stem.parent.mkdir(parents=True, exist_ok=True)
        paths = []
        for fmt in formats:
            scale = dpi / style.PX_PER_INCH if fmt == "png" else 1.0
            data = _reproducible(render(out_fig, fmt, w, h, scale), fmt)
            path = stem.with_name(f"{stem.name}.{fmt}")
            path.write_bytes(data)
            paths.append(path)
        cap = stem.with_name(f"{stem.name}.caption.txt")
        if text:
            cap.write_text(text + "\n")
        elif cap.exists():
            cap.unlink()  # a stale caption of an earlier figure with this id
        return paths
    if hasattr(fig, "savefig"):
        stem.parent.mkdir(parents=True, exist_ok=True)
        if paper:
            w, h = fig.get_size_inches()
            wi = style.paper_width(width)
            fig.set_size_inches(wi, height or wi * h / w)
        return _save_matplotlib(fig, stem, formats, dpi)
    raise InvalidInputError(
        f"save_figure takes a plotly or matplotlib figure, not {type(fig).__name__}"
    )
