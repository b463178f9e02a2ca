"""The embedding explorer: nearest neighbours of a sentence under each method, similarity of
positive vs random pairs, and a dimension slider that moves along the truncation curve.

>>> ex = wb.widgets.explore(["all-MiniLM-L6-v2", "glove-6b-50d"])   # doctest: +SKIP
>>> ex.dim.value = 64                  # what dragging the slider does   # doctest: +SKIP
>>> ex.neighbours["all-MiniLM-L6-v2"]                                  # doctest: +SKIP

The dimension slider keeps the first k dimensions of every method (after its own
transforms), up to the widest method's size; a narrower method keeps all of its own
dimensions when k exceeds them, and the status line says so (GloVe's 50 never cap
MiniLM's 384). The histograms and neighbours are recomputed and the marker on the
truncation curve moves to k.

The embedding space (the first method's, at k, by PCA) is a plotly scatter up to
``webgl_threshold`` sentences and, above, a WebGL scatter (:mod:`.scatter`, jupyter-scatter)
linked to a table: select points to list their sentences and STS pairs.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Iterable
from typing import Any

import ipywidgets as W
import numpy as np
import pandas as pd

from ..errors import InvalidInputError, WorkbenchError
from ..plotting.style import task_label
from . import _ui
from .core import (
    Method,
    Workspace,
    dimension_curve,
    nearest_neighbours,
    pair_similarities,
    quick_mode,
)

log = logging.getLogger(__name__)


def _dims(full: int) -> list[int]:
    """The k grid of the truncation curve: geometry's grid when present, else powers of 2."""
    try:
        from ..geometry.truncation import dimension_grid

        return sorted({int(d) for d in dimension_grid(full) if d >= 2})
    except ImportError:
        from .core import default_dims

        return default_dims(full)


