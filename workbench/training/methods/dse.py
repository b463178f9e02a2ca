"""Distilled Sentence Embedding (DSE) and the cross-encoder teacher it distils.

Paper: Oren Barkan, Noam Razin, Itzik Malkiel, Ori Katz, Avi Caciularu, Noam Koenigstein,
"Scalable Attentive Sentence-Pair Modeling via Distilled Sentence Embedding", AAAI 2020
(arXiv:1908.05161). Reference code: microsoft/Distilled-Sentence-Embedding @
7e3e87bf6d854c45fb9e5fde6695aa9524325ae7.

Two recipes:

``cross-encoder`` (the teacher): the base's weights under a one-logit sequence-classification
head (``AutoModelForSequenceClassification``, ``num_labels=1``) read both sentences at once
and are trained on graded pairs with binary cross-entropy on the logit against the gold score
in [0, 1] — sentence-transformers' STS-B cross-encoder recipe
(UKPLab/sentence-transformers, ``examples/cross_encoder/training/sts/training_stsbenchmark.py``:
batch 16, 4 epochs, lr 2e-5, warmup 10%, BinaryCrossEntropyLoss), so a teacher's prediction is
``sigmoid(logit)`` on the gold scale. It exports a folder that
``sentence_transformers.CrossEncoder(out)`` reads (and :func:`load_cross_encoder` here);
it is not a bi-encoder, so ``workbench.load_encoder`` refuses it with a one-line pointer.
Its dev score (checkpoint selection) is the Spearman of its predictions on STS-B dev;
:func:`cross_encoder_sts` scores it on STS-B test as the ``simcse`` protocol reads it.

``dse`` (the student): a bi-encoder (the base, its own pooling) whose pair head reads
``[u, v, u*v, |u-v|]`` through ``Linear(4d, 512) -> ReLU -> Linear(512, 1)``
(``models/feature_extractors.py`` ConcatCompareCombinedFeaturesExtractor and
``models/dse_siamese_classifier.py`` CombineSiameseHead; ``--fc_dims 512 1`` and
``--siamese_head_type concat`` in ``dse_train_runner.py``) and learns the teacher's scores:
``loss = (1 - c) * MSE(pred, gold) + c * mean_i sum_k (pred_ik - teacher_ik)^2``
(``train/trainers/dse_trainer.py`` ``batch_update``, ``__calc_distillation_loss``; regression
tasks use MSELoss, ``dse_configurable_trainer.py``), ``c = 0.5`` (``--distillation_coeff``).
Pairs without gold scores (``pairs`` data) are distilled only. The teacher's scores are
computed in eval mode on the fly for each batch (the reference precomputes them once with
``run_distillation_logits_creator.py``; the values are the same, and a short run scores only
the pairs it uses). Other reference defaults: lr 2e-5, batch 16 x 2 accumulation steps
(= 32), 5 epochs, warmup 10%, max length 128. The reference pools the top 4 BERT layers
(``concat_top_mean``); here the student keeps the base's pooling, so the exported encoder is
a standard sentence-transformers folder and the STS score is the cosine of its embeddings
(the head is a training device, as in the paper's use of the embeddings).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import InvalidInputError, WorkbenchError
from ..checkpoint import atomic_write_json, fix_mode
from ..data import TrainingData
from ..export import (
    TRAINING_FILE,
    _remove_files,
    _remove_leftovers,
    _write_manifest,
    library_versions,
    read_manifest,
)
from ..loop import Trainer

log = logging.getLogger(__name__)

#: what CrossEncoder applies to the one logit (saved in config.json, as sentence-transformers does)
ACTIVATION = "torch.nn.modules.activation.Sigmoid"


# ------------------------------------------------------------------------- the teacher


def is_cross_encoder_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a sequence-classification model without a sentence-transformers
    bi-encoder layout (a cross-encoder: it scores pairs, it does not embed sentences)."""
    from ...encoders.registry import _is_cross_encoder

    return _is_cross_encoder(Path(folder))


