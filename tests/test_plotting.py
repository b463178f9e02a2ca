"""Figure builders, their export through kaleido (paper mode), and ``workbench report``.

The builders are tested on synthetic tidy frames (no model); the report test executes a
tiny notebook and the quick-start notebook in a kernel.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

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
)


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
    # the average's interval: independent tasks, half-widths combine as sqrt(sum h^2) / T
    np.testing.assert_allclose(
        [a.error_y.array[2], a.error_y.arrayminus[2]], [np.sqrt(18) / 2, np.sqrt(8) / 2]
    )
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
    # 70.5 - sqrt(2^2 + 2^2) / 2 = 69.09; 70.5 + sqrt(3^2 + 3^2) / 2 = 72.62
    assert t.loc["B", "avg"] == "70.5 [69.1, 72.6]"


def test_marks_must_come_from_the_aggregation_shown():
    res = pd.concat([_results(), _results().assign(level="wmean", spearman=50.0)])
    with pytest.raises(InvalidInputError, match="aggregation"):
        sts_table(res, aggregation="wmean", significance=_sig(), baseline="A")
    with pytest.raises(InvalidInputError, match="aggregation"):
        sts_bar(res, aggregation="wmean", significance=_sig().assign(aggregation="all"))
    t = sts_table(
        res, aggregation="wmean", significance=_sig().assign(aggregation="wmean"), baseline="A"
    )
    assert t.loc["B", "STS-B"].endswith("↓**")


def test_no_bootstrap_no_error_bars():
    res = _results().assign(spearman_lo=np.nan, spearman_hi=np.nan)
    fig = sts_bar(res)
    assert all(t.error_y.array is None for t in fig.data)
    assert sts_table(res).loc["A", "STS-B"] == "81.0"


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


def _builders() -> dict[str, object]:
    """One figure of every builder, on synthetic tidy frames shaped as the library makes
    them (several methods, facets, log axes, heatmaps, a secondary axis)."""
    from workbench.plotting import compression as cp
    from workbench.plotting import geometry as gp
    from workbench.plotting import training as tp

    rng = np.random.default_rng(0)
    xy = rng.normal(size=(60, 2))
    sims = pd.DataFrame(
        {
            "method": ["m1"] * 80 + ["m2"] * 80,
            "pairs": (["positive"] * 40 + ["random"] * 40) * 2,
            # m2 lives near cosine 1 (as GloVe does): its own bins, the shared y scale
            "similarity": np.r_[
                rng.normal(0.7, 0.1, 40),
                rng.normal(0.1, 0.1, 40),
                rng.normal(0.95, 0.02, 40),
                rng.normal(0.85, 0.03, 40),
            ],
        }
    )
    curve = pd.DataFrame(
        {
            "method": ["a"] * 5 + ["b"] * 3,
            "dim": [2, 8, 32, 128, 384, 2, 8, 50],
            "spearman": [40, 60, 70, 75, 76, 30, 45, 50.0],
        }
    )
    emb = rng.normal(size=(80, 120)) * np.linspace(3, 0.01, 120)  # rank 80 < 120 dims
    trunc = pd.DataFrame(
        [
            {"family": f, "task": t, "fraction": fr, "retained": fr**0.1, "selection": "first"}
            for f, ts in {"sts": ["STS12", "STSB"], "classification": ["MR", "SUBJ"]}.items()
            for t in ts
            for fr in (0.005, 0.05, 0.25, 1.0)
        ]
    )
    grid = pd.DataFrame(
        [
            {"layer": la, "dim": d, "task": "avg", "retained": (la + 1) / 4 * (d / 384) ** 0.2}
            for la in range(4)
            for d in (8, 32, 128, 384)
        ]
    )
    run = {
        "recipe": "cosent",
        "curve": {
            "train": [{"step": i, "loss": 2 / (i + 1)} for i in range(30)],
            "eval": [{"step": i, "score": 80 + i / 10} for i in range(0, 30, 10)],
        },
    }
    scores = pd.DataFrame(
        {
            "encoder": ["base", "tuned", "base", "tuned", "base", "tuned"],
            "task": ["STSBenchmark"] * 2 + ["SICKRelatedness"] * 2 + ["avg"] * 2,
            "spearman": [82.0, 85.0, 77.0, 78.0, 79.5, 81.5],
            "spearman_lo": [80.0, 83.0, 75.0, 76.0, np.nan, np.nan],
            "spearman_hi": [84.0, 87.0, 79.0, 80.0, np.nan, np.nan],
        }
    )
    grids = pd.DataFrame(
        [
            {"encoder": e, "layer": la, "dim": d, "spearman": 50 + la * 4 + d / 20}
            for e in ("base", "m2d")
            for la in (1, 3, 6)
            for d in (8, 32, 384)
        ]
    )
    iso = pd.DataFrame(
        {"prompt": ["sts", "retrieval"], "isoscore": [0.1, 0.2], "avg_cosine": [0.3, 0.4]}
    )
    prof = pd.DataFrame(
        {
            "layer": list(range(4)) * 2,
            "encoder": ["A"] * 4 + ["B"] * 4,
            "id_twonn": rng.uniform(5, 20, 8),
            "isoscore": rng.uniform(0, 0.3, 8),
        }
    )
    comp = pd.DataFrame(
        [
            {
                "family": f,
                "task": t,
                "metric": m,
                "codec": c,
                "dim": d,
                "bytes_per_vector": b,
                "score": s - 10 * np.log2(384 / d) / 3,
            }
            for f, t, m in (("sts", "STSBenchmark", "spearman"), ("retrieval", "STSB", "ndcg@10"))
            for c, per_dim, s in (("float32", 4, 82.0), ("int8", 1, 81.5), ("binary", 1 / 8, 78.0))
            for d in (384, 192, 96, 48)
            for b in [d * per_dim]
        ]
    )
    bars = pd.DataFrame(
        {
            "task": ["STSBenchmark", "avg"] * 2,
            "spearman": [82.0, 79.0, 60.0, 58.0],
            "transform": ["none", "none", "pca", "pca"],
        }
    )
    return {
        "sts_bar": sts_bar(_results(), significance=_sig(), baseline="A"),
        "projection_scatter": projection_scatter(xy, color=["STS12", "STSBenchmark"] * 30),
        "projection_scatter/numeric": projection_scatter(xy, color=rng.random(60), color_name="g"),
        "similarity_histogram": similarity_histogram(sims),
        "score_by_dimension": score_by_dimension(curve, dim=32),
        "spectrum_figure": gp.spectrum_figure({"A": emb}),
        "grouped_bars": gp.grouped_bars(bars, x="task", y="spearman", color="transform"),
        "isotropy_bars": gp.isotropy_bars(iso, label="prompt", measures=["isoscore", "avg_cosine"]),
        "layer_profile_figure": gp.layer_profile_figure(
            prof, measures=["id_twonn", "isoscore"], color="encoder"
        ),
        "truncation_figure": gp.truncation_figure(trunc, color="task", facet="family"),
        "layer_dim_heatmap": gp.layer_dim_heatmap(grid),
        "training_curve": tp.training_curve(run),
        "before_after_bars": tp.before_after_bars(scores),
        "truncation_comparison": tp.truncation_comparison(
            pd.DataFrame({"encoder": ["a"] * 3, "dim": [8, 48, 384], "spearman": [60, 70, 75.0]}),
            mark=48,
        ),
        "layer_dim_grids": tp.layer_dim_grids(grids),
        "compression_figure": cp.compression_figure(comp),
        **_compare_builders(rng),
    }


def _compare_builders(rng) -> dict[str, object]:
    """The figures of workbench.plotting.compare, on frames shaped as workbench.compare
    makes them (a layer x layer CKA grid; a pair table of two methods)."""
    from workbench.plotting import compare as cmp

    cka = pd.DataFrame(
        [
            {"encoder_a": "A", "layer_a": i, "encoder_b": "A", "layer_b": j, "n": 50,
             "cka": 1.0 / (1 + abs(i - j)), "debiased": False}
            for i in range(4)
            for j in range(4)
        ]
    )  # fmt: skip
    pairs = pd.DataFrame(
        {
            "sentence1": [f"a sentence {i}" for i in range(40)],
            "sentence2": [f"another sentence {i}" for i in range(40)],
            "gold": rng.uniform(0, 5, 40),
            "residual:m1": rng.uniform(-0.5, 0.5, 40),
            "residual:m2": rng.uniform(-0.8, 0.8, 40),
        }
    )
    pairs.attrs["methods"] = ["m1", "m2"]
    return {
        "layer_cka_heatmap": cmp.layer_cka_heatmap(cka),
        "pair_residuals": cmp.pair_residuals(pairs, highlight=3),
    }


def test_every_builder_is_in_the_export_test():
    from workbench.plotting import compare as cmp
    from workbench.plotting import compression as cp
    from workbench.plotting import geometry as gp
    from workbench.plotting import training as tp

    builders = {"sts_bar", "projection_scatter", "similarity_histogram", "score_by_dimension"}
    builders |= set(gp.__all__) | set(tp.__all__) | set(cp.__all__) | set(cmp.__all__)
    assert builders <= {k.split("/")[0] for k in _builders()}


def _chromium():
    from workbench.plotting.export import browser_path

    if browser_path() is None:
        pytest.skip("no Chrome/Chromium for kaleido (apt-get install chromium; CI has it)")
    pytest.importorskip("kaleido")


def _svg_parts(svg: bytes) -> dict[str, object]:
    """What a reader sees in a plotly SVG: tick labels per axis, legend entries, all text."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)
    tag = "{http://www.w3.org/2000/svg}"

    def texts(el) -> list[str]:
        return ["".join(t.itertext()).strip() for t in el.iter(tag + "text")]

    ticks: dict[str, list[str]] = {}
    for g in root.iter(tag + "g"):
        # tick labels: <g class="x2tick"><text>...</text></g> (the tick marks' paths are
        # "x2tick ticks crisp" and hold no text)
        m = re.fullmatch(r"([xy]\d*)tick", g.get("class") or "")
        if m:
            ticks.setdefault(m.group(1), []).extend(t for t in texts(g) if t)
    legend = [
        "".join(t.itertext()).strip()
        for t in root.iter(tag + "text")
        if "legendtext" in (t.get("class") or "")
    ]
    return {"ticks": ticks, "legend": legend, "text": " ".join(texts(root)), "raw": svg}


