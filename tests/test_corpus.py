"""The corpus-scale path: shards on disk, resume after a kill, torchrun, streaming moments.

Encoders here are a random-vector StaticEncoder (instant) and, for torchrun, the 3-layer
32-d BERT of tests/test_distributed.py; the texts are a few dozen sentences of the shared
data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workbench.corpus import (
    CorpusStore,
    Moments,
    corpus_texts,
    embed_corpus,
    fit_whitening,
    streaming_moments,
    subsample_id,
)
from workbench.corpus.store import SHARDS
from workbench.encoders.static import StaticEncoder, tokenize
from workbench.errors import InvalidInputError, WorkbenchError
from workbench.geometry.whitening import WHITENING_METHODS, Whitening

U = np.finfo(np.float64).eps / 2  # unit roundoff of float64


@pytest.fixture(scope="module")
def texts(senteval_dir) -> list[str]:
    return corpus_texts("stsb-test", data_dir=senteval_dir, limit=70, seed=1)


def _static(texts: list[str], dim: int = 12, seed: int = 0) -> StaticEncoder:
    words = sorted({w for t in texts for w in tokenize(t)})
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(len(words), dim)).astype(np.float32)
    return StaticEncoder(vecs, {w: i for i, w in enumerate(words)}, name="rand", identity=str(seed))


def _shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / SHARDS).iterdir())}


# -- texts -----------------------------------------------------------------------------------
def test_corpus_texts_are_distinct_nonempty_and_deterministic(senteval_dir):
    a = corpus_texts("stsb-test+sick-test", data_dir=senteval_dir)
    assert a == corpus_texts("stsb-test+sick-test", data_dir=senteval_dir)
    assert len(a) == len(set(a)) and all(t.strip() for t in a)
    # both text forms of STS-B are read: SentEval's tokenised copy (simcse) and the cased
    # original (mteb), so a later wb.encode under either protocol hits the cache
    one = corpus_texts("stsb-test", data_dir=senteval_dir, protocols=["simcse"])
    both = corpus_texts("stsb-test", data_dir=senteval_dir)
    assert set(one) < set(both)
    sub = corpus_texts("stsb-test+sick-test", data_dir=senteval_dir, limit=50, seed=3)
    assert len(sub) == 50 and set(sub) <= set(a)
    assert [a.index(t) for t in sub] == sorted(a.index(t) for t in sub)  # order kept
    with pytest.raises(InvalidInputError, match="limit"):
        corpus_texts("stsb-test", data_dir=senteval_dir, limit=0)


# -- the store -------------------------------------------------------------------------------
def test_store_roundtrip_rows_and_float16(tmp_path, texts):
    enc = _static(texts)
    want = enc.encode(texts, cache=False)
    store = embed_corpus(enc, texts, tmp_path / "a", shard_size=16, show_progress=False)
    assert (store.n, store.dim, store.dtype, store.n_shards) == (70, 12, "float32", 5)
    np.testing.assert_array_equal(store.matrix(), want)
    idx = [69, 0, 17, 16, 33]
    np.testing.assert_array_equal(store.rows(idx), want[idx])
    assert store.texts() == texts
    starts = [s for s, _ in store.iter_chunks(rows=10)]
    assert starts == [0, 10, 16, 26, 32, 42, 48, 58, 64]
    store.verify()
    # float16 rounds to nearest: |x16 - x| <= 2**-11 |x| in the normal range, and at most half
    # the subnormal spacing (2**-25 < 1e-7) below 2**-14
    h = embed_corpus(
        enc, texts, tmp_path / "h", shard_size=16, dtype="float16", show_progress=False
    )
    assert h.shard(0).dtype == np.float16
    np.testing.assert_array_less(np.abs(h.matrix() - want), 2.0**-11 * np.abs(want) + 1e-7)


def test_kill_and_resume_gives_the_same_shards(tmp_path, texts):
    """A run killed after its second shard (and a leftover half-written file, and a damaged
    shard) is completed by the same call: finished shards are kept, the rest recomputed, and
    the files are byte for byte those of an uninterrupted run."""
    enc = _static(texts)
    full = embed_corpus(enc, texts, tmp_path / "full", shard_size=16, show_progress=False)

    class Killed(Exception):
        pass

    def kill_after_2(i):
        if i == 1:
            raise Killed

    cut = tmp_path / "cut"
    with pytest.raises(Killed):
        embed_corpus(enc, texts, cut, shard_size=16, show_progress=False, on_shard=kill_after_2)
    assert not (cut / "manifest.json").exists()
    with pytest.raises(WorkbenchError, match="incomplete"):
        CorpusStore(cut)
    (cut / SHARDS / ".tmp-0123456789abcdef.partial").write_bytes(b"half a shard")
    shard1 = cut / SHARDS / "shard-00001.npy"
    shard1.write_bytes(shard1.read_bytes()[:-8])  # damaged: must be redone, not trusted

    calls = []
    real = enc._encode
    enc._encode = lambda t, b, s: calls.append(len(t)) or real(t, b, s)
    store = embed_corpus(enc, texts, cut, shard_size=16, show_progress=False)
    assert calls == [16, 16, 16, 6]  # shard 0 kept; 1 (damaged), 2, 3, 4 encoded
    assert store.manifest["runs"][0]["shards_resumed"] == 1
    assert _shard_bytes(cut) == _shard_bytes(full.path)
    # nothing left to do: a third call encodes nothing
    calls.clear()
    embed_corpus(enc, texts, cut, shard_size=16, show_progress=False)
    assert calls == []


def test_another_job_in_the_same_folder_is_refused(tmp_path, texts):
    enc = _static(texts)
    embed_corpus(enc, texts[:30], tmp_path / "o", shard_size=16, show_progress=False)
    with pytest.raises(InvalidInputError, match="texts_sha256"):
        embed_corpus(enc, texts[:40], tmp_path / "o", shard_size=16, show_progress=False)
    store = embed_corpus(
        enc, texts[:40], tmp_path / "o", shard_size=16, resume=False, show_progress=False
    )
    assert store.n == 40
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not an embedding corpus"):
        embed_corpus(enc, texts, tmp_path / "other", show_progress=False)
    with pytest.raises(InvalidInputError, match="dtype"):
        embed_corpus(enc, texts, tmp_path / "d", dtype="int8", show_progress=False)


def test_embed_fills_the_embedding_cache(tmp_path, texts):
    import workbench as wb

    enc = _static(texts, seed=5)
    store = embed_corpus(
        enc, texts, tmp_path / "c", shard_size=32, cache=tmp_path / "cache", show_progress=False
    )

    def no_encoding(*a):
        raise AssertionError("encoded although every text is in the cache")

    enc._encode = no_encoding
    got = wb.encode(enc, texts[::-1], cache=tmp_path / "cache")
    np.testing.assert_array_equal(got, store.matrix()[::-1])


# -- torchrun --------------------------------------------------------------------------------
def _vectors_file(path: Path, texts: list[str], dim: int = 6, seed: int = 4) -> Path:
    """Random word vectors in GloVe's text format for the words of ``texts``."""
    words = sorted({w for t in texts for w in tokenize(t)})
    rng = np.random.default_rng(seed)
    path.write_text(
        "".join(f"{w} {' '.join(f'{v:.5f}' for v in rng.normal(size=dim))}\n" for w in words)
    )
    return path