class CrossEncoderScorer:
    """A cross-encoder (a sequence-classification model with one logit) that scores pairs.

    >>> ce = load_cross_encoder("runs/cross-encoder")                       # doctest: +SKIP
    >>> ce.predict([("A man plays.", "A man is playing.")])                 # doctest: +SKIP
    """

    def __init__(self, model, tokenizer, max_length: int = 128, activation: bool = True) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.activation = activation

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def logits(self, first: list[str], second: list[str]) -> torch.Tensor:
        """One logit per pair (differentiable when the model trains)."""
        enc = self.tokenizer(
            list(first),
            list(second),
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        ).to(self.device)
        return self.model(**enc).logits.squeeze(-1).float()

    @torch.no_grad()
    def predict(
        self, pairs: list[tuple[str, str]] | list[list[str]], batch_size: int = 64
    ) -> np.ndarray:
        """Scores of ``pairs`` (sigmoid of the logit, as ``CrossEncoder.predict``), in eval mode."""
        pairs = [tuple(p) for p in pairs]
        if any(len(p) != 2 or not all(isinstance(t, str) for t in p) for p in pairs):
            raise InvalidInputError("predict takes (sentence1, sentence2) pairs of strings")
        was_training = self.model.training
        self.model.eval()
        try:
            out = []
            for i in range(0, len(pairs), batch_size):
                chunk = pairs[i : i + batch_size]
                z = self.logits([a for a, _ in chunk], [b for _, b in chunk])
                out.append((torch.sigmoid(z) if self.activation else z).cpu().numpy())
        finally:
            self.model.train(was_training)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def load_cross_encoder(
    folder: str | os.PathLike, device: str = "cpu", max_length: int | None = None
) -> CrossEncoderScorer:
    """A cross-encoder folder (``workbench train --recipe cross-encoder`` or any
    sentence-transformers CrossEncoder with one label) as a :class:`CrossEncoderScorer`."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(folder).expanduser()
    if not is_cross_encoder_folder(folder):
        raise InvalidInputError(
            f"{folder} is not a cross-encoder folder (config.json of a "
            "...ForSequenceClassification model); train one with "
            "`workbench train --recipe cross-encoder --out FOLDER`"
        )
    model = AutoModelForSequenceClassification.from_pretrained(folder).to(device)
    if model.config.num_labels != 1:
        raise InvalidInputError(
            f"{folder} has {model.config.num_labels} labels; a teacher of pair scores has one"
        )
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if max_length is None:  # as CrossEncoder does: the tokenizer's limit (the trained length)
        max_length = min(int(tokenizer.model_max_length), 512)
    return CrossEncoderScorer(model, tokenizer, max_length)


def cross_encoder_sts(
    folder: str | os.PathLike | CrossEncoderScorer,
    tasks: str | list[str] = "STSBenchmark",
    protocol: str = "simcse",
    n_boot: int = 0,
    batch_size: int = 64,
):
    """Spearman/Pearson x 100 of a cross-encoder's pair scores on STS tasks, with the pairs,
    splits and aggregation of ``protocol`` (the teacher's own score, next to a student's)."""
    from ...evaluation.sts import load_pairs, score

    scorer = folder if isinstance(folder, CrossEncoderScorer) else load_cross_encoder(folder)
    pairs = load_pairs(tasks, protocol=protocol)
    pred = pairs.copy()
    pred["pred"] = scorer.predict(
        list(zip(pairs["sentence1"], pairs["sentence2"])), batch_size=batch_size
    )
    out = score(pred, n_boot=n_boot)
    proto = pairs.attrs["protocol"]
    out["protocol"] = proto.label
    out["main"] = out["level"] == proto.aggregation  # the rows the protocol reports
    out["encoder"] = str(folder)
    out["similarity"] = "cross-encoder score"
    return out


def _spearman(pred: np.ndarray, gold: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(pred, gold).statistic * 100)


class CrossEncoderTrainer(Trainer):
    """``cross-encoder``: the base under a one-logit head, BCE on graded pairs (the teacher)."""

    ACCEPTS = ("graded",)
    DEFAULTS = {"lr": 2e-5, "batch_size": 16, "max_len": 128, "data": "stsb-train", "epochs": 4}
    OPTIONS: dict[str, Any] = {}

    def setup(self) -> None:
        from transformers import AutoConfig, AutoModelForSequenceClassification

        if self.dist.world_size > 1:
            raise WorkbenchError("the cross-encoder recipe runs on one process")
        cfg = AutoConfig.from_pretrained(self.encoder.source)
        cfg.num_labels = 1
        cfg.problem_type = "regression"
        cfg.sentence_transformers = {"activation_fn": ACTIVATION}
        try:
            ce = AutoModelForSequenceClassification.from_config(cfg)
        except ValueError as e:
            raise WorkbenchError(
                f"{self.config.base} has no sequence-classification head in transformers: {e}"
            ) from None
        body = getattr(ce, ce.base_model_prefix, None)
        if body is None or type(body) is not type(self.model):
            raise WorkbenchError(
                f"cannot put {type(self.model).__name__} under a sequence-classification head"
            )
        # the base's own modules (pooler included) under the new head: its weights, not a copy
        setattr(ce, ce.base_model_prefix, self.model)
        self.ce = ce.to(self.device).train()
        self.scorer = CrossEncoderScorer(self.ce, self.encoder.tokenizer, self.config.max_len)

    def make_loss(self) -> torch.nn.Module:
        return torch.nn.BCEWithLogitsLoss()

    def trainable_module(self) -> torch.nn.Module:
        return self.ce

    def compute_loss(self, step: int) -> torch.Tensor:
        rows = self.global_batch(step)
        first, second = self.data.columns[0], self.data.columns[1]
        z = self.scorer.logits([first[i] for i in rows], [second[i] for i in rows])
        y = torch.as_tensor(self.labels[rows], device=z.device)
        return self.loss(z, y)

    def evaluate(self) -> dict[str, float]:
        pairs = self.eval_pairs
        pred = self.scorer.predict(
            list(zip(pairs["sentence1"], pairs["sentence2"])), self.config.eval_batch_size
        )
        dev = _spearman(pred, pairs["score"].to_numpy())
        return {"spearman@pairs": dev, "score": dev}

    def export(self, out: Path, info: dict[str, Any]) -> None:
        # in place: the TrainResult (and the CLI's summary) share this dict
        if info.get("dev_metric"):
            info["dev_metric"] = info["dev_metric"].replace("cosine", "the pair scores")
        info["kind"] = "cross-encoder"
        export_cross_encoder(self.ce, self.encoder.tokenizer, out, info, self.config.max_len)


def export_cross_encoder(model, tokenizer, out: Path, info: dict[str, Any], max_len: int) -> Path:
    """Write a CrossEncoder folder (config with the activation, weights, tokenizer) with the
    workbench's manifest and ``workbench_training.json`` last, like :func:`export_encoder`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.config.sentence_transformers = {"activation_fn": ACTIVATION}
    _remove_leftovers(out)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".tmp-export-"))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        # CrossEncoder truncates at the tokenizer's model_max_length: the trained length
        tokenizer.save_pretrained(tmp)
        tok_cfg = tmp / "tokenizer_config.json"
        cfg = json.loads(tok_cfg.read_text())
        cfg["model_max_length"] = int(max_len)
        tok_cfg.write_text(json.dumps(cfg, indent=2) + "\n")
        new_files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        previous = read_manifest(out) or []
        (out / TRAINING_FILE).unlink(missing_ok=True)
        _write_manifest(out, sorted(set(previous) | set(new_files)))
        for rel in new_files:
            fix_mode(tmp / rel)
            os.replace(tmp / rel, out / rel)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _remove_files(out, sorted(set(previous) - set(new_files) - {TRAINING_FILE}))
    _write_manifest(out, new_files)
    atomic_write_json(
        out / TRAINING_FILE,
        {
            **info,
            "kind": "cross-encoder",
            "load_with": "sentence_transformers.CrossEncoder(out) or "
            "workbench.training.methods.dse.load_cross_encoder(out)",
            "evaluate_with": {"max_length": int(max_len), "activation": ACTIVATION},
            "versions": library_versions(),
            "complete": True,
        },
    )
    return out


