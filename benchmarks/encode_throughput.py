"""Encoding throughput: the workbench against sentence-transformers, same model, same run.

Both encode the same texts (every sentence of the STS-B test set, duplicates included, as an
evaluation would) with the same model, device, batch size and float32 weights. Runs alternate
(A B A B ...) so that load from other processes hits both alike; the median is reported.

Also measured: a cached rerun, both in the same process and as a restarted kernel would see
it (a fresh cache object reading the files from disk).

    python benchmarks/encode_throughput.py [--repeats 3] [--batch-size 64] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import numpy as np
import torch

import workbench as wb
from workbench import embed
from workbench.datasets import load_sts
from workbench.encoders.registry import _minilm_path


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from sentence_transformers import SentenceTransformer

    df = load_sts("STSBenchmark", split="test")
    texts = list(df["sentence1"]) + list(df["sentence2"])
    n_unique = len(set(texts))
    path = _minilm_path()
    ours = wb.load_encoder("all-MiniLM-L6-v2", device=args.device)
    theirs = SentenceTransformer(str(path), device=args.device)
    bs = args.batch_size

    def run_ours(t=texts):
        return ours.encode(t, batch_size=bs, cache=False, show_progress=False)

    def run_theirs(t=texts):
        return theirs.encode(t, batch_size=bs, show_progress_bar=False)

    run_ours(texts[:128])  # warm-up: allocator, thread pools
    run_theirs(texts[:128])
    uniq = list(dict.fromkeys(texts))
    t_ours, t_theirs, t_ours_u, t_theirs_u = [], [], [], []
    for _ in range(args.repeats):
        t_ours.append(_time(run_ours))
        t_theirs.append(_time(run_theirs))
        t_ours_u.append(_time(lambda: run_ours(uniq)))
        t_theirs_u.append(_time(lambda: run_theirs(uniq)))
    diff = np.abs(run_ours() - run_theirs()).max()

    with tempfile.TemporaryDirectory() as cache:
        cold = _time(lambda: ours.encode(texts, batch_size=bs, cache=cache, show_progress=False))
        warm = min(_time(lambda: ours.encode(texts, batch_size=bs, cache=cache)) for _ in range(3))
        embed._CACHES.clear()  # as after a kernel restart: read the shards from disk
        restart = _time(lambda: ours.encode(texts, batch_size=bs, cache=cache))

    med = statistics.median
    res = {
        "model": "all-MiniLM-L6-v2",
        "device": args.device,
        "threads": torch.get_num_threads(),
        "batch_size": bs,
        "texts": len(texts),
        "unique_texts": n_unique,
        "workbench_sent_per_s": len(texts) / med(t_ours),
        "sentence_transformers_sent_per_s": len(texts) / med(t_theirs),
        "ratio": med(t_theirs) / med(t_ours),
        "unique_only_workbench_sent_per_s": len(uniq) / med(t_ours_u),
        "unique_only_sentence_transformers_sent_per_s": len(uniq) / med(t_theirs_u),
        "unique_only_ratio": med(t_theirs_u) / med(t_ours_u),
        "max_abs_difference": float(diff),
        "cold_cache_s": cold,
        "warm_cache_s": warm,
        "warm_speedup": cold / warm,
        "restart_cache_s": restart,
        "restart_speedup": cold / restart,
    }
    if args.json:
        print(json.dumps(res))
        return
    print(
        f"all-MiniLM-L6-v2 on {args.device} ({res['threads']} threads), batch {bs}, "
        f"{len(texts)} STS-B test sentences ({n_unique} distinct), median of {args.repeats}"
    )
    print(f"  workbench             {res['workbench_sent_per_s']:8.1f} sentences/s")
    print(f"  sentence-transformers {res['sentence_transformers_sent_per_s']:8.1f} sentences/s")
    print(f"  ratio (workbench / sentence-transformers): {res['ratio']:.2f}x")
    print(
        f"  distinct sentences only (no de-duplication benefit): "
        f"{res['unique_only_workbench_sent_per_s']:.1f} vs "
        f"{res['unique_only_sentence_transformers_sent_per_s']:.1f} sentences/s, "
        f"ratio {res['unique_only_ratio']:.2f}x"
    )
    print(f"  max |difference| between the two embeddings: {diff:.2e}")
    print(
        f"  cache: cold {cold:.2f} s, warm rerun {warm * 1000:.1f} ms "
        f"({res['warm_speedup']:.0f}x), after a restart {restart * 1000:.1f} ms "
        f"({res['restart_speedup']:.0f}x)"
    )


if __name__ == "__main__":
    main()