def _axis_key(name: str) -> str:
    """``xaxis2`` -> ``x2`` (the name plotly's SVG classes use)."""
    return name[0] + name[5:]


def _colors(fig) -> set[str]:
    """rgb(...) of every single colour a trace declares (as plotly.js writes it in SVG)."""
    from plotly.colors import hex_to_rgb

    out = set()
    for t in fig.data:
        for c in (
            getattr(getattr(t, "marker", None), "color", None),
            getattr(getattr(t, "line", None), "color", None),
        ):
            if isinstance(c, str) and c.startswith("#"):
                out.add("rgb({}, {}, {})".format(*hex_to_rgb(c)))
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every builder's figure, live and exported in paper mode (single column)."""
    _chromium()
    from workbench.plotting.export import axis_ranges, paper_figure

    out = tmp_path_factory.mktemp("figures")
    done = {}
    for name, fig in _builders().items():
        stem = name.replace("/", "-")
        paths = save_figure(fig, out / stem, width="single", dpi=300)
        (live_svg,) = save_figure(fig, out / f"{stem}-live", formats="svg", paper=False)
        done[name] = {
            "fig": fig,
            "paths": {p.suffix[1:]: p for p in paths},
            "svg": _svg_parts(paths[1].read_bytes()),
            "live_svg": _svg_parts(live_svg.read_bytes()),
            "live_ranges": axis_ranges(fig),
            "paper_ranges": axis_ranges(paper_figure(fig, width="single")),
        }
    return done


