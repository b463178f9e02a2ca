"""Geometry: isotropy, intrinsic dimension, whitening, truncation, transforms, CLI.

The maths is checked on small synthetic data against direct (brute-force) definitions; the
packaged all-MiniLM-L6-v2 is used on small subsets for the STS and command-line checks.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from workbench.errors import InvalidInputError, UnknownNameError
from workbench.geometry import (
    Truncation,
    Whitening,
    alignment,
    avg_cosine,
    dimension_grid,
    effective_rank,
    explained_variance,
    from_specs,
    intrinsic_dimension,
    isoscore,
    isoscore_reference,
    knn,
    measure,
    parse_spec,
    partition_isotropy,
    truncate,
    uniformity,
)
from workbench.geometry.transforms import FitOnTarget


def _aniso(n=600, d=12, seed=0, rotate=False):
    rng = np.random.default_rng(seed)
    scales = np.geomspace(5.0, 0.05, d)
    X = rng.standard_normal((n, d)) * scales + rng.standard_normal(d)
    if rotate:  # correlated coordinates with different variances
        q, _ = np.linalg.qr(np.random.default_rng(99).standard_normal((d, d)))
        X = X @ q * np.geomspace(1.0, 3.0, d)
    return X


def _cos_matrix(Z):
    U = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    return U @ U.T


# ------------------------------------------------------------------------------ isotropy


def _isoscore_by_definition(X):
    """Rudman et al. 2022, Algorithm 1, step by step: PCA-reorient, variance vector,
    normalise to length sqrt(d), isotropy defect, fraction of dimensions used, rescale."""
    Xc = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    pca = Xc @ vt.T  # step 1: points in the principal-component basis
    d = X.shape[1]
    var = np.zeros(d)  # step 2: the diagonal of the covariance there (0 beyond rank n - 1)
    var[: pca.shape[1]] = pca.var(axis=0, ddof=1)
    var_hat = math.sqrt(d) * var / np.linalg.norm(var)  # step 3
    defect = np.linalg.norm(var_hat - 1) / math.sqrt(2 * (d - math.sqrt(d)))  # step 4
    k = (d - defect**2 * (d - math.sqrt(d))) ** 2 / d**2  # step 5: fraction of dims used
    return (d * k - 1) / (d - 1)  # step 6


def test_isoscore_library_matches_definition():
    pytest.importorskip("IsoScore")
    for X in (_aniso(), _aniso(n=40, d=60, seed=1), np.random.default_rng(2).random((300, 5))):
        ref = _isoscore_by_definition(X)
        assert isoscore(X) == pytest.approx(ref, abs=1e-6)  # the IsoScore package
        assert isoscore_reference(X) == pytest.approx(ref, abs=1e-10)  # our numpy formula


def test_isoscore_extremes():
    rng = np.random.default_rng(0)
    assert isoscore(rng.standard_normal((20000, 8))) > 0.99
    line = np.outer(rng.standard_normal(500), np.ones(8)) + 1e-9 * rng.standard_normal((500, 8))
    assert isoscore(line) < 0.01


def test_avg_cosine_is_the_mean_over_distinct_pairs():
    X = _aniso(n=50, d=6)
    C = _cos_matrix(X)
    brute = C[~np.eye(len(X), dtype=bool)].mean()
    assert avg_cosine(X) == pytest.approx(brute, abs=1e-12)


def test_partition_isotropy_definition_and_direction():
    X = _aniso(n=80, d=5)
    # Mu & Viswanath: Z(c) over the eigenvectors, each once, largest component positive
    vecs = np.real(np.linalg.eig(X.T @ X)[1])
    vecs = vecs * np.sign(vecs[np.abs(vecs).argmax(axis=0), range(5)])
    z = np.exp(X @ vecs).sum(axis=0)
    assert partition_isotropy(X) == pytest.approx(z.min() / z.max(), rel=1e-9)
    # the sign convention is what fixes the value: the other orientation of one vector differs
    flipped = vecs.copy()
    flipped[:, int(np.argmax(z))] *= -1
    zf = np.exp(X @ flipped).sum(axis=0)
    assert abs(zf.min() / zf.max() - partition_isotropy(X)) > 1e-3
    # both signs: +c and -c for each eigenvector, whatever sign eigh returns
    _, vecs = np.linalg.eigh(X.T @ X)
    z2 = np.exp(X @ np.hstack([vecs, -vecs])).sum(axis=0)
    assert partition_isotropy(X, "both-signs") == pytest.approx(z2.min() / z2.max(), rel=1e-9)
    assert partition_isotropy(X, "both-signs") <= partition_isotropy(X) + 1e-12
    with pytest.raises(InvalidInputError, match="both-signs"):
        partition_isotropy(X, "one-sign")
    rng = np.random.default_rng(0)
    G = rng.standard_normal((5000, 10))
    for variant in ("mu-viswanath", "both-signs"):
        assert partition_isotropy(G, variant) > 0.8
        assert partition_isotropy(G + 3.0, variant) < 0.1  # a common offset: far from isotropic
        # log-space computation: no overflow for huge norms
        assert 0 <= partition_isotropy(1e4 * G, variant) <= 1


def test_effective_rank_and_spectrum():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((200, 200)))
    v, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    s = np.zeros(20)
    s[:5] = 3.0
    X = q[:, :20] @ np.diag(s) @ v.T  # exactly 5 equal non-zero singular values
    assert effective_rank(X, center=False) == pytest.approx(5.0, rel=1e-9)
    spec = explained_variance(_aniso())
    assert spec["ratio"].sum() == pytest.approx(1.0)
    assert (np.diff(spec["variance"]) <= 1e-12).all()
    assert spec["cumulative"].iloc[-1] == pytest.approx(1.0)


def test_alignment_and_uniformity_brute_force():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((30, 4)), rng.standard_normal((30, 4))
    nA = A / np.linalg.norm(A, axis=1, keepdims=True)
    nB = B / np.linalg.norm(B, axis=1, keepdims=True)
    assert alignment(A, B) == pytest.approx(np.mean(np.sum((nA - nB) ** 2, axis=1)))
    iu = np.triu_indices(30, 1)
    sq = np.sum((nA[:, None] - nA[None]) ** 2, axis=2)[iu]
    assert uniformity(A) == pytest.approx(np.log(np.mean(np.exp(-2 * sq))), rel=1e-10)


# ------------------------------------------------------------------------------ bad input

MEASURES = [
    isoscore,
    avg_cosine,
    partition_isotropy,
    effective_rank,
    uniformity,
    lambda X: intrinsic_dimension(X),
    lambda X: Whitening("zca").fit(X),
    lambda X: measure(X),
]


@pytest.mark.parametrize("fn", MEASURES)
def test_measures_reject_bad_input(fn):
    good = _aniso(n=50, d=6)
    nan = good.copy()
    nan[3, 2] = np.nan
    inf = good.copy()
    inf[0, 0] = np.inf
    for bad in (nan, inf, good[:1], np.ones((50, 6)), good[:, 0]):
        with pytest.raises(InvalidInputError):
            fn(bad)


def test_zero_rows_and_dimension_checks():
    X = _aniso(n=50, d=6)
    X[4] = 0
    with pytest.raises(InvalidInputError, match="all-zero"):
        avg_cosine(X)
    with pytest.raises(InvalidInputError, match="larger than the embedding"):
        truncate(_aniso(d=6), 7)
    with pytest.raises(InvalidInputError, match="larger than the embedding"):
        Whitening("bert", n_components=13).fit(_aniso(d=12))
    with pytest.raises(InvalidInputError, match="at least 10 rows"):
        intrinsic_dimension(_aniso(n=8))


# ------------------------------------------------------------------------------ intrinsic dim


def test_knn_is_exact():
    X = _aniso(n=300, d=7)
    d, i = knn(X, 5)
    full = np.linalg.norm(X[:, None] - X[None], axis=2)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(d, np.sort(full, axis=1)[:, :5], rtol=1e-12)
    assert (i != np.arange(300)[:, None]).all()


def test_intrinsic_dimension_matches_scikit_dimension():
    skdim = pytest.importorskip("skdim")
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((1500, 4))
    X = np.tanh(Z @ rng.standard_normal((4, 40))) + 1e-3 * rng.standard_normal((1500, 40))
    res = intrinsic_dimension(X, max_n=None).set_index("method")["estimate"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert res["twonn"] == pytest.approx(skdim.id.TwoNN().fit(X).dimension_, rel=1e-8)
        assert res["mle"] == pytest.approx(skdim.id.MLE().fit(X).dimension_, rel=1e-8)
        assert res["lpca"] == skdim.id.lPCA().fit(X).dimension_
    assert 3 <= res["twonn"] <= 6  # a 4-dimensional manifold


def test_intrinsic_dimension_duplicates_subsampling_and_bootstrap():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 3)) @ rng.standard_normal((3, 20))
    dup = np.vstack([X, X[:60]])
    a = intrinsic_dimension(X, methods=["twonn"], max_n=None)
    b = intrinsic_dimension(dup, methods=["twonn"], max_n=None, n_boot=5)
    assert np.isfinite(b["estimate"]).all()
    assert b["n_duplicates"].iloc[0] == 60
    assert b["estimate"].iloc[0] == pytest.approx(a["estimate"].iloc[0])
    assert b["boot_std"].iloc[0] > 0 and b["boot_lo"].iloc[0] <= b["boot_hi"].iloc[0]
    sub = intrinsic_dimension(X, methods=["twonn"], max_n=100)
    assert sub["n"].iloc[0] == 100
    with pytest.raises(UnknownNameError):
        intrinsic_dimension(X, methods=["nope"])


# ------------------------------------------------------------------------------ whitening


@pytest.mark.parametrize("method", ["pca", "zca", "pca-cor", "zca-cor", "cholesky", "bert"])
def test_whitening_gives_identity_covariance(method):
    X = _aniso(n=2000, d=10)
    Z = Whitening(method, eps=0).fit(X).transform(X)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(10), atol=1e-8)
    assert isoscore(Z) == pytest.approx(1.0, abs=1e-6)


def test_whitening_rotations_give_identical_cosines():
    X, ref = _aniso(n=300, d=10, seed=3, rotate=True), _aniso(n=1000, d=10, seed=4, rotate=True)
    cos = {m: _cos_matrix(Whitening(m, eps=1e-2).fit(ref).transform(X)) for m in WHITENINGS}
    for m in ("zca", "cholesky"):
        np.testing.assert_allclose(cos[m], cos["pca"], atol=1e-12)
    np.testing.assert_allclose(cos["zca-cor"], cos["pca-cor"], atol=1e-12)
    # the -cor group regularises the correlation matrix instead: a different result ...
    assert np.abs(cos["pca-cor"] - cos["pca"]).max() > 1e-6
    # ... and only through eps: every whitening of one covariance is a rotation of another
    exact = {m: _cos_matrix(Whitening(m, eps=0).fit(ref).transform(X)) for m in WHITENINGS}
    for m in WHITENINGS:
        np.testing.assert_allclose(exact[m], exact["pca"], atol=1e-10)
    # with k kept dimensions, ZCA-k is PCA-k embedded back in d dimensions
    k = {m: _cos_matrix(Whitening(m, n_components=4).fit(ref).transform(X)) for m in ("pca", "zca")}
    np.testing.assert_allclose(k["zca"], k["pca"], atol=1e-12)


WHITENINGS = ("pca", "zca", "pca-cor", "zca-cor", "cholesky")


def test_whitening_rank_deficient_and_sklearn_api():
    from sklearn.base import clone

    rng = np.random.default_rng(0)
    few = rng.standard_normal((20, 50))  # n < d
    collinear = np.hstack([few[:, :10], few[:, :10], np.ones((20, 1))])  # duplicated + constant
    for X in (few, collinear):
        for m in WHITENINGS:
            Z = Whitening(m).fit(X).transform(X)
            assert np.isfinite(Z).all()
    with pytest.raises(InvalidInputError, match="singular"):
        Whitening("zca", eps=0).fit(few)
    with pytest.raises(InvalidInputError, match="cholesky"):
        Whitening("cholesky", n_components=3).fit(_aniso())
    with pytest.raises(UnknownNameError):
        Whitening("nope").fit(_aniso())
    w = clone(Whitening("bert", n_components=3, eps=1e-4))
    assert w.get_params() == {"method": "bert", "n_components": 3, "eps": 1e-4}
    assert w.fit_transform(_aniso()).shape == (600, 3)
    with pytest.raises(InvalidInputError, match="fitted on 12-d"):
        Whitening().fit(_aniso()).transform(_aniso(d=5))


# ------------------------------------------------------------------------------ truncation


def test_dimension_grid_has_quarter_and_half_percent():
    for d in (384, 576, 768, 1024, 50):
        grid = dimension_grid(d)
        assert grid[0] == d and grid[-1] == 1 and grid == sorted(set(grid), reverse=True)
        assert round(0.25 * d) in grid
        assert max(1, round(0.005 * d)) in grid
    assert dimension_grid(384) == [384, 192, 96, 48, 24, 12, 6, 3, 2, 1]
    with pytest.raises(InvalidInputError):
        dimension_grid(0)


def test_truncation_selections():
    X = _aniso(n=100, d=12)
    np.testing.assert_array_equal(truncate(X, 3), X[:, :3])
    r1 = Truncation(5, "random", seed=1).fit(X)
    r2 = Truncation(5, "random", seed=1).fit(X)
    np.testing.assert_array_equal(r1.indices_, r2.indices_)
    assert len(set(r1.indices_)) == 5
    assert not np.array_equal(r1.indices_, Truncation(5, "random", seed=2).fit(X).indices_)
    full = Truncation(12, "pca").fit(X).transform(X)  # a rotation: cosines unchanged
    np.testing.assert_allclose(_cos_matrix(full), _cos_matrix(X), atol=1e-12)
    top = Truncation(1, "pca").fit(X).transform(X - X.mean(0))
    assert top.var(ddof=1) == pytest.approx(explained_variance(X)["variance"].iloc[0], rel=1e-6)
    with pytest.raises(InvalidInputError, match="reference"):
        truncate(X, 3, selection="pca")


# ------------------------------------------------------------------------------ specs


def test_reference_corpora_follow_the_protocols_text(senteval_dir):
    """A whitening is fitted on text in the form it is evaluated on: STS-B train in the
    protocol's copy (simcse: SentEval's tokenised lower-cased one; mteb: the original)."""
    from workbench.evaluation import get_protocol
    from workbench.geometry import load_texts

    simcse = load_texts("stsb-train", data_dir=senteval_dir)
    mteb = load_texts("stsb-train", data_dir=senteval_dir, protocol="mteb")
    assert simcse == load_texts("stsb-train", data_dir=senteval_dir, protocol="simcse")
    assert all(t == t.lower() for t in simcse)
    assert any(t != t.lower() for t in mteb)
    assert len(simcse) > 5000 and abs(len(simcse) - len(mteb)) < 0.02 * len(mteb)
    # the same reading as the protocol's own pairs
    pairs = get_protocol("mteb").read("STSBenchmark", "train", senteval_dir)
    assert set(mteb) == set(pairs["sentence1"]) | set(pairs["sentence2"])


def test_parse_spec_and_from_specs():
    assert isinstance(parse_spec("whiten:bert:256"), Whitening)
    assert parse_spec("whiten:bert:256").n_components == 256
    t = parse_spec("truncate:random:96:7")
    assert (t.k, t.selection, t.seed) == (96, "random", 7)
    for bad in ("whiten", "truncate:first", "truncate:first:x", "truncate:pca:3:1", "rotate:3"):
        with pytest.raises(InvalidInputError):
            parse_spec(bad)
    with pytest.raises(UnknownNameError):
        parse_spec("whiten:nope")
    ref, X = _aniso(n=500, d=12, seed=5), _aniso(n=50, d=12, seed=6)
    tr = from_specs(["whiten:zca", "truncate:first:4"], reference=ref)
    np.testing.assert_allclose(tr(X), Whitening("zca").fit(ref).transform(X)[:, :4])
    leak = from_specs(["whiten:pca"], fit_on="target")
    assert isinstance(leak, FitOnTarget) and leak.leaky
    np.testing.assert_allclose(np.cov(leak(ref), rowvar=False), np.eye(12), atol=1e-2)  # eps


# ------------------------------------------------------------------------------ real model


@pytest.fixture(scope="module")
def minilm():
    from workbench import list_encoders, load_encoder

    if not any(r["name"] == "all-MiniLM-L6-v2" and r["installed"] for r in list_encoders()):
        pytest.skip("the packaged all-MiniLM-L6-v2 is not installed")
    return load_encoder("all-MiniLM-L6-v2")


def test_whitening_identical_sts_scores_on_minilm(minilm, senteval_dir):
    from workbench import evaluate_sts, load_pairs
    from workbench.geometry import load_texts

    pairs = load_pairs("STSBenchmark", data_dir=senteval_dir, max_pairs=200)
    ref = minilm.encode(load_texts("stsb-train", data_dir=senteval_dir, max_n=800))
    scores = {}
    for m in WHITENINGS:
        tr = from_specs([f"whiten:{m}"], reference=ref)
        res = evaluate_sts(minilm, pairs=pairs, transform=tr, n_boot=0, aggregation="all")
        scores[m] = res["spearman"].iloc[0]
    assert scores["zca"] == pytest.approx(scores["pca"], abs=1e-9)
    assert scores["cholesky"] == pytest.approx(scores["pca"], abs=1e-9)
    assert scores["zca-cor"] == pytest.approx(scores["pca-cor"], abs=1e-9)
    X = minilm.encode(load_texts("stsb-test", data_dir=senteval_dir, max_n=800))
    before = isoscore(X)
    after = isoscore(Whitening("zca").fit(X).transform(X))
    assert before < 0.5 and after > 0.98  # 1 up to eps on the fitted rows themselves


def test_encode_layers_matches_per_layer_encoders(minilm, tmp_path):
    from workbench import load_encoder
    from workbench.geometry import encode_layers

    texts = ["A man plays a guitar.", "Two dogs run on the beach.", "A man plays a guitar."]
    out = encode_layers(minilm, texts, layers=[0, 3, 6], cache=str(tmp_path))
    for layer in (0, 3, 6):
        ref = load_encoder("all-MiniLM-L6-v2", layer=layer).encode(texts, cache=False)
        np.testing.assert_allclose(out[layer], ref, atol=1e-5)
    again = encode_layers(minilm, texts, layers=[0, 3, 6], cache=False)
    np.testing.assert_allclose(again[3], out[3], atol=1e-5)


def _run(capsys, argv):
    from workbench.cli import main

    code = main(argv)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_cli_geometry_json(minilm, senteval_dir, capsys):
    code, out, _ = _run(
        capsys,
        [
            "geometry",
            "--encoder",
            "all-MiniLM-L6-v2",
            "--texts",
            "mr",
            "--max-n",
            "300",
            "--data-dir",
            str(senteval_dir),
            "--json",
        ],
    )
    assert code == 0
    (rec,) = json.loads(out)
    for key in (
        "isoscore",
        "avg_cosine",
        "partition_isotropy",
        "effective_rank",
        "id_twonn",
        "id_mle",
        "id_lpca",
        "alignment",
        "uniformity",
    ):
        assert isinstance(rec[key], float), key
    assert rec["n"] == 300 and rec["dim"] == 384
    assert 0 < rec["isoscore"] < 1 and 1 < rec["id_twonn"] < 384
    code, out, err = _run(capsys, ["geometry", "--encoder", "all-MiniLM-L6-v2", "--texts", "nope"])
    assert code == 2 and "unknown corpus" in err and err.count("\n") == 1


def test_cli_truncation_json(minilm, senteval_dir, capsys):
    code, out, _ = _run(
        capsys,
        [
            "truncation",
            "--encoder",
            "all-MiniLM-L6-v2",
            "--family",
            "retrieval",
            "--tasks",
            "STSB",
            "--max-n",
            "200",
            "--selection",
            "random",
            "--seeds",
            "0,1",
            "--data-dir",
            str(senteval_dir),
            "--json",
        ],
    )
    assert code == 0
    recs = json.loads(out)
    dims = {r["dim"] for r in recs if r["task"] == "STSB"}
    assert {384, 96, 2, 1} <= dims
    full = next(r for r in recs if r["task"] == "STSB" and r["dim"] == 384)
    assert full["retained"] == pytest.approx(1.0) and full["fraction"] == 1.0
    assert all({"task", "dim", "fraction", "score", "retained"} <= set(r) for r in recs)
    code, _, err = _run(
        capsys,
        [
            "truncation",
            "--encoder",
            "all-MiniLM-L6-v2",
            "--family",
            "sts",
            "--dims",
            "500",
            "--max-n",
            "20",
            "--data-dir",
            str(senteval_dir),
        ],
    )
    assert code == 2 and "1..384" in err


def test_cli_sts_transform_json(minilm, senteval_dir, capsys):
    base = [
        "sts",
        "--encoder",
        "all-MiniLM-L6-v2",
        "--tasks",
        "STSBenchmark",
        "--max-pairs",
        "200",
        "--n-boot",
        "0",
        "--data-dir",
        str(senteval_dir),
        "--json",
    ]
    res = {}
    for spec in ("whiten:pca", "whiten:zca", "whiten:cholesky"):
        code, out, _ = _run(capsys, [*base, "--transform", spec, "--fit-on", "trec-test"])
        assert code == 0
        res[spec] = json.loads(out)[0]["spearman"]
    assert res["whiten:zca"] == pytest.approx(res["whiten:pca"], abs=1e-9)
    assert res["whiten:cholesky"] == pytest.approx(res["whiten:pca"], abs=1e-9)
    code, out, _ = _run(
        capsys,
        [
            *base,
            "--transform",
            "whiten:bert:64",
            "--transform",
            "truncate:first:8",
            "--fit-on",
            "trec-test",
        ],
    )
    assert code == 0 and 0 < json.loads(out)[0]["spearman"] < 100
    code, _, err = _run(capsys, [*base, "--transform", "truncate:first:999"])
    assert code == 2 and "larger than the embedding" in err


# ------------------------------------------------------------------------------ figures


def test_geometry_figures_build():
    pytest.importorskip("plotly")
    import pandas as pd

    import workbench.plotting.geometry as gp

    X = _aniso(n=200, d=10)
    assert len(gp.spectrum_figure({"a": X, "b": explained_variance(2 * X)}).data) == 2
    curve = pd.DataFrame(
        {
            "family": ["sts"] * 4 + ["classification"] * 4,
            "task": ["avg"] * 8,
            "selection": ["first", "first", "random", "random"] * 2,
            "dim": [384, 96] * 4,
            "fraction": [1.0, 0.25] * 4,
            "retained": np.linspace(0.5, 1.0, 8),
        }
    )
    fig = gp.truncation_figure(curve, color="selection", facet="family")
    assert len(fig.data) == 4 and fig.layout.xaxis.type == "log"
    grid = pd.DataFrame(
        {
            "task": "avg",
            "layer": [0, 0, 6, 6],
            "dim": [96, 384, 96, 384],
            "retained": [0.4, 0.5, 0.9, 1],
        }
    )
    np.testing.assert_allclose(gp.layer_dim_heatmap(grid).data[0].z, [[0.4, 0.5], [0.9, 1.0]])
    with pytest.raises(InvalidInputError, match="needs columns"):
        gp.truncation_figure(curve.drop(columns="retained"))
