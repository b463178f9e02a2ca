"""``workbench report --out DIR``: every paper figure and table, regenerated in one command.

Two parts, both on by default:

1. **The standard study** of one encoder (``--encoder``, default all-MiniLM-L6-v2), computed
   here with library calls: STS on the seven tasks for its default pooling, CLS pooling and
   (when :mod:`workbench.geometry` is present) PCA whitening, with bootstrap CIs and paired
   tests against the default (``standard/sts_*.csv``, ``sts_bar``); a PCA map of the
   sentences coloured by gold score (``space_pca``); cosine similarity of positive vs random
   pairs (``similarity_hist``); Spearman by dimensions kept (``truncation_curve``).
2. **Every figure of the notebooks**: each ``notebooks/NN_*.ipynb`` is executed headless
   (``--quick`` gives the reduced CI setting) with a hook in the kernel that saves the
   value of every cell that shows a plotly or matplotlib figure (as PDF/SVG/PNG, via
   :func:`workbench.plotting.save_figure`) or a DataFrame (as CSV), and the figures of the
   dashboards. The notebooks stay the single source of each figure: one added to a
   notebook appears in the report without touching this module. A notebook whose part of
   the workbench is not installed (geometry, training) is skipped with a note; one that
   fails is reported and the others still run.

``report.json`` lists every file written, what was skipped and why, timings and versions.
The exit status is 1 when something failed (not when something was skipped).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import InvalidInputError, UnknownNameError

log = logging.getLogger(__name__)

STANDARD_TASKS = None  # all seven STS tasks
QUICK_TASKS = ["STSBenchmark", "SICKRelatedness"]
QUICK_MAX_PAIRS = 200


def _slug(text: str, n: int = 40) -> str:
    s = re.sub(r"<[^>]+>", " ", str(text or ""))
    s = re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-").lower()
    return s[:n].rstrip("-")


def default_notebooks_dir() -> Path | None:
    """``notebooks/`` of the checkout this package runs from (None when installed elsewhere)."""
    d = Path(__file__).resolve().parents[1] / "notebooks"
    return d if d.is_dir() else None


# ---------------------------------------------------------------------------- the kernel hook


class _Capture:
    """Saves the figures and tables a notebook shows; installed inside its kernel."""

    def __init__(self, out: str, formats: Sequence[str]) -> None:
        self.out = Path(out)
        self.formats = list(formats)
        self.files: list[str] = []
        self.errors: list[str] = []
        self.used: dict[str, int] = {}
        self.out.mkdir(parents=True, exist_ok=True)

    def _figure(self, fig, stem: str) -> None:
        from .plotting.export import save_figure

        try:
            paths = save_figure(fig, self.out / stem, formats=self.formats)
        except Exception as e:  # one odd figure must not stop the notebook
            self.errors.append(f"{stem}: {type(e).__name__}: {e}")
            return
        self.files += [str(p) for p in paths]

    def _table(self, df, stem: str) -> None:
        path = self.out / f"{stem}.csv"
        df.to_csv(path)
        self.files.append(str(path))

    def _stem(self, figure_id: str) -> str:
        """A file name from the figure's id, unique within this notebook (``-2``, ``-3``)."""
        from .plotting.export import _ID

        stem = figure_id if _ID.fullmatch(figure_id) else (_slug(figure_id, 60) or "figure")
        self.used[stem] = self.used.get(stem, 0) + 1
        return stem if self.used[stem] == 1 else f"{stem}-{self.used[stem]}"

    def save(self, value: Any, n: int) -> None:
        import pandas as pd

        if value is None:
            return
        kind = type(value).__module__
        if kind.startswith("plotly"):
            # named by the id the notebook gives (plotting.set_meta) or the builder's
            # default, never by the title: \includegraphics paths survive a new title
            from .plotting.style import figure_meta

            self._figure(value, self._stem(figure_meta(value).get("figure_id", "figure")))
        elif hasattr(value, "savefig"):
            self._figure(value, self._stem("figure"))
        elif isinstance(value, pd.DataFrame | pd.Series):
            self._table(value, f"cell{n:02d}-table")
        elif hasattr(value, "bar_figure") or hasattr(value, "curve_figure"):  # the dashboards
            for attr in ("bar_figure", "scatter_figure", "hist_figure", "curve_figure"):
                fig = getattr(value, attr, None)
                if fig is not None:
                    self._figure(fig, self._stem(attr.replace("_figure", "")))
            for attr in ("results", "significance", "curve", "similarities"):
                df = getattr(value, attr, None)
                if isinstance(df, pd.DataFrame):
                    self._table(df, f"cell{n:02d}-{attr}")

    def write_manifest(self) -> None:
        (self.out / ".captured.json").write_text(
            json.dumps({"files": self.files, "errors": self.errors}, indent=1)
        )


