"""``workbench embed``: encode a whole corpus into memory-mapped shards.

One process::

    workbench embed --encoder glove-6b-50d --out runs/glove

Many (each process encodes every N-th shard; process 0 writes the manifest)::

    torchrun --nproc_per_node 2 -m workbench embed --encoder all-MiniLM-L6-v2 --out runs/minilm

Re-running the same command after a kill keeps the finished shards (``--no-resume`` starts
over).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``embed`` sub-command."""
    from ..cli import _add_encoder_args, _positive_int
    from .embed import DEFAULT_SHARD_SIZE
    from .store import STORE_DTYPES

    p = subparsers.add_parser(
        "embed",
        help="encode every sentence of the data (or one dataset) into memory-mapped shards",
        description="Encode a corpus into OUT/shards/*.npy with a manifest, one shard in memory "
        "at a time, with progress; resumable after a kill. Under torchrun the shards are split "
        "across processes.",
    )
    _add_encoder_args(p)
    p.add_argument(
        "--texts",
        default="all",
        help="'all' (every sentence of the shared data, de-duplicated; default) or a corpus "
        "name such as stsb-train, mr+subj (see `workbench geometry --help`)",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--limit", type=_positive_int, help="a reproducible random subset of N texts")
    p.add_argument("--seed", type=int, default=0, help="seed of --limit's subset")
    p.add_argument(
        "--shard-size",
        type=_positive_int,
        default=DEFAULT_SHARD_SIZE,
        help=f"rows per shard (default {DEFAULT_SHARD_SIZE}); the unit of resumption",
    )
    p.add_argument(
        "--store-dtype",
        choices=STORE_DTYPES,
        default="float32",
        help="dtype of the stored vectors (float16 halves the disk; default float32)",
    )
    p.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the finished shards of an interrupted run of the same job (default on)",
    )
    p.add_argument(
        "--cache",
        action="store_true",
        help="also read and fill the content-addressed embedding cache (--cache-dir), so "
        "later wb.encode calls on these texts hit it",
    )
    p.add_argument("--data-dir", help="SentEval-layout data folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=cmd_embed)


def cmd_embed(args: argparse.Namespace) -> int:
    from ..cli import _load
    from ..errors import InvalidInputError
    from .embed import embed_corpus
    from .texts import corpus_texts

    if args.cache and args.no_cache:
        raise InvalidInputError("--cache and --no-cache contradict each other; choose one")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and args.device == "auto":
        import torch

        if torch.cuda.is_available():  # one GPU per process
            args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    texts = corpus_texts(args.texts, data_dir=args.data_dir, limit=args.limit, seed=args.seed)
    enc = _load(args)
    store = embed_corpus(
        enc,
        texts,
        args.out,
        shard_size=args.shard_size,
        dtype=args.store_dtype,
        batch_size=args.batch_size,
        resume=args.resume,
        cache=(args.cache_dir or True) if args.cache else False,
        show_progress=not args.no_progress,
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    mf = store.manifest
    summary = {
        "out": str(store.path),
        "encoder": mf["encoder"],
        "fingerprint": mf["fingerprint"],
        "n": store.n,
        "dim": store.dim,
        "dtype": store.dtype,
        "shards": store.n_shards,
        "world_size": mf.get("world_size", 1),
        "runs": mf["runs"],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        enc_rows = sum(r["rows_encoded"] for r in mf["runs"])
        secs = max(r["seconds"] for r in mf["runs"])
        rss = max(r["peak_rss_mb"] for r in mf["runs"])
        print(
            f"{store.n} x {store.dim} {store.dtype} in {store.n_shards} shards -> {store.path} "
            f"({enc_rows} encoded now, {secs:.1f} s, {summary['world_size']} process(es), "
            f"peak RSS {rss:.0f} MiB per process)",
            file=sys.stdout,
        )
    return 0
