"""The training loop: one process or many, CPU or GPU, resumable, keeps the best checkpoint.

>>> from workbench.training import train
>>> res = train("cosent", base="all-MiniLM-L6-v2", data="stsb-train", out="runs/cosent",
...             epochs=1)                                             # doctest: +SKIP
>>> res.best_score, res.out                                           # doctest: +SKIP

What a step does, on each of ``world_size`` processes:

1. take this process's equal slice of the global batch (``batch_size`` rows in all; the
   order is a pure function of seed, epoch and step);
2. encode every text of the slice in one padded forward pass (bf16 autocast on CUDA);
3. gather the pooled embeddings of every slice (differentiable) and compute the loss of the
   whole global batch, so in-batch negatives come from every process;
4. backward, average gradients over processes, clip, AdamW step, linear warmup/decay.

Every ``eval_every`` steps the model is scored on STS-B dev (Spearman x 100 of cosine; for
Matryoshka recipes the mean over the trained dimensions) and a checkpoint is written; the
best-scoring checkpoint is what ends up in the output folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import InvalidInputError, WorkbenchError
from . import checkpoint as ckpt
from . import distributed as D
from .data import TrainingData, batch_order, load_training_data
from .export import TRAINING_FILE, clear_run, export_encoder, is_run_folder
from .recipes import (
    accepted_kinds,
    build_loss,
    recipe_defaults,
    recipe_options,
    resolve_recipe,
    trainer_class,
)

log = logging.getLogger(__name__)

TRAINABLE_POOLINGS = ("cls", "mean", "max", "mean-sqrt-len", "last-token")
#: config fields that may change between a run and its resumption
_RESUMABLE_DIFFERENCES = {"out", "device", "keep_last", "log_every", "show_progress", "resume"}


@dataclass
class TrainConfig:
    """Everything that determines a training run (recorded in the output folder).

    ``None`` means the recipe's default (see :mod:`workbench.training.recipes`).
    ``batch_size`` is the global batch: with N processes each encodes ``batch_size / N``
    rows, and the result does not depend on N. ``steps`` wins over ``epochs``.
    """

    recipe: str
    base: str = "all-MiniLM-L6-v2"
    data: str | None = None
    out: str | None = None
    steps: int | None = None
    epochs: float | None = None
    batch_size: int | None = None
    lr: float | None = None
    max_len: int | None = None
    seed: int = 42
    device: str = "auto"
    pooling: str | None = None
    prompt: str | None = None
    inner: str | None = None
    dims: list[int] | None = None
    n_layers_per_step: int = 1
    n_dims_per_step: int = 1
    kl_weight: float = 1.0
    kl_temperature: float = 0.3
    layer_weighting: str = "uniform"
    temperature: float = 0.05
    scale: float = 20.0
    dropout: float | None = None
    train_last_layers: int | None = None
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    data_limit: int | None = None
    eval_data: str | None = "stsb-dev"
    eval_every: int | None = None
    eval_max_pairs: int | None = None
    eval_batch_size: int = 128
    keep_last: int = 1
    bucket: bool | None = None
    bf16: bool | None = None
    log_every: int = 10
    show_progress: bool = True
    #: a method recipe's own options (``--opt KEY=VALUE``), filled with its defaults
    options: dict[str, Any] | None = None

    def resolved(self) -> TrainConfig:
        """A copy with the recipe's defaults filled in and the recipe name canonical."""
        recipe, inner = resolve_recipe(self.recipe, self.inner)
        d = asdict(self)
        d.update(recipe=recipe, inner=inner)
        for k, v in recipe_defaults(recipe, inner).items():
            if d.get(k) is None and not (k == "epochs" and d.get("steps")):
                d[k] = v
        known = recipe_options(recipe)
        given = dict(self.options or {})
        unknown = sorted(set(given) - set(known))
        if unknown:
            takes = ", ".join(f"{k} (default {v!r})" for k, v in known.items()) or "no options"
            raise InvalidInputError(
                f"recipe {recipe} does not take option(s) {', '.join(unknown)}; it takes {takes}"
            )
        d["options"] = {**known, **given} if known else None
        out = TrainConfig(**d)
        out.validate()
        return out

    def validate(self) -> None:
        checks = [
            (self.batch_size is None or self.batch_size >= 2, "batch_size must be >= 2"),
            (self.lr is None or self.lr > 0, "lr must be > 0"),
            (self.max_len is None or self.max_len >= 2, "max_len must be >= 2"),
            (self.steps is None or self.steps >= 1, "steps must be >= 1"),
            (self.epochs is None or self.epochs > 0, "epochs must be > 0"),
            (self.dropout is None or 0 <= self.dropout < 1, "dropout must lie in [0, 1)"),
            (
                self.train_last_layers is None or self.train_last_layers >= 1,
                "train_last_layers must be >= 1",
            ),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must lie in [0, 1)"),
            (self.eval_every is None or self.eval_every >= 1, "eval_every must be >= 1"),
        ]
        for ok, msg in checks:
            if not ok:
                raise InvalidInputError(msg)

    def fingerprint(self) -> str:
        d = {k: v for k, v in asdict(self).items() if k not in _RESUMABLE_DIFFERENCES}
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class TrainResult:
    """What :func:`train` returns: the folder, the best dev score and step, the curves."""

    out: Path
    best_step: int | None
    best_score: float | None
    train_curve: pd.DataFrame
    eval_curve: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def encoder(self, **kwargs: Any):
        """Load the trained encoder (pooling from the folder)."""
        from ..encoders import load_encoder

        return load_encoder(self.out, **kwargs)


