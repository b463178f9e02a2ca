"""Training throughput: the workbench loop against sentence-transformers' trainer.

Same model, loss (CoSENT, scale 20), data (the first rows of STS-B train), global batch,
max length, learning-rate schedule and device; each trains for ``--steps`` optimiser steps
in this one process, and the script prints steps/s of each and their ratio. Runs on the GPU
when there is one (bf16 autocast for both), else on the CPU (float32).

    python benchmarks/train_throughput.py --steps 30 --batch-size 32
    python benchmarks/train_throughput.py --device cpu --threads 1 --json

Timed: the training call only (model loading excluded for both). sentence-transformers
tokenises inside its training loop; the workbench tokenises once before it (reported
separately as ``workbench_prepare_s``). Needs ``sentence-transformers`` and ``datasets``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def run_workbench(args, device: str) -> dict:
    from workbench.training import TrainConfig, Trainer

    t0 = time.perf_counter()
    trainer = Trainer(
        TrainConfig(
            recipe="cosent",
            base=args.model,
            data="stsb-train",
            data_limit=args.steps * args.batch_size,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            max_len=args.max_len,
            warmup_ratio=0.1,
            eval_data=None,
            device=device,
            bucket=args.bucket,
            seed=args.seed,
            show_progress=False,
        )
    )
    prepare = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = trainer.run()
    wall = time.perf_counter() - t0
    return {
        "steps": len(res.train_curve),
        "seconds": wall,
        "steps_per_s": len(res.train_curve) / wall,
        "prepare_s": prepare,
        "first_loss": float(res.train_curve["loss"].iloc[0]),
        "last_loss": float(res.train_curve["loss"].iloc[-1]),
    }


def run_sentence_transformers(args, device: str) -> dict:
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import CoSENTLoss

    from workbench.encoders.registry import _minilm_path
    from workbench.training import load_training_data

    data = load_training_data("stsb-train", limit=args.steps * args.batch_size)
    ds = Dataset.from_dict(
        {
            "sentence1": data.columns[0],
            "sentence2": data.columns[1],
            "score": [float(x) for x in data.labels],
        }
    )
    path = args.model
    if args.model in ("all-MiniLM-L6-v2", "minilm"):
        path = str(_minilm_path())
    model = SentenceTransformer(path, device=device)
    model.max_seq_length = args.max_len
    bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    with tempfile.TemporaryDirectory() as tmp:
        targs = SentenceTransformerTrainingArguments(
            output_dir=tmp,
            max_steps=args.steps,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.lr,
            warmup_ratio=0.1,
            lr_scheduler_type="linear",
            weight_decay=0.01,
            bf16=bf16,
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            logging_steps=max(1, args.steps),
            dataloader_drop_last=True,
            seed=args.seed,
            disable_tqdm=True,
            use_cpu=device == "cpu",
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=targs, train_dataset=ds, loss=CoSENTLoss(model, scale=20.0)
        )
        t0 = time.perf_counter()
        out = trainer.train()
        wall = time.perf_counter() - t0
    return {
        "steps": int(out.global_step),
        "seconds": wall,
        "steps_per_s": out.global_step / wall,
        "train_loss": float(out.training_loss),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--order", default="wb,st", help="which runs first: wb,st or st,wb")
    p.add_argument(
        "--bucket",
        action="store_true",
        help="workbench cuts batches from length-sorted runs of 50 (less padding; its GPU "
        "default). Off: both train on the same shuffled batches",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    runs = {"wb": run_workbench, "st": run_sentence_transformers}
    results = {}
    for name in args.order.split(","):
        results[name] = runs[name.strip()](args, device)
    ratio = results["wb"]["steps_per_s"] / results["st"]["steps_per_s"]
    summary = {
        "device": device if device == "cpu" else torch.cuda.get_device_name(),
        "threads": torch.get_num_threads(),
        "model": args.model,
        "loss": "CoSENT (scale 20)",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "max_len": args.max_len,
        "workbench_bucketed": args.bucket,
        "workbench_steps_per_s": round(results["wb"]["steps_per_s"], 3),
        "sentence_transformers_steps_per_s": round(results["st"]["steps_per_s"], 3),
        "ratio_workbench_over_st": round(ratio, 3),
        "workbench_prepare_s": round(results["wb"]["prepare_s"], 2),
        "details": results,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['device']} ({summary['threads']} threads), {args.model}, CoSENT, "
            f"batch {args.batch_size}, max_len {args.max_len}, {args.steps} steps"
            + (", workbench with length-bucketed batches" if args.bucket else "")
        )
        print(f"  workbench:             {summary['workbench_steps_per_s']:.3f} steps/s")
        print(
            f"  sentence-transformers: {summary['sentence_transformers_steps_per_s']:.3f} steps/s"
        )
        print(f"  ratio (workbench / sentence-transformers): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
