"""The embedding cache: hits, misses, damage detection, concurrent writers, compaction."""

from __future__ import annotations

import multiprocessing as mp
import os
import stat
import time
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


# ------------------------------------------------------------ reliability (issue 10)


def test_lone_surrogate_is_one_clear_error(tmp_path):
    enc = CountingEncoder()
    with pytest.raises(InvalidInputError, match=r"text 1 is not valid Unicode"):
        enc.encode(["fine", "bad \ud800 text"], cache=tmp_path)
    assert enc.calls == []  # refused before any encoding


def test_unreadable_shard_warns_and_recomputes(tmp_path, monkeypatch):
    enc = CountingEncoder()
    first = enc.encode(["p", "q"], cache=tmp_path)
    shard = next((tmp_path / "embeddings").rglob("*.shard"))
    real = type(shard).read_bytes

    def denied(self):
        if self.name == shard.name:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(type(shard), "read_bytes", denied)
    from workbench import embed

    embed._CACHES.clear()
    with pytest.warns(UserWarning, match="cannot read") as rec:
        again = enc.encode(["p", "q", "r"], cache=tmp_path)
    assert rec[0].category.__name__ == "CacheAccessWarning"
    assert enc.calls == [2, 3]  # recomputed, not a failure
    np.testing.assert_array_equal(again[:2], first)
    assert shard.exists()  # someone else's unreadable file is never deleted
    # reported once per file, not on every call
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.encode(["p"], cache=tmp_path)


def test_a_directory_named_like_a_shard_is_skipped(tmp_path):
    c = EmbeddingCache(tmp_path, "9" * 40)
    c.put(text_digests(["a"]), _vecs(1))
    (c.path / "0123.shard").mkdir()  # IsADirectoryError, an OSError, even for root
    with pytest.warns(UserWarning, match="cannot read"):
        found, _ = EmbeddingCache(tmp_path, "9" * 40).get(text_digests(["a"]))
    assert found.all()


def test_read_only_cache_still_returns_vectors(tmp_path, monkeypatch):
    enc = CountingEncoder()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wc, "atomic_write_bytes", full_disk)
    with pytest.warns(UserWarning, match="not cached"):
        v = enc.encode(["p", "q"], cache=tmp_path)
    assert v.shape == (2, 8) and enc.calls == [2]


def test_cache_files_follow_the_umask(tmp_path):
    old = os.umask(0o002)  # a group-shared cache
    try:
        c = EmbeddingCache(tmp_path / "shared", "8" * 40)
        shard = c.put(text_digests(["a"]), _vecs(1))
    finally:
        os.umask(old)
    assert stat.S_IMODE(shard.stat().st_mode) == 0o664
    assert stat.S_IMODE(c.path.stat().st_mode) == 0o775
    old = os.umask(0o077)  # a private cache stays private
    try:
        shard = c.put(text_digests(["b"]), _vecs(1))
    finally:
        os.umask(old)
    assert stat.S_IMODE(shard.stat().st_mode) == 0o600


def test_orphaned_temp_files_are_removed_by_the_next_writer(tmp_path):
    c = EmbeddingCache(tmp_path, "7" * 40)
    c.put(text_digests(["a"]), _vecs(1))
    old = c.path / ".tmp-0123456789abcdef.partial"
    fresh = c.path / ".tmp-fedcba9876543210.partial"
    foreign = c.path / "notes.txt"
    for f in (old, fresh, foreign):
        f.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(foreign, (an_hour_ago, an_hour_ago))
    c.put(text_digests(["b"]), _vecs(1))
    assert not old.exists()  # left by a killed writer: removed
    assert fresh.exists()  # may belong to a live writer: kept
    assert foreign.exists()  # not the cache's: never touched


# ---------------------------------------------------- fingerprints: every byte counts