@pytest.mark.parametrize("name", list(_builders()))
def test_export_is_the_figure_on_screen(name, exported):
    """The exported file keeps the interactive figure's axis types and ranges, shared axes,
    tick labels on every facet, legend entries, facet titles and colours."""
    e = exported[name]
    fig, svg, live = e["fig"], e["svg"], e["live_svg"]
    # the same scales: plotly.js resolves identical axis types, ranges and sharing for the
    # paper figure and the live one (ranges pinned: exactly equal up to float printing)
    assert e["paper_ranges"].keys() == e["live_ranges"].keys()
    for axis, live_ax in e["live_ranges"].items():
        paper_ax = e["paper_ranges"][axis]
        assert paper_ax["type"] == live_ax["type"] and paper_ax["matches"] == live_ax["matches"]
        np.testing.assert_allclose(paper_ax["range"], live_ax["range"], rtol=1e-9, atol=1e-12)
    # tick labels on every axis of every facet, in the file
    for axis in e["live_ranges"]:
        labels = svg["ticks"].get(_axis_key(axis), [])
        assert len(labels) >= 2, f"{name}: {axis} has tick labels {labels} in the file"
    # a shared axis shows the same ticks as the axis it matches
    for axis, ax in e["live_ranges"].items():
        if ax["matches"]:
            assert svg["ticks"][_axis_key(axis)] == svg["ticks"][ax["matches"]]
    # the same legend entries as on screen (and as the builder declares them)
    assert svg["legend"] == live["legend"]
    assert svg["legend"] == _legend_names(fig)
    # facet titles and colours as on screen; no title in paper mode, it is the caption
    for a in fig.layout.annotations:
        if a.text and a.yref == "paper" and (a.y or 0) >= 0.99:
            assert a.text in svg["text"]
    for c in _colors(fig):
        assert c.encode() in svg["raw"], f"{name}: colour {c} missing from the file"
    if fig.layout.title.text:
        assert fig.layout.title.text not in svg["text"] and fig.layout.title.text in live["text"]
        cap = e["paths"]["svg"].with_name(e["paths"]["svg"].stem + ".caption.txt")
        meta = fig.layout.meta or {}
        want = meta.get("caption") or re.sub(r"<[^>]+>", "", fig.layout.title.text)
        assert cap.read_text().strip() == want