@pytest.mark.skipif(not __import__("torch").distributed.is_available(), reason="no torch.dist")
def test_torchrun_two_processes_write_what_one_does(tmp_path, senteval_dir):
    """``torchrun --nproc_per_node 2 -m workbench embed`` (gloo on the CPU) splits the shards
    by rank, process 0 writes the manifest, both fill the shared cache, and the vectors are
    those of one process to 1e-6 (the same shard is encoded by the same code on the same
    texts in both runs; a static encoder, so every process stays cheap to start)."""
    texts = corpus_texts("stsb-test", data_dir=senteval_dir, limit=45)
    vectors = _vectors_file(tmp_path / "vectors.txt", texts)
    args = [
        "embed",
        "--encoder",
        str(vectors),
        "--texts",
        "stsb-test",
        "--limit",
        "45",
        "--shard-size",
        "8",
        "--data-dir",
        str(senteval_dir),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-progress",
        "--json",
    ]
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         "2", "-m", "workbench", *args, "--out", str(tmp_path / "two"), "--cache"],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    summary = json.loads(two.stdout.strip().splitlines()[-1])
    assert summary["world_size"] == 2 and summary["shards"] == 6
    assert sorted((r["rank"], r["shards_encoded"]) for r in summary["runs"]) == [(0, 3), (1, 3)]

    from workbench.cli import main

    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    one, two_store = CorpusStore(tmp_path / "one"), CorpusStore(tmp_path / "two")
    assert one.texts() == two_store.texts() == texts
    np.testing.assert_allclose(two_store.matrix(), one.matrix(), rtol=0, atol=1e-6)

    # both ranks filled the shared cache: a later wb.encode computes nothing
    import workbench as wb

    enc = wb.load_encoder(str(vectors))
    enc._encode = lambda *a: pytest.fail("encoded although the texts are cached")
    got = wb.encode(enc, texts, cache=tmp_path / "cache")
    np.testing.assert_allclose(got, one.matrix(), rtol=0, atol=1e-6)


# -- streaming moments and whitening ---------------------------------------------------------
def _chunks(X: np.ndarray, sizes: list[int]):
    a = 0
    for s in sizes:
        yield X[a : a + s]
        a += s
    assert a == len(X)


