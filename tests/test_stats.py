"""Tests for workbench.evaluation.stats (expected values computed independently with scipy)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from workbench.errors import InvalidInputError, UnknownNameError, WorkbenchError
from workbench.evaluation import stats as st


def _task(sizes=(40, 90, 25), noise=(0.5, 1.0, 2.0), seed=0, tied=False):
    rng = np.random.default_rng(seed)
    gold, pred = {}, {}
    for k, (n, s) in enumerate(zip(sizes, noise, strict=True)):
        g = rng.uniform(0, 5, n)
        if tied:
            g = np.round(g)  # STS gold has many ties
        gold[f"sub{k}"] = g
        pred[f"sub{k}"] = g + rng.normal(0, s, n) + k  # offsets make 'all' differ from 'mean'
    return pred, gold


def _row(df, level, subset=""):
    sel = df[(df["level"] == level) & (df["subset"] == subset)]
    assert len(sel) == 1
    return sel.iloc[0]


# ------------------------------------------------------------------------------------------
# aggregation semantics


def test_score_task_all_mean_wmean_match_hand_computation():
    pred, gold = _task(tied=True)
    df = st.score_task(pred, gold, "STS12", n_boot=0)
    names = list(pred)
    sizes = [len(gold[k]) for k in names]

    # per subset
    for k in names:
        r = _row(df, "subset", k)
        assert r["n_pairs"] == len(gold[k])
        assert r["spearman"] == pytest.approx(100 * sps.spearmanr(pred[k], gold[k])[0], abs=1e-9)
        assert r["pearson"] == pytest.approx(100 * sps.pearsonr(pred[k], gold[k])[0], abs=1e-9)

    # all: one correlation on the explicit concatenation
    cat_p = np.concatenate([pred[k] for k in names])
    cat_g = np.concatenate([gold[k] for k in names])
    r = _row(df, "all")
    assert r["n_pairs"] == sum(sizes)
    assert r["spearman"] == pytest.approx(100 * sps.spearmanr(cat_p, cat_g)[0], abs=1e-9)
    assert r["pearson"] == pytest.approx(100 * sps.pearsonr(cat_p, cat_g)[0], abs=1e-9)

    # mean and wmean: explicit sums
    sp = [sps.spearmanr(pred[k], gold[k])[0] for k in names]
    pe = [sps.pearsonr(pred[k], gold[k])[0] for k in names]
    r = _row(df, "mean")
    assert r["spearman"] == pytest.approx(100 * sum(sp) / 3, abs=1e-9)
    assert r["pearson"] == pytest.approx(100 * sum(pe) / 3, abs=1e-9)
    w = _row(df, "wmean")
    total = sum(sizes)
    assert w["spearman"] == pytest.approx(
        100 * sum(s * n for s, n in zip(sp, sizes, strict=True)) / total, abs=1e-9
    )
    assert w["pearson"] == pytest.approx(
        100 * sum(p * n for p, n in zip(pe, sizes, strict=True)) / total, abs=1e-9
    )
    # the three really differ on this example (different sizes, offsets between subsets)
    vals = [_row(df, lv)["spearman"] for lv in ("all", "mean", "wmean")]
    assert len({round(v, 6) for v in vals}) == 3


def test_score_task_layout():
    pred, gold = _task(sizes=(30, 20), noise=(1, 1))
    df = st.score_task(pred, gold, "T", n_boot=0)
    assert tuple(df.columns) == st.COLUMNS
    assert list(df["level"]) == ["subset", "subset", "all", "mean", "wmean"]
    assert list(df["subset"]) == ["sub0", "sub1", "", "", ""]
    assert (df["task"] == "T").all()
    assert df["n_pairs"].dtype == np.int64
    assert df[["spearman_lo", "spearman_hi", "pearson_lo", "pearson_hi"]].isna().all().all()


def test_single_subset_all_three_coincide():
    pred, gold = _task(sizes=(120,), noise=(1.0,))
    df = st.score_task(pred, gold, "STSBenchmark", n_boot=200, seed=3)
    agg = df[df["level"] != "subset"]
    sub = _row(df, "subset", "sub0")
    for col in (
        "spearman",
        "pearson",
        "spearman_lo",
        "spearman_hi",
        "pearson_lo",
        "pearson_hi",
    ):
        assert np.allclose(agg[col].to_numpy(), sub[col], rtol=0, atol=1e-9), col


def test_aggregate_function_matches_score_task():
    pred, gold = _task()
    df = st.score_task(pred, gold, "STS13", n_boot=0)
    for how in ("mean", "wmean"):
        got = st.aggregate(df, how)
        assert got["spearman"] == pytest.approx(_row(df, how)["spearman"], abs=1e-12)
        assert got["pearson"] == pytest.approx(_row(df, how)["pearson"], abs=1e-12)
    # plain per-subset table, hand values
    table = pd.DataFrame({"n_pairs": [10, 30], "spearman": [0.2, 0.6]})
    assert st.aggregate(table, "mean") == {"spearman": pytest.approx(0.4)}
    assert st.aggregate(table, "wmean") == {"spearman": pytest.approx(0.5)}
    with pytest.raises(InvalidInputError, match="score_task"):
        st.aggregate(table, "all")
    with pytest.raises(UnknownNameError):
        st.aggregate(table, "median")
    with pytest.raises(InvalidInputError, match="n_pairs"):
        st.aggregate(table[["spearman"]], "wmean")


# ------------------------------------------------------------------------------------------
# correlations and similarities


def test_spearman_with_ties_equals_scipy():
    rng = np.random.default_rng(5)
    gold = rng.integers(0, 6, 200).astype(float)  # heavy ties
    pred = np.round(gold + rng.normal(0, 1.5, 200), 1)  # ties too
    expected = sps.spearmanr(pred, gold)[0]
    assert st.correlation(pred, gold, "spearman") == pytest.approx(expected, abs=1e-12)
    assert st.correlation(pred, gold, "pearson") == pytest.approx(
        sps.pearsonr(pred, gold)[0], abs=1e-12
    )


def test_pair_scores_formulas():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(7, 5))
    b = rng.normal(size=(7, 5))
    cos = st.pair_scores(a, b, "cosine")
    for i in range(7):
        manual = sum(a[i] * b[i]) / math.sqrt(sum(a[i] ** 2) * sum(b[i] ** 2))
        assert cos[i] == pytest.approx(manual, abs=1e-12)
    assert np.allclose(st.pair_scores(a, b, "dot"), [a[i] @ b[i] for i in range(7)])
    assert np.allclose(
        st.pair_scores(a, b, "euclidean"),
        [-np.sqrt(((a[i] - b[i]) ** 2).sum()) for i in range(7)],
    )
    assert np.allclose(
        st.pair_scores(a, b, "manhattan"),
        [-np.abs(a[i] - b[i]).sum() for i in range(7)],
    )
    # cosine is scale invariant (positive scale, per row)
    scale = rng.uniform(0.01, 100, size=(7, 1))
    assert np.allclose(st.pair_scores(a * scale, b, "cosine"), cos)
    # float32 input is computed in float64
    assert st.pair_scores(a.astype(np.float32), b.astype(np.float32)).dtype == np.float64
    assert st.SIMILARITIES == ("cosine", "dot", "euclidean", "manhattan")


def test_pair_scores_zero_rows_warn_once_and_give_zero():
    a = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    b = np.array([[1.0, 1.0], [1.0, 0.0], [2.0, 0.0]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = st.pair_scores(a, b)
    assert len(caught) == 1 and "2 of 3" in str(caught[0].message)
    assert out.tolist() == [0.0, 1.0, 0.0]


def test_pair_scores_errors():
    a = np.ones((3, 4))
    with pytest.raises(InvalidInputError, match=r"\(3, 4\).*\(2, 4\)"):
        st.pair_scores(a, np.ones((2, 4)))
    bad = a.copy()
    bad[1, 2] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        st.pair_scores(bad, a)
    bad[1, 2] = np.inf
    with pytest.raises(InvalidInputError, match="NaN/inf"):
        st.pair_scores(a, bad)
    with pytest.raises(InvalidInputError, match="2-D"):
        st.pair_scores(np.ones(4), np.ones(4))
    with pytest.raises(UnknownNameError, match="cosine"):
        st.pair_scores(a, a, "angular")


# ------------------------------------------------------------------------------------------
# bootstrap


def test_bootstrap_ci_contains_estimate_and_is_deterministic():
    pred, gold = _task(sizes=(150, 300, 80), noise=(1.0, 1.0, 1.0))
    df1 = st.score_task(pred, gold, "STS14", n_boot=300, seed=7)
    df2 = st.score_task(pred, gold, "STS14", n_boot=300, seed=7)
    pd.testing.assert_frame_equal(df1, df2)
    df3 = st.score_task(pred, gold, "STS14", n_boot=300, seed=8)
    assert not np.allclose(df1["spearman_lo"], df3["spearman_lo"])
    for m in ("spearman", "pearson"):
        assert (df1[f"{m}_lo"] <= df1[m]).all() and (df1[m] <= df1[f"{m}_hi"]).all()
        assert (df1[f"{m}_lo"] < df1[f"{m}_hi"]).all()


def test_bootstrap_ci_shrinks_with_more_pairs():
    def width(n):
        pred, gold = _task(sizes=(n,), noise=(1.5,), seed=1)
        r = _row(st.score_task(pred, gold, "T", n_boot=400, seed=0), "all")
        return r["spearman_hi"] - r["spearman_lo"]

    small, large = width(100), width(1600)
    assert large < small / 2  # ~ 1/sqrt(n): expect about a quarter


def test_vectorised_resampled_ranks_equal_scipy():
    rng = np.random.default_rng(2)
    x = np.round(rng.uniform(0, 5, 60), 1)  # ties
    y = x + rng.normal(0, 1, 60)
    idx = rng.integers(0, 60, size=(5, 60))
    sx, sy = st._Scores(x), st._Scores(y)
    ranks = sx.resample(idx, "spearman")
    assert np.array_equal(ranks, sps.rankdata(x[idx], axis=1))
    got = st._pearson_rows(ranks, sy.resample(idx, "spearman"))
    want = [sps.spearmanr(x[i], y[i])[0] for i in idx]
    assert np.allclose(got, want, atol=1e-12)
    got_p = st._pearson_rows(sx.resample(idx, "pearson"), sy.resample(idx, "pearson"))
    assert np.allclose(got_p, [sps.pearsonr(x[i], y[i])[0] for i in idx], atol=1e-12)


def test_paired_deltas_are_the_paired_bootstraps_replicates():
    good, bad, gold = _two_systems()
    res = st.paired_bootstrap(good, bad, gold, n_boot=400, seed=3)
    deltas = st.paired_deltas(good, bad, gold, n_boot=400, seed=3)
    assert {k: res[k] for k in ("lo", "hi", "p_value")} == st.delta_interval(deltas)
    # the same seed draws the same indices: a - b and b - a replicate exactly opposite
    back = st.paired_deltas(bad, good, gold, n_boot=400, seed=3)
    np.testing.assert_array_equal(deltas, -back)
    # and a - c = (a - b) + (b - c) replicate by replicate (float64 rounding only)
    other = gold + np.random.default_rng(9).normal(0, 1.0, gold.size)
    ac = st.paired_deltas(good, other, gold, n_boot=400, seed=3)
    bc = st.paired_deltas(bad, other, gold, n_boot=400, seed=3)
    np.testing.assert_allclose(ac, deltas + bc, atol=1e-9)


# ------------------------------------------------------------------------------------------
# paired tests


def _two_systems(n=500, seed=0):
    rng = np.random.default_rng(seed)
    gold = rng.uniform(0, 5, n)
    good = gold + rng.normal(0, 0.5, n)
    bad = gold + rng.normal(0, 3.0, n)
    return good, bad, gold


def test_paired_bootstrap_identical_systems():
    good, _, gold = _two_systems()
    res = st.paired_bootstrap(good, good.copy(), gold, n_boot=500)
    assert res["delta"] == 0.0
    assert res["p_value"] == 1.0
    assert res["lo"] == res["hi"] == 0.0
    assert res["n_pairs"] == 500


def test_paired_bootstrap_clearly_better_system():
    good, bad, gold = _two_systems()
    res = st.paired_bootstrap(good, bad, gold, n_boot=1000, seed=1)
    expected = 100 * (sps.spearmanr(good, gold)[0] - sps.spearmanr(bad, gold)[0])
    assert res["delta"] == pytest.approx(expected, abs=1e-9)
    assert res["p_value"] < 0.01
    assert res["lo"] > 0 and res["lo"] <= res["delta"] <= res["hi"]
    # symmetric when swapped
    rev = st.paired_bootstrap(bad, good, gold, n_boot=1000, seed=1)
    assert rev["delta"] == pytest.approx(-res["delta"])
    assert rev["p_value"] == pytest.approx(res["p_value"])
    # deterministic
    assert st.paired_bootstrap(good, bad, gold, n_boot=1000, seed=1) == res


def test_paired_bootstrap_stratified_and_pearson():
    good, bad, gold = _two_systems(n=300)
    labels = np.array(["a"] * 100 + ["b"] * 150 + ["c"] * 50)
    res = st.paired_bootstrap(good, bad, gold, n_boot=300, subsets=labels, method="pearson")
    expected = 100 * (sps.pearsonr(good, gold)[0] - sps.pearsonr(bad, gold)[0])
    assert res["delta"] == pytest.approx(expected, abs=1e-9)
    assert res["p_value"] < 0.05 and res["lo"] < res["hi"]
    no_ci = st.paired_bootstrap(good, bad, gold, n_boot=0)
    assert math.isnan(no_ci["p_value"]) and math.isnan(no_ci["lo"])
    with pytest.raises(InvalidInputError, match="one label per pair"):
        st.paired_bootstrap(good, bad, gold, subsets=labels[:10])


def test_paired_bootstrap_null_is_not_significant():
    rng = np.random.default_rng(4)
    gold = rng.uniform(0, 5, 400)
    a = gold + rng.normal(0, 1.0, 400)
    b = gold + rng.normal(0, 1.0, 400)
    res = st.paired_bootstrap(a, b, gold, n_boot=500)
    assert res["lo"] < 0 < res["hi"] or res["p_value"] > 0.05


# ------------------------------------------------------------------------------------------
# Williams test


def test_williams_test_hand_formula_and_steiger_example():
    r12, r13, r23, n = 0.4, 0.5, 0.1, 103
    k = 1 - 0.16 - 0.25 - 0.01 + 2 * 0.4 * 0.5 * 0.1  # = 0.62
    t_hand = (-0.1 * math.sqrt(102 * 1.1)) / math.sqrt(2 * k * 102 / 100 + 0.81 / 4 * 0.9**3)
    t, p = st.williams_test(r12, r13, r23, n)
    assert t == pytest.approx(t_hand, rel=1e-12)
    assert t == pytest.approx(-0.89, abs=0.005)  # Steiger (1980), case A
    assert p == pytest.approx(2 * sps.t.sf(abs(t_hand), n - 3), rel=1e-12)
    t2, p2 = st.williams_test(r13, r12, r23, n)
    assert t2 == pytest.approx(-t) and p2 == pytest.approx(p)
    assert st.williams_test(0.7, 0.7, 1.0, 50) == (0.0, 1.0)


def test_williams_test_errors():
    with pytest.raises(InvalidInputError, match="x100"):
        st.williams_test(85.0, 80.0, 90.0, 100)
    with pytest.raises(InvalidInputError, match="n must"):
        st.williams_test(0.5, 0.4, 0.3, 3)
    with pytest.raises(InvalidInputError, match="correlation matrix"):
        st.williams_test(0.9, -0.9, 0.9, 100)


# ------------------------------------------------------------------------------------------
# bad inputs


@pytest.mark.parametrize(
    ("pred", "gold", "match"),
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0], "3 predictions but 2 gold"),
        ([1.0, 2.0], [1.0, 2.0], "at least 3"),
        ([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], "NaN/inf"),
        ([1.0, np.inf, 3.0], [1.0, 2.0, 3.0], "NaN/inf"),
        ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0], "predictions are constant"),
        ([1.0, 2.0, 3.0], [4.0, 4.0, 4.0], "gold scores are constant"),
        ([[1.0, 2.0, 3.0]], [1.0, 2.0, 3.0], "1-D"),
        (["a", "b", "c"], [1.0, 2.0, 3.0], "numbers"),
    ],
)
def test_correlation_bad_inputs(pred, gold, match):
    with pytest.raises(InvalidInputError, match=match):
        st.correlation(pred, gold)


def test_score_task_bad_inputs():
    pred, gold = _task(sizes=(20, 20), noise=(1, 1))
    with pytest.raises(InvalidInputError, match="differ"):
        st.score_task({"sub0": pred["sub0"]}, gold, "T")
    const = dict(pred, sub1=np.zeros(20))
    with pytest.raises(InvalidInputError, match=r"T/sub1: predictions are constant"):
        st.score_task(const, gold, "T")
    with pytest.raises(InvalidInputError, match="no subsets"):
        st.score_task({}, {}, "T")
    with pytest.raises(InvalidInputError, match="n_boot"):
        st.score_task(pred, gold, "T", n_boot=-1)
    with pytest.raises(InvalidInputError, match="ci"):
        st.score_task(pred, gold, "T", ci=95)
    with pytest.raises(UnknownNameError):
        st.correlation([1, 2, 3], [1, 2, 3], "kendall")
    with pytest.raises(InvalidInputError):
        st.paired_bootstrap([1, 2, 3], [1, 1, 1], [1, 2, 3])
    # every error is a WorkbenchError with a one-line message
    try:
        st.correlation([1, 2], [1, 2])
    except WorkbenchError as exc:
        assert "\n" not in str(exc)
