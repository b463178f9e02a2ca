"""A corpus of embeddings on disk: fixed-size ``.npy`` shards read memory-mapped, and a manifest.

Layout of an output folder::

    plan.json            what is being computed: encoder, fingerprint, n, dim, dtype,
                         shard size, SHA-256 of the texts (written first)
    texts.jsonl          the texts, one JSON string a line, row i = vector i
    shards/shard-00000.npy   rows [0, shard_size) as float32 or float16
    shards/shard-00000.json  its rows, shape, dtype and SHA-256 (written after the .npy)
    manifest.json        written last, when every shard is there: the plan plus the shard list
                         and, per process, its shards, seconds and peak RSS

Why this shape:

- *Resumable*: every file is written to a temporary name in its folder, fsynced and renamed
  (:func:`workbench.cache.atomic_write_bytes`), so a killed writer leaves finished shards and
  at most one ``.tmp-*.partial`` file. A shard counts as done when its ``.json`` exists and the
  ``.npy`` matches its checksum; a re-run skips done shards and redoes the rest.
- *Independent of the number of processes*: shard ``i`` always holds rows
  ``[i * shard_size, (i + 1) * shard_size)``, whoever computes it; processes take shards
  strided by rank (``i % world_size == rank``), so 1 and N processes write the same files.
- *Memory-bounded*: a writer holds one shard; a reader maps shards (``np.load(mmap_mode="r")``)
  and streams them (:meth:`CorpusStore.iter_chunks`), so nothing needs the whole matrix in RAM.
- One job per output folder at a time: starting a job removes leftover temporary files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import atomic_write_bytes, remove_orphans
from ..errors import DataNotFoundError, InvalidInputError, WorkbenchError

__all__ = ["CorpusStore", "Plan", "STORE_DTYPES"]

FORMAT = "workbench-corpus/1"
STORE_DTYPES = ("float32", "float16")
PLAN, MANIFEST, TEXTS, SHARDS = "plan.json", "manifest.json", "texts.jsonl", "shards"


@dataclass(frozen=True)
class Plan:
    """What a store folder holds (or will hold once every shard is written)."""

    n: int
    dim: int
    dtype: str
    shard_size: int
    texts_sha256: str
    fingerprint: str
    encoder: str
    encoder_config: dict
    format: str = FORMAT

    @property
    def n_shards(self) -> int:
        return -(-self.n // self.shard_size)

    def bounds(self, i: int) -> tuple[int, int]:
        """Rows ``[start, stop)`` of shard ``i``."""
        return i * self.shard_size, min((i + 1) * self.shard_size, self.n)

    def same_job(self, other: Plan) -> bool:
        return asdict(self) == asdict(other)


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n").encode()


def _shard_name(i: int) -> str:
    return f"shard-{i:05d}"


def _npy_bytes(arr: np.ndarray) -> list[bytes | memoryview]:
    """An ``.npy`` file as (header, body) without copying the body."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, np.lib.format.header_data_from_array_1_0(arr))
    return [head.getvalue(), memoryview(arr).cast("B")]


def _sha256_of(arr: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(arr)).cast("B")).hexdigest()


def check_dtype(dtype: Any) -> str:
    """``float32`` or ``float16`` (as a name), or a clear error."""
    try:
        d = np.dtype(dtype).name
    except TypeError:
        d = None
    if d not in STORE_DTYPES:
        raise InvalidInputError(
            f"store dtype must be one of {', '.join(STORE_DTYPES)}, got {dtype!r}"
        )
    return d


def check_shard_size(shard_size: Any) -> int:
    if isinstance(shard_size, bool) or not isinstance(shard_size, int | np.integer):
        raise InvalidInputError(f"shard_size must be a whole number, got {shard_size!r}")
    if shard_size < 1:
        raise InvalidInputError(f"shard_size must be >= 1, got {shard_size}")
    return int(shard_size)


