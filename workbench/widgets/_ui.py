"""Small pieces shared by the dashboard and the explorer: figure display, the message area,
progress reporting, and the list of encoders to offer."""

from __future__ import annotations

import html
import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ipywidgets as W

log = logging.getLogger(__name__)

CSS = """
<style>
.wb-app { font-family: var(--jp-ui-font-family, sans-serif); }
.wb-msg-error { background: #fdecea; color: #8a1c12; border-left: 4px solid #d93025;
  padding: 6px 10px; margin: 4px 0; white-space: pre-wrap; }
.wb-msg-info { background: #eef4fb; color: #0b3c6b; border-left: 4px solid #0072B2;
  padding: 6px 10px; margin: 4px 0; }
table.wb-table { border-collapse: collapse; font-size: 12.5px; margin: 4px 0; }
table.wb-table th, table.wb-table td { padding: 3px 8px; border-bottom: 1px solid #ddd;
  text-align: right; }
table.wb-table th:first-child, table.wb-table td:first-child { text-align: left; }
table.wb-neigh td:nth-child(2), table.wb-neigh th:nth-child(2) { text-align: left;
  max-width: 460px; }
.wb-caption { color: #555; font-size: 12px; }
</style>
"""


def in_colab() -> bool:
    return "google.colab" in sys.modules


def enable_colab_widgets() -> None:
    """Colab renders ipywidgets 8 only with its custom widget manager switched on."""
    if in_colab():  # pragma: no cover - Colab only
        try:
            from google.colab import output

            output.enable_custom_widget_manager()
        except Exception as e:
            log.warning("could not enable Colab's widget manager: %s", e)


def figure_bundle(fig) -> dict[str, Any]:
    """A plotly figure as the mime bundle JupyterLab and Voila render (no plotly.js inline;
    in Colab, which lacks that renderer, HTML loading plotly.js from its CDN)."""
    from plotly.io import to_json

    if in_colab():  # pragma: no cover - Colab only
        html_fig = fig.to_html(include_plotlyjs="cdn", full_html=False)
        return {"text/html": html_fig, "text/plain": "<plotly figure>"}

    spec = json.loads(to_json(fig.to_dict(), validate=False, remove_uids=False))
    # responsive=True would size the plot by its container, whose height the plot itself
    # gives: inside an Output widget that collapses to 0 px in JupyterLab
    spec["config"] = {"displaylogo": False, "responsive": False}
    title = fig.layout.title.text or "figure"
    return {"application/vnd.plotly.v1+json": spec, "text/plain": f"<plotly figure: {title}>"}


def show_figure(out: W.Output, fig) -> None:
    """Replace what ``out`` shows by ``fig``."""
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is None:  # plain Python (tests, scripts): nothing can render it
        return
    out.clear_output(wait=True)
    with out:
        display(figure_bundle(fig), raw=True)


#: absolute paths in a message (``/srv/models/x``, ``C:\\data``): what server mode hides
_ABS_PATH = re.compile(r"(?:(?<=[\s'\"(=:,])|^)(?:~|[A-Za-z]:\\|/)[^\s'\"(),;]*")


def scrub_paths(text: str) -> str:
    """``text`` with every absolute path replaced by ``<path>`` (server mode: a visitor
    never learns how the server's disk is laid out)."""
    return _ABS_PATH.sub("<path>", str(text))


class MessageArea:
    """An HTML widget that shows one error or note at a time (empty when all is well);
    ``scrub=True`` (server mode) removes absolute paths from every message."""

    def __init__(self, scrub: bool = False) -> None:
        self.widget = W.HTML(value="")
        self.widget.add_class("wb-message")
        self.text = ""
        self.kind = ""
        self.scrub = scrub

    def _clean(self, text: str) -> str:
        return scrub_paths(text) if self.scrub else str(text)

    def error(self, text: str) -> None:
        text = self._clean(text)
        log.info("dashboard message: %s", text)
        self.text, self.kind = text, "error"
        self.widget.value = f'<div class="wb-msg-error">⚠ {html.escape(text)}</div>'

    def info(self, text: str) -> None:
        text = self._clean(text)
        self.text, self.kind = text, "info"
        self.widget.value = f'<div class="wb-msg-info">{html.escape(text)}</div>'

    def clear(self) -> None:
        self.text, self.kind = "", ""
        self.widget.value = ""


class Progress:
    """A progress bar with a status line; ``step(msg)`` advances, ``note(msg)`` only says."""

    def __init__(self) -> None:
        self.bar = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="180px"))
        self.label = W.HTML(value="")
        self.bar.add_class("wb-progress")
        self.label.add_class("wb-status")
        self.widget = W.HBox([self.bar, self.label])

    def start(self, steps: int, msg: str = "working…") -> None:
        self.bar.max = max(1, steps)
        self.bar.value = 0
        self.bar.bar_style = "info"
        self.note(msg)

    def step(self, msg: str) -> None:
        self.bar.value = min(self.bar.max, self.bar.value + 1)
        self.note(msg)

    def note(self, msg: str) -> None:
        self.label.value = f'<span class="wb-caption">{html.escape(msg)}</span>'

    def clear(self) -> None:
        """An empty status (nothing running, nothing to report)."""
        self.bar.value = 0
        self.bar.bar_style = ""
        self.label.value = ""

    def done(self, msg: str = "ready", ok: bool = True) -> None:
        self.bar.value = self.bar.max
        self.bar.bar_style = "success" if ok else "danger"
        self.note(msg)


