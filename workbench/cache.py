"""Content-addressed, crash-safe on-disk store of embeddings.

Layout: ``<cache>/embeddings/<fp[:2]>/<fp>/*.shard`` where ``fp`` is an encoder fingerprint
(model identity + pooling + layer + prompt + max length + dtype; see
:meth:`workbench.encoders.base.Encoder.fingerprint`). Each shard holds the 16-byte BLAKE2b
digests of some texts and their vectors.

Why shards rather than one file or one file per text:

- *Atomic*: a shard is written to a temporary file in the same folder, flushed, fsynced and
  then ``os.replace``-d into place, so a reader never sees half a shard and a crash loses at
  most the shard being written.
- *Concurrent writers*: every writer makes its own shard, named by the hash of its content;
  nothing is ever rewritten in place, so two processes cannot interleave writes. Two writers
  of identical content race to the same name, which is harmless.
- *Damage detection*: each shard carries a checksum of its body. A shard that is truncated,
  bit-flipped or not a shard at all is reported with :class:`CacheCorruptionWarning`, removed,
  and its texts are recomputed, never returned.
- *Few files*: many small shards are merged into one once there are more than
  ``COMPACT_AFTER`` of them (the merged shard is written atomically before the old ones are
  deleted, so an interrupted merge loses nothing).
- *No orphans*: a writer killed mid-write leaves its ``.tmp-*.partial`` file behind; the
  next writer to the same folder removes such files once they are ``ORPHAN_AGE`` seconds
  old (a live writer's temporary file is seconds old at most: it is renamed right after
  its fsync).
- *Shareable*: files are created with mode ``0o666`` and folders ``0o777``, less the umask
  (``umask 002`` gives a cache a group can share). A shard that cannot be read (permissions,
  I/O error) is reported once with :class:`CacheAccessWarning` and its texts are recomputed;
  a cache folder that cannot be written is reported the same way and the vectors are still
  returned.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import struct
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .errors import CacheAccessWarning, CacheCorruptionWarning, InvalidInputError

MAGIC = b"WBEMB01\n"
_HEADER = struct.Struct("<8sQQ32s")  # magic, n rows, dim, sha256(body)
DIGEST_SIZE = 16
COMPACT_AFTER = 32
#: seconds after which a ``.tmp-*.partial`` file counts as left by a killed writer
ORPHAN_AGE = 600.0
TMP_PREFIX, TMP_SUFFIX = ".tmp-", ".partial"


def text_digests(texts: Iterable[str]) -> list[bytes]:
    """16-byte BLAKE2b digest of each text's UTF-8 bytes (the key of a cache row)."""
    out = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InvalidInputError(f"texts must be strings, got {type(t).__name__}: {t!r:.60}")
        try:
            data = t.encode("utf-8")
        except UnicodeEncodeError as e:  # a lone surrogate (e.g. from a bad decode)
            raise InvalidInputError(
                f"text {i} is not valid Unicode ({e.reason} at character {e.start}: "
                f"{t[max(0, e.start - 20) : e.start + 20]!r}); fix or drop it"
            ) from None
        out.append(hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest())
    return out


def remove_orphans(
    folder: Path,
    max_age: float = ORPHAN_AGE,
    prefix: str = TMP_PREFIX,
    suffix: str = TMP_SUFFIX,
    folders: bool = False,
) -> int:
    """Delete what killed writers left in ``folder``: entries named ``prefix*suffix`` older
    than ``max_age`` seconds, files (the cache's ``.tmp-*.partial``) or, with ``folders``,
    directories (e.g. an interrupted model conversion). Returns how many were removed;
    never raises."""
    import shutil

    removed = 0
    limit = time.time() - max_age
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for e in entries:
        if not (e.name.startswith(prefix) and e.name.endswith(suffix)):
            continue
        try:
            is_kind = (
                e.is_dir(follow_symlinks=False) if folders else e.is_file(follow_symlinks=False)
            )
            if is_kind and e.stat(follow_symlinks=False).st_mtime < limit:
                if folders:
                    shutil.rmtree(e.path)
                else:
                    os.unlink(e.path)
                removed += 1
        except OSError:
            continue  # gone already, or not ours to delete
    return removed