class StopTraining(Exception):
    """Raise from a callback to stop a run after its last checkpoint (tests, budgets)."""


# ------------------------------------------------------------------------------- helpers


def set_dropout(model: torch.nn.Module, p: float) -> int:
    """Set every dropout probability in ``model`` (nn.Dropout modules and the attention
    dropout attributes transformers keeps on attention modules). Returns how many were set.
    The saved config keeps its own values."""
    n = 0
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = p
            n += 1
        for attr in ("attention_dropout", "dropout_prob"):
            if isinstance(getattr(m, attr, None), float):
                setattr(m, attr, p)
                n += 1
    return n


def max_dropout(model: torch.nn.Module) -> float:
    ps = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    for m in model.modules():
        for attr in ("attention_dropout", "dropout_prob"):
            v = getattr(m, attr, None)
            if isinstance(v, float):
                ps.append(v)
    return max(ps, default=0.0)


def _layer_list(model: torch.nn.Module) -> torch.nn.ModuleList | None:
    """The stack of transformer blocks (BERT ``encoder.layer``, Llama ``layers``, ...)."""
    for path in ("encoder.layer", "layers", "h", "decoder.layers", "transformer.layer"):
        mod: Any = model
        for part in path.split("."):
            mod = getattr(mod, part, None)
        if isinstance(mod, torch.nn.ModuleList) and len(mod):
            return mod
    return None