class EmbeddingExplorer:
    """Nearest neighbours, positive-vs-random similarity and truncation, for several methods.

    Parameters
    ----------
    methods : names, folders, :class:`Method` objects or dicts (as for the dashboard).
    dataset : the STS task whose pairs supply the sentences, positives and the curve.
    max_pairs : first N pairs per subset (default all; 300 in quick mode).
    k : neighbours shown.
    """

    def __init__(
        self,
        methods: Iterable[Any] | None = None,
        dataset: str = "STSBenchmark",
        max_pairs: int | None = None,
        quick: bool | None = None,
        k: int = 5,
        threshold: float = 4.0,
        workspace: Workspace | None = None,
        data_dir: str | os.PathLike | None = None,
        update: bool = True,
        webgl_threshold: int | None = None,
    ) -> None:
        from ..datasets import STS_TASKS
        from .scatter import WEBGL_THRESHOLD

        _ui.enable_colab_widgets()
        self.quick = quick_mode() if quick is None else quick
        if max_pairs is None and self.quick:
            max_pairs = 300
        self.max_pairs = max_pairs
        self.threshold = threshold
        self.progress = _ui.Progress()
        self.workspace = workspace or Workspace(data_dir=data_dir)
        self.workspace.progress = self.progress.note
        # server mode (a Voila page): no message shows a server path
        self.message = _ui.MessageArea(scrub=_ui.ServerPolicy.from_env() is not None)
        self.methods: list[Method] = []
        self.neighbours: dict[str, pd.DataFrame] = {}
        self.similarities: pd.DataFrame | None = None
        self.curve: pd.DataFrame | None = None
        self.hist_figure = None
        self.curve_figure = None
        self.webgl_threshold = WEBGL_THRESHOLD if webgl_threshold is None else webgl_threshold
        self.space = None  # the embedding space: a plotly figure or a scatter.PointsView
        self._emb: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._pairs: pd.DataFrame | None = None
        self._sentences: list[str] = []
        self._busy = False
        sty = {"description_width": "initial"}

        self.dataset = W.Dropdown(
            options=[(task_label(t), t) for t in STS_TASKS],
            value=dataset,
            description="dataset",
            style=sty,
        )
        self.sentence = W.Dropdown(
            options=[], description="sentence", style=sty, layout=W.Layout(width="640px")
        )
        self.query = W.Text(
            value="",
            description="or type one",
            placeholder="any sentence; Enter to search",
            continuous_update=False,
            style=sty,
            layout=W.Layout(width="640px"),
        )
        self.k = W.IntSlider(
            value=k, min=1, max=20, description="neighbours", continuous_update=False, style=sty
        )
        self.dim = W.IntSlider(
            value=2,
            min=1,
            max=2,
            description="dimensions kept",
            continuous_update=False,
            style=sty,
            layout=W.Layout(width="420px"),
        )
        self.neighbours_html = W.HTML("")
        self.hist_out = W.Output(layout=W.Layout(width="55%"))
        self.curve_out = W.Output(layout=W.Layout(width="45%"))
        self.space_out = W.Output(layout=W.Layout(width="100%"))
        self.log_out = W.Output()
        for w, cls in (
            (self.dataset, "wb-ex-dataset"),
            (self.sentence, "wb-ex-sentence"),
            (self.query, "wb-ex-query"),
            (self.k, "wb-ex-k"),
            (self.dim, "wb-ex-dim"),
            (self.neighbours_html, "wb-ex-neighbours"),
            (self.hist_out, "wb-ex-hist"),
            (self.curve_out, "wb-ex-curve"),
            (self.space_out, "wb-ex-space"),
        ):
            w.add_class(cls)
        self.widget = W.VBox(
            [
                W.HTML(_ui.CSS + "<h3 style='margin:4px 0'>Explore the embedding space</h3>"),
                W.HBox([self.dataset, self.k, self.dim], layout=W.Layout(flex_flow="row wrap")),
                self.sentence,
                self.query,
                self.progress.widget,
                self.message.widget,
                self.log_out,
                self.neighbours_html,
                W.HBox([self.hist_out, self.curve_out], layout=W.Layout(width="100%")),
                self.space_out,
            ]
        )
        self.widget.add_class("wb-app")
        self.widget.add_class("wb-explorer")

        for m in methods or ["all-MiniLM-L6-v2"]:
            m = Method.coerce(m)
            try:
                self.workspace.check(m)
                self.methods.append(m)
            except WorkbenchError as e:
                self.message.error(str(e))

        self.dataset.observe(lambda c: self._guard(self.update), names="value")
        self.dim.observe(lambda c: self._guard(self.update_dim), names="value")
        self.sentence.observe(lambda c: self._guard(self.update_neighbours), names="value")
        self.query.observe(lambda c: self._guard(self.update_neighbours), names="value")
        self.k.observe(lambda c: self._guard(self.update_neighbours), names="value")
        if update:
            self.update()

    def _repr_mimebundle_(self, **kwargs: Any):
        return self.widget._repr_mimebundle_(**kwargs)

    def _guard(self, fn) -> None:
        if not self._busy:
            fn()

    # ------------------------------------------------------------------ computation

    def update(self) -> bool:
        """Embed the dataset's pairs with every method, then redraw everything."""
        self.message.clear()
        if not self.methods:
            self.message.error("no method to explore: pass at least one encoder that loads")
            return False
        self._busy = True
        self.progress.start(len(self.methods) + 2, "reading pairs…")
        try:
            with self.log_out:
                pairs = self.workspace.pairs([self.dataset.value], self.max_pairs)
                s1, s2 = pairs["sentence1"].tolist(), pairs["sentence2"].tolist()
                emb: dict[str, tuple[np.ndarray, np.ndarray]] = {}
                curves = []
                for m in self.methods:
                    self.progress.step(f"embedding with {m.name}")
                    e = self.workspace.embed(m, s1 + s2)
                    e1, e2 = e[: len(s1)], e[len(s1) :]
                    emb[m.name] = (e1, e2)
                    c = dimension_curve(e1, e2, pairs["score"].to_numpy(), _dims(e.shape[1]))
                    c.insert(0, "method", m.name)
                    curves.append(c)
        except WorkbenchError as e:
            self.message.error(str(e))
            self.progress.done("failed", ok=False)
            return False
        except Exception as e:
            log.exception("explorer update failed")
            self.message.error(f"update failed: {type(e).__name__}: {e}")
            self.progress.done("failed", ok=False)
            return False
        finally:
            self._busy = False
            self.log_out.clear_output()  # finished progress bars do not pile up
        self._pairs, self._emb = pairs, emb
        self.curve = pd.concat(curves, ignore_index=True)
        self._sentences = list(dict.fromkeys(s1 + s2))
        # the widest method sets the slider's range; narrower ones keep all they have
        full = max(e1.shape[1] for e1, _ in emb.values())
        self._busy = True
        try:
            self.dim.max = full
            self.dim.value = full
            options = self._sentences[:300]
            keep = self.sentence.value if self.sentence.value in options else options[0]
            self.sentence.options = options
            self.sentence.value = keep
        finally:
            self._busy = False
        self.progress.step("drawing")
        self.update_dim()
        return True

    @property
    def n_dims(self) -> int:
        return int(self.dim.value)

    def _cut(self, x: np.ndarray) -> np.ndarray:
        """The first k dimensions (all of them for a method narrower than k)."""
        return x[:, : min(self.n_dims, x.shape[1])]

    def kept(self) -> dict[str, int]:
        """Dimensions each method keeps at the slider's k."""
        return {name: min(self.n_dims, e1.shape[1]) for name, (e1, _) in self._emb.items()}

    def update_dim(self) -> None:
        """Redraw for the slider's k: histograms, neighbours and the curve's marker."""
        from ..plotting.space import score_by_dimension, similarity_histogram

        if self._pairs is None:
            return
        frames = []
        gold = self._pairs["score"].to_numpy()
        for name, (e1, e2) in self._emb.items():
            s = pair_similarities(self._cut(e1), self._cut(e2), gold, self.threshold)
            s.insert(0, "method", name)
            frames.append(s)
        self.similarities = pd.concat(frames, ignore_index=True)
        k = self.n_dims
        self.hist_figure = similarity_histogram(
            self.similarities,
            title=f"Cosine of positive (gold ≥ {self.threshold:g}) vs random pairs, k={k}",
        )
        at = self.curve[self.curve["dim"] <= k].groupby("method", sort=False)["spearman"].last()
        self.curve_figure = score_by_dimension(
            self.curve,
            dim=k,
            title=f"{task_label(self.dataset.value)}: Spearman by dimensions kept",
        )
        _ui.show_figure(self.hist_out, self.hist_figure)
        _ui.show_figure(self.curve_out, self.curve_figure)
        self.update_neighbours()
        self.update_space()
        kept = self.kept()
        scores = ", ".join(
            f"{m} {v:.1f}" + (f" (all {kept[m]} dims)" if kept[m] < k else "")
            for m, v in at.items()
        )
        self.progress.done(f"k={k}: Spearman {scores} (curve point at or below k)")

    def update_space(self) -> None:
        """The first method's space at k (PCA), its sentences linked to their pairs."""
        from ..plotting.space import project
        from .scatter import PointsView, space_view

        if self._pairs is None or not self._emb:
            return
        name, (e1, e2) = next(iter(self._emb.items()))
        pairs = self._pairs
        texts = pairs["sentence1"].tolist() + pairs["sentence2"].tolist()
        uniq = pd.unique(pd.Series(texts, dtype=object))
        first = pd.Series(np.arange(len(texts))).groupby(texts, sort=False).first()
        pool = np.vstack([self._cut(e1), self._cut(e2)])[first.loc[uniq].to_numpy()]
        gold = pd.concat([pairs["score"], pairs["score"]], ignore_index=True)
        points = pd.DataFrame({"text": uniq})
        points["subset"] = (
            pd.concat([pairs["subset"], pairs["subset"]], ignore_index=True)
            .groupby(texts, sort=False)
            .first()
            .loc[uniq]
            .to_numpy()
        )
        points["gold score"] = gold.groupby(texts, sort=False).mean().loc[uniq].to_numpy()
        xy = project(pool, "pca", seed=self.workspace.seed)
        points.insert(0, "x", xy[:, 0])
        points.insert(1, "y", xy[:, 1])
        linked = pairs[["subset", "sentence1", "sentence2", "score"]].copy()
        for m, (a, b) in self._emb.items():
            a, b = self._cut(a), self._cut(b)
            a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
            b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
            linked[f"cos {m}"] = np.einsum("ij,ij->i", a, b)
        color = "subset" if points["subset"].nunique() > 1 else "gold score"
        title = (
            f"{name}'s space at k={self.n_dims} "
            f"(PCA of the {task_label(self.dataset.value)} sentences)"
        )
        try:
            self.space = space_view(
                points, linked, color_by=color, title=title, threshold=self.webgl_threshold
            )
        except WorkbenchError as e:  # jupyter-scatter missing: the plotly scatter still shows
            self.message.info(str(e))
            self.space = space_view(points, linked, color_by=color, title=title, threshold=10**9)
        if isinstance(self.space, PointsView):
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is None:  # plain Python: nothing renders it (as show_figure)
                return
            self.space_out.clear_output(wait=True)
            with self.space_out:
                display(self.space.widget)
        else:
            _ui.show_figure(self.space_out, self.space)

    def _kept_text(self) -> str:
        kept = self.kept()
        if len(set(kept.values())) <= 1:
            return f"k={self.n_dims}: " + _plural(next(iter(kept.values()), self.n_dims))
        return f"k={self.n_dims}: " + ", ".join(f"{m} {_plural(v)}" for m, v in kept.items())

    def update_neighbours(self) -> None:
        """Nearest neighbours of the chosen (or typed) sentence under every method."""
        if self._pairs is None:
            return
        query = (self.query.value or "").strip() or self.sentence.value
        if not query:
            return
        self.neighbours = {}
        try:
            for m in self.methods:
                e1, e2 = self._emb[m.name]
                pool = np.vstack([self._cut(e1), self._cut(e2)])
                texts = self._pairs["sentence1"].tolist() + self._pairs["sentence2"].tolist()
                uniq = dict.fromkeys(texts)
                first = {t: i for i, t in reversed(list(enumerate(texts)))}
                idx = [first[t] for t in uniq]
                pool, texts = pool[idx], list(uniq)
                if query in first:
                    q = pool[list(uniq).index(query)]
                else:
                    q = self._cut(self.workspace.embed(m, [query]))[0]
                self.neighbours[m.name] = nearest_neighbours(
                    q, pool, texts, k=int(self.k.value), exclude=query
                )
        except (WorkbenchError, InvalidInputError) as e:
            self.message.error(str(e))
            return
        blocks = []
        for name, df in self.neighbours.items():
            shown = df.assign(cosine=df["cosine"].map(lambda v: f"{v:.3f}"))
            blocks.append(
                f"<div style='flex:1;min-width:320px'><b>{html.escape(name)}</b>"
                + _ui.df_html(shown, classes="wb-table wb-neigh", index=False)
                + "</div>"
            )
        self.neighbours_html.value = (
            f"<div class='wb-caption'>nearest neighbours of <i>{html.escape(query)}</i> "
            f"({html.escape(self._kept_text())})</div>"
            "<div style='display:flex;gap:16px;flex-wrap:wrap'>" + "".join(blocks) + "</div>"
        )


def _plural(n: int) -> str:
    return f"{n} dimension" + ("" if n == 1 else "s")


def explore(methods: Iterable[Any] | None = None, **kwargs: Any) -> EmbeddingExplorer:
    """Open the embedding explorer on ``methods``; see :class:`EmbeddingExplorer`."""
    return EmbeddingExplorer(methods=methods, **kwargs)
