"""Figure builders, the plotly -> matplotlib export, and ``workbench report``.

The builders are tested on synthetic tidy frames (no model); the report test executes a
tiny notebook and the quick-start notebook in a kernel.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

go = pytest.importorskip("plotly.graph_objects")
pytest.importorskip("matplotlib")

from workbench.errors import InvalidInputError  # noqa: E402
from workbench.plotting import (  # noqa: E402
    add_dimension_marker,
    project,
    projection_scatter,
    save_figure,
    score_by_dimension,
    similarity_histogram,
    stars,
    sts_bar,
    sts_table,
    to_matplotlib,
)
from workbench.plotting.export import UnsupportedFigure  # noqa: E402


def _results() -> pd.DataFrame:
    rows = []
    for enc, base in (("A", 80.0), ("B", 70.0)):
        for i, task in enumerate(["SICKRelatedness", "STSBenchmark"]):  # out of paper order
            s = base + i
            rows.append(
                {
                    "encoder": enc,
                    "task": task,
                    "subset": task,
                    "level": "all",
                    "n_pairs": 100,
                    "spearman": s,
                    "spearman_lo": s - 2,
                    "spearman_hi": s + 3,
                    "pearson": s,
                }
            )
    return pd.DataFrame(rows)


def _sig() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "encoder": ["B", "B"],
            "baseline": ["A", "A"],
            "task": ["STSBenchmark", "SICKRelatedness"],
            "delta": [-10.0, -10.0],
            "lo": [-12.0, -14.0],
            "hi": [-8.0, 1.0],
            "p_value": [0.004, 0.2],
        }
    )


def test_stars_thresholds():
    assert [stars(p) for p in (0.0005, 0.005, 0.03, 0.05, 0.5, float("nan"))] == [
        "***",
        "**",
        "*",
        "",
        "",
        "",
    ]


def test_sts_bar_values_cis_order_and_significance():
    fig = sts_bar(_results(), significance=_sig(), baseline="A")
    bars = [t for t in fig.data if t.type == "bar"]
    marks = [t for t in fig.data if t.type == "scatter"]
    assert [b.name for b in bars] == ["A (baseline)", "B"]
    # paper order: STS-B before SICK-R, then the average
    assert list(fig.layout.xaxis.ticktext) == ["STS-B", "SICK-R", "avg"]
    a = bars[0]
    np.testing.assert_allclose(a.y, [81.0, 80.0, 80.5])
    np.testing.assert_allclose(a.error_y.array[:2], [3.0, 3.0])
    np.testing.assert_allclose(a.error_y.arrayminus[:2], [2.0, 2.0])
    assert np.isnan(a.error_y.array[2])  # no interval on the average
    # only B on STS-B is significant (p=.004): one "**", nothing elsewhere
    assert len(marks) == 1 and list(marks[0].text) == ["**", "", ""]
    assert marks[0].y[0] > bars[1].y[0] + bars[1].error_y.array[0]


def test_sts_bar_rejects_bad_input():
    with pytest.raises(InvalidInputError, match="level"):
        sts_bar(_results(), aggregation="wmean")
    with pytest.raises(InvalidInputError, match="column"):
        sts_bar(_results().drop(columns="level"))


def test_sts_table_strings():
    t = sts_table(_results(), significance=_sig(), baseline="A")
    assert list(t.columns) == ["STS-B", "SICK-R", "avg"]
    assert t.loc["A (baseline)", "STS-B"] == "81.0 [79.0, 84.0]"
    assert t.loc["B", "STS-B"] == "71.0 [69.0, 74.0] ↓**"
    assert t.loc["B", "SICK-R"] == "70.0 [68.0, 73.0]"  # p = .2: no mark
    assert t.loc["B", "avg"] == "70.5"


def test_project_pca_deterministic_and_checked():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 16)).astype(np.float32)
    a, b = project(x, "pca"), project(x[:, :], "PCA")
    assert a.shape == (50, 2)
    np.testing.assert_allclose(a, b)
    # the sign convention: the largest-magnitude coordinate of each axis is positive
    assert (a[np.abs(a).argmax(0), [0, 1]] > 0).all()
    with pytest.raises(InvalidInputError, match="at least 3"):
        project(x[:2])
    with pytest.raises(InvalidInputError, match="unknown projection"):
        project(x, "mds")
    with pytest.raises(InvalidInputError, match="NaN"):
        project(np.full((5, 3), np.nan))


def test_project_tsne_small():
    x = np.random.default_rng(1).normal(size=(20, 8))
    assert project(x, "tsne").shape == (20, 2)


def test_projection_scatter_colours_and_hover():
    xy = np.arange(12, dtype=float).reshape(6, 2)
    texts = [f"sentence {i} " + "word " * 20 for i in range(6)]
    cat = projection_scatter(xy, texts=texts, color=list("aabbbc"), color_name="dataset")
    assert [t.name for t in cat.data] == ["a", "b", "c"]
    assert sum(len(t.x) for t in cat.data) == 6
    assert "sentence 0" in cat.data[0].hovertext[0] and "<br>" in cat.data[0].hovertext[0]
    num = projection_scatter(xy, texts=texts, color=[0, 1, 2, 3, 4, 5.0], color_name="gold")
    assert len(num.data) == 1 and num.data[0].marker.showscale
    assert num.data[0].marker.colorbar.title.text == "gold"
    with pytest.raises(InvalidInputError, match="same length"):
        projection_scatter(xy, texts=texts[:3])


def test_similarity_histogram_panels():
    rng = np.random.default_rng(0)
    sims = pd.DataFrame(
        {
            "method": ["m1"] * 40 + ["m2"] * 40,
            "pairs": (["positive"] * 20 + ["random"] * 20) * 2,
            "similarity": np.r_[rng.uniform(0.6, 1, 20), rng.uniform(0, 0.5, 20)].tolist() * 2,
        }
    )
    fig = similarity_histogram(sims)
    assert len(fig.data) == 4
    assert {t.xaxis for t in fig.data} == {"x", "x2"}
    assert [a.text for a in fig.layout.annotations] == ["m1", "m2"]
    with pytest.raises(InvalidInputError):
        similarity_histogram(sims.iloc[:0])


def test_dimension_marker_moves():
    curve = pd.DataFrame({"method": ["a"] * 3, "dim": [8, 32, 128], "spearman": [60, 70, 75.0]})
    fig = score_by_dimension(curve, dim=32)
    add_dimension_marker(fig, 8)
    markers = [s for s in fig.layout.shapes if s.name == "dimension-marker"]
    assert len(markers) == 1 and markers[0].x0 == 8
    (note,) = [a for a in fig.layout.annotations if a.name == "dimension-marker"]
    assert note.text == "k=8" and note.x == pytest.approx(np.log10(8))  # log axis: log10 units


# ---------------------------------------------------------------------------- export


def _figures() -> dict[str, object]:
    from plotly.subplots import make_subplots

    rng = np.random.default_rng(0)
    heat = go.Figure(go.Heatmap(z=rng.random((3, 4)), x=list("abcd"), y=["l1", "l2", "l3"]))
    grid = make_subplots(rows=2, cols=2, subplot_titles=["p", "q", "r", "s"])
    for i in range(4):
        grid.add_trace(
            go.Scatter(x=[1, 2, 3], y=rng.random(3), name=f"t{i}"), row=i // 2 + 1, col=i % 2 + 1
        )
    band = go.Figure(
        [
            go.Scatter(x=[1, 2, 3], y=[1, 2, 3], line=dict(width=0), showlegend=False),
            go.Scatter(x=[1, 2, 3], y=[2, 3, 4], fill="tonexty", name="band"),
        ]
    )
    xy = rng.normal(size=(30, 2))
    return {
        "bar": sts_bar(_results(), significance=_sig(), baseline="A"),
        "scatter_num": projection_scatter(xy, color=rng.random(30), color_name="gold"),
        "scatter_cat": projection_scatter(xy, color=["x", "y"] * 15),
        "hist": similarity_histogram(
            pd.DataFrame(
                {"method": ["m"] * 20, "pairs": ["p", "r"] * 10, "similarity": rng.random(20)}
            )
        ),
        "curve": score_by_dimension(
            pd.DataFrame(
                {"method": ["a"] * 4, "dim": [2, 8, 32, 128], "spearman": [40, 60, 70, 75.0]}
            ),
            dim=32,
        ),
        "heatmap": heat,
        "grid": grid,
        "band": band,
    }


@pytest.mark.parametrize("name", list(_figures()))
def test_save_plotly_figure_all_formats(name, tmp_path):
    fig = _figures()[name]
    paths = save_figure(fig, tmp_path / "sub" / name, width=4, height=3)
    assert [p.suffix for p in paths] == [".pdf", ".svg", ".png"]
    pdf, svg, png = (p.read_bytes() for p in paths)
    assert pdf.startswith(b"%PDF") and b"<svg" in svg[:500] and png.startswith(b"\x89PNG")
    # 4 x 3 inches at 300 dpi, cropped to the drawing ("tight"): about 1200 x 900 px
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert 800 < w < 1600 and 500 < h < 1300


def test_export_translates_content(tmp_path):
    """The matplotlib figure carries the plotly figure's bars, labels and marks."""
    m = to_matplotlib(_figures()["bar"])
    ax = m.axes[0]
    heights = sorted(round(p.get_height(), 3) for p in ax.patches)
    assert heights == sorted([81.0, 80.0, 80.5, 71.0, 70.0, 70.5])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["STS-B", "SICK-R", "avg"]
    assert ax.get_ylabel().startswith("Spearman")
    texts = [t.get_text() for t in ax.texts]
    assert "**" in texts
    legend = m.legends[0] if m.legends else ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["A (baseline)", "B"]
    curve = to_matplotlib(_figures()["curve"])
    assert curve.axes[0].get_xscale() == "log"