def test_streaming_moments_equal_numpy_on_uneven_chunks():
    rng = np.random.default_rng(0)
    n, d = 1003, 7
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 10.0  # correlated, off-centre
    m = Moments(d)
    for block in _chunks(X, [1, 2, 500, 17, 0, 3, 480]):
        m.update(block)
    # Merged the other way round: halves built separately, then merged
    a = Moments.of(X[:333]).update(X[333:600])
    b = Moments.of(X[600:])
    ab = a.merge(b)
    want_mean, want_cov = X.mean(0), np.cov(X, rowvar=False)
    # Each entry is a sum of n products; float64 summation error is at most ~n * u * sum|terms|
    # (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 4.4), the
    # centring adds errors of size u * |x| * |x - mean| per term, and the Chan merges a few
    # more of the same order. Bounding every term by |x_j| |x_k| gives the tolerance, with a
    # factor 8 for the handful of operations per term. (Observed errors are ~1e-14.)
    absX = np.abs(X)
    tol_cov = 8 * n * U * (absX.T @ absX) / (n - 1)
    tol_mean = 8 * n * U * absX.mean(0)
    for got in (m, ab, streaming_moments(X, rows=97)):
        assert got.n == n
        np.testing.assert_array_less(np.abs(got.mean - want_mean), tol_mean)
        np.testing.assert_array_less(np.abs(got.cov() - want_cov), tol_cov)
    with pytest.raises(InvalidInputError, match="NaN"):
        Moments(d).update(np.full((2, d), np.nan))
    with pytest.raises(InvalidInputError, match="more than 1 rows"):
        Moments.of(X[:1]).cov()


@pytest.mark.parametrize("method", WHITENING_METHODS)
def test_streaming_whitening_equals_in_memory(method, tmp_path):
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(1500, 16)) * np.linspace(0.1, 3, 16)) @ rng.normal(size=(16, 16))
    X += 2.0
    k = 10 if method != "cholesky" else None
    mem = Whitening(method, n_components=k).fit(X)
    stream = fit_whitening(X, method, n_components=k, rows=211)
    Y_mem, Y_stream = mem.transform(X), stream.transform(X)
    if method in ("pca", "pca-cor", "bert"):
        # PCA rows are eigenvectors, defined up to sign: align each output column's sign
        Y_stream *= np.sign((Y_mem * Y_stream).sum(0))
    np.testing.assert_allclose(Y_stream, Y_mem, rtol=0, atol=1e-6)
    np.testing.assert_allclose(stream.mean_, mem.mean_, rtol=0, atol=1e-12)


def test_streaming_whitening_from_a_store(tmp_path, texts):
    enc = _static(texts, dim=8)
    store = embed_corpus(enc, texts, tmp_path / "w", shard_size=16, show_progress=False)
    X = store.matrix(np.float64)
    mem, stream = Whitening("zca").fit(X), fit_whitening(store, "zca", rows=7)
    np.testing.assert_allclose(stream.transform(X), mem.transform(X), rtol=0, atol=1e-6)
    with pytest.raises(InvalidInputError, match="covariance"):
        Whitening.from_moments(np.zeros(3), np.eye(4))


def test_subsample_id_has_intervals():
    rng = np.random.default_rng(2)
    # a 3-d linear subspace in 20-d: TwoNN and MLE find ~3
    X = rng.normal(size=(3000, 3)) @ rng.normal(size=(3, 20))
    df = subsample_id(X, m=250, n_subsamples=3, methods=("twonn", "mle"), seed=0)
    assert list(df["method"]) == ["twonn", "mle"]
    for r in df.itertuples():
        est = np.asarray(r.estimates)
        assert len(est) == 3 and r.m == 250
        np.testing.assert_allclose([r.mean, r.std], [est.mean(), est.std(ddof=1)], atol=1e-4)
        np.testing.assert_allclose([r.lo, r.hi], r.mean + np.array([-1.96, 1.96]) * r.std)
        half = 4.302652729911275 * r.std / np.sqrt(3)  # t(0.975, df=2)
        np.testing.assert_allclose([r.mean_lo, r.mean_hi], [r.mean - half, r.mean + half])
        assert 2.5 < r.mean < 3.5
    with pytest.raises(InvalidInputError, match="n_subsamples"):
        subsample_id(X, m=400, n_subsamples=1)


# -- Ray -------------------------------------------------------------------------------------
def test_ray_path_writes_the_same_shards(tmp_path, texts):
    """The Ray Data path on a local one-CPU Ray writes the files embed_corpus writes.
    Runs where the optional extra is installed (pip install -e '.[ray]')."""
    pytest.importorskip("ray.data")
    import ray

    from workbench.corpus import embed_corpus_ray

    spec = _vectors_file(tmp_path / "vectors.txt", texts)
    import workbench as wb

    enc = wb.load_encoder(str(spec))
    one = embed_corpus(enc, texts, tmp_path / "one", shard_size=32, show_progress=False)
    try:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    except Exception as e:  # Ray's own start-up (raylet within 30 s) fails on an overloaded box
        pytest.skip(f"a local Ray did not start here: {e}")
    try:
        got = embed_corpus_ray(str(spec), texts, tmp_path / "ray", shard_size=32)
    finally:
        ray.shutdown()
    assert got.manifest["engine"] == "ray"
    assert _shard_bytes(got.path) == _shard_bytes(one.path)