def atomic_write_bytes(path: Path, data: bytes | Sequence[bytes]) -> None:
    """Write ``data`` to ``path`` so that readers see the old file, the new file, or nothing.

    The temporary file lives in the same folder (``os.replace`` is atomic only within one
    file system) and is fsynced before the rename. Its mode is ``0o666`` less the umask (a
    ``tempfile.mkstemp`` file would stay ``0o600``, unreadable to a group sharing the cache).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = [data] if isinstance(data, bytes | bytearray | memoryview) else list(data)
    # The temporary name must never look like a finished file to a concurrent reader.
    tmp = str(path.parent / f"{TMP_PREFIX}{secrets.token_hex(8)}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _encode_shard(keys: Sequence[bytes], vectors: np.ndarray) -> tuple[bytes, bytes]:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    key_bytes = b"".join(keys)
    h = hashlib.sha256()
    h.update(key_bytes)
    h.update(memoryview(vectors).cast("B"))
    digest = h.digest()
    header = _HEADER.pack(MAGIC, len(keys), vectors.shape[1], digest)
    return header + key_bytes, digest


def _decode_shard(raw: bytes) -> tuple[list[bytes], np.ndarray]:
    """Parse and verify a shard; ``ValueError`` on any damage."""
    if len(raw) < _HEADER.size:
        raise ValueError("shorter than its header")
    magic, n, dim, digest = _HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise ValueError("not a workbench embedding shard")
    keys_end = _HEADER.size + n * DIGEST_SIZE
    expected = keys_end + n * dim * 4
    if len(raw) != expected:
        raise ValueError(f"size {len(raw)} bytes, expected {expected} (truncated or padded)")
    body = memoryview(raw)[_HEADER.size :]
    if hashlib.sha256(body).digest() != digest:
        raise ValueError("checksum mismatch")
    key_blob = raw[_HEADER.size : keys_end]
    keys = [key_blob[i : i + DIGEST_SIZE] for i in range(0, len(key_blob), DIGEST_SIZE)]
    vectors = np.frombuffer(raw, dtype=np.float32, offset=keys_end).reshape(n, dim)
    return keys, vectors


class EmbeddingCache:
    """Embeddings of one encoder configuration, keyed by text.

    >>> cache = EmbeddingCache(root, fingerprint)          # doctest: +SKIP
    >>> found, vecs = cache.get(["a sentence", "another"])  # doctest: +SKIP
    >>> cache.put(["another"], vec)                         # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike, fingerprint: str) -> None:
        if not fingerprint or any(c in fingerprint for c in "/\\."):
            raise InvalidInputError(f"bad cache fingerprint {fingerprint!r}")
        self.fingerprint = fingerprint
        self.path = Path(root) / "embeddings" / fingerprint[:2] / fingerprint
        self._index: dict[bytes, tuple[str, int]] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._unreadable: set[str] = set()
        self._lock = threading.Lock()

    # -- reading -----------------------------------------------------------------------------
    def _shard_files(self) -> list[Path]:
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        except OSError as e:
            self._warn_access(f"cannot list the embedding cache folder {self.path} ({e})")
            return []
        return sorted(
            self.path / n for n in names if n.endswith(".shard") and not n.startswith(".")
        )

    def _warn_access(self, message: str) -> None:
        if message not in self._unreadable:
            self._unreadable.add(message)
            warnings.warn(message, CacheAccessWarning, stacklevel=4)

    def _load_new_shards(self) -> None:
        for p in self._shard_files():
            if p.name in self._arrays or p.name in self._unreadable:
                continue
            try:
                raw = p.read_bytes()
            except FileNotFoundError:  # merged away by a concurrent compaction
                continue
            except OSError as e:  # permissions, I/O error, not a file: skip, never delete
                self._unreadable.add(p.name)
                warnings.warn(
                    f"cannot read embedding cache file {p} ({e.strerror or e}); its entries "
                    "are recomputed (check the cache folder's permissions)",
                    CacheAccessWarning,
                    stacklevel=3,
                )
                continue
            try:
                keys, vecs = _decode_shard(raw)
            except ValueError as e:
                warnings.warn(
                    f"damaged embedding cache file {p} ({e}); it is removed and its entries "
                    "will be recomputed",
                    CacheCorruptionWarning,
                    stacklevel=3,
                )
                with contextlib.suppress(OSError):
                    p.unlink()
                continue
            self._arrays[p.name] = vecs
            for i, k in enumerate(keys):
                self._index[k] = (p.name, i)

    def get(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        """Look up digests. Returns a boolean ``found`` mask and an ``(n, dim)`` float32 array
        whose rows are valid where ``found`` (``None`` if nothing was found)."""
        with self._lock:
            self._load_new_shards()
            found = np.zeros(len(keys), dtype=bool)
            out = None
            for i, k in enumerate(keys):
                hit = self._index.get(k)
                if hit is None:
                    continue
                arr = self._arrays[hit[0]]
                if out is None:
                    out = np.empty((len(keys), arr.shape[1]), dtype=np.float32)
                out[i] = arr[hit[1]]
                found[i] = True
            return found, out

    def __len__(self) -> int:
        with self._lock:
            self._load_new_shards()
            return len(self._index)

    # -- writing -----------------------------------------------------------------------------
    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> Path | None:
        """Store rows atomically as one new shard; returns its path (None if nothing to store)."""
        vectors = np.asarray(vectors)
        if len(keys) == 0:
            return None
        if vectors.ndim != 2 or vectors.shape[0] != len(keys):
            raise InvalidInputError(
                f"cache.put needs one vector per key: {len(keys)} keys, array {vectors.shape}"
            )
        if not np.isfinite(vectors).all():
            raise InvalidInputError("refusing to cache non-finite embeddings (NaN or inf)")
        target = self._write(keys, vectors)
        if len(self._shard_files()) > COMPACT_AFTER:
            self.compact()
        return target

    def compact(self) -> None:
        """Merge all shards into one. Safe against crashes and concurrent readers/writers."""
        with self._lock:
            self._load_new_shards()
            names = [p.name for p in self._shard_files() if p.name in self._arrays]
            if len(names) < 2:
                return
            keys = [k for k, (n, _) in self._index.items() if n in names]
            rows = [self._arrays[self._index[k][0]][self._index[k][1]] for k in keys]
        merged = self._write(keys, np.stack(rows))
        with self._lock:
            for n in names:
                if n == merged.name:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    (self.path / n).unlink()
            self._index.clear()
            self._arrays.clear()

    def _write(self, keys: Sequence[bytes], vectors: np.ndarray) -> Path:
        remove_orphans(self.path)
        head_and_keys, digest = _encode_shard(keys, vectors)
        target = self.path / f"{digest.hex()[:32]}.shard"
        body = np.ascontiguousarray(vectors, dtype=np.float32)
        atomic_write_bytes(target, [head_and_keys, memoryview(body).cast("B")])
        return target

    def clear(self) -> None:
        """Delete every stored embedding of this configuration."""
        with self._lock:
            for p in self._shard_files():
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            self._index.clear()
            self._arrays.clear()
