"""``workbench geometry`` and ``workbench truncation`` (registered by :mod:`workbench.cli`).

Both are thin wrappers over :func:`workbench.geometry.measure_encoder` /
:func:`~workbench.geometry.layer_profile` and :func:`~workbench.geometry.truncation_curve` /
:func:`~workbench.geometry.layer_dim_grid`; ``--json`` prints one JSON array on stdout.
Heavy imports happen inside the commands: this module is imported for every CLI call.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import InvalidInputError

FAMILIES = ("sts", "classification", "clustering", "retrieval")
DEFAULT_TEXTS = "mr+subj+trec"


def _ints(value: str | None, what: str) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise InvalidInputError(f"{what} must be comma-separated integers, got {value!r}") from None


def _print(df, as_json: bool, cols: list[str] | None = None) -> None:
    from ..cli import records

    if as_json:
        print(json.dumps(records(df)))
        return
    show = df[[c for c in (cols or list(df.columns)) if c in df.columns]]
    print(show.to_string(index=False, float_format=lambda x: f"{x:.4g}"))


def _family_prompt(args, enc):
    from ..evaluation.tasks import family_encoder

    if not args.family_prompt:
        return enc
    return family_encoder(enc, args.family_prompt)


def cmd_geometry(args) -> int:
    import pandas as pd

    from ..cli import _cache, _load, _transform
    from .corpora import load_texts
    from .suite import layer_profile, measure_encoder

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    load_texts(args.texts, data_dir=args.data_dir, max_n=1)  # bad names fail before loading
    enc = _family_prompt(args, _load(args))
    if args.layers:
        if args.transform:
            raise InvalidInputError("--layers and --transform cannot be combined")
        df = layer_profile(
            enc,
            texts=args.texts,
            layers=args.layers,
            max_n=args.max_n,
            id_methods=methods,
            seed=args.seed,
            data_dir=args.data_dir,
            cache=_cache(args),
        )
    else:
        transform = _transform(args, enc)
        rec = measure_encoder(
            enc,
            texts=args.texts,
            max_n=args.max_n,
            transform=transform,
            id_methods=methods,
            n_boot=args.n_boot,
            seed=args.seed,
            with_alignment=not args.no_alignment,
            data_dir=args.data_dir,
            cache=_cache(args),
        )
        if args.transform:
            rec["transform"] = " -> ".join(args.transform)
            rec["fit_on"] = args.fit_on or "stsb-train"
        df = pd.DataFrame([rec])
    if args.json:
        _print(df, True)
    else:
        print(
            df.T.to_string(header=False, float_format=lambda x: f"{x:.4g}")
            if len(df) == 1
            else df.to_string(index=False, float_format=lambda x: f"{x:.4g}")
        )
    return 0


def cmd_truncation(args) -> int:
    from ..cli import _cache, _load
    from ..evaluation.tasks import load_tasks
    from .redundancy import layer_dim_grid, summarize_curve, truncation_curve

    # bad family/task names and missing data are reported before a model is loaded
    load_tasks(args.family, args.tasks, data_dir=args.data_dir, max_n=args.max_n)
    enc = _load(args)
    prompt = None if args.no_family_prompt else "auto"
    kw: dict[str, Any] = dict(
        tasks=args.tasks,
        dims=_ints(args.dims, "--dims"),
        prompt=prompt,
        data_dir=args.data_dir,
        max_n=args.max_n,
        cache=_cache(args),
    )
    if args.family == "classification":
        kw.update(protocol=args.protocol, n_folds=args.n_folds)
    if args.layers:
        df = layer_dim_grid(
            enc,
            args.family,
            layers=args.layers,
            selection=args.selection,
            seed=(_ints(args.seeds, "--seeds") or [0])[0],
            **kw,
        )
    else:
        df = truncation_curve(
            enc,
            args.family,
            selection=args.selection,
            seeds=_ints(args.seeds, "--seeds"),
            fit_on=args.fit_on,
            fit_max_n=args.fit_max_n,
            **kw,
        )
    if not args.per_seed:
        df = summarize_curve(df)
    cols = [
        "task",
        "layer",
        "dim",
        "fraction",
        "score",
        "retained",
        "retained_over_chance",
        "score_std",
    ]
    _print(df, args.json, cols)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``geometry`` and ``truncation`` to the ``workbench`` command line."""
    from ..cli import _add_encoder_args

    g = subparsers.add_parser(
        "geometry",
        help="isotropy and intrinsic dimension of an encoder's embeddings",
        description="IsoScore, average cosine, partition isotropy I(W), effective rank, "
        "uniformity, alignment (STS-B test pairs scored >= 4) and intrinsic dimension "
        "(TwoNN, MLE, lPCA via scikit-dimension) of the embeddings of a text set.",
    )
    _add_encoder_args(g)
    g.add_argument(
        "--texts",
        default=DEFAULT_TEXTS,
        help="corpus name: stsb-train, stsb-test, sick-train, snli-dev, mr, sts-all, ... "
        "joined with '+' (default mr+subj+trec: unpaired sentences; paired sets such as "
        "stsb-test deflate nearest-neighbour ID estimates)",
    )
    g.add_argument("--max-n", type=int, default=5000, help="random texts kept (default 5000)")
    g.add_argument(
        "--methods",
        default="twonn,mle,lpca",
        help="intrinsic-dimension estimators (any skdim.id class name too)",
    )
    g.add_argument("--n-boot", type=int, default=0, help="subsampling replicates for ID spread")
    g.add_argument("--layers", help="'all' or comma-separated layers: one record per layer")
    g.add_argument(
        "--family-prompt",
        choices=FAMILIES,
        help="decoder LLMs: embed with this task family's prompt",
    )
    g.add_argument(
        "--transform",
        action="append",
        metavar="SPEC",
        help="measure after a transform (whiten:zca, truncate:first:96, ...)",
    )
    g.add_argument("--fit-on", metavar="DATASET", help="reference corpus for --transform")
    g.add_argument("--no-alignment", action="store_true", help="skip alignment (no pairs)")
    g.add_argument("--data-dir", help="SentEval-layout data (default $WORKBENCH_DATA_DIR)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--json", action="store_true", help="one JSON array on stdout")
    g.set_defaults(func=cmd_geometry)

    t = subparsers.add_parser(
        "truncation",
        help="score and retained fraction when keeping k dimensions, per task family",
        description="Keep the first k, k random, or the top-k PCA dimensions for k from the "
        "full size down to 1 (log grid with 25%% and 0.5%%) and score a task family.",
    )
    _add_encoder_args(t)
    t.add_argument("--family", required=True, choices=FAMILIES)
    t.add_argument("--selection", default="first", choices=["first", "random", "pca"])
    t.add_argument("--tasks", help="comma-separated subset of the family's tasks")
    t.add_argument("--dims", help="comma-separated k values (default: the log grid)")
    t.add_argument("--seeds", default="0,1,2", help="seeds for --selection random")
    t.add_argument(
        "--fit-on",
        metavar="DATASET",
        help="reference corpus for --selection pca (default stsb-train; 'target' = "
        "each task's own texts)",
    )
    t.add_argument("--fit-max-n", type=int, default=5000)
    t.add_argument("--max-n", type=int, help="random examples per task (quick runs)")
    t.add_argument("--layers", help="'all' or comma-separated: the layer x dimension grid")
    t.add_argument(
        "--protocol",
        default="fast",
        choices=["fast", "senteval"],
        help="classification probe (see workbench.evaluation.tasks)",
    )
    t.add_argument("--n-folds", type=int, default=10, help="classification CV folds")
    t.add_argument(
        "--no-family-prompt",
        action="store_true",
        help="decoder LLMs: keep the encoder's own prompt instead of the family's",
    )
    t.add_argument("--per-seed", action="store_true", help="one row per seed (random)")
    t.add_argument("--data-dir", help="SentEval-layout data (default $WORKBENCH_DATA_DIR)")
    t.add_argument("--json", action="store_true", help="one JSON array on stdout")
    t.set_defaults(func=cmd_truncation)