def test_save_is_reproducible(tmp_path):
    fig = _figures()["scatter_cat"]
    (a,) = save_figure(fig, tmp_path / "a", formats=["svg"])
    (b,) = save_figure(fig, tmp_path / "b", formats=("svg",))
    assert a.read_bytes() == b.read_bytes()
    (p,) = save_figure(fig, tmp_path / "c", formats="pdf")
    (q,) = save_figure(fig, tmp_path / "d.pdf", formats="pdf")  # a format suffix is dropped
    assert q.name == "d.pdf" and p.read_bytes() == q.read_bytes()


def test_save_matplotlib_figure_and_errors(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    paths = save_figure(fig, tmp_path / "mpl", formats=["png", "pdf"], width=3)
    assert all(p.stat().st_size > 1000 for p in paths)
    plt.close(fig)
    with pytest.raises(InvalidInputError, match="format"):
        save_figure(go.Figure(), tmp_path / "x", formats=["gif"])
    with pytest.raises(InvalidInputError, match="plotly or matplotlib"):
        save_figure(object(), tmp_path / "x")
    with pytest.raises(UnsupportedFigure, match="pie"):
        save_figure(go.Figure(go.Pie(values=[1, 2])), tmp_path / "pie")


# ---------------------------------------------------------------------------- report


def test_report_command_is_registered():
    from workbench.cli import build_parser

    args = build_parser().parse_args(["report", "--out", "x", "--quick", "--notebooks", "none"])
    assert args.func.__name__ == "cmd_report" and args.quick and args.notebooks == "none"


def test_report_captures_a_notebook(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    from workbench.report import run_notebook

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import pandas as pd\nimport plotly.graph_objects as go"),
        nbformat.v4.new_code_cell(
            "go.Figure(go.Bar(x=['a', 'b'], y=[1, 2]), layout_title_text='Two bars')"
        ),
        nbformat.v4.new_code_cell("pd.DataFrame({'a': [1, 2]})"),
        nbformat.v4.new_code_cell("x = 1  # shows nothing"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    src = tmp_path / "07_demo.ipynb"
    nbformat.write(nb, src)
    rec = run_notebook(src, tmp_path / "out", quick=True, formats=["png"])
    assert rec["status"] == "ok", rec
    names = sorted(p.rsplit("/", 1)[1] for p in rec["files"])
    assert names == ["cell02-two-bars.png", "cell03-table.csv"]
    assert pd.read_csv(tmp_path / "out" / "cell03-table.csv")["a"].tolist() == [1, 2]
    # the source notebook is untouched (no outputs written back)
    assert not any(c.get("outputs") for c in nbformat.read(src, as_version=4).cells)


def test_report_skips_a_notebook_whose_module_is_absent(tmp_path, monkeypatch):
    import workbench.report as report

    monkeypatch.setitem(report._NEEDS, "demo", "workbench_no_such_module")
    rec = report.run_notebook(tmp_path / "09_demo.ipynb", tmp_path / "o", True, ["png"])
    assert rec["status"] == "skipped" and "workbench_no_such_module" in rec["reason"]


@pytest.mark.slow
def test_report_quick_end_to_end(tmp_path, senteval_dir):
    """`workbench report --quick`: the standard study plus the quick-start notebook."""
    from workbench.cli import main

    out = tmp_path / "report"
    status = main(
        ["report", "--out", str(out), "--quick", "--notebooks", "00_quick", "--formats", "png,pdf"]
    )
    rec = json.loads((out / "report.json").read_text())
    assert status == 0, rec
    std = out / "standard"
    for stem in ("sts_bar", "space_pca", "similarity_hist", "truncation_curve"):
        assert (std / f"{stem}.png").stat().st_size > 10_000
        assert (std / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
    table = pd.read_csv(std / "sts_results.csv")
    assert {"STSBenchmark", "SICKRelatedness"} <= set(table["task"])
    assert (table["max_pairs"] == 200).all()  # a reduced run says so in its numbers
    nb_files = [f for p in rec["parts"] if p["part"].startswith("notebook") for f in p["files"]]
    pngs = [f for f in nb_files if f.endswith(".png")]
    assert len(pngs) >= 2 and all(re.search(r"cell\d\d-", f) for f in pngs)
