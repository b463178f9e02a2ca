"""Compression codecs and the dimensions x codecs grid (workbench.compression).

Parity is live against sentence-transformers (the dev extra; written against 6.2.0):
``sentence_transformers.util.quantization.quantize_embeddings`` for the int8 and binary
codes, ``semantic_search_faiss(corpus_precision="ubinary", rescore=True)`` for binary
rescoring. Product quantisation is faiss's own (``faiss-cpu``, the compression extra, which
the dev extra installs: no skip when it is missing).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.compression import (
    Binary,
    BinaryRescore,
    Float,
    Int8,
    PairSet,
    ProductQuantizer,
    hamming,
    parse_codec,
    parse_codecs,
    score_grid,
)
from workbench.errors import InvalidInputError, UnknownNameError


def _data(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # a few directions carry most of the variance, as in sentence embeddings
    return (rng.normal(size=(n, d)) * np.linspace(2.0, 0.2, d)).astype(np.float32)


# ------------------------------------------------------------------------------ parity


def test_int8_and_binary_codes_equal_sentence_transformers():
    from sentence_transformers.util import quantization

    cal = _data(500, 48, 0)
    cal[:, 7] = 0.25  # a constant dimension: ST's step 0 -> 1 rule
    x = _data(200, 48, 1) * 1.3  # wider than the calibration: codes clip at -128 / 127
    x[:5] = cal[:5]  # calibration rows themselves, including the per-dimension min and max
    int8 = Int8().fit(cal)
    ref = quantization.quantize_embeddings(x, precision="int8", calibration_embeddings=cal)
    np.testing.assert_array_equal(int8.encode(x), ref)
    assert int8.encode(x).dtype == np.int8 and {-128, 127} <= set(np.unique(int8.encode(x)))
    # the dequantised vectors are ST's own (used by its rescoring), to float rounding
    np.testing.assert_allclose(
        int8.decode(ref),
        quantization._dequantize_embeddings(ref, "int8", int8.ranges_),
        rtol=0,
        atol=1e-12,
    )
    binary = Binary().fit(cal)
    codes = binary.encode(x)
    np.testing.assert_array_equal(codes, quantization.quantize_embeddings(x, "ubinary"))
    np.testing.assert_array_equal(
        binary.st_binary(codes), quantization.quantize_embeddings(x, "binary")
    )
    assert int8.bytes_per_vector == 48 and binary.bytes_per_vector == 6


def test_binary_rescore_ranks_as_sentence_transformers():
    from sentence_transformers.util import quantization

    docs, queries = _data(120, 1024, 2), _data(60, 1024, 3)
    codec = BinaryRescore().fit(docs)
    scores = codec.search_scores(queries, docs, top_k=10)
    ours = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    (results, _) = quantization.semantic_search_faiss(
        queries,
        corpus_embeddings=quantization.quantize_embeddings(docs, "ubinary"),
        corpus_precision="ubinary",
        top_k=10,
        rescore=True,
        rescore_multiplier=2,
    )
    theirs = np.array([[r["corpus_id"] for r in res] for res in results])
    # faiss breaks Hamming ties in its own order: where the 20th and 21st candidates tie,
    # the shortlists may differ; everywhere else the rankings must be identical
    ham = np.sort(hamming(codec.encode(queries), codec.encode(docs), pairwise=True), axis=1)
    clear = ham[:, 19] < ham[:, 20]
    assert clear.sum() >= 20
    np.testing.assert_array_equal(ours[clear], theirs[clear])


def test_hamming_similarity_is_the_cosine_of_signs():
    a, b = _data(50, 37, 4), _data(50, 37, 5)  # 37 bits: the last byte is padded
    codec = Binary().fit(a)
    h = hamming(codec.encode(a), codec.encode(b))
    brute = ((a > 0) != (b > 0)).sum(axis=1)
    np.testing.assert_array_equal(h, brute)
    np.testing.assert_array_equal(codec.pair_scores(a, b), -brute)
    # cos(s_a, s_b) = 1 - 2 h / d for sign vectors, so -hamming ranks pairs as that cosine
    sa, sb = codec.decode(codec.encode(a)), codec.decode(codec.encode(b))
    cos = (sa * sb).sum(axis=1) / 37
    np.testing.assert_allclose(cos, 1 - 2 * brute / 37, atol=1e-12)
    full = hamming(codec.encode(a), codec.encode(b), pairwise=True)
    assert full.shape == (50, 50) and np.array_equal(np.diag(full), h)


def test_pq_error_falls_with_m_and_bytes_are_m_nbits_over_8():
    cal, test = _data(1500, 32, 6), _data(300, 32, 7)
    errors = []
    for m in (1, 2, 4, 8, 16):
        pq = ProductQuantizer(m, 6).fit(cal)
        assert pq.bytes_per_vector == np.ceil(m * 6 / 8)
        assert pq.encode(test).shape == (300, pq.pq_.code_size)
        errors.append(pq.reconstruction_error(test))
    # an optimal 2m-PQ contains every m-PQ codebook (the product of a joint codebook's two
    # halves includes it), so the error cannot grow; k-means finds a strictly lower one here
    # by a wide margin (each step roughly halves it)
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert ProductQuantizer(8, 8).fit(_data(300, 32, 8)).bytes_per_vector == 8


def test_float_codecs():
    x = _data(20, 16, 9)
    f32, f16 = Float("float32").fit(x), Float("float16").fit(x)
    assert (f32.bytes_per_vector, f16.bytes_per_vector) == (64, 32)
    np.testing.assert_array_equal(f32.pair_scores(x, x[::-1]), f32.pair_scores(x, x[::-1]))
    # half precision: relative error 2^-11 per coordinate, so cosines move by ~1e-3 at most
    np.testing.assert_allclose(f16.pair_scores(x, x[::-1]), f32.pair_scores(x, x[::-1]), atol=2e-3)


# ------------------------------------------------------------------------------ errors


def test_clear_errors():
    cal = _data(100, 32, 10)
    with pytest.raises(InvalidInputError, match="does not divide the dimension 32"):
        ProductQuantizer(5, 8).fit(cal)
    with pytest.raises(InvalidInputError, match="256 centroids .* has 100 embeddings"):
        ProductQuantizer(4, 8).fit(cal)
    with pytest.raises(InvalidInputError, match="at least 2 embeddings"):
        Int8().fit(cal[:1])
    with pytest.raises(InvalidInputError, match="not calibrated"):
        Int8().encode(cal)
    with pytest.raises(InvalidInputError, match="calibrated on 32-d"):
        Int8().fit(cal).encode(cal[:, :16])
    with pytest.raises(InvalidInputError, match="NaN"):
        Binary().fit(np.full((3, 4), np.nan))
    with pytest.raises(UnknownNameError, match="unknown codec 'int4'"):
        parse_codec("int4")
    with pytest.raises(InvalidInputError, match="pq:M or pq:MxB"):
        parse_codec("pq:axb")
    with pytest.raises(InvalidInputError, match="listed twice"):
        parse_codecs("int8,binary,int8")
    assert parse_codec("pq:16").name == "pq:16x8" and parse_codec("pq:8x4").nbits == 4
    pairs = _pairs(40)
    ps = PairSet(pairs, _data(40, 32, 11), _data(40, 32, 12))
    with pytest.raises(InvalidInputError, match="dimension 64 is larger than the 32-d"):
        score_grid(cal, [64], "float32", [ps])
    with pytest.raises(InvalidInputError, match="PQ m=16 does not divide dimension 8"):
        score_grid(cal, [32, 8], "pq:16x4", [ps])


def _pairs(n: int):
    import pandas as pd

    gold = np.random.default_rng(n).uniform(0, 5, n)
    return pd.DataFrame({"task": "toy", "subset": "toy", "score": gold})


def test_codecs_are_fitted_on_the_calibration_set_only(monkeypatch):
    cal = _data(300, 16, 13)
    a, b = _data(40, 16, 14), _data(40, 16, 15)
    seen = []
    real_fit = ProductQuantizer.fit

    def spy(self, calibration):
        seen.append(np.asarray(calibration))
        return real_fit(self, calibration)

    monkeypatch.setattr(ProductQuantizer, "fit", spy)
    monkeypatch.setattr(Int8, "fit", spy)
    score_grid(cal, [16, 8], "int8,pq:4x4", [PairSet(_pairs(40), a, b)])
    assert len(seen) == 4
    for s in seen:  # the calibration rows, truncated and normalised: never the scored ones
        k = s.shape[1]
        ref = cal[:, :k] / np.linalg.norm(cal[:, :k], axis=1, keepdims=True)
        np.testing.assert_allclose(s, ref, rtol=1e-6)


# ------------------------------------------------------------------------------ the grid


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from test_distributed import make_tiny_bert

    return make_tiny_bert(tmp_path_factory.mktemp("compress") / "bert")


def test_grid_on_real_data_matches_the_evaluation_code(tiny_bert, senteval_dir):
    """float32 at full size is exactly the workbench's STS (protocol simcse) and retrieval
    score; every row carries its protocol, bytes and calibration."""
    import workbench as wb
    from workbench.compression import compression_grid
    from workbench.evaluation.tasks import load_task

    enc = wb.load_encoder(tiny_bert, device="cpu")
    kw = dict(data_dir=senteval_dir, max_pairs=150, max_n=150, calibration_max_n=300)
    df = compression_grid(
        enc, dims=[32, 16], codecs="float32,float16,int8,binary,binary-rescore,pq:8x4", **kw
    )
    assert len(df) == 2 * 6 * 2 and not df["score"].isna().any()
    sts = df[df["family"] == "sts"]
    assert set(sts["protocol"]) == {"simcse+max_pairs=150"}
    ret = df[df["family"] == "retrieval"]
    assert set(ret["task"]) == {"STSB"} and set(ret["metric"]) == {"ndcg@10"}
    assert set(df["calibrate_on"]) == {"stsb-train"} and set(df["n_calibration"]) == {300}

    ref = wb.evaluate_sts(enc, tasks="STSBenchmark", data_dir=senteval_dir, max_pairs=150, n_boot=0)
    ref = ref[ref["main"]]["spearman"].item()
    full = df.set_index(["family", "dim", "codec"])["score"]
    assert full["sts", 32, "float32"] == pytest.approx(ref, abs=1e-9)
    task = load_task("retrieval", "STSB", data_dir=senteval_dir, max_n=150)
    want = task.score(enc.encode(task.texts))["score"]
    assert full["retrieval", 32, "float32"] == pytest.approx(want, abs=1e-9)

    b = df.set_index(["family", "dim", "codec"])["bytes_per_vector"]
    assert [b["sts", 32, c] for c in ("float32", "float16", "int8", "binary")] == [128, 64, 32, 4]
    assert b["sts", 16, "pq:8x4"] == 4 and b["sts", 16, "binary-rescore"] == 2
    assert (df["compression"] == 128 / df["bytes_per_vector"]).all()
    # float16 moves cosines by ~1e-3 at most: Spearman within a fraction of a point
    assert abs(full["sts", 32, "float16"] - full["sts", 32, "float32"]) < 0.5

    from workbench.plotting.compression import compression_figure

    fig = compression_figure(df)
    assert fig.layout.xaxis.type == "log" and len(fig.data) == 12  # 6 codecs x 2 panels


def test_cli_json_and_errors(tiny_bert, senteval_dir, capsys):
    from workbench.cli import main

    base = ["compress", "--encoder", str(tiny_bert), "--device", "cpu", "--data-dir"]
    base += [str(senteval_dir), "--calibration-max-n", "300", "--max-pairs", "100"]
    rc = main([*base, "--dims", "32,8", "--codecs", "int8,binary", "--tasks", "sts/STSB"])
    out = capsys.readouterr().out
    assert rc == 0 and "sts/STSBenchmark" in out and "bytes per vector" in out
    rc = main([*base, "--dims", "16", "--codecs", "float32", "--tasks", "sts/STSB", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert rc == 0 and len(rows) == 1 and rows[0]["protocol"] == "simcse+max_pairs=100"
    for args, msg in (
        (["--dims", "64"], "dimension 64 is larger than the 32-d"),
        (["--codecs", "pq:5"], "PQ m=5 does not divide dimension 32"),
        (["--codecs", "int4"], "unknown codec 'int4'"),
        (["--tasks", "STSB"], "family/task"),
    ):
        assert main([*base, *args]) != 0
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err
