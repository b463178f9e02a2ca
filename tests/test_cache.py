"""The embedding cache: hits, misses, damage detection, concurrent writers, compaction."""

from __future__ import annotations

import multiprocessing as mp
import warnings

import numpy as np
import pytest

from workbench import cache as wc
from workbench.cache import EmbeddingCache, text_digests
from workbench.encoders.base import Encoder
from workbench.errors import CacheCorruptionWarning, InvalidInputError


class CountingEncoder(Encoder):
    """Deterministic fake encoder that counts how many texts it really encoded."""

    name = "counting"

    def __init__(self, dim: int = 8, tag: str = "a") -> None:
        self._d = dim
        self.tag = tag
        self.calls: list[int] = []

    @property
    def dim(self) -> int:
        return self._d

    def config(self):
        return {"kind": "fake", "tag": self.tag, "dim": self._d}

    def _encode(self, texts, batch_size, show_progress):
        self.calls.append(len(texts))
        out = np.empty((len(texts), self._d), dtype=np.float32)
        for i, t in enumerate(texts):
            rng = np.random.default_rng(abs(hash(("fixed", t))) % 2**32)
            out[i] = rng.normal(size=self._d)
        return out


def _vecs(n, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_miss_then_hit(tmp_path):
    c = EmbeddingCache(tmp_path, "f" * 40)
    keys = text_digests(["a", "b", "c"])
    found, vecs = c.get(keys)
    assert not found.any() and vecs is None
    v = _vecs(2)
    c.put(keys[:2], v)
    found, vecs = c.get(keys)
    assert found.tolist() == [True, True, False]
    np.testing.assert_array_equal(vecs[:2], v)
    # a fresh object (another process, a restarted kernel) sees the same rows
    found2, vecs2 = EmbeddingCache(tmp_path, "f" * 40).get(keys[:2])
    assert found2.all()
    np.testing.assert_array_equal(vecs2, v)


def test_encode_uses_cache_and_dedups(tmp_path):
    enc = CountingEncoder()
    texts = ["x", "y", "x", "z"]
    a = enc.encode(texts, cache=tmp_path)
    assert enc.calls == [3]  # duplicates encoded once
    np.testing.assert_array_equal(a[0], a[2])
    b = enc.encode(["z", "x", "new"], cache=tmp_path)
    assert enc.calls == [3, 1]  # only the unseen text
    np.testing.assert_array_equal(b[0], a[3])
    np.testing.assert_array_equal(b[1], a[0])
    enc.encode(texts, cache=False)
    assert enc.calls == [3, 1, 3]


def test_configurations_do_not_share_entries(tmp_path):
    a, b = CountingEncoder(tag="a"), CountingEncoder(tag="b")
    assert a.fingerprint() != b.fingerprint()
    a.encode(["s"], cache=tmp_path)
    b.encode(["s"], cache=tmp_path)
    assert b.calls == [1]


def test_normalize_is_applied_after_cache(tmp_path):
    enc = CountingEncoder()
    raw = enc.encode(["s", "t"], cache=tmp_path)
    unit = enc.encode(["s", "t"], cache=tmp_path, normalize=True)
    assert enc.calls == [2]
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-6)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_damaged_shard_is_detected_and_recomputed(tmp_path, damage):
    enc = CountingEncoder()
    first = enc.encode(["p", "q"], cache=tmp_path)
    shard = next((tmp_path / "embeddings").rglob("*.shard"))
    raw = bytearray(shard.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) - 7]
    elif damage == "flip":
        raw[-3] ^= 0xFF
    elif damage == "garbage":
        raw = bytearray(b"not a shard at all" * 10)
    else:
        raw = bytearray()
    shard.write_bytes(bytes(raw))
    wc_obj = EmbeddingCache(tmp_path, enc.fingerprint())
    with pytest.warns(CacheCorruptionWarning, match="damaged"):
        found, _ = wc_obj.get(text_digests(["p", "q"]))
    assert not found.any()
    assert not shard.exists()  # removed, so it is reported once
    from workbench import embed

    embed._CACHES.clear()
    again = enc.encode(["p", "q"], cache=tmp_path)
    assert enc.calls == [2, 2]  # recomputed, not returned
    np.testing.assert_array_equal(again, first)


def test_leftover_temp_file_is_ignored(tmp_path):
    c = EmbeddingCache(tmp_path, "e" * 40)
    c.put(text_digests(["a"]), _vecs(1))
    (c.path / ".tmp-crashed.partial").write_bytes(b"half written")
    (c.path / ".tmp-crashed.shard").write_bytes(b"half written")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an in-progress file is not damage
        found, _ = EmbeddingCache(tmp_path, "e" * 40).get(text_digests(["a"]))
    assert found.all()


def _writer(args):
    root, worker, n = args
    c = EmbeddingCache(root, "c" * 40)
    texts = [f"text {i}" for i in range(n)]  # every worker writes overlapping keys
    vecs = np.stack([np.full(4, i, dtype=np.float32) for i in range(n)])
    for start in range(0, n, 7):  # many small shards -> compaction races too
        c.put(text_digests(texts[start : start + 7]), vecs[start : start + 7])
    return worker


def test_concurrent_writers(tmp_path, monkeypatch):
    monkeypatch.setattr(wc, "COMPACT_AFTER", 5)
    n = 120
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        assert sorted(pool.map(_writer, [(str(tmp_path), w, n) for w in range(4)])) == [0, 1, 2, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheCorruptionWarning)  # no torn shard anywhere
        c = EmbeddingCache(tmp_path, "c" * 40)
        found, vecs = c.get(text_digests([f"text {i}" for i in range(n)]))
    assert found.all()
    np.testing.assert_array_equal(vecs[:, 0], np.arange(n, dtype=np.float32))
    assert not list(c.path.glob(".tmp-*"))


def test_compaction_keeps_everything(tmp_path, monkeypatch):
    monkeypatch.setattr(wc, "COMPACT_AFTER", 3)
    c = EmbeddingCache(tmp_path, "d" * 40)
    texts = [f"t{i}" for i in range(10)]
    for i, t in enumerate(texts):
        c.put(text_digests([t]), np.full((1, 4), i, dtype=np.float32))
    assert len(list(c.path.glob("*.shard"))) <= 3
    found, vecs = EmbeddingCache(tmp_path, "d" * 40).get(text_digests(texts))
    assert found.all()
    np.testing.assert_array_equal(vecs[:, 0], np.arange(10, dtype=np.float32))


def test_bad_input(tmp_path):
    c = EmbeddingCache(tmp_path, "b" * 40)
    with pytest.raises(InvalidInputError, match="one vector per key"):
        c.put(text_digests(["a", "b"]), _vecs(3))
    with pytest.raises(InvalidInputError, match="non-finite"):
        c.put(text_digests(["a"]), np.array([[np.nan, 1, 2, 3]], dtype=np.float32))
    with pytest.raises(InvalidInputError, match="strings"):
        text_digests(["ok", 3])
    with pytest.raises(InvalidInputError, match="fingerprint"):
        EmbeddingCache(tmp_path, "../escape")
    enc = CountingEncoder()
    with pytest.raises(InvalidInputError, match="strings"):
        enc.encode(["fine", None], cache=tmp_path)
    assert enc.encode([], cache=tmp_path).shape == (0, 8)