def freeze_lower_layers(model: torch.nn.Module, keep: int) -> int:
    """Train only the last ``keep`` transformer blocks and what comes after them (final norm,
    pooler): the embeddings and the lower blocks are frozen, so no backward pass runs
    through them (a cheaper fine-tune for big models on small hardware). Dropout in the
    frozen blocks still acts. Returns the number of trainable parameters."""
    layers = _layer_list(model)
    if layers is None:
        raise WorkbenchError(
            f"cannot find the transformer blocks of {type(model).__name__} to freeze"
        )
    if keep > len(layers):
        raise InvalidInputError(f"train_last_layers={keep} but the model has {len(layers)} blocks")
    frozen = {id(p) for block in list(layers)[: len(layers) - keep] for p in block.parameters()}
    for name, module in model.named_children():
        if "embed" in name or name in ("wte", "wpe"):
            frozen |= {id(p) for p in module.parameters()}
    n = 0
    for p in model.parameters():
        p.requires_grad_(id(p) not in frozen)
        n += p.numel() if p.requires_grad else 0
    return n


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        lname = name.lower()
        (no_decay if p.ndim < 2 or "norm" in lname or "bias" in lname else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _linear_schedule(warmup: int, total: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


def _oom_message(what: str, rows: int, width: int, device: str) -> str:
    return (
        f"out of memory {what} ({rows} texts of up to {width} tokens per process on {device}); "
        "pass a smaller --batch-size or --max-len (or run on more processes: the batch is "
        "split between them)"
    )


# -------------------------------------------------------------------------------- trainer


class Trainer:
    """Holds the model, data, loss and optimiser of one run (see :func:`train`)."""

    def __init__(
        self,
        config: TrainConfig,
        data: TrainingData | None = None,
        eval_pairs: pd.DataFrame | None = None,
    ) -> None:
        from ..encoders import load_encoder

        self.config = cfg = config.resolved()
        self.dist = D.init_distributed(cfg.device)
        if cfg.batch_size % self.dist.world_size:
            raise InvalidInputError(
                f"batch_size {cfg.batch_size} (the global batch) must be divisible by the "
                f"{self.dist.world_size} processes"
            )
        # Seeds first: nothing below may draw random numbers before them.
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed + self.dist.rank)

        # Data before the model: a bad name or a missing file fails in a second.
        self.data = self.load_data(data)
        kinds = accepted_kinds(cfg.recipe, cfg.inner)
        if self.data.kind not in kinds:
            raise InvalidInputError(
                f"recipe {cfg.recipe}{':' + cfg.inner if cfg.inner else ''} needs "
                f"{' or '.join(kinds)} data; {self.data.name!r} is {self.data.kind} "
                "(see workbench.training.data for which dataset is which)"
            )
        if (cfg.inner or cfg.recipe) == "simcse-unsup":
            self.data = self.data.as_sentences()
        self.steps_per_epoch = len(self.data) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise InvalidInputError(
                f"{len(self.data)} training rows cannot fill one batch of {cfg.batch_size}; "
                "lower --batch-size"
            )
        self.eval_pairs = eval_pairs
        if self.eval_pairs is None and cfg.eval_data:
            self.eval_pairs = _load_eval_pairs(cfg.eval_data, cfg.eval_max_pairs)

        device = cfg.device
        if self.dist.enabled and torch.cuda.is_available() and device in ("auto", "cuda"):
            device = f"cuda:{self.dist.local_rank}"
        self.encoder = load_encoder(
            cfg.base,
            pooling=cfg.pooling,
            prompt=cfg.prompt,
            device=device,
            dtype="float32",  # fp32 master weights; the GPU path autocasts to bf16
        )
        enc = self.encoder
        if not hasattr(enc, "model"):
            raise WorkbenchError(f"{cfg.base} is not a transformer encoder; it cannot be trained")
        if enc.layer is not None:
            raise WorkbenchError("training pools the last layer; load the base without layer=")
        if enc.pooling not in TRAINABLE_POOLINGS:
            raise WorkbenchError(
                f"pooling {enc.pooling!r} cannot be saved as a sentence-transformers folder; "
                f"pass --pooling with one of {', '.join(TRAINABLE_POOLINGS)}"
            )
        self.device = torch.device(enc.device)
        self.is_cuda = self.device.type == "cuda"
        self.bf16 = (
            cfg.bf16 if cfg.bf16 is not None else self.is_cuda and torch.cuda.is_bf16_supported()
        )
        if self.bf16 and not self.is_cuda:
            raise InvalidInputError("bf16 autocast is the GPU path; on the CPU train in float32")
        self.model = enc.model
        if cfg.dropout is not None:
            set_dropout(self.model, cfg.dropout)
        elif (cfg.inner or cfg.recipe) == "simcse-unsup" and max_dropout(self.model) == 0:
            # SimCSE's positives exist only through dropout; decoder LLMs often ship none.
            log.warning("%s has no dropout; using 0.1 for unsupervised SimCSE", cfg.base)
            set_dropout(self.model, 0.1)
        self.dropout_used = max_dropout(self.model)
        if cfg.train_last_layers is not None:
            freeze_lower_layers(self.model, cfg.train_last_layers)
        self.trainable_parameters = sum(
            p.numel() for p in self.model.parameters() if p.requires_grad
        )
        self.setup()
        self.loss = self.make_loss()
        self.eval_dims = getattr(self.loss, "dims", None) or [enc.dim]

        # Tokenise every distinct text once, at the training length.
        texts = self.data.texts()
        index = {t: i for i, t in enumerate(texts)}
        self.token_ids: list[list[int]] = self.tokenize(texts)
        cols = self.data.columns
        if self.data.kind == "sentences":
            cols = [cols[0], cols[0]]  # two dropout views of each sentence
        self.rows = np.array([[index[t] for t in row] for row in zip(*cols)], dtype=np.int64)
        # texts that tokenise alike share an id (AnglE finds duplicates by token ids)
        keys: dict[tuple[int, ...], int] = {}
        self.token_keys = np.array([keys.setdefault(tuple(t), len(keys)) for t in self.token_ids])
        self.labels = self.data.labels
        self.lengths = np.array([max(len(self.token_ids[i]) for i in r) for r in self.rows])

        self.total_steps = int(cfg.steps or math.ceil((cfg.epochs or 1) * self.steps_per_epoch))
        self.eval_every = cfg.eval_every or max(1, math.ceil(self.total_steps / 4))
        self.bucket = cfg.bucket if cfg.bucket is not None else self.is_cuda
        self._orders: dict[int, np.ndarray] = {}

        fused = self.is_cuda
        self.optimizer = torch.optim.AdamW(
            _param_groups(self.trainable_module(), cfg.weight_decay), lr=cfg.lr, fused=fused or None
        )
        warmup = math.ceil(cfg.warmup_ratio * self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _linear_schedule(warmup, self.total_steps)
        )
        self.step = 0
        self.train_curve: list[dict[str, Any]] = []
        self.eval_curve: list[dict[str, Any]] = []
        self.best_step: int | None = None
        self.best_score: float | None = None
        self.train_seconds = 0.0

    # -- hooks a method recipe overrides (see workbench.training.methods) -----------------
    #: data kinds, default hyper-parameters and ``--opt`` options of a method recipe
    ACCEPTS: tuple[str, ...] = ()
    DEFAULTS: dict[str, Any] = {}
    OPTIONS: dict[str, Any] = {}

    @property
    def options(self) -> dict[str, Any]:
        """This run's method options (the recipe's ``OPTIONS`` overridden by the user's)."""
        return dict(self.config.options or {})

    def load_data(self, data: TrainingData | None) -> TrainingData:
        """The training data (a dataset name, a file, a frame); runs before the model loads."""
        cfg = self.config
        return load_training_data(data if data is not None else cfg.data, limit=cfg.data_limit)

    def setup(self) -> None:
        """Runs once the encoder is loaded, before the loss and optimiser are built (add a
        teacher, a second tower, extra parameters...)."""

    def make_loss(self) -> torch.nn.Module:
        """The loss module; the standard recipes build theirs from the config."""
        cfg, enc = self.config, self.encoder
        return build_loss(
            cfg.recipe,
            cfg.inner,
            enc.dim,
            temperature=cfg.temperature,
            scale=cfg.scale,
            dims=cfg.dims,
            n_layers_per_step=cfg.n_layers_per_step,
            kl_weight=cfg.kl_weight,
            seed=cfg.seed,
            n_dims_per_step=cfg.n_dims_per_step,
            kl_temperature=cfg.kl_temperature,
            layer_weighting=cfg.layer_weighting,
            normalize=bool(getattr(enc, "normalize", False)),
        )

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of ``texts`` at the training length (the encoder's prompt applied)."""
        enc = self.encoder
        fmt = [enc.prompt.replace("{text}", t) if enc.prompt else t for t in texts]
        return enc.tokenizer(
            fmt,
            truncation=True,
            max_length=self.config.max_len,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]

    def trainable_module(self) -> torch.nn.Module:
        """What the optimiser updates and a checkpoint saves: the encoder's model, or a
        ModuleDict holding it (key ``"model"``) next to a method's own modules."""
        return self.model

    def before_step(self, step: int) -> None:
        """Runs before every step, also the first one after a resume (re-mine negatives,
        switch stages...); anything it does must be a pure function of the state at
        ``step`` so that a resumed run equals an uninterrupted one."""

    def export(self, out: Path, info: dict[str, Any]) -> None:
        """Write the trained encoder (a folder wb.load_encoder and SentenceTransformer read)."""
        export_encoder(self.encoder, out, info)

    # -- data -----------------------------------------------------------------------------
    def global_batch(self, step: int) -> np.ndarray:
        """Row indices of the global batch of ``step`` (0-based)."""
        epoch, pos = divmod(step, self.steps_per_epoch)
        if epoch not in self._orders:
            self._orders = {
                epoch: batch_order(
                    len(self.data),
                    self.config.batch_size,
                    epoch,
                    self.config.seed,
                    lengths=self.lengths if self.bucket else None,
                    bucket_batches=50 if self.bucket else 0,
                )
            }
        return self._orders[epoch][pos]

    # -- one step -------------------------------------------------------------------------
    def embed(self, input_ids: torch.Tensor, mask: torch.Tensor, layers: list[int]):
        """Pooled embeddings of one padded batch at the last layer and at ``layers``."""
        from ..encoders.pooling import TOKEN_POOLERS

        pool = TOKEN_POOLERS[self.encoder.pooling]
        out = self.model(
            input_ids=input_ids, attention_mask=mask, output_hidden_states=bool(layers)
        )
        final = pool(out.last_hidden_state, mask)
        prior = {layer: pool(out.hidden_states[layer], mask) for layer in layers}
        return final, prior

    def forward_backward(self, step: int) -> float:
        """Loss of the global batch of ``step``; leaves process-averaged gradients."""
        try:
            loss = self.compute_loss(step)
            loss.backward()
        except torch.OutOfMemoryError:
            raise WorkbenchError(
                _oom_message(
                    "training", self.config.batch_size, self.config.max_len, str(self.device)
                )
            ) from None
        D.average_gradients(self.trainable_module().parameters())
        return float(loss.detach())

    def compute_loss(self, step: int) -> torch.Tensor:
        """The loss of the global batch of ``step`` (differentiable; not yet backpropagated).
        Every process computes the loss of the whole global batch from gathered embeddings."""
        rows = self.global_batch(step)
        world, rank = self.dist.world_size, self.dist.rank
        n = len(rows) // world
        local = self.rows[rows[rank * n : (rank + 1) * n]]  # (n, columns)
        ncol = local.shape[1]
        ids = [self.token_ids[i] for c in range(ncol) for i in local[:, c]]
        input_ids, mask = self.encoder._pad(ids)
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        layers: list[int] = []
        kwargs: dict[str, Any] = {}
        if getattr(self.loss, "uses_layers", False):
            # the layers and dims of this step: a pure function of (seed, step)
            kwargs["plan"] = self.loss.plan_for_step(step, self.encoder.num_layers)
            layers = list(kwargs["plan"].layers)
        if getattr(self.loss, "uses_text_ids", False):
            kwargs["text_ids"] = self.token_keys[self.rows[rows]]  # the global batch's texts
        labels = None
        if self.labels is not None:
            labels = torch.as_tensor(self.labels[rows], device=self.device)
        try:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                final, prior = self.embed(input_ids, mask, layers)
        except torch.OutOfMemoryError:
            raise WorkbenchError(
                _oom_message("training", len(ids), input_ids.shape[1], str(self.device))
            ) from None
        columns = [D.gather(c.float()) for c in final.split(n)]
        if layers:
            kwargs["prior_layers"] = {
                layer: [D.gather(c.float()) for c in emb.split(n)] for layer, emb in prior.items()
            }
        return self.loss(columns, labels, **kwargs)

    def optimizer_step(self) -> None:
        if self.config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(
                self.trainable_module().parameters(), self.config.max_grad_norm
            )
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    # -- evaluation -----------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Dev Spearman x 100 of cosine, at each evaluated dimension, and their mean."""
        from scipy.stats import spearmanr

        pairs = self.eval_pairs
        texts = list(dict.fromkeys(pairs["sentence1"].tolist() + pairs["sentence2"].tolist()))
        self.model.eval()
        try:
            emb = self.encoder._encode(texts, self.config.eval_batch_size, False)
        finally:
            self.model.train()
        pos = {t: i for i, t in enumerate(texts)}
        a = emb[[pos[t] for t in pairs["sentence1"]]]
        b = emb[[pos[t] for t in pairs["sentence2"]]]
        out: dict[str, float] = {}
        for d in self.eval_dims:
            x, y = a[:, :d], b[:, :d]
            cos = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1) + 1e-12)
            out[f"spearman@{d}"] = float(spearmanr(cos, pairs["score"]).statistic * 100)
        out["score"] = float(np.mean([out[f"spearman@{d}"] for d in self.eval_dims]))
        return out

    def _eval_and_record(self) -> float | None:
        if self.eval_pairs is None:
            return None
        res = self.evaluate() if self.dist.is_main else None
        res = D.broadcast_object(res)
        self.eval_curve.append({"step": self.step, **res})
        log.info("step %d: dev %.2f", self.step, res["score"])
        return res["score"]

    # -- checkpoints ----------------------------------------------------------------------
    @property
    def ckpt_root(self) -> Path:
        return Path(self.config.out) / "checkpoints"

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "fingerprint": self.config.fingerprint(),
            "world_size": self.dist.world_size,
            "train_curve": self.train_curve,
            "eval_curve": self.eval_curve,
            "best_step": self.best_step,
            "best_score": self.best_score,
            "train_seconds": self.train_seconds,
        }

    def save(self) -> None:
        rng = ckpt.capture_rng()
        rngs = [rng]
        if self.dist.enabled:
            rngs = [None] * self.dist.world_size
            torch.distributed.all_gather_object(rngs, rng)
        if self.dist.is_main:
            ckpt.save_checkpoint(
                self.ckpt_root,
                self.step,
                self.trainable_module(),
                self.optimizer,
                self.scheduler,
                self.state(),
                rngs,
            )
            keep = {self.best_step} if self.best_step is not None else set()
            ckpt.prune_checkpoints(self.ckpt_root, self.config.keep_last, keep)
        D.barrier()

    def restore(self, folder: Path) -> None:
        parts = ckpt.load_checkpoint(folder, map_location=self.device)
        st = parts["trainer_state"]
        if st["fingerprint"] != self.config.fingerprint():
            raise WorkbenchError(
                f"{folder} was written by a run with a different configuration; resume with "
                "the same settings, or choose another --out (or --overwrite)"
            )
        self.trainable_module().load_state_dict(parts["model"])
        self.optimizer.load_state_dict(parts["optimizer"])
        self.scheduler.load_state_dict(parts["scheduler"])
        rngs = parts["rng"]
        if len(rngs) != self.dist.world_size:
            log.warning(
                "checkpoint from %d processes resumed on %d: dropout noise will differ",
                len(rngs),
                self.dist.world_size,
            )
        ckpt.restore_rng(rngs[self.dist.rank % len(rngs)])
        self.step = st["step"]
        self.train_curve, self.eval_curve = st["train_curve"], st["eval_curve"]
        self.best_step, self.best_score = st["best_step"], st["best_score"]
        self.train_seconds = st.get("train_seconds", 0.0)
        log.info("resumed from %s (step %d of %d)", folder, self.step, self.total_steps)

    # -- the run --------------------------------------------------------------------------
    def run(self, callback: Callable[[int, dict[str, Any]], None] | None = None) -> TrainResult:
        from tqdm.auto import tqdm

        cfg = self.config
        self.model.train()
        if self.step == 0 and self.eval_pairs is not None and not self.eval_curve:
            self._eval_and_record()  # the base model's dev score: the curve's first point
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc=f"train {cfg.recipe}",
            unit="step",
            disable=not (cfg.show_progress and self.dist.is_main),
        )
        while self.step < self.total_steps:
            t0 = time.perf_counter()
            self.before_step(self.step)
            loss = self.forward_backward(self.step)
            lr = self.scheduler.get_last_lr()[0]
            self.optimizer_step()
            if self.is_cuda:
                torch.cuda.synchronize()
            self.train_seconds += time.perf_counter() - t0
            self.step += 1
            self.train_curve.append(
                {
                    "step": self.step,
                    "epoch": self.step / self.steps_per_epoch,
                    "loss": loss,
                    "lr": lr,
                }
            )
            if not math.isfinite(loss):
                raise WorkbenchError(
                    f"the loss became {loss} at step {self.step}; lower --lr (now {cfg.lr})"
                )
            bar.update(1)
            if self.step % cfg.log_every == 0:
                bar.set_postfix(loss=f"{loss:.4f}")
            if self.step % self.eval_every == 0 or self.step == self.total_steps:
                score = self._eval_and_record()
                if score is not None and (self.best_score is None or score > self.best_score):
                    self.best_step, self.best_score = self.step, score
                if cfg.out:
                    self.save()
            if callback is not None:
                callback(self.step, {"loss": loss, "lr": lr})
        bar.close()
        return self.finish()

    def finish(self) -> TrainResult:
        cfg = self.config
        out = Path(cfg.out) if cfg.out else None
        final_step = weights_step = self.step
        if self.best_step is not None and self.best_step != self.step and out is not None:
            best = self.ckpt_root / ckpt.step_dir_name(self.best_step)
            ckpt.load_model_weights(best, self.trainable_module())
            weights_step = self.best_step
        info = {
            "recipe": cfg.recipe,
            "inner": cfg.inner,
            "base": cfg.base,
            "data": {"name": self.data.name, "kind": self.data.kind, "rows": len(self.data)},
            "config": asdict(cfg),
            "seed": cfg.seed,
            "world_size": self.dist.world_size,
            "device": str(self.device),
            "bf16": self.bf16,
            "bucketed_batches": self.bucket,
            "max_dropout_used": self.dropout_used,
            "trainable_parameters": self.trainable_parameters,
            "steps": final_step,
            "steps_per_epoch": self.steps_per_epoch,
            "best_step": self.best_step,
            "best_dev_score": self.best_score,
            "weights_step": weights_step,  # the last step when there is no --out to keep the best
            "dev_metric": (
                f"{cfg.eval_data}: Spearman x100 of cosine"
                + (f", mean over dims {self.eval_dims}" if len(self.eval_dims) > 1 else "")
                + (f", first {cfg.eval_max_pairs} pairs" if cfg.eval_max_pairs else "")
                if self.eval_pairs is not None
                else None
            ),
            "train_seconds": round(self.train_seconds, 3),
            "steps_per_second": (
                round(len(self.train_curve) / self.train_seconds, 4) if self.train_seconds else None
            ),
            "curve": {"train": self.train_curve, "eval": self.eval_curve},
        }
        if out is not None and self.dist.is_main:
            self.export(out, info)
        D.barrier()
        return TrainResult(
            out=out,
            best_step=self.best_step,
            best_score=self.best_score,
            train_curve=pd.DataFrame(self.train_curve),
            eval_curve=pd.DataFrame(self.eval_curve),
            info=info,
        )


