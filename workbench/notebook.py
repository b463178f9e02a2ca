"""The course notebooks: conclusions checked on screen, and a rendered copy of the course.

Each course notebook ends with conclusions measured in the full setting. The reduced setting
(``QUICK``: a few hundred pairs, a few training steps) is for trying things out and for CI;
its numbers are noisier and can contradict a conclusion. :func:`check_claim` puts that on
screen, right under the result it is about: a short green line when this run agrees, an
orange box that names the full-run figure (and the command that produced it) when it does
not, so a student never reads a contradiction without being told.

:func:`render_course` executes the notebooks (``workbench report``'s runner) and writes each
as an HTML page for ``docs/course/``, so a student sees every figure before running anything:
``python -m workbench.notebook --out docs/course``.

>>> from workbench.notebook import check_claim
>>> check_claim(
...     "fitting on the test sentences (a leak) scores higher than fitting on STS-B train",
...     leak > honest,
...     observed={"leak": leak, "honest": honest},
...     full_run="STS-B 84.4 vs 83.9 (notebook 03 with QUICK = False)",
... )  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import html
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any

from .errors import InvalidInputError, WorkbenchError

__all__ = ["ClaimCheck", "check_claim", "course_page", "quick_mode", "render_course"]

_BOX = (
    "margin:6px 0;padding:8px 12px;border-radius:3px;font-size:13px;line-height:1.45;"
    "font-family:var(--jp-ui-font-family, -apple-system, 'Segoe UI', sans-serif);"
)
_STYLES = {
    "agrees": "background:#edf7ed;color:#1e4620;border-left:4px solid #009E73;",
    "disagrees": "background:#fff4e5;color:#663c00;border-left:4px solid #E69F00;",
    "unchecked": "background:#eef4fb;color:#0b3c6b;border-left:4px solid #0072B2;",
}


def quick_mode() -> bool:
    """True when ``WORKBENCH_QUICK=1`` (what the notebooks' parameter cells read)."""
    return os.environ.get("WORKBENCH_QUICK", "0") == "1"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Real):
        return f"{float(value):.2f}" if math.isfinite(float(value)) else "n/a"
    return str(value)


def _observed_text(observed: Mapping[str, Any] | str | None) -> str:
    if observed is None:
        return ""
    if isinstance(observed, str):
        return observed
    if not isinstance(observed, Mapping):
        raise InvalidInputError(
            f"observed must be a mapping of label to value or a string, not "
            f"{type(observed).__name__}"
        )
    return ", ".join(f"{k} {_fmt(v)}" for k, v in observed.items())


def _has_nan(observed: Mapping[str, Any] | str | None) -> bool:
    if not isinstance(observed, Mapping):
        return False
    return any(
        isinstance(v, Real) and not isinstance(v, bool) and not math.isfinite(float(v))
        for v in observed.values()
    )


def _inline_code(text: str) -> str:
    """Escape ``text`` for HTML, with `backticked` spans as <code>."""
    parts = re.split(r"`([^`]+)`", text)
    return "".join(
        f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts)
    )