# ------------------------------------------------------------------------- the student


class PairHead(torch.nn.Module):
    """DSE's pair head: ``[u, v, u*v, |u-v|]`` (``concat``) or ``u.v`` (``dot``), then the
    fully connected layers ``fc_dims`` with ReLU between them (none after the last)."""

    def __init__(self, dim: int, fc_dims: list[int], kind: str = "concat") -> None:
        super().__init__()
        self.kind = kind
        size = 4 * dim if kind == "concat" else 1
        layers = []
        for d in fc_dims:
            layers.append(torch.nn.Linear(size, d))
            size = d
        self.fc = torch.nn.ModuleList(layers)

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if self.kind == "concat":
            out = torch.cat([u, v, u * v, (u - v).abs()], dim=1)
        else:
            out = (u * v).sum(dim=1, keepdim=True)
        for i, layer in enumerate(self.fc):
            out = layer(out)
            if i < len(self.fc) - 1:
                out = torch.relu(out)
        return out


class DSELoss(torch.nn.Module):
    """``(1 - c) * MSE(head(u, v), gold) + c * mean_i sum_k (head(u, v) - teacher)^2``.

    ``teacher`` (set per batch by the trainer) holds the teacher's scores of the batch's
    pairs, shape ``(n, 1)``; without gold labels only the distillation term is used.
    """

    def __init__(self, head: PairHead, coeff: float = 0.5) -> None:
        super().__init__()
        self.head = head
        self.coeff = float(coeff)
        self.teacher: torch.Tensor | None = None

    def forward(self, columns: list[torch.Tensor], labels: torch.Tensor | None = None):
        u, v = columns[0], columns[1]
        pred = self.head(u, v)
        distill = ((pred - self.teacher.to(pred)) ** 2).sum(dim=1).mean()
        if labels is None:
            return distill
        mse = torch.nn.functional.mse_loss(pred, labels.to(pred).reshape(pred.shape))
        return (1 - self.coeff) * mse + self.coeff * distill


