"""The comparison dashboard: methods side by side on STS, with CIs, significance against a
baseline, a bar chart and the embedding space.

>>> dash = wb.widgets.compare(["all-MiniLM-L6-v2", {"encoder": "all-MiniLM-L6-v2",
...                            "pooling": "cls"}], datasets=["STSBenchmark"])  # doctest: +SKIP
>>> dash                                  # displays it in a notebook     # doctest: +SKIP

All the logic lives in :class:`CompareDashboard` methods (``add_method``, ``update``, ...),
so tests drive it without a browser: set a control's ``value`` and read ``results``,
``table``, ``bar_figure``, ``scatter_figure`` and ``message``. Results are memoised in a
:class:`~workbench.widgets.core.Workspace` and embeddings come from the on-disk cache.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

import ipywidgets as W
import pandas as pd

from ..errors import WorkbenchError
from ..plotting.style import task_label
from . import _ui
from .core import WHITENINGS, Method, Workspace, geometry_transforms, quick_mode, significance

log = logging.getLogger(__name__)

COLOR_OPTIONS = ("dataset", "subset", "gold score", "label")
DEFAULT_TASKS = ("STSBenchmark", "SICKRelatedness")
QUICK_MAX_PAIRS = 200


class CompareDashboard:
    """Interactive comparison of sentence-embedding methods on STS.

    Parameters
    ----------
    methods : encoders to start with: names, model folders, :class:`Method` objects or
        dicts of Method fields (``{"encoder": ..., "pooling": "cls", "whiten": "pca"}``).
    datasets : STS tasks selected at start (default STS-B and SICK-R).
    baseline : name of the method others are tested against (default: the first).
    max_pairs : first N pairs of each subset (default: all; 200 in quick mode).
    quick : small, fast settings (default: ``WORKBENCH_QUICK=1``).
    trained : folders holding trained models, offered in the encoder box (also searched:
        ``$WORKBENCH_RUNS_DIR`` and the cache's ``runs/``, where the training notebook
        writes; any other folder can be typed in the box).
    n_points : sentences in the embedding-space plot.
    server, server_root : server mode, for a page served to visitors (Voila): the encoder
        box accepts only the installed registered encoders and model folders under
        ``server_root`` (typed relative to it), and no message shows a server path. On by
        default when ``$WORKBENCH_SERVER_ROOT`` is set (or ``$WORKBENCH_SERVER=1``, for
        registered encoders only), so a Voila deployment needs no notebook change:
        ``WORKBENCH_SERVER_ROOT=/srv/models voila notebooks/06_dashboard.ipynb``.
    """

    def __init__(
        self,
        methods: Iterable[Any] | None = None,
        datasets: Sequence[str] | None = None,
        baseline: str | None = None,
        max_pairs: int | None = None,
        quick: bool | None = None,
        trained: Iterable[str | os.PathLike] = (),
        n_points: int | None = None,
        projection: str = "pca",
        color_by: str = "dataset",
        workspace: Workspace | None = None,
        n_boot: int | None = None,
        data_dir: str | os.PathLike | None = None,
        update: bool = True,
        server: bool | None = None,
        server_root: str | os.PathLike | None = None,
    ) -> None:
        from ..datasets import CLASSIFICATION_TASKS, STS_TASKS
        from ..encoders import POOLINGS

        _ui.enable_colab_widgets()
        self.policy = _ui.ServerPolicy.from_env(server, server_root)
        self.quick = quick_mode() if quick is None else quick
        if max_pairs is None and self.quick:
            max_pairs = QUICK_MAX_PAIRS
        self.n_points = n_points or (250 if self.quick else 800)
        self.progress = _ui.Progress()
        self.workspace = workspace or Workspace(
            data_dir=data_dir,
            n_boot=n_boot if n_boot is not None else (300 if self.quick else 1000),
            fit_max_n=2000 if self.quick else 20_000,
        )
        self.workspace.progress = self.progress.note
        self.message = _ui.MessageArea(scrub=self.policy is not None)
        self.methods: list[Method] = []
        self.results: pd.DataFrame | None = None
        self.predictions: dict[str, pd.DataFrame] = {}
        self.significance: pd.DataFrame | None = None
        self.table: pd.DataFrame | None = None
        self.bar_figure = None
        self.scatter_figure = None
        self.points: pd.DataFrame | None = None
        self._busy = False
        self._failed_add = False
        self.n_updates = 0

        initial = [Method.coerce(m) for m in (methods or ["all-MiniLM-L6-v2"])]
        if self.policy is not None:  # what a visitor may load, and nothing of the disk
            choices = self.policy.choices()
        else:
            trained_dirs = [*trained, *_ui.default_trained_dirs()]
            extra = [str(m.encoder) for m in initial if isinstance(m.encoder, str)]
            choices = _ui.encoder_choices(extra, _ui.find_trained(trained_dirs))
        sty = {"description_width": "initial"}

        # ---- method builder
        self.encoder = W.Combobox(
            options=choices,
            value=choices[0] if choices else "",
            description="encoder",
            placeholder=(
                "registered name or model folder"
                if self.policy is not None
                else "name, model folder or hub id"
            ),
            ensure_option=False,
            style=sty,
            layout=W.Layout(width="310px"),
        )
        self.pooling = W.Dropdown(
            options=[("default", "")] + [(p, p) for p in POOLINGS],
            value="",
            description="pooling",
            style=sty,
            layout=W.Layout(width="190px"),
        )
        self.layer = W.Dropdown(
            # "" is the last layer: a None value would show as no selection
            options=[("last", ""), ("0 (embeddings)", 0)] + [(str(i), i) for i in range(1, 33)],
            value="",
            description="layer",
            style=sty,
            layout=W.Layout(width="170px"),
        )
        self.whiten = W.Dropdown(
            options=[("none", "")] + [(w, w) for w in WHITENINGS],
            value="",
            description="whitening",
            style=sty,
            layout=W.Layout(width="180px"),
        )
        if geometry_transforms() is None:  # that part of the workbench is absent: no control
            self.whiten.layout.display = "none"
        self.truncate = W.IntText(
            value=0,
            description="keep dims (0 = all)",
            style=sty,
            layout=W.Layout(width="190px"),
        )
        self.add_button = W.Button(description="Add method", icon="plus", button_style="primary")
        self.add_button.on_click(lambda _: self.add_method())

        # ---- the comparison
        self.method_list = W.SelectMultiple(
            options=[], rows=6, description="methods", style=sty, layout=W.Layout(width="400px")
        )
        self.remove_button = W.Button(description="Remove selected", icon="trash")
        self.remove_button.on_click(lambda _: self.remove_methods(self.method_list.value))
        self.baseline = W.Dropdown(
            options=[], description="baseline", style=sty, layout=W.Layout(width="330px")
        )
        available_tasks = list(STS_TASKS)
        self.datasets = W.SelectMultiple(
            # one vocabulary with the figures and tables: STS-B, SICK-R
            options=[(task_label(t), t) for t in available_tasks],
            value=tuple(t for t in (datasets or DEFAULT_TASKS) if t in available_tasks),
            rows=7,
            description="datasets",
            style=sty,
            layout=W.Layout(width="260px"),
        )
        self.aggregation = W.Dropdown(
            options=["all", "mean", "wmean"],
            value="all",
            description="aggregation",
            style=sty,
            layout=W.Layout(width="180px"),
        )
        self.max_pairs = W.IntText(
            value=max_pairs or 0,
            description="pairs per subset (0 = all)",
            style=sty,
            layout=W.Layout(width="230px"),
        )

        # ---- the embedding space
        self.space_method = W.Dropdown(
            options=[], description="space of", style=sty, layout=W.Layout(width="330px")
        )
        self.points_from = W.Dropdown(
            options=[("STS sentences", "sts")] + [(t, t) for t in CLASSIFICATION_TASKS],
            value="sts",
            description="points",
            style=sty,
            layout=W.Layout(width="200px"),
        )
        self.projection = W.Dropdown(
            options=[("PCA", "pca"), ("UMAP (slow first time)", "umap"), ("t-SNE", "tsne")],
            value=projection,
            description="projection",
            style=sty,
            layout=W.Layout(width="250px"),
        )
        self.color_by = W.Dropdown(
            options=list(COLOR_OPTIONS),
            value=color_by,
            description="colour",
            style=sty,
            layout=W.Layout(width="180px"),
        )

        # ---- outputs
        self.table_html = W.HTML(value="")
        self.table_html.add_class("wb-table-area")
        self.bar_out = W.Output(layout=W.Layout(width="50%"))
        self.scatter_out = W.Output(layout=W.Layout(width="50%"))
        self.bar_out.add_class("wb-bar")
        self.scatter_out.add_class("wb-scatter")
        self.log_out = W.Output()  # tqdm bars of long encodes land here (cleared when done)
        self.log_out.add_class("wb-log")
        # the pair browser, collapsed: it draws (and embeds neighbours) only when opened
        from .pairs import PairBrowser

        self.pair_browser = PairBrowser(n_rows=20)
        self.pair_browser.active = False
        self.pairs_section = W.Accordion(children=[self.pair_browser.widget])
        self.pairs_section.set_title(0, "Pairs: where each method errs, where methods disagree")
        self.pairs_section.selected_index = None
        self.pairs_section.add_class("wb-pairs-section")
        self.pairs_section.observe(
            lambda ch: self.pair_browser.activate(ch["new"] is not None), names="selected_index"
        )

        for w, cls in (
            (self.encoder, "wb-encoder"),
            (self.pooling, "wb-pooling"),
            (self.layer, "wb-layer"),
            (self.whiten, "wb-whiten"),
            (self.truncate, "wb-truncate"),
            (self.add_button, "wb-add"),
            (self.method_list, "wb-methods"),
            (self.baseline, "wb-baseline"),
            (self.datasets, "wb-datasets"),
            (self.aggregation, "wb-aggregation"),
            (self.max_pairs, "wb-max-pairs"),
            (self.space_method, "wb-space-method"),
            (self.points_from, "wb-points"),
            (self.projection, "wb-projection"),
            (self.color_by, "wb-color"),
        ):
            w.add_class(cls)

        self.widget = W.VBox(
            [
                W.HTML(
                    _ui.CSS + "<h3 style='margin:4px 0'>Compare sentence-embedding methods</h3>"
                ),
                W.HBox(
                    [self.encoder, self.pooling, self.layer, self.whiten, self.truncate],
                    layout=W.Layout(flex_flow="row wrap"),
                ),
                W.HBox([self.add_button]),
                W.HBox(
                    [
                        self.method_list,
                        W.VBox(
                            [self.remove_button, self.baseline, self.aggregation, self.max_pairs]
                        ),
                        self.datasets,
                    ],
                    layout=W.Layout(flex_flow="row wrap"),
                ),
                W.HBox(
                    [self.space_method, self.points_from, self.projection, self.color_by],
                    layout=W.Layout(flex_flow="row wrap"),
                ),
                self.progress.widget,
                self.message.widget,
                self.log_out,
                self.table_html,
                W.HBox([self.bar_out, self.scatter_out], layout=W.Layout(width="100%")),
                self.pairs_section,
            ]
        )
        self.widget.add_class("wb-app")
        self.widget.add_class("wb-dashboard")

        # methods given at the start: a bad one is reported and left out, the rest load
        startup_errors = []
        for m in initial:
            self._append(m, report=True)
            if self.message.kind == "error":
                startup_errors.append(self.message.text)
        if baseline is not None and baseline in self.method_names:
            self.baseline.value = baseline

        for w in (self.datasets, self.aggregation, self.max_pairs, self.baseline):
            w.observe(self._on_results_control, names="value")
        for w in (self.encoder, self.pooling, self.layer, self.whiten, self.truncate):
            w.observe(self._on_builder_control, names="value")
        for w in (self.space_method, self.points_from, self.projection, self.color_by):
            w.observe(self._on_space_control, names="value")
        if update:
            self.update()
        if startup_errors and not self.message.text:  # update() cleared it: say it again
            self.message.error("; ".join(startup_errors))

    # ------------------------------------------------------------------ display

    def _repr_mimebundle_(self, **kwargs: Any):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ state helpers

    @property
    def method_names(self) -> list[str]:
        return [m.name for m in self.methods]

    def _method(self, name: str) -> Method:
        for m in self.methods:
            if m.name == name:
                return m
        raise KeyError(name)

    def _sync_method_controls(self) -> None:
        names = self.method_names
        was_busy, self._busy = self._busy, True  # programmatic changes: no re-entry
        try:
            keep = self.baseline.value if self.baseline.value in names else None
            self.baseline.options = names
            self.baseline.value = keep or (names[0] if names else None)
            keep = self.space_method.value if self.space_method.value in names else None
            self.space_method.options = names
            self.space_method.value = keep or (names[0] if names else None)
            self.method_list.options = names
        finally:
            self._busy = was_busy

    def _append(self, method: Method, report: bool) -> bool:
        if method.name in self.method_names:
            self.message.info(f"{method.name} is already in the comparison")
            return False
        try:
            self.workspace.check(method)
        except WorkbenchError as e:
            if report:
                self.message.error(str(e))
            return False
        self.methods.append(method)
        self._sync_method_controls()
        return True

    def _max_pairs(self) -> int | None:
        v = int(self.max_pairs.value or 0)
        return None if v <= 0 else v

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        for w in (
            self.add_button,
            self.remove_button,
            self.datasets,
            self.aggregation,
            self.max_pairs,
            self.baseline,
            self.space_method,
            self.points_from,
            self.projection,
            self.color_by,
        ):
            w.disabled = busy

    # ------------------------------------------------------------------ actions

    def current_method(self) -> Method:
        """The method the builder controls describe (in server mode, only what the server
        policy allows: ValueError otherwise)."""
        enc = (self.encoder.value or "").strip()
        if self.policy is not None:
            enc = self.policy.resolve(enc)
        return Method(
            encoder=enc,
            pooling=self.pooling.value or None,
            layer=None if self.layer.value == "" else int(self.layer.value),
            whiten=self.whiten.value or None,
            truncate=int(self.truncate.value) if self.truncate.value else None,
        )

    def add_method(self, method: Any = None) -> bool:
        """Add ``method`` (default: what the builder controls say) and update; a method that
        cannot be built is reported in the message area and not added."""
        self.message.clear()
        if method is None:
            if not (self.encoder.value or "").strip():
                self.message.error("type or pick an encoder first")
                return False
            if self.truncate.value and self.truncate.value < 0:
                self.message.error(f"cannot keep {self.truncate.value} dimensions")
                return False
        try:
            m = Method.coerce(method) if method is not None else self.current_method()
        except ValueError as e:  # refused by the server policy
            self.message.error(str(e))
            self.progress.done("not added", ok=False)
            self._failed_add = True
            return False
        self._set_busy(True)
        self.progress.start(1, f"loading {m.name}…")
        try:
            ok = self._append(m, report=True)
        finally:
            self._set_busy(False)
        if not ok:
            self.progress.done("not added", ok=False)
            self._failed_add = True
            return False
        self._failed_add = False
        # the embedding space shows the method just added (the user's focus)
        was_busy, self._busy = self._busy, True
        try:
            self.space_method.value = m.name
        finally:
            self._busy = was_busy
        self.update()
        return True

    def remove_methods(self, names: Iterable[str]) -> None:
        names = set(names)
        if not names:
            self.message.info("select methods in the list to remove them")
            return
        self.methods = [m for m in self.methods if m.name not in names]
        self._sync_method_controls()
        self.update()

    def _on_builder_control(self, change) -> None:
        """Editing the method after a failed add: the failure no longer describes it."""
        if self._failed_add and not self._busy:
            self._failed_add = False
            self.progress.clear()
            if self.message.kind == "error":
                self.message.clear()

    def _on_results_control(self, change) -> None:
        if not self._busy:
            self.update()

    def _on_space_control(self, change) -> None:
        if not self._busy:
            self.update_space(clear_message=True)

    def update(self) -> bool:
        """Recompute the table, the bar chart and the embedding space from the controls.

        Returns False (and shows why in the message area, leaving the last good view in
        place) when the choices cannot give a result.
        """
        if self._busy:
            return False
        self.message.clear()
        ok = self._update_results()
        if ok:
            ok = self.update_space(clear_message=False)
        self.n_updates += 1
        return ok

    def _update_results(self) -> bool:
        tasks = list(self.datasets.value)
        max_pairs = self._max_pairs()
        if not self.methods:
            self.message.error("no method to compare: add one with the controls above")
            return False
        if not tasks:
            self.message.error("no dataset selected: choose at least one STS task")
            return False
        self._set_busy(True)
        self.progress.start(len(self.methods) + 3, "reading pairs…")
        failed: list[str] = []
        try:
            with self.log_out:
                try:
                    pairs = self.workspace.pairs(tasks, max_pairs)
                except WorkbenchError as e:
                    self.message.error(str(e))
                    self.progress.done("failed", ok=False)
                    return False
                self.progress.step(f"{len(pairs)} pairs from {', '.join(tasks)}")
                frames, preds = [], {}
                for m in list(self.methods):
                    self.progress.step(f"scoring {m.name}")
                    try:
                        frames.append(self.workspace.score(m, tasks, max_pairs))
                        preds[m.name] = self.workspace.predictions(m, tasks, max_pairs)
                    except WorkbenchError as e:
                        failed.append(str(e))
                if not frames:
                    self.message.error("; ".join(failed))
                    self.progress.done("failed", ok=False)
                    return False
                results = pd.concat(frames, ignore_index=True)
                baseline = self.baseline.value if self.baseline.value in preds else None
                baseline = baseline or next(iter(preds))
                agg = self.aggregation.value
                self.progress.step(f"testing against {baseline} ({agg})")
                # the marks test the statistic the table shows: wmean table, wmean test
                sig = significance(
                    preds,
                    baseline,
                    n_boot=self.workspace.n_boot,
                    seed=self.workspace.seed,
                    aggregation=agg,
                )
                from ..plotting.sts import sts_bar, sts_table

                table = sts_table(results, aggregation=agg, significance=sig, baseline=baseline)
                bar = sts_bar(results, aggregation=agg, significance=sig, baseline=baseline)
        except Exception as e:  # keep the dashboard alive whatever went wrong
            log.exception("dashboard update failed")
            self.message.error(f"update failed: {_ui_error(e)}")
            self.progress.done("failed", ok=False)
            return False
        finally:
            self._set_busy(False)
            self.log_out.clear_output()  # finished progress bars do not pile up
        self.results, self.predictions, self.significance = results, preds, sig
        self.table, self.bar_figure = table, bar
        if self.workspace.n_boot > 0:
            note = (
                f"Spearman × 100, {agg} aggregation, 95% bootstrap CI (avg: combined over "
                f"tasks); ↑/↓ and stars: paired bootstrap of the {agg} score vs "
                f"{html.escape(baseline)} (* p<.05, ** p<.01, *** p<.001)"
            )
        else:
            note = f"Spearman × 100, {agg} aggregation; no bootstrap (n_boot=0): no CI, no test"
        if max_pairs:
            note += f"; first {max_pairs} pairs per subset (reduced run)"
        self.table_html.value = _ui.df_html(table) + f'<div class="wb-caption">{note}</div>'
        _ui.show_figure(self.bar_out, bar)
        self._update_pairs(preds, tasks, max_pairs, agg)
        if failed:
            self.message.error("; ".join(failed))
        self.progress.done(f"{len(frames)} method(s) × {len(tasks)} task(s)")
        return True

    def _update_pairs(self, preds, tasks, max_pairs, agg: str) -> None:
        """Feed the pair browser the predictions just scored (ranked as the table's
        aggregation correlates them); a failure here never costs the table."""
        from ..comparison.pairs import PairSpace

        try:
            pairs = self.workspace.pairs(tasks, max_pairs)
            protocol = pairs.attrs.get("protocol")
            if protocol is not None and protocol.aggregation != agg:
                protocol = protocol.override(aggregation=agg)
            texts = {
                t: list(pd.concat([g["sentence1"], g["sentence2"]]))
                for t, g in pairs.groupby("task", sort=False)
            }
            embedders = {
                m.name: (lambda tx, m=m: self.workspace.embed(m, tx))
                for m in self.methods
                if m.name in preds
            }
            self.pair_browser.set_predictions(preds, protocol, space=PairSpace(texts, embedders))
        except Exception as e:
            log.exception("pair browser update failed")
            self.pair_browser.message.error(f"pairs failed: {_ui_error(e)}")

    def update_space(self, clear_message: bool = True) -> bool:
        """Recompute the embedding-space scatter from its controls."""
        from ..plotting.space import project, projection_scatter

        if self._busy or not self.methods:
            return False
        if clear_message:
            self.message.clear()
        name = self.space_method.value or self.methods[0].name
        method = self._method(name)
        color = self.color_by.value
        source = self.points_from.value
        self._set_busy(True)
        self.progress.start(3, "collecting sentences…")
        try:
            with self.log_out:
                pts = self.workspace.points(
                    source, list(self.datasets.value), self._max_pairs(), n=self.n_points
                )
                self.progress.step(f"embedding {len(pts)} sentences with {name}")
                emb = self.workspace.embed(method, pts["text"].tolist())
                how = self.projection.value
                self.progress.step(
                    f"projecting with {how.upper()}"
                    + (" (the first UMAP run compiles numba code: ~20 s)" if how == "umap" else "")
                )
                xy = project(emb, how, seed=self.workspace.seed)
                if color not in pts.columns:
                    alt = "label" if "label" in pts.columns else "dataset"
                    self.message.info(
                        f"colour by {color!r} needs "
                        + ("a classification dataset (points)" if color == "label" else "STS pairs")
                        + f"; coloured by {alt} instead"
                    )
                    color = alt
                fig = projection_scatter(
                    xy,
                    texts=pts["text"].tolist(),
                    color=pts[color].tolist(),
                    color_name=color,
                    method=how,
                    title=f"{name}: {how.upper()} of {len(pts)} sentences",
                )
        except WorkbenchError as e:
            self.message.error(str(e))
            self.progress.done("failed", ok=False)
            return False
        except Exception as e:
            log.exception("embedding-space update failed")
            self.message.error(f"embedding space failed: {_ui_error(e)}")
            self.progress.done("failed", ok=False)
            return False
        finally:
            self._set_busy(False)
            self.log_out.clear_output()
        self.points, self.scatter_figure = pts, fig
        _ui.show_figure(self.scatter_out, fig)
        self.progress.done("ready")
        return True


def _ui_error(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


def compare(
    encoders: Iterable[Any] | None = None,
    datasets: Sequence[str] | None = None,
    **kwargs: Any,
) -> CompareDashboard:
    """Open the comparison dashboard on ``encoders`` (names, folders, :class:`Method`s or
    dicts) and STS ``datasets``; see :class:`CompareDashboard` for the options."""
    return CompareDashboard(methods=encoders, datasets=datasets, **kwargs)