@dataclass(frozen=True)
class ClaimCheck:
    """The outcome of :func:`check_claim`; shows itself as a coloured box in a notebook."""

    claim: str
    holds: bool | None  # None: the observed values had a NaN, nothing could be checked
    full_run: str
    observed: str
    quick: bool

    @property
    def status(self) -> str:
        """``agrees``, ``disagrees`` or ``unchecked``."""
        if self.holds is None:
            return "unchecked"
        return "agrees" if self.holds else "disagrees"

    def _parts(self) -> tuple[str, str]:
        """(headline, details) in plain text with `code` spans."""
        setting = "quick run" if self.quick else "full run"
        here = f" Here: {self.observed}." if self.observed else ""
        if self.status == "agrees":
            return (f"This {setting} agrees: {self.claim}.", here.strip())
        if self.status == "unchecked":
            return (
                f"Not checked in this {setting} (a value is missing): {self.claim}.",
                f"{here} Full run: {self.full_run}.".strip(),
            )
        if self.quick:
            return (
                f"This quick run disagrees with the conclusion: {self.claim}.",
                f"{here} The full run gives {self.full_run}. The quick setting scores small "
                "subsets, so differences of this size are within its noise; set "
                "`QUICK = False` to measure the full setting.".strip(),
            )
        return (
            f"This full run disagrees with the conclusion the notebook states: {self.claim}.",
            f"{here} The stated figures are {self.full_run}. Data, protocol or library "
            "versions differ from the ones they were measured with: compare "
            "`wb.library_versions()` and the `protocol` column.".strip(),
        )

    def __str__(self) -> str:
        mark = {"agrees": "ok", "disagrees": "WARNING", "unchecked": "note"}[self.status]
        head, details = self._parts()
        text = f"[{mark}] {head}" + (f" {details}" if details else "")
        return text.replace("`", "")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head, details = self._parts()
        icon = {"agrees": "&#10003;", "disagrees": "&#9888;", "unchecked": "&#8505;"}[self.status]
        body = f"<b>{icon} {_inline_code(head)}</b>"
        if details:
            body += f"<br>{_inline_code(details)}"
        style = _BOX + _STYLES[self.status]
        return f'<div class="wb-claim wb-claim-{self.status}" style="{style}">{body}</div>'


def check_claim(
    claim: str,
    holds: Any,
    *,
    full_run: str,
    observed: Mapping[str, Any] | str | None = None,
    quick: bool | None = None,
) -> ClaimCheck:
    """Check one stated conclusion against this run and return a box that says so.

    ``claim``: the conclusion as the notebook states it. ``holds``: whether this run's numbers
    agree (a bool computed in the cell, e.g. ``leak > honest``). ``full_run``: the full-setting
    figure and the command or protocol that produced it, shown when this run disagrees.
    ``observed``: this run's values (``{"leak": 83.1, "honest": 84.0}``) or a sentence; a NaN
    among them means nothing could be checked. ``quick``: the setting of this run (default:
    ``WORKBENCH_QUICK``). The box is the cell's output, so it is in every executed copy
    (HTML pages of ``workbench report`` included).
    """
    if not isinstance(claim, str) or not claim.strip():
        raise InvalidInputError("claim must be a non-empty sentence stating the conclusion")
    if not isinstance(full_run, str) or not full_run.strip():
        raise InvalidInputError(
            "full_run must name the full-setting figure and the command that produced it"
        )
    import numpy as np

    if not isinstance(holds, bool | np.bool_):  # an array or Series would be ambiguous
        raise InvalidInputError(
            f"holds must be one True/False, not {type(holds).__name__}; compare two numbers "
            "or reduce with .all() / .any()"
        )
    verdict = bool(holds)
    text = _observed_text(observed)
    result = ClaimCheck(
        claim=claim.strip().rstrip("."),
        holds=None if _has_nan(observed) else verdict,
        full_run=full_run.strip().rstrip("."),
        observed=text.strip().rstrip("."),
        quick=quick_mode() if quick is None else bool(quick),
    )
    return result


# ------------------------------------------------------------------ the rendered course

# plotly.js as plotly's notebook renderer inlines it (a 4.8 MB <script> per page)
_INLINE_PLOTLYJS = re.compile(r"<script[^>]*>\s*/\*\*\s*\*\s*plotly\.js v[\d.]+.*?</script>", re.S)


def course_page(page: str, banner: str = "") -> str:
    """An nbconvert page of an executed notebook, made fit to publish: plotly.js loaded once
    from its CDN in the head (plotly's notebook renderer inlines 4.8 MB of it, or, when its
    set-up output is not part of the page, nothing, and the figures stay blank), and
    ``banner`` (HTML) at the top of the body."""
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
        f'<div class="wb-course-banner" style="{_BOX}{_STYLES["unchecked"]}max-width:1000px;'
        f'margin:8px auto;">This page is the notebook executed in {setting}; rendered by '
        f"<code>python -m workbench.notebook --out docs/course</code> on "
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
    """``python -m workbench.notebook --out docs/course [--notebooks 00,03] [--full]``."""
    ap = argparse.ArgumentParser(
        prog="python -m workbench.notebook",
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