def _legend_names(fig) -> list[str]:
    from workbench.plotting.style import legend_entries

    return legend_entries(fig)


def test_export_files_paper_size_and_embedded_fonts(exported):
    e = exported["sts_bar"]
    pdf, png = e["paths"]["pdf"].read_bytes(), e["paths"]["png"].read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf  # TrueType fonts embedded
    # one column = 3.4 in = 326 CSS px; at 300 dpi the PNG is 326 * 300 / 96 px wide
    w = int.from_bytes(png[16:20], "big")
    assert abs(w - 326 * 300 / 96) <= 1


def test_export_is_reproducible_and_named_by_id(tmp_path):
    _chromium()
    fig = _builders()["score_by_dimension"]
    (a,) = save_figure(fig, tmp_path / "a" / "fig3-truncation", formats="svg")
    (b,) = save_figure(fig, "fig3-truncation", formats=["svg"], folder=tmp_path / "b")
    assert a.name == b.name == "fig3-truncation.svg"
    assert a.read_bytes() == b.read_bytes()
    assert [x.suffix for x in save_figure(fig, tmp_path / "e", formats="svg, png")] == [
        ".svg",
        ".png",
    ]
    (p,) = save_figure(fig, tmp_path / "c.pdf", formats="pdf")  # a format suffix is dropped
    (q,) = save_figure(fig, tmp_path / "d", formats="pdf")
    assert p.name == "c.pdf" and p.read_bytes() == q.read_bytes()


def _values(v) -> np.ndarray:
    """Trace data as numbers (plotly may hold it as base64 "bdata")."""
    import base64

    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def test_paper_mode_leaves_data_and_colours(tmp_path):
    from workbench.plotting.style import paper_layout

    fig = _builders()["truncation_figure"]
    paper = paper_layout(fig, width="single")
    assert paper.layout.width == round(3.4 * 96) and not paper.layout.title.text
    for a, b in zip(paper.data, fig.data, strict=True):
        np.testing.assert_array_equal(_values(a.y), _values(b.y))
    assert [t.line.color for t in paper.data] == [t.line.color for t in fig.data]
    assert fig.layout.title.text  # the live figure is untouched


def test_one_colour_per_task_and_method_across_figures():
    from workbench.plotting import style

    fig = _builders()["truncation_figure"]
    colors = {t.name: t.line.color for t in fig.data}
    # STS12 and SUBJ sit in different facets under one legend: different colours
    assert len(set(colors.values())) == len(colors)
    assert colors["STS12"] == style.task_color("STS12")
    assert colors["STS-B"] == style.task_color("STSBenchmark") == style.task_color("stsb")
    a = sts_bar(_results())
    b = score_by_dimension(
        pd.DataFrame({"method": ["B", "A"], "dim": [2, 4], "spearman": [1.0, 2.0]})
    )
    bar_colors = {t.name: t.marker.color for t in a.data if t.type == "bar"}
    line_colors = {t.name: t.line.color for t in b.data}
    assert bar_colors["A"] == line_colors["A"] and bar_colors["B"] == line_colors["B"]


def test_one_vocabulary_for_tasks_and_axes():
    from workbench.plotting import style

    for spelling in ("STSBenchmark", "STSB", "stsb", "STS-B"):
        assert style.task_label(spelling) == "STS-B"
    assert style.task_label("SICKRelatedness") == style.task_label("SICK-R") == "SICK-R"
    figs = _builders()
    assert figs["sts_bar"].layout.yaxis.title.text == style.axis_label("spearman")
    assert figs["before_after_bars"].layout.yaxis.title.text == style.axis_label("spearman")
    assert figs["truncation_comparison"].layout.yaxis.title.text == style.axis_label("spearman")
    assert list(figs["before_after_bars"].data[0].x) == ["STS-B", "SICK-R", "avg"]


