"""The corpus path on a Ray cluster: Ray Data schedules the shards, the store stays the same.

``embed_corpus_ray(spec, texts, out)`` prepares the folder like :func:`embed_corpus`, turns
the shards still to do into a Ray dataset of shard indices and maps it through a pool of
actors (``ray.data.Dataset.map_batches`` with a callable class and ``concurrency``), each of
which loads the encoder once, encodes its shards and writes them with the same atomic writer.
The driver then writes the manifest. Scheduling, retries and placement are Ray's; the output
folder must be on storage every node sees (NFS, a mounted bucket). Finished shards are
skipped, so a re-run after a lost node resumes like the one-machine path.

Needs the optional extra: ``pip install 'workbench[ray]'``. Connects to ``address`` (a running
cluster, e.g. ``"auto"``), or to an already initialised Ray, or starts a local one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from ..errors import WorkbenchError
from .embed import DEFAULT_SHARD_SIZE, make_plan, peak_rss_mb
from .store import CorpusStore, CorpusWriter

__all__ = ["embed_corpus_ray"]


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise WorkbenchError(
            "the Ray path needs Ray Data: pip install 'workbench[ray]' (or 'ray[data]')"
        ) from None
    return ray


class _ShardEncoder:
    """A Ray actor: loads the encoder once, then encodes and writes whole shards."""

    def __init__(
        self, spec: dict, out: str, batch_size: int | None, cache: bool | str, plan: dict
    ) -> None:
        import json

        from ..encoders import load_encoder
        from .store import TEXTS, Plan

        self.encoder = load_encoder(**spec)
        self.plan = Plan(**plan)
        if self.encoder.fingerprint() != self.plan.fingerprint:
            raise WorkbenchError(
                "a Ray worker loaded a different encoder configuration than the driver "
                "(fingerprints differ); check the model files on every node"
            )
        self.writer = CorpusWriter(out, self.plan)
        with open(os.path.join(out, TEXTS), encoding="utf-8", errors="surrogatepass") as f:
            self.texts = [json.loads(line) for line in f]
        self.batch_size, self.cache = batch_size, cache

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        from ..embed import encode

        done, secs, rss = [], [], []
        for i in batch["shard"]:
            t0 = time.perf_counter()
            start, stop = self.plan.bounds(int(i))
            vecs = encode(
                self.encoder,
                self.texts[start:stop],
                batch_size=self.batch_size,
                show_progress=False,
                cache=self.cache,
                normalize=False,
            )
            self.writer.write_shard(int(i), vecs)
            done.append(int(i))
            secs.append(time.perf_counter() - t0)
            rss.append(peak_rss_mb())
        return {
            "shard": np.asarray(done),
            "seconds": np.asarray(secs),
            "peak_rss_mb": np.asarray(rss),
            "pid": np.full(len(done), os.getpid()),
        }


def embed_corpus_ray(
    encoder: str | dict,
    texts: Sequence[str],
    out: str | os.PathLike,
    shard_size: int = DEFAULT_SHARD_SIZE,
    dtype: str = "float32",
    batch_size: int | None = None,
    resume: bool = True,
    cache: bool | str = False,
    concurrency: int = 1,
    address: str | None = None,
    num_cpus_per_actor: float = 1,
) -> CorpusStore:
    """Encode ``texts`` into the store ``out`` with a Ray Data pipeline of ``concurrency``
    encoder actors. ``encoder`` is what :func:`workbench.load_encoder` takes: a name, or a
    dict of its arguments (``{"name_or_path": ..., "pooling": ...}``); every actor loads it
    itself (models are not shipped through the object store). Same folder layout, resume and
    vectors as :func:`workbench.corpus.embed_corpus`."""
    from ..encoders import load_encoder

    ray = _import_ray()
    spec = dict(encoder) if isinstance(encoder, dict) else {"name_or_path": str(encoder)}
    texts = list(texts)
    driver_encoder = load_encoder(**spec)
    plan = make_plan(driver_encoder, texts, dtype, shard_size)
    del driver_encoder
    writer = CorpusWriter.prepare(out, plan, texts, resume=resume)
    todo = [i for i in range(plan.n_shards) if not writer.shard_done(i)]
    started = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        started = True
    t0 = time.perf_counter()
    results: list[dict] = []
    try:
        if todo:
            from dataclasses import asdict

            ds = ray.data.from_items([{"shard": i} for i in todo])
            ds = ds.map_batches(
                _ShardEncoder,
                batch_size=1,
                concurrency=int(concurrency),
                num_cpus=num_cpus_per_actor,
                fn_constructor_kwargs={
                    "spec": spec,
                    "out": str(out),
                    "batch_size": batch_size,
                    "cache": cache,
                    "plan": asdict(plan),
                },
            )
            results = ds.take_all()
    finally:
        if started:
            ray.shutdown()
    by_pid: dict[int, dict] = {}
    for r in results:
        run = by_pid.setdefault(
            int(r["pid"]), {"ray_pid": int(r["pid"]), "shards_encoded": 0, "seconds": 0.0}
        )
        run["shards_encoded"] += 1
        run["seconds"] = round(run["seconds"] + float(r["seconds"]), 3)
        run["peak_rss_mb"] = round(max(run.get("peak_rss_mb", 0.0), float(r["peak_rss_mb"])), 1)
    runs = list(by_pid.values())
    writer.finalize(
        runs=runs,
        extra={
            "engine": "ray",
            "world_size": max(1, len(runs)),
            "wall_seconds": round(time.perf_counter() - t0, 3),
            "shards_resumed": plan.n_shards - len(todo),
        },
    )
    return CorpusStore(out)
