"""The rendered course: every notebook executed and written as a web page for ``docs/course/``,
so a student sees each figure (and each conclusion box) before running anything.

``python -m workbench.course --out docs/course`` (``--notebooks 00,03`` for some,
``--full`` for the full setting). Each notebook runs through
:func:`workbench.report.run_notebook`, the runner of ``workbench report``; :func:`course_page`
then makes its page fit to publish.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import InvalidInputError, WorkbenchError
from .notebook import BOX, STYLES

__all__ = ["course_page", "render_course"]

# plotly.js as plotly's notebook renderer inlines it (a 4.8 MB <script> per page)
_INLINE_PLOTLYJS = re.compile(r"<script[^>]*>\s*/\*\*\s*\*\s*plotly\.js v[\d.]+.*?</script>", re.S)


def course_page(page: str, banner: str = "") -> str:
    """An nbconvert page of an executed notebook, made fit to publish: plotly.js loaded once
    from its CDN in the head instead of the 4.8 MB copy plotly's notebook renderer inlines
    into the output of the first figure it shows, and ``banner`` (HTML) at the top of the
    body."""
    from plotly.io._utils import plotly_cdn_url

    page = _INLINE_PLOTLYJS.sub("", page)
    if "Plotly.newPlot" in page and "cdn.plot.ly/plotly-" not in page:
        tag = f'<script src="{plotly_cdn_url()}" charset="utf-8"></script>\n'
        page = page.replace("</head>", tag + "</head>", 1)
    if banner:
        page = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + banner, page, count=1)
    return page


def _banner(quick: bool) -> str:
    from . import __version__

    setting = (
        "the reduced setting (<code>WORKBENCH_QUICK=1</code>: small subsets, a few training "
        "steps), so its numbers are rough"
        if quick
        else "the full setting"
    )
    return (
        f'<div class="wb-course-banner" style="{BOX}{STYLES["unchecked"]}max-width:1000px;'
        f'margin:8px auto;">This page is the notebook executed in {setting}; rendered by '
        f"<code>python -m workbench.course --out docs/course</code> on "
        f"{time.strftime('%Y-%m-%d')} (workbench {__version__}). The <b>Conclusions</b> at "
        "the end give the full-run figures and the command that produced each; a box under a "
        "result says whether this run agrees with them.</div>"
    )


def _index(records: list[dict[str, Any]], quick: bool) -> str:
    rows = "\n".join(
        f'<li><a href="{html.escape(r["page"])}">{html.escape(r["title"])}</a></li>'
        for r in records
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>The workbench course'
        f'</title></head>\n<body style="font-family:sans-serif;max-width:760px;margin:2em auto">'
        f"{_banner(quick)}\n<h1>The workbench course</h1>\n<ol>\n{rows}\n</ol>\n</body></html>\n"
    )


def _title(path: Path) -> str:
    import nbformat

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def render_course(
    out: str | os.PathLike = "docs/course",
    notebooks: Sequence[str] | None = None,
    notebooks_dir: str | os.PathLike | None = None,
    quick: bool = True,
    timeout: int = 1800,
) -> list[dict[str, Any]]:
    """Execute the course notebooks and write each as ``out/NN_name.html`` plus ``index.html``.

    Runs :func:`workbench.report.run_notebook` (what ``workbench report`` runs) for each
    notebook, then :func:`course_page`. ``notebooks``: name fragments (``["00", "03"]``);
    ``None`` = all. A notebook that fails raises: a page with an error in it is not a course
    page. Returns one record per notebook (the runner's, with ``page``).
    """
    from .report import default_notebooks_dir, run_notebook

    nb_dir = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    if nb_dir is None or not nb_dir.is_dir():
        raise InvalidInputError("no notebooks folder found; pass notebooks_dir (notebooks/)")
    paths = sorted(nb_dir.glob("[0-9][0-9]_*.ipynb"))
    if notebooks:
        paths = [p for p in paths if any(f in p.stem for f in notebooks)]
    if not paths:
        raise InvalidInputError(f"no notebook in {nb_dir} matches {list(notebooks or [])}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="wb-course-") as tmp:
            # svg: the runner also exports each figure; the page needs none of those files
            rec = run_notebook(path, Path(tmp), quick, formats=["svg"], timeout=timeout)
            if rec["status"] != "ok" or "html" not in rec:
                why = rec.get("reason") or rec.get("html_error") or rec["status"]
                raise WorkbenchError(f"{path.name} did not render: {why}")
            page = course_page(Path(rec["html"]).read_text(encoding="utf-8"), _banner(quick))
        target = out / f"{path.stem}.html"
        target.write_text(page, encoding="utf-8")
        rec.update(page=target.name, title=_title(path), html=str(target))
        records.append(rec)
    # the index lists every page in the folder, including ones rendered by an earlier call
    pages = sorted(out.glob("[0-9][0-9]_*.html"))
    listed = [
        {"page": p.name, "title": _title(nb_dir / f"{p.stem}.ipynb")}
        for p in pages
        if (nb_dir / f"{p.stem}.ipynb").is_file()
    ]
    (out / "index.html").write_text(_index(listed, quick), encoding="utf-8")
    return records


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m workbench.course --out docs/course [--notebooks 00,03] [--full]``."""
    ap = argparse.ArgumentParser(
        prog="python -m workbench.course",
        description="execute the course notebooks and write them as HTML pages",
    )
    ap.add_argument("--out", default="docs/course", help="folder of the pages")
    ap.add_argument("--notebooks", help="comma-separated name fragments (default: all)")
    ap.add_argument("--notebooks-dir", help="folder of the NN_*.ipynb notebooks")
    ap.add_argument("--full", action="store_true", help="the full setting (default: QUICK)")
    args = ap.parse_args(argv)
    try:
        records = render_course(
            args.out,
            notebooks=args.notebooks.split(",") if args.notebooks else None,
            notebooks_dir=args.notebooks_dir,
            quick=not args.full,
        )
    except WorkbenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for r in records:
        print(f"{r['html']}  ({r['seconds']} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
