"""Points at scale: a WebGL scatter (jupyter-scatter) linked to a table of the selected
sentences and the STS pairs they belong to.

plotly's SVG/DOM scatter stays usable up to a few thousand points; above
:data:`WEBGL_THRESHOLD` the embedding-space views draw with
`jupyter-scatter <https://jupyter-scatter.dev>`_ (``import jscatter``; regl-scatterplot in
an anywidget), which keeps panning, zooming and lasso selection interactive at 200k+ points
and sends the selection back to Python, where the table is rebuilt.

>>> view = corpus_view(encoder="glove-6b-50d", projection="pca")   # doctest: +SKIP
>>> view    # the map and, under it, the table of what is selected      # doctest: +SKIP
>>> view.select(view.points.index[view.points["dataset"] == "TREC"])  # doctest: +SKIP
>>> view.selected, view.selected_pairs                                  # doctest: +SKIP

The corpus is every sentence of the data folder: one point per distinct sentence of each
dataset (STS, classification and pair tasks, all splits present), about 199k points in the
shared SentEval layout. A sentence found in two datasets (STS-B and STS12, SST2 and SST5)
is one point in each, at the same place, so colouring by dataset stays truthful.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError, WorkbenchError

log = logging.getLogger(__name__)

#: above this many points the embedding-space views use the WebGL widget instead of plotly
WEBGL_THRESHOLD = 3000

#: what the table lists at most (the count line always gives the full numbers)
MAX_ROWS = 25

_POINT_COLUMNS = ("text", "dataset", "kind", "split", "label", "gold score")
_PAIR_COLUMNS = ("task", "subset", "split", "sentence1", "sentence2", "score")


def _jscatter():
    """The ``jscatter`` module (package ``jupyter-scatter``), or a WorkbenchError that says
    how to install it (PyPI's ``jscatter`` is an unrelated neutron-scattering package)."""
    try:
        import jscatter
    except ImportError:
        raise WorkbenchError(
            "the WebGL scatter needs jupyter-scatter: pip install 'workbench[scatter]' "
            "(the PyPI package is jupyter-scatter, imported as jscatter)"
        ) from None
    if not hasattr(jscatter, "Scatter"):
        raise WorkbenchError(
            "the installed 'jscatter' is not jupyter-scatter (a different PyPI package has "
            "that name): pip uninstall jscatter && pip install 'workbench[scatter]'"
        )
    return jscatter


# ---------------------------------------------------------------------- the corpus


def corpus_points(
    tasks: Sequence[str] | None = None, data_dir: str | os.PathLike | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every sentence of the data folder as points, and the STS pairs they come from.

    ``tasks``: STS, classification or pair task names (default: every task present in the
    data folder). Returns ``(points, pairs)``: ``points`` has one row per distinct sentence
    of each dataset with ``text, dataset, kind, split, label, gold score`` (``dataset`` the
    task's short label as in every figure: STS-B, SICK-R, SST-2; ``split`` the
    first split it is in; ``gold score`` the mean gold of its STS pairs, NaN elsewhere;
    ``label`` the class name of a classification sentence); ``pairs`` holds every STS pair
    (``task, subset, split, sentence1, sentence2, score``, ``task`` labelled as ``dataset``),
    which :class:`PointsView` links
    to the selected sentences. A split the folder lacks (SNLI train in the SentEval layout)
    is left out; a task the folder lacks raises DataNotFoundError.
    """
    from ..datasets import (
        CLASSIFICATION_TASKS,
        PAIR_SPLITS,
        PAIR_TASKS,
        STS_SPLITS,
        STS_TASKS,
        available,
        load_classification,
        load_pairs,
        load_sts,
        resolve_classification_task,
        resolve_pair_task,
        resolve_sts_task,
    )
    from ..errors import DataNotFoundError, UnknownNameError
    from ..plotting.style import task_label

    if tasks is None:
        av = available(data_dir)
        names = av.loc[av["present"], "task"].tolist()
        if not names:
            raise DataNotFoundError(
                "no dataset in the data folder: set WORKBENCH_DATA_DIR or run workbench download"
            )
    else:
        names = [tasks] if isinstance(tasks, str) else list(tasks)
        if not names:
            raise InvalidInputError("corpus_points: no tasks given (pass None for all)")

    frames: list[pd.DataFrame] = []
    sts_pairs: list[pd.DataFrame] = []
    for name in names:
        kind, task = None, None
        for k, resolve in (
            ("sts", resolve_sts_task),
            ("classification", resolve_classification_task),
            ("pairs", resolve_pair_task),
        ):
            try:
                task, kind = resolve(name), k
                break
            except UnknownNameError:
                continue
        if task is None:
            raise InvalidInputError(
                f"unknown task {name!r}; choose from "
                + ", ".join((*STS_TASKS, *CLASSIFICATION_TASKS, *PAIR_TASKS))
            )
        if kind == "sts":
            df = pd.concat(
                [load_sts(task, s, data_dir=data_dir) for s in STS_SPLITS[task] if s != "all"],
                ignore_index=True,
            )
            sts_pairs.append(df[list(_PAIR_COLUMNS)].assign(task=task_label(task)))
            long = pd.concat(
                [df[["split", c, "score"]].rename(columns={c: "text"}) for c in _PAIR_COLUMNS[3:5]]
            )
            pts = long.groupby("text", sort=False).agg(
                split=("split", "first"), gold=("score", "mean")
            )
            pts = pts.reset_index().rename(columns={"gold": "gold score"})
            pts["label"] = ""
        elif kind == "classification":
            df = load_classification(task, data_dir=data_dir, drop_empty=True)
            pts = df.drop_duplicates("text")[["text", "split", "label_name"]]
            pts = pts.rename(columns={"label_name": "label"})
            pts["gold score"] = np.nan
        else:
            parts = []
            for s in PAIR_SPLITS[task]:
                try:
                    parts.append(load_pairs(task, s, data_dir=data_dir))
                except DataNotFoundError:
                    if s == PAIR_SPLITS[task][0] and task == "SNLI":
                        log.info("SNLI train is not in this data folder; dev and test only")
                        continue
                    raise
            df = pd.concat(parts, ignore_index=True)
            long = pd.concat(
                [df[["split", c]].rename(columns={c: "text"}) for c in ("sentence1", "sentence2")]
            )
            pts = long.drop_duplicates("text").copy()
            pts["label"] = ""
            pts["gold score"] = np.nan
        pts = pts[pts["text"].str.len() > 0]
        pts.insert(1, "dataset", task_label(task))
        pts.insert(2, "kind", kind)
        frames.append(pts[list(_POINT_COLUMNS)])
    points = pd.concat(frames, ignore_index=True)
    pairs = (
        pd.concat(sts_pairs, ignore_index=True)
        if sts_pairs
        else pd.DataFrame({c: [] for c in _PAIR_COLUMNS})
    )
    return points, pairs


def embed_points(
    texts: Sequence[str],
    encoder: Any = "glove-6b-50d",
    projection: str = "pca",
    seed: int = 0,
    cache: bool | str = True,
    batch_size: int | None = None,
    **projection_kwargs: Any,
) -> np.ndarray:
    """2-D coordinates of ``texts``: encode each distinct text once, project, map back.

    ``encoder`` is anything :func:`workbench.load_encoder` takes (or a loaded encoder);
    ``projection`` is ``pca`` (seconds at 200k points), ``umap`` (minutes at 200k on 2
    cores) or ``tsne`` (sklearn's Barnes-Hut: for samples, far too slow at 200k); see
    :func:`workbench.plotting.space.project`. Embeddings come from the on-disk cache
    when they were computed before.
    """
    from ..encoders import Encoder, load_encoder
    from ..plotting.space import project

    texts = pd.Series(list(texts), dtype=object)
    if texts.empty:
        raise InvalidInputError("embed_points: no texts")
    codes, uniq = pd.factorize(texts)
    enc = encoder if isinstance(encoder, Encoder) else load_encoder(str(encoder))
    emb = enc.encode(list(uniq), batch_size=batch_size, cache=cache)
    # the map is of the sentences: a text in two datasets counts once in the projection fit
    xy = project(emb, projection, seed=seed, **projection_kwargs)
    return np.asarray(xy, dtype=np.float32)[codes]


# ---------------------------------------------------------------------- the linked view


def _pair_links(points: pd.DataFrame, pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(point row, pair row) for every pair that holds the point's sentence, sorted by point.

    Matched by text, and by dataset too when both sides name it (an STS-B sentence that is
    also in STS12 links to its STS-B pairs from its STS-B point only)."""
    if pairs is None or pairs.empty:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    by_task = "dataset" in points.columns and "task" in pairs.columns
    keys = ["text", "dataset"] if by_task else ["text"]
    p = pd.DataFrame({"text": points["text"].to_numpy(), "point": np.arange(len(points))})
    if by_task:
        p["dataset"] = points["dataset"].to_numpy()
    sides = []
    for col in ("sentence1", "sentence2"):
        s = pd.DataFrame({"text": pairs[col].to_numpy(), "pair": np.arange(len(pairs))})
        if by_task:
            s["dataset"] = pairs["task"].to_numpy()
        sides.append(s)
    long = pd.concat(sides, ignore_index=True).drop_duplicates()
    links = p.merge(long, on=keys, how="inner").sort_values(["point", "pair"])
    return links["point"].to_numpy(np.int64), links["pair"].to_numpy(np.int64)


def _unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct int64 values (np.unique's hash path took seconds on 200k ids here)."""
    a = np.sort(np.asarray(a, dtype=np.int64).ravel())
    return a[np.r_[True, a[1:] != a[:-1]]] if a.size else a


def _short(text: str, width: int = 140) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


class PointsView:
    """A WebGL scatter of ``points`` linked to a table of the selected ones and their pairs.

    Parameters
    ----------
    points : one row per point with columns ``x``, ``y`` and ``text`` (others, such as
        ``dataset``, ``label`` or ``gold score``, are shown in the table and can colour).
    pairs : STS pairs (``sentence1``, ``sentence2`` and any score columns, optionally
        ``task``); the table lists the pairs that hold a selected sentence.
    color_by : a column of ``points`` (categories get one colour each, numbers a scale).
    max_rows : rows listed in each table (the counts always cover the whole selection).

    Select with the lasso in the widget (its toolbar switches to lasso mode, or hold Shift
    and drag; the rectangle type selects a box), or from Python with :meth:`select`. Either
    way :attr:`selected` and :attr:`selected_pairs` follow and the table is redrawn.
    """

    def __init__(
        self,
        points: pd.DataFrame,
        pairs: pd.DataFrame | None = None,
        color_by: str | None = "dataset",
        title: str | None = None,
        max_rows: int = MAX_ROWS,
        height: int = 520,
        point_size: float | None = None,
    ) -> None:
        import ipywidgets as W

        from ..plotting import style
        from . import _ui

        style.need_columns(points, ["x", "y", "text"], "PointsView points")
        if len(points) == 0:
            raise InvalidInputError("PointsView: no points to show")
        xy = points[["x", "y"]].to_numpy(dtype=np.float64)
        if not np.isfinite(xy).all():
            raise InvalidInputError("PointsView: x/y hold NaN or inf; project finite embeddings")
        if color_by is not None and color_by not in points.columns:
            raise InvalidInputError(
                f"PointsView: no column {color_by!r} to colour by; choose one of "
                + ", ".join(map(str, points.columns))
            )
        if pairs is not None:
            style.need_columns(pairs, ["sentence1", "sentence2"], "PointsView pairs")
        if max_rows < 1:
            raise InvalidInputError(f"max_rows must be at least 1, got {max_rows}")
        self.points = points.reset_index(drop=True)
        self.pairs = None if pairs is None else pairs.reset_index(drop=True)
        self.max_rows = int(max_rows)
        self.color_by = color_by
        self._link_point, self._link_pair = _pair_links(self.points, self.pairs)
        self._selection = np.zeros(0, np.int64)
        self.n_updates = 0

        js = _jscatter()
        data = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "text": self.points["text"]})
        kwargs: dict[str, Any] = {}
        if color_by is not None:
            col = self.points[color_by]
            if pd.api.types.is_numeric_dtype(col):
                data[color_by] = col.to_numpy(dtype=np.float64)
                kwargs.update(color_by=color_by, color_map="viridis")
            else:
                data[color_by] = pd.Categorical(col.astype(str))
                kind = "task" if color_by in ("dataset", "task") else color_by
                cats = list(data[color_by].cat.categories)
                colors = (
                    {c: style.color_for(kind, c) for c in cats}
                    if kind == "task"
                    else {c: style.color(i) for i, c in enumerate(cats)}
                )
                kwargs.update(color_by=color_by, color_map=colors, legend=True)
        n = len(data)
        # regl-scatterplot draws every point every frame: small points keep 200k legible
        size = point_size or (2 if n > 50_000 else 3 if n > WEBGL_THRESHOLD else 5)
        self.scatter = js.Scatter(
            x="x",
            y="y",
            data=data,
            height=height,
            size=size,
            axes=False,
            tooltip=True,
            tooltip_preview="text",
            tooltip_properties=["color"] if color_by is not None else [],
            lasso_type="rectangle",
            lasso_initiator=False,
            **kwargs,
        )
        self.plot = self.scatter.show(["pan_zoom", "lasso", "lasso_type", "divider", "reset"])
        self.plot.add_class("wb-points-plot")
        self.plot.observe(self._on_selection, names="selection")

        self.caption = W.HTML(
            f"<div class='wb-caption'>{html.escape(title or '')}"
            f"{' · ' if title else ''}{n:,} points · lasso or box-select to list them</div>"
        )
        self.table_html = W.HTML("")
        self.table_html.add_class("wb-points-table")
        self.widget = W.VBox(
            [W.HTML(_ui.CSS), self.caption, self.plot, self.table_html],
            layout=W.Layout(width="100%"),
        )
        self.widget.add_class("wb-app")
        self.widget.add_class("wb-points")
        self._render()

    def _repr_mimebundle_(self, **kwargs: Any):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ selection

    @property
    def selection(self) -> np.ndarray:
        """Row numbers (into :attr:`points`) of the selected points, sorted."""
        return self._selection

    @property
    def selected(self) -> pd.DataFrame:
        """The selected points (all of them, not only the rows the table lists)."""
        return self.points.iloc[self._selection]

    @property
    def selected_pairs(self) -> pd.DataFrame:
        """The pairs holding at least one selected sentence (empty without pairs)."""
        if self.pairs is None:
            return pd.DataFrame()
        hit = np.isin(self._link_point, self._selection, assume_unique=False)
        return self.pairs.iloc[_unique(self._link_pair[hit])]

    def select(self, rows: Sequence[int] | np.ndarray | None) -> PointsView:
        """Select points by row number (``None`` or empty clears); the widget shows it."""
        ids = self._check_rows(rows)
        self.scatter.selection(ids if len(ids) else None)
        self._set(ids)  # the widget's trait does not change when it already held ``ids``
        return self

    def _check_rows(self, rows: Sequence[int] | np.ndarray | None) -> np.ndarray:
        if rows is None:
            return np.zeros(0, np.int64)
        ids = np.asarray(rows)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise InvalidInputError(
                f"select: give row numbers (integers), got {ids.dtype}; "
                "for a mask use np.flatnonzero(mask)"
            )
        ids = _unique(ids)
        if ids.size and (ids[0] < 0 or ids[-1] >= len(self.points)):
            raise InvalidInputError(
                f"select: row numbers must lie in 0..{len(self.points) - 1}, got "
                f"{ids[0] if ids[0] < 0 else ids[-1]}"
            )
        return ids

    def _on_selection(self, change: dict) -> None:
        new = change.get("new")
        ids = np.zeros(0, np.int64) if new is None else np.asarray(new).astype(np.int64)
        self._set(_unique(ids))

    def _set(self, ids: np.ndarray) -> None:
        if np.array_equal(ids, self._selection) and self.n_updates:
            return
        self._selection = ids
        self._render()

    # ------------------------------------------------------------------ the table

    def _render(self) -> None:
        from . import _ui

        self.n_updates += 1
        sel = self.selected
        if sel.empty:
            self.table_html.value = (
                "<div class='wb-caption wb-points-count'>no point selected: draw a lasso or "
                "a box on the map (toolbar), or call view.select(rows)</div>"
            )
            return
        parts = [
            f"<div class='wb-points-count'><b>{len(sel):,}</b> point"
            f"{'' if len(sel) == 1 else 's'} selected"
        ]
        if "dataset" in sel.columns:
            counts = sel["dataset"].value_counts()
            shown = ", ".join(f"{html.escape(str(k))} {v:,}" for k, v in counts.head(8).items())
            parts.append(f" ({shown}{', …' if len(counts) > 8 else ''})")
        parts.append("</div>")
        cols = [c for c in sel.columns if c not in ("x", "y")]
        rows = sel[cols].head(self.max_rows).copy()
        rows["text"] = rows["text"].map(_short)
        for c in rows.columns:
            if pd.api.types.is_float_dtype(rows[c]):
                rows[c] = rows[c].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
        parts.append(_ui.df_html(rows, classes="wb-table wb-points-sel", index=False))
        if len(sel) > self.max_rows:
            parts.append(f"<div class='wb-caption'>first {self.max_rows} of {len(sel):,}</div>")
        if self.pairs is not None:
            pairs = self.selected_pairs
            parts.append(
                f"<div class='wb-points-pairs-count'><b>{len(pairs):,}</b> STS pair"
                f"{'' if len(pairs) == 1 else 's'} hold a selected sentence</div>"
            )
            if len(pairs):
                shown_pairs = pairs.head(self.max_rows).copy()
                for c in ("sentence1", "sentence2"):
                    shown_pairs[c] = shown_pairs[c].map(lambda t: _short(t, 90))
                for c in shown_pairs.columns:
                    if pd.api.types.is_float_dtype(shown_pairs[c]):
                        shown_pairs[c] = shown_pairs[c].map(lambda v: f"{v:.3f}")
                parts.append(
                    _ui.df_html(shown_pairs, classes="wb-table wb-points-pairs", index=False)
                )
        self.table_html.value = (
            "<style>table.wb-points-sel td:first-child, table.wb-points-sel th:first-child, "
            "table.wb-points-pairs td, table.wb-points-pairs th "
            "{text-align:left; max-width:520px}</style>" + "".join(parts)
        )


# ---------------------------------------------------------------------- entry points


def corpus_view(
    encoder: Any = "glove-6b-50d",
    projection: str = "pca",
    tasks: Sequence[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    color_by: str = "dataset",
    seed: int = 0,
    cache: bool | str = True,
    **kwargs: Any,
) -> PointsView:
    """The whole corpus (:func:`corpus_points`) embedded with ``encoder``, projected to 2-D
    by ``projection`` (:func:`embed_points`), in a :class:`PointsView` linked to the STS
    pairs. ``kwargs`` go to :class:`PointsView` (``max_rows``, ``height``, ...)."""
    points, pairs = corpus_points(tasks, data_dir=data_dir)
    xy = embed_points(points["text"], encoder, projection, seed=seed, cache=cache)
    points.insert(0, "x", xy[:, 0])
    points.insert(1, "y", xy[:, 1])
    name = getattr(encoder, "name", None) or str(encoder)
    title = f"{name}: {projection.upper()} of every sentence ({points['dataset'].nunique()} sets)"
    return PointsView(points, pairs, color_by=color_by, title=title, **kwargs)


def space_view(
    points: pd.DataFrame,
    pairs: pd.DataFrame | None = None,
    color_by: str | None = "dataset",
    title: str | None = None,
    method: str = "pca",
    threshold: int = WEBGL_THRESHOLD,
    **kwargs: Any,
):
    """The embedding-space view for ``points`` (columns ``x``, ``y``, ``text``): a plotly
    figure up to ``threshold`` points, a :class:`PointsView` (WebGL, linked table) above.
    ``kwargs`` go to :class:`PointsView`."""
    if len(points) > threshold:
        return PointsView(points, pairs, color_by=color_by, title=title, **kwargs)
    from ..plotting.space import projection_scatter

    col = None if color_by is None else points[color_by].tolist()
    return projection_scatter(
        points[["x", "y"]].to_numpy(),
        texts=points["text"].tolist(),
        color=col,
        color_name=color_by or "",
        method=method,
        title=title,
    )
