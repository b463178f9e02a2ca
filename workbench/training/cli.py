"""``workbench train``: the command-line face of :func:`workbench.training.train`.

One process::

    workbench train --recipe cosent --base all-MiniLM-L6-v2 --data stsb-train --out runs/c

Many (the global batch is split between them; gloo on the CPU, nccl on CUDA)::

    torchrun --nproc_per_node 2 $(which workbench) train --recipe simcse-sup ...
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        msg = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (numbers, true/false, lists)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip().replace("-", "_"), parsed


def _recipe_table() -> str:
    from .recipes import METHODS, RECIPES

    lines = ["recipes:"]
    for name, r in RECIPES.items():
        lines.append(f"  {name:<14} {r.description}")
    lines.append(
        "\nThe seed papers' methods (" + ", ".join(METHODS) + ") take their own options "
        "with --opt KEY=VALUE; `workbench train --recipe NAME --options` lists them."
    )
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    """Add the ``train`` sub-command."""
    from ..cli import _positive_int
    from .data import DATASETS
    from .recipes import RECIPES

    p = subparsers.add_parser(
        "train",
        help="fine-tune an encoder (SimCSE, CoSENT, AnglE, Pcc, Matryoshka, 2D Matryoshka)",
        description="Train an encoder and write a sentence-transformers folder that "
        "workbench.load_encoder reads. Re-running the same command after a crash resumes "
        "from the last checkpoint.",
        epilog=_recipe_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--recipe", required=True, help="one of: " + ", ".join(RECIPES))
    p.add_argument("--base", default="all-MiniLM-L6-v2", help="encoder to start from")
    p.add_argument("--data", help="dataset (" + ", ".join(DATASETS) + ") or a .txt/.tsv file")
    p.add_argument("--out", help="output folder (required unless --options)")
    p.add_argument(
        "--opt",
        action="append",
        type=_option,
        metavar="KEY=VALUE",
        help="an option of a method recipe, repeatable (see --options)",
    )
    p.add_argument(
        "--options", action="store_true", help="list the recipe's options and defaults, then exit"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--steps", type=_positive_int, help="optimiser steps (wins over epochs)")
    g.add_argument("--epochs", type=float, help="passes over the data (recipe default)")
    p.add_argument("--batch-size", type=int, help="global batch (split across processes)")
    p.add_argument("--lr", type=float, help="peak learning rate (linear warmup and decay)")
    p.add_argument("--max-len", type=int, help="truncate training texts to this many tokens")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--pooling", help="cls, mean, max, mean-sqrt-len, last-token (default: base's)")
    p.add_argument("--prompt", help="prompt template or name (recorded; apply it when loading)")
    p.add_argument("--inner", help="loss inside matryoshka/matryoshka2d (default cosent)")
    p.add_argument("--dims", type=_int_list, help="Matryoshka dims, e.g. 384,192,96,48")
    p.add_argument(
        "--layers-per-step",
        type=int,
        default=1,
        help="matryoshka2d: earlier layers sampled per step (-1 = all; default 1)",
    )
    p.add_argument(
        "--dims-per-step",
        type=int,
        default=1,
        help="matryoshka2d: dims sampled per layer and step (-1 = all; default 1)",
    )
    p.add_argument(
        "--kl-temperature",
        type=float,
        default=0.3,
        help="matryoshka2d: KL temperature (0 = no KL term; default 0.3)",
    )
    p.add_argument("--kl-weight", type=float, default=1.0, help="matryoshka2d: KL weight")
    p.add_argument(
        "--layer-weighting",
        choices=["uniform", "log", "linear"],
        default="uniform",
        help="matryoshka2d: weight of earlier layer l (uniform 1, log 1/(1+ln(1+l)), "
        "linear 1/(1+l))",
    )
    p.add_argument("--temperature", type=float, default=0.05, help="SimCSE temperature")
    p.add_argument(
        "--scale", type=float, default=20.0, help="CoSENT scale (AnglE uses its preset's)"
    )
    p.add_argument("--dropout", type=float, help="override every dropout probability")
    p.add_argument(
        "--train-last-layers",
        type=int,
        help="freeze the embeddings and lower blocks; train only the last N (cheaper)",
    )
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--data-limit", type=_positive_int, help="first N training rows only")
    p.add_argument("--eval-data", default="stsb-dev", help="graded dev pairs ('none' = off)")
    p.add_argument(
        "--eval-every", type=_positive_int, help="steps between dev evaluations/checkpoints"
    )
    p.add_argument("--eval-max-pairs", type=_positive_int, help="first N dev pairs only")
    p.add_argument(
        "--bucket",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="length-bucketed batches (default: on for CUDA)",
    )
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 autocast (default: on for CUDA with bf16)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    p.add_argument("--no-resume", action="store_true", help="refuse to resume a checkpoint")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from ..errors import InvalidInputError
    from .loop import train
    from .recipes import recipe_defaults, recipe_options, resolve_recipe

    if args.options:
        recipe, inner = resolve_recipe(args.recipe, args.inner)
        print(
            json.dumps(
                {
                    "recipe": recipe,
                    "defaults": recipe_defaults(recipe, inner),
                    "options": recipe_options(recipe),
                },
                indent=1,
            )
        )
        return 0
    if args.out is None or not str(args.out).strip():
        raise InvalidInputError("--out is empty; give the folder to write the trained model to")
    res = train(
        args.recipe,
        base=args.base,
        data=args.data,
        out=args.out,
        resume=not args.no_resume,
        overwrite=args.overwrite,
        steps=args.steps,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        max_len=args.max_len,
        seed=args.seed,
        device=args.device,
        pooling=args.pooling,
        prompt=args.prompt,
        inner=args.inner,
        dims=args.dims,
        n_layers_per_step=args.layers_per_step,
        n_dims_per_step=args.dims_per_step,
        kl_temperature=args.kl_temperature,
        kl_weight=args.kl_weight,
        layer_weighting=args.layer_weighting,
        temperature=args.temperature,
        scale=args.scale,
        dropout=args.dropout,
        train_last_layers=args.train_last_layers,
        warmup_ratio=args.warmup_ratio,
        data_limit=args.data_limit,
        eval_data=None if str(args.eval_data).lower() == "none" else args.eval_data,
        eval_every=args.eval_every,
        eval_max_pairs=args.eval_max_pairs,
        bucket=args.bucket,
        bf16=args.bf16,
        show_progress=not args.json,
        options=dict(args.opt) if args.opt else None,
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    info = res.info
    summary = {
        "out": str(res.out),
        "recipe": info["recipe"] + (f":{info['inner']}" if info["inner"] else ""),
        "base": info["base"],
        "data": info["data"],
        "steps": info["steps"],
        "world_size": info["world_size"],
        "device": info["device"],
        "best_step": res.best_step,
        "best_dev_score": res.best_score,
        "dev_metric": info["dev_metric"],
        "steps_per_second": info["steps_per_second"],
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    print(
        f"trained {summary['recipe']} from {info['base']} on {info['data']['name']} "
        f"({info['steps']} steps, {info['world_size']} process(es), {info['device']})"
    )
    if res.best_score is not None:
        first = res.eval_curve["score"].iloc[0]
        print(
            f"dev: {first:.2f} before -> {res.best_score:.2f} best (step {res.best_step}); "
            f"{info['dev_metric']}"
        )
    print(f"{info['steps_per_second']} steps/s; written to {res.out}")
    if info.get("kind") == "cross-encoder":  # scores pairs: no embeddings for `workbench sts`
        print(f"evaluate: workbench.training.methods.dse.cross_encoder_sts({str(res.out)!r})")
    else:
        print(f"evaluate: workbench sts --encoder {res.out} --tasks STSBenchmark")
    return 0