def _flip_middle_byte(path):
    """Change one byte in the middle of ``path`` keeping its size and mtime."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(st.st_size // 2)
        b = f.read(1)
        f.seek(st.st_size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture
def memo_dir(tmp_path, monkeypatch):
    from workbench import fingerprint

    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "memo-cache"))
    fingerprint.clear_memory()
    yield tmp_path / "memo-cache"
    fingerprint.clear_memory()


def test_model_folder_fingerprint_sees_a_change_in_the_middle(tmp_path, memo_dir):
    from workbench.encoders.hf import folder_identity

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    weights = folder / "model.safetensors"
    weights.write_bytes(np.random.default_rng(0).bytes(9 << 20))  # over the old 8 MiB cut
    before = folder_identity(folder)
    assert folder_identity(folder) == before  # stable
    _flip_middle_byte(weights)
    assert folder_identity(folder) != before


def test_gguf_and_vector_file_fingerprints_see_a_change_in_the_middle(tmp_path, memo_dir):
    from workbench.encoders.registry import _file_identity
    from workbench.encoders.static import StaticEncoder

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(np.random.default_rng(1).bytes(5 << 20))
    before = _file_identity(gguf)
    _flip_middle_byte(gguf)
    assert _file_identity(gguf) != before

    vec = tmp_path / "vectors.txt"
    rng = np.random.default_rng(2)
    lines = [f"w{i} " + " ".join(f"{x:.6f}" for x in rng.normal(size=20)) for i in range(30000)]
    vec.write_text("\n".join(lines) + "\n")
    assert vec.stat().st_size > 3 << 20
    a = StaticEncoder.from_text_file(vec)
    text = vec.read_text()
    mid = text.index("\nw15000 ") + 1  # a word in the middle of the file
    vec.write_text(text[:mid] + "x" + text[mid + 1 :])  # w15000 -> x15000, same size
    b = StaticEncoder.from_text_file(vec)
    assert a.fingerprint() != b.fingerprint()


def test_fingerprints_are_remembered_until_the_file_changes(tmp_path, memo_dir, monkeypatch):
    from workbench import fingerprint

    f = tmp_path / "w.bin"
    f.write_bytes(b"a" * 1000)
    hashed = []
    real = fingerprint._hash_file
    monkeypatch.setattr(fingerprint, "_hash_file", lambda p: hashed.append(p) or real(p))
    d1 = fingerprint.file_sha256(f)
    assert fingerprint.file_sha256(f) == d1 and len(hashed) == 1  # in-memory memo
    fingerprint.clear_memory()  # as a new process: the memo file is read
    assert fingerprint.file_sha256(f) == d1 and len(hashed) == 1
    assert (memo_dir / fingerprint.MEMO_FILE).is_file()
    _flip_middle_byte(f)  # same size, same mtime: ctime still moves
    d2 = fingerprint.file_sha256(f)
    assert d2 != d1 and len(hashed) == 2
    (memo_dir / fingerprint.MEMO_FILE).write_text("{not json")  # damage costs a re-hash only
    fingerprint.clear_memory()
    assert fingerprint.file_sha256(f) == d2 and len(hashed) == 3


def test_changed_weights_never_return_stale_vectors(tmp_path, memo_dir):
    """The user-visible bug: weights changed in the middle of a large file gave the old
    vectors back from the cache (cosine 0.93-0.97 to the true ones)."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file
    from test_distributed import make_tiny_bert
    from transformers import BertConfig, BertModel

    import workbench as wb

    folder = make_tiny_bert(tmp_path / "bert")
    cfg = BertConfig.from_pretrained(folder)
    cfg.hidden_size, cfg.intermediate_size = 96, 192  # 11.7 MB of word embeddings
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(folder)
    weights = folder / "model.safetensors"
    assert weights.stat().st_size > 8 << 20
    text = ["onion bicycle windowsill"]  # token ids in the middle of the embedding table
    cache = tmp_path / "cache"
    old = wb.load_encoder(folder, device="cpu").encode(text, cache=cache)

    state = load_file(weights)
    emb = state["embeddings.word_embeddings.weight"]
    emb[5000:25000] += 1.0  # rows far from the file's first and last MiB
    st = weights.stat()
    save_file(state, weights, metadata={"format": "pt"})
    assert weights.stat().st_size == st.st_size
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))

    from workbench import embed

    embed._CACHES.clear()
    enc = wb.load_encoder(folder, device="cpu")
    cached = enc.encode(text, cache=cache)
    fresh = enc.encode(text, cache=False)
    np.testing.assert_array_equal(cached, fresh)
    assert not np.allclose(cached, old)