def test_bars_from_zero_with_intervals_on_the_average():
    figs = _builders()
    ba = figs["before_after_bars"]
    assert ba.layout.yaxis.range[0] == 0
    base = ba.data[0]
    # the avg row had no interval: it gets the tasks' combined one (independent tasks):
    # half-widths 2 and 2 -> sqrt(2^2 + 2^2) / 2 = sqrt(2)
    assert base.error_y.array[2] == pytest.approx(np.sqrt(2))
    assert figs["sts_bar"].layout.yaxis.range[0] == 0


def test_log_axes_where_data_span_decades():
    figs = _builders()
    spec = figs["spectrum_figure"]
    assert spec.layout.xaxis.type == "log" and spec.layout.yaxis.type == "log"
    # a rank-80 matrix of 120 dims: the 40 zero eigenvalues (rounding noise) are not drawn
    assert len(spec.data[0].y) == 79 and min(spec.data[0].y) > 1e-12
    from workbench.plotting.style import plotly_template

    assert plotly_template().layout.yaxis.exponentformat == "power"
    assert figs["truncation_figure"].layout.xaxis.type == "log"
    assert figs["layer_dim_heatmap"].layout.xaxis.type == "category"  # equal cells per k


def test_save_figure_errors(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    paths = save_figure(fig, tmp_path / "mpl", formats=["png", "pdf"], width="single")
    assert all(p.stat().st_size > 1000 for p in paths)
    plt.close(fig)
    with pytest.raises(InvalidInputError, match="format"):
        save_figure(go.Figure(), tmp_path / "x", formats=["gif"])
    with pytest.raises(InvalidInputError, match="plotly or matplotlib"):
        save_figure(object(), tmp_path / "x")
    with pytest.raises(InvalidInputError, match="figure id"):
        save_figure(go.Figure(), tmp_path / "STS all (p<.05)")
    with pytest.raises(InvalidInputError, match="single"):
        save_figure(go.Figure(), tmp_path / "x", width="triple")


def test_missing_browser_is_explained(tmp_path, monkeypatch):
    import workbench.plotting.export as export

    monkeypatch.setattr(export, "_started", False)
    monkeypatch.setattr(export, "browser_path", lambda: None)
    with pytest.raises(export.ExportUnavailable, match="apt-get install chromium"):
        save_figure(go.Figure(), tmp_path / "x")


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
        nbformat.v4.new_code_cell(
            "from workbench.plotting import set_meta\n"
            "set_meta(go.Figure(go.Bar(x=['a'], y=[1]), layout_title_text='New title'),"
            " 'fig3-bars')"
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
    # figures are named by the id a notebook gives them (or "figure"), never by the title
    assert names == ["cell04-table.csv", "fig3-bars.png", "figure.png"]
    assert pd.read_csv(tmp_path / "out" / "cell04-table.csv")["a"].tolist() == [1, 2]
    assert (tmp_path / "out" / "fig3-bars.caption.txt").read_text().strip() == "New title"
    # the executed notebook as HTML, without the capture hook
    page = (tmp_path / "out" / "07_demo.html").read_text()
    assert "shows nothing" in page and "_install_capture" not in page
    assert "Plotly.newPlot" in page  # the figures are in it, drawn by plotly.js
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
    pngs = sorted(Path(f).name for f in nb_files if f.endswith(".png"))
    # the quick-start notebook shows an STS bar chart and a PCA map: their builders' ids
    assert {"sts_bar.png", "space_pca.png"} <= set(pngs), pngs
    assert all(Path(p["html"]).is_file() for p in rec["parts"] if "html" in p)


def test_before_after_bars_from_training_scores_carry_intervals(senteval_dir):
    """notebook 05's before/after bars: sts_scores keeps the bootstrap interval, so every
    bar, the average included, has an error bar (the average's combines the tasks')."""
    from workbench.encoders import list_encoders
    from workbench.training import sts_scores

    if not any(r["name"] == "all-MiniLM-L6-v2" and r["installed"] for r in list_encoders()):
        pytest.skip("the packaged MiniLM is not installed")
    scores = sts_scores(
        {"base": "all-MiniLM-L6-v2"}, ["STSBenchmark", "SICKRelatedness"], max_pairs=60, n_boot=200
    )
    task_rows = scores[scores["task"] != "avg"]
    assert (task_rows["spearman_lo"] < task_rows["spearman"]).all()
    assert (task_rows["spearman"] < task_rows["spearman_hi"]).all()
    assert set(scores["protocol"]) == {"simcse+max_pairs=60"}
    from workbench.plotting.training import before_after_bars

    fig = before_after_bars(scores)
    err = np.asarray(fig.data[0].error_y.array, dtype=float)
    assert len(err) == 3 and np.isfinite(err).all() and (err > 0).all()
