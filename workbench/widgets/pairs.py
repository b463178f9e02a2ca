"""The pair browser: STS pairs sorted by a method's rank residual or by how much the methods
disagree; selecting a pair shows both sentences, the gold score, every method's prediction
and the nearest neighbours of each sentence.

>>> wb.widgets.browse_pairs(["all-MiniLM-L6-v2", "glove-6b-50d"])      # doctest: +SKIP
>>> wb.widgets.browse_pairs(frame=wb.pairs([...], delta=("raw", "zca")))  # doctest: +SKIP

The logic lives in :class:`PairBrowser` methods, so tests drive it without a browser: set
``sort_by.value``/``method.value``, call :meth:`PairBrowser.select`, and read ``rows``,
``selected``, ``neighbour_table``, ``detail.value`` and ``message``. The same browser is a
section of the comparison dashboard, fed with the dashboard's own predictions.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Mapping
from typing import Any

import ipywidgets as W
import pandas as pd

from ..errors import WorkbenchError
from . import _ui

log = logging.getLogger(__name__)

SORT_OPTIONS = (
    ("largest |residual| of", "residual"),
    ("disagreement between methods", "disagreement"),
    ("largest change a → b", "delta"),
    ("most improved a → b", "gain"),
)

_CSS = """
<style>
.wb-pairs-list select { font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
.wb-pair-detail .wb-sent { background: #f6f6f6; padding: 4px 8px; margin: 2px 0; }
.wb-pair-detail table.wb-neigh td, .wb-pair-detail table.wb-neigh th { text-align: left; }
</style>
"""


def _short(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


class PairBrowser:
    """Browse STS pairs by residual or disagreement (see the module docstring).

    Parameters
    ----------
    methods : what :func:`workbench.pairs` takes (encoders, names, ``(label, encoder,
        transforms)``); or give ``frame``, a table :func:`workbench.pairs` made.
    task, protocol, max_pairs, delta, data_dir, cache : passed to :func:`workbench.pairs`.
    n_rows : pairs listed (the top of the sort).
    k : nearest neighbours shown for each sentence.
    """

    def __init__(
        self,
        methods: Any = None,
        task: str = "STSBenchmark",
        protocol: Any = "simcse",
        max_pairs: int | None = None,
        delta: tuple[str, str] | None = None,
        frame: pd.DataFrame | None = None,
        n_rows: int = 30,
        k: int = 5,
        data_dir: str | os.PathLike | None = None,
        cache: bool | str = True,
    ) -> None:
        _ui.enable_colab_widgets()
        self.k = k
        self.frame: pd.DataFrame | None = None
        self.rows: pd.DataFrame | None = None
        self.selected: Any = None
        self.neighbour_table: pd.DataFrame | None = None
        self.figure = None
        self._busy = False
        #: while False (a collapsed dashboard section), new data is kept but not drawn
        self.active = True
        self._stale = False
        sty = {"description_width": "initial"}
        self.message = _ui.MessageArea()
        # inside the dashboard, ".wb-message" must keep naming the dashboard's one area
        self.message.widget.remove_class("wb-message")
        self.message.widget.add_class("wb-pairs-message")
        self.sort_by = W.Dropdown(
            options=list(SORT_OPTIONS),
            value="residual",
            description="sort by",
            style=sty,
            layout=W.Layout(width="300px"),
        )
        self.method = W.Dropdown(options=[], description="", layout=W.Layout(width="300px"))
        self.n_rows = W.BoundedIntText(
            value=n_rows, min=1, max=5000, description="pairs listed", style=sty,
            layout=W.Layout(width="170px"),
        )  # fmt: skip
        self.table = W.Select(options=[], rows=12, layout=W.Layout(width="100%"))
        self.detail = W.HTML(value="")
        self.figure_out = W.Output()
        for w, cls in (
            (self.sort_by, "wb-pairs-sort"),
            (self.method, "wb-pairs-method"),
            (self.n_rows, "wb-pairs-n"),
            (self.table, "wb-pairs-list"),
            (self.detail, "wb-pair-detail"),
            (self.figure_out, "wb-pairs-figure"),
        ):
            w.add_class(cls)
        self.widget = W.VBox(
            [
                W.HTML(_ui.CSS + _CSS),
                W.HBox(
                    [self.sort_by, self.method, self.n_rows], layout=W.Layout(flex_flow="row wrap")
                ),
                self.message.widget,
                self.table,
                W.HBox(
                    [
                        W.Box([self.detail], layout=W.Layout(width="55%")),
                        W.Box([self.figure_out], layout=W.Layout(width="45%")),
                    ],
                    layout=W.Layout(width="100%"),
                ),
            ]
        )
        self.widget.add_class("wb-app")
        self.widget.add_class("wb-pairs")
        for w in (self.sort_by, self.method, self.n_rows):
            w.observe(self._on_control, names="value")
        self.table.observe(self._on_select, names="value")

        if frame is None and methods is not None:
            try:
                from ..comparison import pairs

                frame = pairs(
                    methods, task, protocol, max_pairs=max_pairs, delta=delta, sort=None,
                    data_dir=data_dir, cache=cache,
                )  # fmt: skip
            except WorkbenchError as e:
                self.message.error(str(e))
        if frame is not None:
            self.set_frame(frame)

    def _repr_mimebundle_(self, **kwargs: Any):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ data in

    def set_frame(self, frame: pd.DataFrame) -> None:
        """Show the pair table ``frame`` (from :func:`workbench.pairs` / ``pair_frame``)."""
        self.frame = frame.sort_index()
        methods = list(frame.attrs.get("methods") or [])
        has_delta = "delta_residual" in frame
        self._busy = True
        try:
            keep = self.method.value if self.method.value in methods else None
            self.method.options = methods
            self.method.value = keep or (methods[0] if methods else None)
            options = [
                o
                for o in SORT_OPTIONS
                if (o[1] != "disagreement" or len(methods) > 1)
                and (o[1] not in ("delta", "gain") or has_delta)
            ]
            if [o[1] for o in options] != [o[1] for o in self.sort_by.options]:
                value = self.sort_by.value
                self.sort_by.options = options
                self.sort_by.value = value if value in [o[1] for o in options] else "residual"
        finally:
            self._busy = False
        self.refresh()

    def set_predictions(
        self,
        predictions: Mapping[str, pd.DataFrame],
        protocol: Any = None,
        space: Any = None,
        delta: tuple[str, str] | None = None,
    ) -> None:
        """Show the pairs of :func:`workbench.predict` frames ``{label: frame}`` (what the
        dashboard holds); ``space`` (a :class:`~workbench.comparison.pairs.PairSpace`) gives
        the nearest neighbours."""
        from ..comparison.pairs import pair_frame

        try:
            frame = pair_frame(predictions, protocol, delta=delta, space=space)
        except WorkbenchError as e:
            self.message.error(str(e))
            return
        self.set_frame(frame)

    # ------------------------------------------------------------------ views

    def _on_control(self, change) -> None:
        if not self._busy:
            self.refresh()

    def _on_select(self, change) -> None:
        if not self._busy and change["new"] is not None:
            self.select(change["new"])

    def activate(self, active: bool = True) -> None:
        """Draw (``active``) or stop drawing: a hidden browser only keeps its data, so the
        nearest neighbours are not embedded for a view nobody looks at."""
        self.active = active
        if active and self._stale:
            self.refresh()

    def refresh(self) -> bool:
        """Re-sort the list from the controls and show the first pair (or keep the selected
        one when it is still listed)."""
        from ..comparison.pairs import sort_pairs

        if self.frame is None:
            return False
        if not self.active:
            self._stale = True
            return False
        self._stale = False
        self.message.clear()
        by = self.sort_by.value
        self.method.layout.display = "" if by == "residual" else "none"
        try:
            ordered = sort_pairs(self.frame, by, method=self.method.value)
        except WorkbenchError as e:
            self.message.error(str(e))
            return False
        self.rows = ordered.head(int(self.n_rows.value or 1))
        key = {
            "residual": f"residual:{self.method.value}",
            "disagreement": "disagreement",
            "delta": "delta_residual",
            "gain": "gain",
        }[by]
        options = [
            (
                f"{row[key]:+.2f}  gold {row['gold']:.2f}  "
                f"{_short(row['sentence1'], 48)}  ‖  {_short(row['sentence2'], 48)}",
                idx,
            )
            for idx, row in self.rows.iterrows()
        ]
        keep = self.selected if self.selected in self.rows.index else None
        self._busy = True
        try:
            self.table.options = options
            self.table.value = keep if keep is not None else (options[0][1] if options else None)
        finally:
            self._busy = False
        if self.table.value is not None:
            self.select(self.table.value)
        return True

    def select(self, index: Any) -> bool:
        """Show pair ``index`` (an index label of the pair table): sentences, gold, every
        method's similarity and residual, and the nearest neighbours of both sentences."""
        from ..comparison.pairs import PairSpace, neighbours
        from ..plotting.compare import pair_residuals

        if self.frame is None or index not in self.frame.index:
            self.message.error(f"no pair {index!r}")
            return False
        self.selected = index
        if self.table.value != index and index in [v for _, v in self.table.options]:
            self._busy = True
            try:
                self.table.value = index
            finally:
                self._busy = False
        row = self.frame.loc[index]
        methods = list(self.frame.attrs.get("methods") or [])
        nn = None
        if isinstance(self.frame.attrs.get("space"), PairSpace):
            try:
                nn = neighbours(self.frame, index, k=self.k)
            except WorkbenchError as e:
                self.message.error(str(e))
            except Exception as e:  # an encoder failing deep down must not kill the widget
                log.exception("nearest neighbours failed")
                self.message.error(f"nearest neighbours failed: {type(e).__name__}: {e}")
        self.neighbour_table = nn
        self.detail.value = self._detail_html(row, methods, nn)
        try:
            self.figure = pair_residuals(self.frame, methods, highlight=index, height=300)
            _ui.show_figure(self.figure_out, self.figure)
        except WorkbenchError as e:
            self.message.error(str(e))
        return True

    def _detail_html(self, row: pd.Series, methods: list[str], nn: pd.DataFrame | None) -> str:
        esc = html.escape
        proto = esc(str(row.get("protocol", "")))
        parts = [
            f"<div><b>{esc(str(row['task']))}</b> / {esc(str(row['subset']))} · gold "
            f"<b>{row['gold']:.2f}</b> · protocol {proto}</div>",
            f"<div class='wb-sent'>1: {esc(str(row['sentence1']))}</div>",
            f"<div class='wb-sent'>2: {esc(str(row['sentence2']))}</div>",
        ]
        table = pd.DataFrame(
            {
                "method": methods,
                "similarity": [f"{row[f'sim:{m}']:.3f}" for m in methods],
                "rank residual": [f"{row[f'residual:{m}']:+.3f}" for m in methods],
            }
        )
        parts.append(_ui.df_html(table.set_index("method")))
        if "delta_residual" in row.index and self.frame is not None:
            a, b = self.frame.attrs.get("delta") or ("a", "b")
            parts.append(
                f"<div class='wb-caption'>{esc(str(a))} → {esc(str(b))}: similarity "
                f"{row['delta_sim']:+.3f}, residual {row['delta_residual']:+.3f}, gain "
                f"{row['gain']:+.3f}</div>"
            )
        if nn is not None and not nn.empty:
            for side in ("sentence1", "sentence2"):
                part = nn[nn["side"] == side]
                wide = {
                    m: [f"{t} ({c:.2f})" for t, c in zip(g["text"], g["cosine"], strict=True)]
                    for m, g in part.groupby("method", sort=False)
                }
                n = max((len(v) for v in wide.values()), default=0)
                grid = pd.DataFrame(
                    {m: v + [""] * (n - len(v)) for m, v in wide.items()},
                    index=pd.RangeIndex(1, n + 1, name="rank"),
                )
                parts.append(
                    f"<div style='margin-top:6px'><b>nearest neighbours of sentence "
                    f"{side[-1]}</b> (cosine, within {esc(str(row['task']))})</div>"
                )
                parts.append(_ui.df_html(grid, classes="wb-table wb-neigh"))
        return "".join(parts)


def browse_pairs(methods: Any = None, task: str = "STSBenchmark", **kwargs: Any) -> PairBrowser:
    """Open the pair browser on ``methods`` (or ``frame=``); see :class:`PairBrowser`."""
    return PairBrowser(methods, task, **kwargs)
