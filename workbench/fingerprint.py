"""Full-content fingerprints of model files, computed once per version of a file.

An encoder's cache key must change whenever any byte of its weights does: a key made from
the size and the first and last MiB of a file gave back the old vectors after a change in
the middle of the weights. So every file is hashed whole (SHA-256). That costs about 0.13 s
for MiniLM's 91 MB ``model.safetensors`` on one core with SHA extensions, more on a cold
disk, on every load; so each digest is remembered, keyed by what any write to the file
changes: ``(device, inode, size, mtime_ns, ctime_ns)``. ``ctime`` cannot be set back by a
user (unlike ``mtime``, which ``touch -d`` or ``cp -p`` can), so a file rewritten in place
with the same size and an old mtime is still hashed again.

The memo lives in memory and in ``<cache>/fingerprints.json`` (see
:func:`workbench.config.cache_dir`), written atomically; if the cache folder is read-only or
the memo is damaged, digests are simply computed again. Two processes writing the memo at
once can lose an entry, which costs one more hash, never a wrong answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from . import config

log = logging.getLogger(__name__)

MEMO_FILE = "fingerprints.json"
MEMO_VERSION = 1
MEMO_MAX_ENTRIES = 4096

#: files and folders of a model folder that never change what PyTorch computes: other
#: frameworks' weights, docs, training state, editor/VCS files
_SKIP_DIRS = ("runs/", "checkpoints/", "checkpoint-", "onnx/", "openvino/")
_SKIP_NAMES = {"tf_model.h5", "flax_model.msgpack", "rust_model.ot"}
_SKIP_SUFFIXES = (".md", ".txt.lock", ".onnx")

_lock = threading.Lock()
_memory: dict[str, tuple[list[int], str]] = {}
_disk_loaded: set[str] = set()


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _memo_path() -> Path:
    return config.cache_dir() / MEMO_FILE


def _read_memo(path: Path) -> dict[str, tuple[list[int], str]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("version") != MEMO_VERSION:
            return {}
        return {
            str(p): (list(v["key"]), str(v["sha256"]))
            for p, v in raw["files"].items()
            if isinstance(v.get("key"), list) and len(v["key"]) == 5
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # absent, unreadable or damaged: digests are computed again


def _write_memo(path: Path, entries: dict[str, tuple[list[int], str]]) -> None:
    """Merge ``entries`` into the memo file (atomic replace; failures only cost a re-hash)."""
    try:
        merged = _read_memo(path)
        merged.update(entries)
        if len(merged) > MEMO_MAX_ENTRIES:  # keep the newest entries (dicts keep order)
            merged = dict(list(merged.items())[-MEMO_MAX_ENTRIES:])
        data = json.dumps(
            {
                "version": MEMO_VERSION,
                "files": {p: {"key": k, "sha256": d} for p, (k, d) in merged.items()},
            }
        ).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{secrets.token_hex(8)}.partial")
        # O_CREAT with 0o666 lets the umask decide the mode (mkstemp would force 0600)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        log.debug("fingerprint memo %s not written: %s", path, e)


def _hash_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_sha256(path: str | os.PathLike, memo: bool = True) -> str:
    """SHA-256 (hex) of a file's whole content, remembered while the file is unchanged."""
    path = Path(path)
    real = os.path.realpath(path)
    st = os.stat(real)
    key = _stat_key(st)
    memo_file = _memo_path() if memo else None
    if memo_file is not None:
        with _lock:
            if str(memo_file) not in _disk_loaded:
                _disk_loaded.add(str(memo_file))
                for p, entry in _read_memo(memo_file).items():
                    _memory.setdefault(p, entry)
            hit = _memory.get(real)
        if hit is not None and hit[0] == key:
            return hit[1]
    digest = _hash_file(Path(real))
    after = _stat_key(os.stat(real))
    if memo_file is not None and after == key:  # not remembered if it changed while hashed
        with _lock:
            _memory[real] = (key, digest)
        _write_memo(memo_file, {real: (key, digest)})
    return digest


def _skipped(rel: str, name: str) -> bool:
    return (
        name.startswith(".")
        or name in _SKIP_NAMES
        or name.endswith(_SKIP_SUFFIXES)
        or rel.startswith(_SKIP_DIRS)
        or "/." in rel
    )


def folder_fingerprint(
    folder: str | os.PathLike, skip: Callable[[str, str], bool] | None = None
) -> str:
    """Hash of every file of a model folder that can change its numbers (full contents).

    Each file contributes its path relative to ``folder``, its size and its SHA-256, so a
    renamed, added, removed or changed file changes the result. Skipped: hidden files,
    README-like ``*.md``, other frameworks' weights (ONNX, OpenVINO, TF, Flax, Rust) and
    training state (``checkpoints/``, ``runs/``). Returns 32 hex characters.
    """
    folder = Path(folder)
    skip = skip or _skipped
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if not p.is_file() or skip(rel, p.name):
            continue
        h.update(f"{rel}\0{p.stat().st_size}\0{file_sha256(p)}\n".encode())
    return h.hexdigest()[:32]


def files_fingerprint(*paths: str | os.PathLike) -> str:
    """Hash of the full contents of several files, in the order given (32 hex characters)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{Path(p).name}\0{file_sha256(p)}\n".encode())
    return h.hexdigest()[:32]


def clear_memory() -> None:
    """Forget the in-process memo (tests; the memo file is left as it is)."""
    with _lock:
        _memory.clear()
        _disk_loaded.clear()
