"""``workbench compare-spaces`` (registered by :mod:`workbench.cli`).

A thin wrapper over :func:`workbench.comparison.compare_spaces` and
:func:`~workbench.comparison.spaces.layer_cka`; ``--json`` prints one JSON document on stdout.
Heavy imports happen inside the commands: this module is imported for every CLI call.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import InvalidInputError


def _encoder(name: str, layer: int | None, pooling: str | None, args) -> Any:
    from ..encoders import load_encoder

    kwargs: dict[str, Any] = {}
    if args.device != "auto":
        kwargs["device"] = args.device
    return load_encoder(name, pooling=pooling, layer=layer, **kwargs)


def _cache(args):
    return False if args.no_cache else (args.cache_dir or True)


def _layers(value: str | None) -> Any:
    if value is None or value.strip().lower() == "all":
        return value
    try:
        return [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise InvalidInputError(
            f"layers must be 'all' or comma-separated integers, got {value!r}"
        ) from None


def cmd_compare_spaces(args) -> int:
    from ..cli import records
    from ..geometry.corpora import load_texts
    from .spaces import compare_spaces, layer_cka

    # bad corpus names, too few texts and k >= n fail before a model is loaded
    texts = load_texts(args.texts, data_dir=args.data_dir, max_n=args.max_texts, seed=args.seed)
    if args.k < 1:
        raise InvalidInputError(f"--k must be at least 1, got {args.k}")
    if args.layers_a or args.layers_b:
        if args.transform_a or args.transform_b:
            raise InvalidInputError("--layers-a/--layers-b and --transform-a/-b cannot be combined")
        enc_a = _encoder(args.a, None, args.pooling_a, args)
        enc_b = _encoder(args.b, None, args.pooling_b, args) if args.b else None
        df = layer_cka(
            enc_a,
            enc_b,
            texts=args.texts,
            layers_a=_layers(args.layers_a) or "all",
            layers_b=_layers(args.layers_b),
            debiased=args.debiased,
            max_texts=args.max_texts,
            seed=args.seed,
            data_dir=args.data_dir,
            cache=_cache(args),
        )
        if args.json:
            print(json.dumps(records(df)))
        else:
            grid = df.pivot(index="layer_a", columns="layer_b", values="cka")
            kind = "debiased " if args.debiased else ""
            print(
                f"linear {kind}CKA, rows: {df['encoder_a'].iloc[0]} layers, columns: "
                f"{df['encoder_b'].iloc[0]} layers; {df['n'].iloc[0]} texts of {args.texts}"
            )
            print(grid.to_string(float_format=lambda x: f"{x:.3f}"))
        return 0
    if not args.b:
        raise InvalidInputError("--b is required (or give --layers-a for a layer x layer CKA)")
    if len(texts) < 4:
        raise InvalidInputError(f"need at least 4 texts to compare spaces, got {len(texts)}")
    if args.k >= len(texts):
        raise InvalidInputError(
            f"--k {args.k} needs more than {args.k} texts (each text's neighbours are the "
            f"others); {args.texts} gives {len(texts)}: choose --k <= {len(texts) - 1}"
        )
    enc_a = _encoder(args.a, args.layer_a, args.pooling_a, args)
    enc_b = _encoder(args.b, args.layer_b, args.pooling_b, args)
    rec = compare_spaces(
        enc_a,
        enc_b,
        k=args.k,
        texts=texts,
        transform_a=args.transform_a,
        transform_b=args.transform_b,
        n_anchors=args.n_anchors,
        seed=args.seed,
        fit_on=args.fit_on,
        data_dir=args.data_dir,
        cache=_cache(args),
    )
    rec["texts"] = args.texts
    if args.json:
        print(json.dumps(records(_frame([rec]))[0]))
        return 0
    for key, value in rec.items():
        print(f"{key:>13}  {value:.4f}" if isinstance(value, float) else f"{key:>13}  {value}")
    return 0


def _frame(rows):
    import pandas as pd

    return pd.DataFrame(rows)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``compare-spaces`` to the ``workbench`` command line."""
    p = subparsers.add_parser(
        "compare-spaces",
        help="how similar two embeddings of the same texts are (CKA, k-NN, Procrustes, ...)",
        description="Linear CKA (biased and debiased), k-NN overlap at k (cosine), the "
        "orthogonal Procrustes residual and relative-representation similarity between two "
        "encoders (layers, transforms) on the same texts; with --layers-a, the layer x layer "
        "CKA matrix.",
    )
    p.add_argument("--a", required=True, help="first encoder: registered name, folder or hub id")
    p.add_argument("--b", help="second encoder (with --layers-a: default the first)")
    p.add_argument("--layer-a", type=int, help="hidden layer of --a (0 = embeddings)")
    p.add_argument("--layer-b", type=int, help="hidden layer of --b")
    p.add_argument("--pooling-a", help="pooling of --a (default: the encoder's)")
    p.add_argument("--pooling-b", help="pooling of --b")
    p.add_argument(
        "--transform-a",
        action="append",
        metavar="SPEC",
        help="transform of --a's embeddings, repeatable (whiten:zca, truncate:first:96, ...)",
    )
    p.add_argument("--transform-b", action="append", metavar="SPEC", help="transform of --b's")
    p.add_argument("--fit-on", metavar="DATASET", help="reference corpus for the transforms")
    p.add_argument(
        "--layers-a",
        help="'all' or comma-separated layers of --a: print the layer x layer CKA matrix "
        "(against --layers-b of --b, default the same layers of --a)",
    )
    p.add_argument("--layers-b", help="'all' or comma-separated layers of --b")
    p.add_argument("--debiased", action="store_true", help="layer matrix: debiased CKA")
    p.add_argument(
        "--texts",
        default="stsb-test",
        help="texts embedded by both: a corpus name (stsb-test, sts-all, sick-test, mr, ...; "
        "join with '+'); default stsb-test",
    )
    p.add_argument("--max-texts", type=int, help="random texts kept (default: all)")
    p.add_argument("--k", type=int, default=10, help="neighbours for the k-NN overlap")
    p.add_argument(
        "--n-anchors", type=int, help="anchors for relative representations (default 300)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", help="SentEval-layout data (default $WORKBENCH_DATA_DIR)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    p.add_argument("--cache-dir", help="embedding cache folder (default $WORKBENCH_CACHE_DIR)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=cmd_compare_spaces)