def _install_capture(out: str, formats: Sequence[str]) -> _Capture:
    """Run in a notebook's kernel by the report: saves what each cell shows."""
    import matplotlib

    matplotlib.use("Agg")
    from IPython import get_ipython

    cap = _Capture(out, formats)
    ip = get_ipython()
    try:  # figures also as HTML with plotly.js inline: the notebook's HTML page shows them
        import plotly.io as pio

        pio.renderers.default = "plotly_mimetype+notebook"
    except ImportError:
        pass

    def after(result) -> None:
        if result.success and result.result is not None:
            # this hook cell runs first, so count - 1 numbers the notebook's own code cells
            cap.save(result.result, max(0, (result.execution_count or 1) - 1))
        cap.write_manifest()

    ip.events.register("post_run_cell", after)
    return cap


# ---------------------------------------------------------------------------- parts


def _save(fig, stem: Path, formats, files: list[str]) -> None:
    from .plotting.export import save_figure

    files += [str(p) for p in save_figure(fig, stem, formats=formats)]


def standard_study(
    out: Path,
    encoder: str = "all-MiniLM-L6-v2",
    quick: bool = False,
    formats: Sequence[str] = ("pdf", "svg", "png"),
    data_dir: str | None = None,
    notes: list[str] | None = None,
) -> list[str]:
    """The standard figures and tables of one encoder (see the module docstring)."""
    import pandas as pd

    from .evaluation import summary
    from .plotting.space import (
        project,
        projection_scatter,
        score_by_dimension,
        similarity_histogram,
    )
    from .plotting.sts import sts_bar, sts_table
    from .widgets.core import (
        Method,
        Workspace,
        dimension_curve,
        geometry_transforms,
        pair_similarities,
        significance,
    )

    notes = notes if notes is not None else []
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    tasks = QUICK_TASKS if quick else [
        "STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICKRelatedness"
    ]  # fmt: skip
    max_pairs = QUICK_MAX_PAIRS if quick else None
    ws = Workspace(
        data_dir=data_dir,
        n_boot=300 if quick else 1000,
        fit_max_n=2000 if quick else 20_000,
        progress=lambda m: log.info("%s", m),
    )
    base = Method(encoder)
    methods = [base]
    enc = ws.encoder(base)
    if getattr(enc, "pooling", None) not in (None, "cls") and hasattr(enc, "num_layers"):
        methods.append(Method(encoder, pooling="cls"))
    if geometry_transforms() is not None:
        methods.append(Method(encoder, whiten="pca"))
    else:
        notes.append("standard study: no whitening row (workbench.geometry is not installed)")
    log.info("standard study: %s on %s", [m.name for m in methods], tasks)
    results, preds = ws.results(methods, tasks, max_pairs)
    sig = significance(preds, base.name, n_boot=ws.n_boot)
    for name, df in {
        "sts_results": results,
        "sts_summary": summary(results),
        "sts_significance": sig,
        "sts_table": sts_table(results, significance=sig, baseline=base.name),
    }.items():
        path = out / f"{name}.csv"
        df.to_csv(path, index=name in ("sts_summary", "sts_table"))
        files.append(str(path))
    _save(sts_bar(results, significance=sig, baseline=base.name), out / "sts_bar", formats, files)

    pts = ws.points("sts", tasks, max_pairs, n=400 if quick else 2000)
    xy = project(ws.embed(base, pts["text"].tolist()), "pca")
    fig = projection_scatter(
        xy, texts=pts["text"], color=pts["gold score"], color_name="gold score", method="pca"
    )
    _save(fig, out / "space_pca", formats, files)
    pts.assign(x=xy[:, 0], y=xy[:, 1]).to_csv(out / "space_pca.csv", index=False)
    files.append(str(out / "space_pca.csv"))

    pairs = ws.pairs(["STSBenchmark"], max_pairs)
    s1, s2 = pairs["sentence1"].tolist(), pairs["sentence2"].tolist()
    sims, curves = [], []
    for m in methods[:2]:
        e = ws.embed(m, s1 + s2)
        e1, e2 = e[: len(s1)], e[len(s1) :]
        sims.append(pair_similarities(e1, e2, pairs["score"].to_numpy()).assign(method=m.name))
        curves.append(dimension_curve(e1, e2, pairs["score"].to_numpy()).assign(method=m.name))
    sims_df = pd.concat(sims, ignore_index=True)
    curve = pd.concat(curves, ignore_index=True)
    _save(similarity_histogram(sims_df), out / "similarity_hist", formats, files)
    _save(
        score_by_dimension(curve, title="STS-B: Spearman by dimensions kept (first k)"),
        out / "truncation_curve",
        formats,
        files,
    )
    curve.to_csv(out / "truncation_curve.csv", index=False)
    files.append(str(out / "truncation_curve.csv"))
    return files