class CorpusWriter:
    """The writing side of a store folder (used by :func:`workbench.corpus.embed_corpus` and
    the Ray path; one job per folder)."""

    def __init__(self, out: str | os.PathLike, plan: Plan) -> None:
        self.out = Path(out)
        self.plan = plan

    # -- set-up (one process) ----------------------------------------------------------------
    @classmethod
    def prepare(
        cls, out: str | os.PathLike, plan: Plan, texts: Sequence[str], resume: bool = True
    ) -> CorpusWriter:
        """Create or reopen ``out`` for ``plan``. A folder holding another job (other texts,
        encoder, dtype or shard size) is refused; ``resume=False`` starts it afresh."""
        out = Path(out)
        old = None
        if (out / PLAN).is_file():
            try:
                old = Plan(**json.loads((out / PLAN).read_text()))
            except (ValueError, TypeError) as e:
                raise WorkbenchError(
                    f"{out / PLAN} is not a corpus plan ({e}); choose another --out folder"
                ) from None
        elif out.is_dir() and any(out.iterdir()):
            raise InvalidInputError(
                f"{out} exists and is not an embedding corpus folder; choose a new or empty --out"
            )
        if old is not None and not resume:
            for p in (out / MANIFEST, out / PLAN, out / TEXTS):
                p.unlink(missing_ok=True)
            shutil.rmtree(out / SHARDS, ignore_errors=True)
            old = None
        if old is not None and not old.same_job(plan):
            diff = [k for k, v in asdict(plan).items() if asdict(old).get(k) != v]
            raise InvalidInputError(
                f"{out} holds another job (differs in {', '.join(diff)}); pass --no-resume to "
                "overwrite it or choose another --out"
            )
        (out / SHARDS).mkdir(parents=True, exist_ok=True)
        # a job killed a moment ago leaves fresh temporary files: none is live (one job per folder)
        remove_orphans(out / SHARDS, max_age=0.0)
        remove_orphans(out, max_age=0.0)
        if old is None:
            body = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)
            atomic_write_bytes(out / TEXTS, body.encode("utf-8", "surrogatepass"))
            atomic_write_bytes(out / PLAN, _dumps(asdict(plan)))
        (out / MANIFEST).unlink(missing_ok=True)  # about to change: not complete any more
        return cls(out, plan)

    # -- shards ------------------------------------------------------------------------------
    def shard_done(self, i: int) -> bool:
        """True when shard ``i`` is on disk, complete and intact."""
        meta = self.out / SHARDS / f"{_shard_name(i)}.json"
        if not meta.is_file():
            return False
        try:
            info = json.loads(meta.read_text())
            arr = np.load(self.out / SHARDS / info["file"], mmap_mode="r")
        except (OSError, ValueError, KeyError):
            return False
        start, stop = self.plan.bounds(i)
        return (
            [info.get("start"), info.get("stop")] == [start, stop]
            and arr.shape == (stop - start, self.plan.dim)
            and str(arr.dtype) == self.plan.dtype
            and _sha256_of(arr) == info.get("sha256")
        )

    def write_shard(self, i: int, vectors: np.ndarray) -> dict:
        """Store the vectors of shard ``i`` (cast to the plan's dtype); returns its record."""
        start, stop = self.plan.bounds(i)
        vectors = np.asarray(vectors)
        if vectors.shape != (stop - start, self.plan.dim):
            raise WorkbenchError(
                f"shard {i} needs {(stop - start, self.plan.dim)} vectors, got {vectors.shape}"
            )
        if not np.isfinite(vectors).all():
            raise InvalidInputError(f"shard {i}: the encoder produced NaN/inf vectors")
        arr = np.ascontiguousarray(vectors, dtype=self.plan.dtype)
        if not np.isfinite(arr).all():
            raise InvalidInputError(
                f"shard {i}: values overflow {self.plan.dtype}; store float32 instead"
            )
        name = _shard_name(i)
        atomic_write_bytes(self.out / SHARDS / f"{name}.npy", _npy_bytes(arr))
        rec = {"file": f"{name}.npy", "start": start, "stop": stop, "sha256": _sha256_of(arr)}
        atomic_write_bytes(self.out / SHARDS / f"{name}.json", _dumps(rec))
        return rec

    def finalize(self, runs: list[dict] | None = None, extra: dict | None = None) -> Path:
        """Write ``manifest.json`` once every shard is done (otherwise an error naming the
        missing ones)."""
        missing = [i for i in range(self.plan.n_shards) if not self.shard_done(i)]
        if missing:
            raise WorkbenchError(
                f"{len(missing)} of {self.plan.n_shards} shards of {self.out} are missing or "
                f"damaged (first: {missing[0]}); run the same command again to complete them"
            )
        shards = [
            json.loads((self.out / SHARDS / f"{_shard_name(i)}.json").read_text())
            for i in range(self.plan.n_shards)
        ]
        manifest = {**asdict(self.plan), "shards": shards, "runs": runs or [], **(extra or {})}
        atomic_write_bytes(self.out / MANIFEST, _dumps(manifest))
        return self.out / MANIFEST


