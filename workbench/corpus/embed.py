"""Encode a corpus into a :class:`~workbench.corpus.store.CorpusStore`, in one process or many.

Under ``torchrun --nproc_per_node N`` each process joins the group the environment describes
(:func:`workbench.training.distributed.init_distributed`: gloo on the CPU, nccl on CUDA),
computes the shards ``i`` with ``i % N == rank``, and process 0 writes the manifest after a
barrier. Shards are fixed row ranges, so any number of processes writes the same files.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InvalidInputError, WorkbenchError
from .store import CorpusStore, CorpusWriter, Plan, check_dtype, check_shard_size, read_plan
from .texts import texts_digest

__all__ = ["embed_corpus", "peak_rss_mb"]

DEFAULT_SHARD_SIZE = 8192


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size of this process (or of its waited-for descendants, the largest
    one) in MiB, from ``getrusage`` (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    scale = 1 / 2**20 if sys.platform == "darwin" else 1 / 1024
    return ru.ru_maxrss * scale


def _json_safe(cfg: dict) -> dict:
    import json

    return json.loads(json.dumps(cfg, default=str, sort_keys=True))


def make_plan(encoder, texts: Sequence[str], dtype: str, shard_size: int) -> Plan:
    """The plan of encoding ``texts`` with ``encoder`` into shards of ``shard_size`` rows."""
    return Plan(
        n=len(texts),
        dim=int(encoder.dim),
        dtype=check_dtype(dtype),
        shard_size=check_shard_size(shard_size),
        texts_sha256=texts_digest(texts),
        fingerprint=encoder.fingerprint(),
        encoder=encoder.describe(),
        encoder_config=_json_safe(encoder.config()),
    )


class _Dist:
    """The process group, or a one-process stand-in (no torch import for one process)."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank, self.started = 0, False
        if self.world > 1:
            import torch.distributed as dist

            from ..training.distributed import init_distributed

            self.started = not dist.is_initialized()
            info = init_distributed(device)
            self.rank, self.world = info.rank, info.world_size

    def broadcast(self, obj: Any) -> Any:
        if self.world == 1:
            return obj
        from ..training.distributed import broadcast_object

        return broadcast_object(obj)

    def gather(self, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.started:
            import torch.distributed as dist

            dist.destroy_process_group()


def embed_corpus(
    encoder,
    texts: Sequence[str],
    out: str | os.PathLike,
    shard_size: int = DEFAULT_SHARD_SIZE,
    dtype: str = "float32",
    batch_size: int | None = None,
    resume: bool = True,
    cache: bool | str | os.PathLike = False,
    show_progress: bool = True,
    on_shard: Callable[[int], None] | None = None,
) -> CorpusStore:
    """Encode ``texts`` into the store folder ``out`` (see :mod:`workbench.corpus.store`).

    Vectors are the encoder's raw output (no L2 normalisation: the manifest records the
    encoder, normalise when reading if wanted), one shard in memory at a time. ``resume``
    (default) keeps the finished shards of an interrupted run of the same job. ``cache``
    (a folder or True for the default) also reads and fills the content-addressed embedding
    cache, so later ``wb.encode`` calls on these texts are cache hits. ``on_shard(i)`` is
    called after shard ``i`` is written (tests use it to simulate a kill). Under torchrun
    each process encodes its own shards; every process returns the finished store.
    """
    from ..embed import encode

    texts = list(texts)
    if not texts:
        raise InvalidInputError("embed_corpus: no texts to encode")
    plan = make_plan(encoder, texts, dtype, shard_size)
    group = _Dist(str(getattr(encoder, "device", "cpu")))
    try:
        # process 0 prepares the folder; an error there is raised on every process
        err = None
        if group.rank == 0:
            try:
                CorpusWriter.prepare(out, plan, texts, resume=resume)
            except WorkbenchError as e:
                err = e
        err = group.broadcast(err)
        if err is not None:
            raise err
        if group.world > 1 and not read_plan(out).same_job(plan):
            raise WorkbenchError(
                f"process {group.rank} read other texts than process 0 (plan differs); every "
                "process must see the same data and arguments"
            )
        writer = CorpusWriter(out, plan)
        mine = [i for i in range(plan.n_shards) if i % group.world == group.rank]
        todo = [i for i in mine if not writer.shard_done(i)]
        t0 = time.perf_counter()
        bar = _bar(plan, mine, todo, show_progress and group.rank == 0, group.world)
        try:
            for i in todo:
                start, stop = plan.bounds(i)
                vecs = encode(
                    encoder,
                    texts[start:stop],
                    batch_size=batch_size,
                    show_progress=False,
                    cache=cache,
                    normalize=False,
                )
                writer.write_shard(i, vecs)
                del vecs
                bar.update(stop - start)
                if on_shard is not None:
                    on_shard(i)
        finally:
            bar.close()
        run = {
            "rank": group.rank,
            "shards_encoded": len(todo),
            "shards_resumed": len(mine) - len(todo),
            "rows_encoded": sum(plan.bounds(i)[1] - plan.bounds(i)[0] for i in todo),
            "seconds": round(time.perf_counter() - t0, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
        runs = group.gather(run)  # also the barrier: every shard is written after it
        err = None
        if group.rank == 0:
            try:
                writer.finalize(runs=runs, extra={"world_size": group.world})
            except WorkbenchError as e:
                err = e
        err = group.broadcast(err)
        if err is not None:
            raise err
        return CorpusStore(out)
    finally:
        group.close()


def _bar(plan: Plan, mine: list[int], todo: list[int], show: bool, world: int):
    from tqdm.auto import tqdm

    total = sum(plan.bounds(i)[1] - plan.bounds(i)[0] for i in mine)
    done = total - sum(plan.bounds(i)[1] - plan.bounds(i)[0] for i in todo)
    desc = f"embedding ({plan.encoder})" + (f" rank 0 of {world}" if world > 1 else "")
    return tqdm(
        total=total, initial=done, unit="sent", desc=desc, disable=not show, file=sys.stderr
    )