def _load_eval_pairs(name: str, max_pairs: int | None) -> pd.DataFrame:
    """Graded dev pairs for checkpoint selection (``stsb-dev``, ``sick-dev``, a file...)."""
    data = load_training_data(name, limit=max_pairs)
    if data.kind != "graded":
        raise InvalidInputError(f"eval data {name!r} must be graded pairs, not {data.kind}")
    return pd.DataFrame(
        {"sentence1": data.columns[0], "sentence2": data.columns[1], "score": data.labels}
    )


def _check_out(out: Path, overwrite: bool, resume: bool) -> tuple[Path | None, bool]:
    """Check the output folder without changing anything; return the checkpoint to resume
    from (if any) and whether an earlier run's files must be cleared first (``overwrite``).
    Clearing waits until every other input has been validated (see :func:`train`)."""
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"--out {out} is a file; give a folder")
    existing = out
    while not existing.exists():  # the nearest folder that exists must take a new one
        existing = existing.parent
    if not existing.is_dir():
        raise WorkbenchError(f"--out {out} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise WorkbenchError(f"--out {out} cannot be written: no write permission on {existing}")
    if not out.is_dir():
        return None, False
    ours = is_run_folder(out)
    # an empty checkpoints/ folder is what a run killed before its first save leaves
    empty_ckpt = (out / "checkpoints").is_dir() and not any((out / "checkpoints").iterdir())
    if not ours and any(p.name != "checkpoints" or not empty_ckpt for p in out.iterdir()):
        raise WorkbenchError(
            f"--out {out} is a non-empty folder that is not a workbench training run; "
            "choose a new folder"
        )
    if overwrite and ours:
        return None, True
    if (out / TRAINING_FILE).is_file():
        raise WorkbenchError(
            f"{out} already holds a finished run; pass --overwrite (overwrite=True) or "
            "choose another --out"
        )
    ckpts = ckpt.list_checkpoints(out / "checkpoints")
    if not ckpts or not resume:
        if ckpts:
            raise WorkbenchError(
                f"{out} holds checkpoints of an unfinished run; resume it, or pass --overwrite"
            )
        return None, False
    return ckpts[-1][1], False


def _finished_result(out: Path, cfg: TrainConfig) -> TrainResult | None:
    """The result recorded in ``out`` if it is a finished run of the same configuration."""
    path = out / TRAINING_FILE
    if not path.is_file():
        return None
    info = json.loads(path.read_text())
    try:
        same = TrainConfig(**info["config"]).fingerprint() == cfg.fingerprint()
    except (KeyError, TypeError):
        return None
    if not same:
        return None
    log.info("%s already holds this run; reusing it", out)
    return TrainResult(
        out=out,
        best_step=info.get("best_step"),
        best_score=info.get("best_dev_score"),
        train_curve=pd.DataFrame(info["curve"]["train"]),
        eval_curve=pd.DataFrame(info["curve"]["eval"]),
        info=info,
    )


def train(
    recipe: str | TrainConfig,
    base: str | None = None,
    data: str | TrainingData | pd.DataFrame | None = None,
    out: str | os.PathLike | None = None,
    *,
    resume: bool = True,
    overwrite: bool = False,
    reuse: bool = False,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
    eval_pairs: pd.DataFrame | None = None,
    **options: Any,
) -> TrainResult:
    """Train an encoder with a recipe and write it to ``out``.

    ``recipe``: a name (``cosent``, ``simcse-unsup``, ``matryoshka:pcc``, ...) or a full
    :class:`TrainConfig`. ``base``: any encoder :func:`~workbench.load_encoder` takes.
    ``data``: a dataset name, a .txt/.tsv file, a DataFrame or :class:`TrainingData`.
    ``options``: any :class:`TrainConfig` field (``steps``, ``epochs``, ``batch_size``,
    ``lr``, ``max_len``, ``seed``, ``device``, ``pooling``, ``dims``, ``eval_every``...).

    With ``out`` set, a folder with checkpoints of the same configuration is resumed
    (``resume=False`` refuses instead), a finished one is refused unless ``overwrite``, or
    returned without training when ``reuse`` and its configuration is the same (notebooks
    that are run again).
    ``callback(step, info)`` runs after every step, on every process; raising
    :class:`StopTraining` in it stops the run after its last checkpoint, like a kill.
    """
    if isinstance(recipe, TrainConfig):
        cfg = recipe
        if base is not None or out is not None or options:
            raise InvalidInputError("pass either a TrainConfig or keyword options, not both")
    else:
        if out is not None and not str(out).strip():
            raise InvalidInputError("out is empty; give a folder, or out=None to keep nothing")
        if isinstance(data, str | os.PathLike) or data is None:
            options["data"] = None if data is None else str(data)
        cfg = TrainConfig(
            recipe=recipe,
            base=base or "all-MiniLM-L6-v2",
            out=str(out) if out is not None else None,
            **options,
        )
    frame_data = data if isinstance(data, TrainingData | pd.DataFrame) else None
    if frame_data is not None and cfg.data is None:
        cfg.data = getattr(frame_data, "name", "dataframe")
    resolved = cfg.resolved()
    resume_from, clear = None, False
    if resolved.out:
        out_path = Path(resolved.out)
        if reuse and not overwrite:
            done = _finished_result(out_path, resolved)
            if done is not None:
                return done
        if int(os.environ.get("RANK", "0")) == 0:  # the others learn it from rank 0 below
            resume_from, clear = _check_out(out_path, overwrite, resume)
    # Data, recipe and base model are all validated here, before anything is deleted.
    trainer = trainer_class(resolved.recipe)(cfg, data=frame_data, eval_pairs=eval_pairs)
    if clear:  # --overwrite: only the files the workbench wrote; anything else stays
        clear_run(out_path)
    if trainer.dist.enabled:  # rank 0 decided (and cleared the folder)
        resume_from = D.broadcast_object(resume_from)
    if resume_from is not None:
        trainer.restore(resume_from)
    try:
        return trainer.run(callback)
    except StopTraining:
        log.info("stopped at step %d by a callback", trainer.step)
        raise