def read_plan(out: str | os.PathLike) -> Plan:
    return Plan(**json.loads((Path(out) / PLAN).read_text()))


class CorpusStore:
    """A finished corpus folder, read memory-mapped.

    >>> store = CorpusStore("runs/glove")          # doctest: +SKIP
    >>> store.n, store.dim, store.dtype            # doctest: +SKIP
    >>> for start, chunk in store.iter_chunks(): ...   # doctest: +SKIP
    >>> X = store.rows([0, 5, 17])                  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        mf = self.path / MANIFEST
        if not mf.is_file():
            hint = (
                "it is incomplete: run the same `workbench embed` command again to finish it"
                if (self.path / PLAN).is_file()
                else "no corpus was written there (workbench embed --out ...)"
            )
            raise DataNotFoundError(f"{mf} not found; {hint}")
        self.manifest = json.loads(mf.read_text())
        fields = {k: self.manifest[k] for k in Plan.__dataclass_fields__}
        self.plan = Plan(**fields)
        self._maps: dict[int, np.ndarray] = {}
        self._starts = np.array([s["start"] for s in self.manifest["shards"]], dtype=np.int64)

    n = property(lambda self: self.plan.n)
    dim = property(lambda self: self.plan.dim)
    dtype = property(lambda self: self.plan.dtype)
    n_shards = property(lambda self: len(self.manifest["shards"]))

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return (
            f"CorpusStore({str(self.path)!r}: {self.n} x {self.dim} {self.dtype}, "
            f"{self.n_shards} shards, {self.plan.encoder})"
        )

    def shard(self, i: int) -> np.ndarray:
        """Shard ``i`` as a read-only memory map."""
        if i not in self._maps:
            self._maps[i] = np.load(
                self.path / SHARDS / self.manifest["shards"][i]["file"], mmap_mode="r"
            )
        return self._maps[i]

    def iter_chunks(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(start_row, block)`` over the whole corpus in order; blocks are views of the
        memory maps of at most ``rows`` rows (default: one shard)."""
        for i, rec in enumerate(self.manifest["shards"]):
            arr = self.shard(i)
            step = rows or len(arr)
            for a in range(0, len(arr), step):
                yield rec["start"] + a, arr[a : a + step]

    def rows(self, idx: Sequence[int] | np.ndarray, dtype: Any = np.float32) -> np.ndarray:
        """The vectors of rows ``idx`` (any order) as one in-memory array."""
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise InvalidInputError(f"row indices must lie in 0..{self.n - 1}")
        out = np.empty((len(idx), self.dim), dtype=dtype)
        which = np.searchsorted(self._starts, idx, side="right") - 1
        for s in np.unique(which):
            sel = np.flatnonzero(which == s)
            out[sel] = self.shard(int(s))[idx[sel] - self._starts[s]]
        return out

    def matrix(self, dtype: Any = np.float32) -> np.ndarray:
        """The whole corpus as one in-memory array, filled shard by shard (``n * dim`` values
        of ``dtype``: know the size before asking)."""
        out = np.empty((self.n, self.dim), dtype=dtype)
        for start, block in self.iter_chunks():
            out[start : start + len(block)] = block
        return out

    def texts(self) -> list[str]:
        """The texts, row for row."""
        with open(self.path / TEXTS, encoding="utf-8", errors="surrogatepass") as f:
            return [json.loads(line) for line in f]

    def verify(self) -> None:
        """Check every shard against its checksum (an error names the first bad one)."""
        for i, rec in enumerate(self.manifest["shards"]):
            if _sha256_of(self.shard(i)) != rec["sha256"]:
                raise WorkbenchError(
                    f"{self.path / SHARDS / rec['file']} does not match its checksum; delete "
                    "it and its .json and run the same command again"
                )