_NEEDS = {  # notebook name fragment -> module it needs; absent module = skipped, not failed
    "isotropy": "workbench.geometry",
    "whitening": "workbench.geometry",
    "truncation": "workbench.geometry",
    "training": "workbench.training",
}


def _missing_module(stem: str) -> str | None:
    import importlib.util

    for frag, module in _NEEDS.items():
        if frag in stem:
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                return module
    return None


def run_notebook(
    path: Path, out: Path, quick: bool, formats: Sequence[str], timeout: int = 3600
) -> dict[str, Any]:
    """Execute one notebook headless and save what it shows; returns its record."""
    import nbclient
    import nbformat

    rec: dict[str, Any] = {"notebook": path.name, "files": [], "status": "ok"}
    missing = _missing_module(path.stem)
    if missing:
        rec.update(status="skipped", reason=f"{missing} is not installed")
        log.warning("skipping %s: %s is not installed", path.name, missing)
        return rec
    out.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(path, as_version=4)
    hook = nbformat.v4.new_code_cell(
        f"from workbench.report import _install_capture\n"
        f"_wb_capture = _install_capture({str(out)!r}, {list(formats)!r})"
    )
    nb.cells.insert(0, hook)
    env_before = os.environ.get("WORKBENCH_QUICK")
    os.environ["WORKBENCH_QUICK"] = "1" if quick else "0"
    os.environ.setdefault("MPLBACKEND", "Agg")
    t0 = time.perf_counter()
    sockets = tempfile.TemporaryDirectory(prefix="wb-kernel-")
    km = client = None
    try:
        from jupyter_client.manager import KernelManager

        # a kernel on unix sockets (TCP ports chosen by jobs running side by side can
        # collide), named by an absolute path: the kernel runs in the notebook's folder
        km = KernelManager(
            kernel_name="python3",
            transport="ipc",
            connection_file=str(Path(sockets.name) / "kernel.json"),
        )
        client = nbclient.NotebookClient(
            nb,
            km=km,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()
    except Exception as e:
        rec.update(status="failed", reason=f"{type(e).__name__}: {str(e).strip()[-800:]}")
        log.error("%s failed: %s", path.name, rec["reason"])
    finally:
        # nbclient shuts down only kernels it created (``owns_km``): this one is ours, and a
        # kernel left behind keeps a core busy after its notebook has finished.
        if client is not None and client.kc is not None:
            client.kc.stop_channels()
        if km is not None and km.has_kernel:
            km.shutdown_kernel(now=True)
        sockets.cleanup()
        if env_before is None:
            os.environ.pop("WORKBENCH_QUICK", None)
        else:
            os.environ["WORKBENCH_QUICK"] = env_before
    rec["seconds"] = round(time.perf_counter() - t0, 1)
    try:  # the executed notebook as a page a student can read without running anything
        from nbconvert import HTMLExporter

        nb.cells.pop(0)  # the capture hook is not part of the notebook
        page = out / f"{path.stem}.html"
        page.write_text(HTMLExporter().from_notebook_node(nb)[0], encoding="utf-8")
        rec["html"] = str(page)
    except Exception as e:  # a page that cannot be written must not fail the report
        rec["html_error"] = f"{type(e).__name__}: {e}"
    manifest = out / ".captured.json"
    if manifest.is_file():
        cap = json.loads(manifest.read_text())
        manifest.unlink()
        rec["files"] = cap["files"]
        if cap["errors"]:
            rec["figure_errors"] = cap["errors"]
    return rec


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("workbench", "torch", "transformers", "numpy", "pandas", "plotly", "matplotlib"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def _check_formats(formats: Sequence[str] | str) -> list[str]:
    from .plotting.export import FORMATS

    items = [formats] if isinstance(formats, str) else list(formats)
    clean = [str(f).strip().lower().lstrip(".") for f in items if str(f).strip()]
    bad = [f for f in clean if f not in FORMATS]
    if bad or not clean:
        raise InvalidInputError(
            f"unknown figure format(s) {', '.join(bad) or '(none given)'}; choose from "
            f"{', '.join(FORMATS)}"
        )
    return clean


def _check_out(out: Path) -> None:
    """``out`` must be a folder that can be created and written."""
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out} is a file; give a folder")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InvalidInputError(f"--out {out} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidInputError(f"--out {out} cannot be written: no write permission on {existing}")


def _check_encoder(name: str) -> None:
    """A name the standard study can load (registered, a local path or a hub id)."""
    from .encoders.registry import REGISTRY, _looks_like_hub_id, resolve_name

    if resolve_name(str(name)) or Path(name).expanduser().exists() or _looks_like_hub_id(name):
        return
    raise UnknownNameError(
        f"unknown encoder {name!r}: not a registered name ({', '.join(REGISTRY)}), an "
        "existing folder or file, nor a hub id like 'org/model'"
    )


def make_report(
    out: str | os.PathLike,
    encoder: str = "all-MiniLM-L6-v2",
    quick: bool = False,
    formats: Sequence[str] = ("pdf", "svg", "png"),
    notebooks: Sequence[str] | None = None,
    notebooks_dir: str | os.PathLike | None = None,
    standard: bool = True,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """Write the report into ``out``; returns (and writes as ``report.json``) its record.

    ``notebooks``: name fragments selecting notebooks (``["00", "whitening"]``); ``None`` =
    all; ``[]`` = none.
    """
    out = Path(out)
    formats = _check_formats(formats)  # refused before hours of work, not after
    _check_out(out)
    if standard:
        _check_encoder(encoder)
    paths: list[Path] = []
    if notebooks is None or len(notebooks):
        nb_dir = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
        if nb_dir is None or not nb_dir.is_dir():
            raise InvalidInputError(
                "no notebooks folder found; pass --notebooks-dir (the repository's notebooks/)"
                " or --notebooks none"
            )
        paths = sorted(nb_dir.glob("[0-9][0-9]_*.ipynb"))
        if notebooks:
            paths = [p for p in paths if any(f in p.stem for f in notebooks)]
            if not paths:
                raise InvalidInputError(f"no notebook in {nb_dir} matches {list(notebooks)}")
    out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "command": "workbench report",
        "encoder": encoder,
        "quick": quick,
        "formats": list(formats),
        "versions": _versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "parts": [],
        "notes": [],
    }
    if standard:
        t0 = time.perf_counter()
        part: dict[str, Any] = {"part": "standard study", "status": "ok"}
        try:
            part["files"] = standard_study(
                out / "standard", encoder, quick, formats, data_dir, notes=record["notes"]
            )
        except Exception as e:
            log.exception("standard study failed")
            part.update(status="failed", reason=f"{type(e).__name__}: {e}", files=[])
        part["seconds"] = round(time.perf_counter() - t0, 1)
        record["parts"].append(part)
    if notebooks is None or len(notebooks):
        if data_dir:
            os.environ["WORKBENCH_DATA_DIR"] = str(data_dir)
        for p in paths:
            log.info("running %s", p.name)
            rec = run_notebook(p, out / "notebooks" / p.stem, quick, formats)
            rec["part"] = f"notebook {p.stem}"
            record["parts"].append(rec)
    for part in record["parts"]:
        if part["status"] == "skipped":
            record["notes"].append(f"{part['part']}: skipped ({part['reason']})")
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    record["ok"] = all(p["status"] != "failed" for p in record["parts"])
    (out / "report.json").write_text(json.dumps(record, indent=1))
    return record


# ---------------------------------------------------------------------------- CLI


def cmd_report(args) -> int:
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    nbs = None
    if args.notebooks is not None:
        nbs = [] if args.notebooks.strip().lower() == "none" else args.notebooks.split(",")
        nbs = [n.strip() for n in nbs if n.strip()]
    rec = make_report(
        args.out,
        encoder=args.encoder,
        quick=args.quick,
        formats=formats,
        notebooks=nbs,
        notebooks_dir=args.notebooks_dir,
        standard=not args.no_standard,
        data_dir=args.data_dir,
    )
    if args.json:
        print(json.dumps(rec))
    else:
        for p in rec["parts"]:
            figs = len({Path(f).with_suffix("") for f in p["files"] if not f.endswith(".csv")})
            tables = sum(f.endswith(".csv") for f in p["files"])
            line = f"{p['part']:<48} {p['status']:<8} {figs:>3} figures {tables:>3} tables"
            if p.get("seconds") is not None:
                line += f"  {p['seconds']:>7.1f} s"
            print(line)
            if p["status"] != "ok":
                print(f"    {p['reason']}")
            for err in p.get("figure_errors", []):
                print(f"    figure not saved: {err}")
        for n in rec["notes"]:
            print(f"note: {n}")
        print(f"report written to {Path(args.out).resolve()} (see report.json)")
    return 0 if rec["ok"] else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report`` to the ``workbench`` command line."""
    r = subparsers.add_parser(
        "report",
        help="regenerate every paper figure (PDF/SVG/PNG) and table (CSV) in one command",
        description="Runs the standard study on one encoder and executes every notebook "
        "headless, saving each figure it shows as PDF/SVG/PNG and each table as CSV.",
    )
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--encoder", default="all-MiniLM-L6-v2", help="encoder of the standard study")
    r.add_argument(
        "--quick", action="store_true", help="reduced setting (as CI runs the notebooks)"
    )
    r.add_argument("--formats", default="pdf,svg,png", help="comma-separated: pdf,svg,png")
    r.add_argument(
        "--notebooks",
        help="comma-separated name fragments of the notebooks to run (default all; 'none')",
    )
    r.add_argument("--notebooks-dir", help="folder of the NN_*.ipynb notebooks")
    r.add_argument("--no-standard", action="store_true", help="skip the standard study")
    r.add_argument("--data-dir", help="SentEval-layout data (default $WORKBENCH_DATA_DIR)")
    r.add_argument("--json", action="store_true", help="print report.json on stdout")
    r.set_defaults(func=cmd_report)


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - python -m
    from .cli import main as cli_main

    return cli_main(["report", *(argv if argv is not None else sys.argv[1:])])