class DSETrainer(Trainer):
    """``dse``: a bi-encoder student with DSE's pair head learns a cross-encoder's scores."""

    ACCEPTS = ("graded", "pairs")
    DEFAULTS = {"lr": 2e-5, "batch_size": 32, "max_len": 128, "data": "stsb-train", "epochs": 5}
    OPTIONS = {"teacher": None, "distillation_coeff": 0.5, "fc_dims": [512, 1], "head": "concat"}

    def load_data(self, data: TrainingData | None) -> TrainingData:
        opts = self.options
        if not opts["teacher"]:
            raise InvalidInputError(
                "dse needs a teacher: --opt teacher=FOLDER (a cross-encoder folder; train one "
                "with `workbench train --recipe cross-encoder --out FOLDER`)"
            )
        if not is_cross_encoder_folder(Path(str(opts["teacher"])).expanduser()):
            raise InvalidInputError(
                f"teacher {opts['teacher']!r} is not a cross-encoder folder; train one with "
                "`workbench train --recipe cross-encoder --out FOLDER`"
            )
        c = opts["distillation_coeff"]
        if isinstance(c, bool) or not isinstance(c, int | float) or not 0 <= c <= 1:
            raise InvalidInputError(f"distillation_coeff must be a number in [0, 1], got {c!r}")
        dims = opts["fc_dims"]
        if (
            not isinstance(dims, list)
            or not dims
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dims)
            or dims[-1] != 1
        ):
            raise InvalidInputError(
                f"fc_dims must be a list of positive layer sizes ending in 1, got {dims!r}"
            )
        if opts["head"] not in ("concat", "dot"):
            raise InvalidInputError(f"head must be concat or dot, got {opts['head']!r}")
        return super().load_data(data)

    def setup(self) -> None:
        opts = self.options
        self.teacher = load_cross_encoder(str(opts["teacher"]), device=str(self.device))
        self.teacher.max_length = self.config.max_len
        self._teacher_cache: dict[int, float] = {}

    def make_loss(self) -> torch.nn.Module:
        opts = self.options
        head = PairHead(self.encoder.dim, list(opts["fc_dims"]), opts["head"]).to(self.device)
        return DSELoss(head, opts["distillation_coeff"])

    def trainable_module(self) -> torch.nn.Module:
        return torch.nn.ModuleDict({"model": self.model, "head": self.loss.head})

    def teacher_scores(self, rows: np.ndarray) -> torch.Tensor:
        """The teacher's scores of these rows (eval mode, so a pure function of the row)."""
        todo = [int(r) for r in rows if int(r) not in self._teacher_cache]
        if todo:
            first, second = self.data.columns[0], self.data.columns[1]
            scores = self.teacher.predict([(first[r], second[r]) for r in todo])
            self._teacher_cache.update(zip(todo, scores.tolist()))
        vals = [self._teacher_cache[int(r)] for r in rows]
        return torch.tensor(vals, dtype=torch.float32, device=self.device).unsqueeze(1)

    def compute_loss(self, step: int) -> torch.Tensor:
        self.loss.teacher = self.teacher_scores(self.global_batch(step))
        return super().compute_loss(step)