def df_html(df, classes: str = "wb-table", index: bool = True) -> str:
    """A DataFrame as a compact HTML table (escaped); a named index becomes the first column."""
    if index and df.index.name:
        df, index = df.reset_index(), False
    return df.to_html(classes=classes, index=index, escape=True, border=0, na_rep="")


def find_trained(folders: Iterable[str | os.PathLike], depth: int = 2) -> list[str]:
    """Model folders (a ``config.json`` or ``modules.json`` inside) at or up to ``depth``
    levels below ``folders``: the outputs of training runs (``runs/05/cosent``), which
    :func:`workbench.load_encoder` reads. Checkpoint folders are not offered."""
    found: list[str] = []

    def visit(d: Path, level: int) -> None:
        if (d / "config.json").is_file() or (d / "modules.json").is_file():
            found.append(str(d))
            return
        if level < depth:
            for c in sorted(p for p in d.iterdir() if p.is_dir() and p.name != "checkpoints"):
                visit(c, level + 1)

    for f in folders:
        root = Path(f).expanduser()
        if root.is_dir():
            visit(root, 0)
    return list(dict.fromkeys(found))


def default_trained_dirs() -> list[Path]:
    """Where training runs usually are: ``$WORKBENCH_RUNS_DIR`` and the cache's ``runs/``."""
    from .. import config

    dirs = [config.cache_dir() / "runs"]
    if os.environ.get("WORKBENCH_RUNS_DIR"):
        dirs.insert(0, Path(os.environ["WORKBENCH_RUNS_DIR"]))
    return dirs


def encoder_choices(extra: Iterable[str] = (), trained: Iterable[str] = ()) -> list[str]:
    """Installed registered encoders, then ``extra`` names, then trained model folders."""
    from ..encoders import list_encoders

    names = [r["name"] for r in list_encoders() if r["installed"]]
    return list(dict.fromkeys([*names, *extra, *trained]))


# ------------------------------------------------------------------------- server mode

#: the folder under which a Voila page may load model folders (turns server mode on)
SERVER_ROOT_ENV = "WORKBENCH_SERVER_ROOT"
#: "1": server mode with registered encoders only
SERVER_ENV = "WORKBENCH_SERVER"
REFUSED = "only the registered encoders listed in the box{folders} can be loaded on this page"


class ServerPolicy:
    """What a page served to visitors (Voila) may load: the installed registered encoders,
    and model folders under ``root`` (none without a root). Nothing else: no other folder,
    file or hub id, however typed (absolute, ``~``, ``..``, a symlink out of the root).

    Folders are offered and accepted by their path relative to ``root``; messages never
    show a server path.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        from ..encoders import list_encoders

        self.root = Path(root).expanduser().resolve() if root else None
        if self.root is not None and not self.root.is_dir():
            raise ValueError(f"server root {self.root} is not a folder")
        self.registered = [r["name"] for r in list_encoders() if r["installed"]]

    @classmethod
    def from_env(cls, server: bool | None = None, root: str | os.PathLike | None = None):
        """The policy the arguments or the environment ask for (None: no server mode)."""
        root = root or os.environ.get(SERVER_ROOT_ENV) or None
        if server is None:
            server = bool(root) or os.environ.get(SERVER_ENV, "0") == "1"
        return cls(root) if server else None

    def folders(self) -> list[str]:
        """Model folders under the root, as paths relative to it."""
        if self.root is None:
            return []
        found = (Path(f) for f in find_trained([self.root], depth=3))
        # a symlink out of the root is not offered (and resolve() refuses it)
        return [
            str(f.relative_to(self.root)) for f in found if f.resolve().is_relative_to(self.root)
        ]

    def choices(self) -> list[str]:
        return list(dict.fromkeys([*self.registered, *self.folders()]))

    def refusal(self) -> str:
        return REFUSED.format(folders=" and model folders of this server" if self.root else "")

    def resolve(self, typed: str) -> str:
        """The encoder to load for what a visitor typed: a registered name, or the absolute
        folder of a relative path under the root. Raises ValueError with a message that
        echoes nothing of the server."""
        name = (typed or "").strip()
        if name in self.registered:
            return name
        if self.root is None or not name or name.startswith(("/", "~", "\\")) or ":" in name:
            raise ValueError(self.refusal())
        parts = Path(name).parts
        if ".." in parts:
            raise ValueError(self.refusal())
        folder = (self.root / name).resolve()  # follows symlinks: one out of the root fails
        if not folder.is_relative_to(self.root) or not folder.is_dir():
            raise ValueError(self.refusal())
        if not ((folder / "config.json").is_file() or (folder / "modules.json").is_file()):
            raise ValueError(self.refusal())
        return str(folder)
