"""CoDiEmb: joint IR + STS training with single-task batches and task-specific losses.

Bowen Zhang, Zixin Song, Chunquan Chen, Qian-Wen Zhang, Di Yin and Xing Sun (2025),
"CoDiEmb: A Collaborative yet Distinct Framework for Unified Representation Learning in
Information Retrieval and Semantic Textual Similarity", arXiv:2508.11442.
Reference code: https://github.com/TencentCloudADP/youtu-embedding at commit
9a0d6f342d16c4580f17884c403bfd4a73fa6fdf, ``training/CoDiEmb/`` (cited below by file).

What a run does:

- **Sampler** (``train/run.py``, ``get_train_dataloader_with_dynamic_batch``, the default
  ``--data_sampler dynamic``): every epoch each task's examples are shuffled and cut into
  full *global* batches of that task's own size (IR ``batch_size`` queries, STS
  ``sts_batch_size`` pairs), and the batches of both tasks are shuffled together: every
  step is one task's batch, on every process, so IR and STS gradients never mix in one
  update. The per-task batch sizes set how many updates each task gets per epoch
  (``balance="proportional"``, the reference); ``balance="equal"`` instead gives both tasks
  the same number of updates per epoch by re-drawing the smaller task's batches.
  The order is a pure function of ``(seed, epoch)``: a resumed run replays it.
- **IR loss** (``train/loss.py``, ``ContrastiveLoss._loss_ir``, mode ``"all"``): each query
  has ``positives`` positives and ``negatives`` hard negatives; for each positive slot the
  query is scored (cosine / ``temperature``) against that positive and the hard negatives of
  every query in the global batch, gathered from every process with the differentiable
  gather the Trainer uses (``--ir_negatives_cross_device``).
- **STS loss** (``train/model.py``, ``TrainModel.forward``): ``2 * (1 - Pearson) + 0.5 * PRO
  + 5 * rank-KL`` on the cosine of each pair; order-aware terms that optimise correlation
  and ranking (see :mod:`workbench.training.losses.codiemb`).

Defaults from ``scripts/train_bge.sh``: lr 5e-5, temperature 0.02, 2 positives and 4
negatives per query, IR:STS per-device batch 64:32 (here a global 32:16 so a CPU step stays
small), linear schedule. Not reproduced: the middle-layer STS InfoNCE of
``--multi_layer_loss`` and the delta-guided checkpoint fusion (a separate post-training
step); the reference's instruction prefixes ("Query: "/"Passage: ") are not added, since the
exported encoder is used without prompts.

Data: the shared data has no IR corpus, so by default the IR task is SNLI dev triplets
(``data="snli-dev"``): the premise is the query, its entailed hypotheses the positives
(sampled with repetition up to ``positives``, as the reference's ``get_positives`` does),
its contradictions the first hard negatives and hypotheses of *other* premises fill the
rest; the STS task is STS-B train (``sts_data="stsb-train"``). Any triplets or pairs file
(grouped by anchor) can be the IR data and any graded dataset or file the STS data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import InvalidInputError
from .. import distributed as D
from ..data import load_training_data
from ..loop import Trainer
from ..losses.codiemb import CoDiEmbLoss

BALANCE = ("proportional", "equal")


class CoDiEmbTrainer(Trainer):
    """CoDiEmb (see the module docstring). ``batch_size`` is the global IR batch (queries)."""

    ACCEPTS = ("triplets", "pairs")
    DEFAULTS = {"lr": 5e-5, "batch_size": 32, "max_len": 32, "data": "snli-dev", "epochs": 1}
    OPTIONS = {
        "sts_data": "stsb-train",
        "sts_batch_size": 16,
        "positives": 2,
        "negatives": 4,
        "temperature": 0.02,
        "balance": "proportional",
    }

    # -- set-up ---------------------------------------------------------------------------
    def setup(self) -> None:
        o = self.options
        for key in ("sts_batch_size", "positives"):
            if not isinstance(o[key], int) or isinstance(o[key], bool) or o[key] < 1:
                raise InvalidInputError(f"codiemb option {key} must be a positive integer")
        if not isinstance(o["negatives"], int) or o["negatives"] < 0:
            raise InvalidInputError("codiemb option negatives must be an integer >= 0")
        if not isinstance(o["temperature"], int | float) or o["temperature"] <= 0:
            raise InvalidInputError("codiemb option temperature must be a number > 0")
        if o["balance"] not in BALANCE:
            raise InvalidInputError(
                f"codiemb option balance must be one of {', '.join(BALANCE)}, not {o['balance']!r}"
            )
        if o["sts_batch_size"] < 2:
            raise InvalidInputError("codiemb option sts_batch_size must be >= 2 (a correlation)")
        world = self.dist.world_size
        if o["sts_batch_size"] % world:
            raise InvalidInputError(
                f"codiemb sts_batch_size {o['sts_batch_size']} must be divisible by the "
                f"{world} processes"
            )
        sts = load_training_data(o["sts_data"])
        if sts.kind != "graded":
            raise InvalidInputError(
                f"codiemb sts_data {o['sts_data']!r} must be graded pairs, not {sts.kind}"
            )

        table: dict[str, int] = {}

        def tid(text: str) -> int:
            return table.setdefault(text, len(table))

        # IR examples: rows grouped by anchor
        groups: dict[str, tuple[list[int], list[int]]] = {}
        cols = self.data.columns
        for r in range(len(self.data)):
            pos, neg = groups.setdefault(cols[0][r], ([], []))
            p = tid(cols[1][r])
            if p not in pos:
                pos.append(p)
            if len(cols) == 3:
                n = tid(cols[2][r])
                if n not in neg:
                    neg.append(n)
        self.ir_anchor = np.array([tid(a) for a in groups], dtype=np.int64)
        self.ir_pos = [np.array(p, dtype=np.int64) for p, _ in groups.values()]
        self.ir_neg = [np.array(n, dtype=np.int64) for _, n in groups.values()]
        self.pool = np.unique(np.concatenate(self.ir_pos + self.ir_neg))
        self.sts_rows = np.array([[tid(a), tid(b)] for a, b in zip(*sts.columns)], dtype=np.int64)
        self.sts_labels = sts.labels
        self.sts_name = sts.name
        self.texts = list(table)
        self.ids = self.tokenize(self.texts)

        B, S = self.config.batch_size, o["sts_batch_size"]
        self.n_ir, self.n_sts = len(self.ir_anchor), len(self.sts_rows)
        if self.n_ir < B or self.n_sts < S:
            raise InvalidInputError(
                f"codiemb: {self.n_ir} IR queries and {self.n_sts} STS pairs cannot fill one "
                f"batch of {B} and {S}; lower --batch-size / --opt sts_batch_size"
            )
        if self.n_negatives > 0 and len(self.pool) < 2:
            raise InvalidInputError("codiemb: the IR data has too few texts to draw negatives")
        nb_ir, nb_sts = self.n_ir // B, self.n_sts // S
        if o["balance"] == "equal":
            nb_ir = nb_sts = max(nb_ir, nb_sts)
        self.batches_per_task = {"ir": nb_ir, "sts": nb_sts}
        self.steps_per_epoch = nb_ir + nb_sts
        self._epoch_plan: dict[int, list[tuple[str, np.ndarray]]] = {}

    @property
    def n_positives(self) -> int:
        return int(self.options["positives"])

    @property
    def n_negatives(self) -> int:
        return int(self.options["negatives"])

    def make_loss(self) -> CoDiEmbLoss:
        return CoDiEmbLoss(
            self.n_positives, self.n_negatives, temperature=float(self.options["temperature"])
        )

    # -- the sampler ----------------------------------------------------------------------
    def epoch_plan(self, epoch: int) -> list[tuple[str, np.ndarray]]:
        """The epoch's global batches, ``(task, example indices)``, in training order: a pure
        function of ``(seed, epoch)``."""
        if epoch not in self._epoch_plan:
            seed = self.config.seed
            sizes = {"ir": (self.n_ir, self.config.batch_size)}
            sizes["sts"] = (self.n_sts, int(self.options["sts_batch_size"]))
            batches: list[tuple[str, np.ndarray]] = []
            for t, (task, (n, size)) in enumerate(sizes.items()):
                need, per_perm = self.batches_per_task[task], n // size
                rng = np.random.default_rng([seed, epoch, t])
                got = 0
                while got < need:  # "equal" re-draws the smaller task from new permutations
                    perm = rng.permutation(n)[: per_perm * size].reshape(per_perm, size)
                    batches.extend((task, b) for b in perm[: need - got])
                    got += min(per_perm, need - got)
            order = np.random.default_rng([seed, epoch]).permutation(len(batches))
            self._epoch_plan = {epoch: [batches[i] for i in order]}
        return self._epoch_plan[epoch]

    def batch_at(self, step: int) -> tuple[str, np.ndarray]:
        epoch, pos = divmod(step, self.steps_per_epoch)
        return self.epoch_plan(epoch)[pos]

    def ir_groups(self, step: int, examples: np.ndarray) -> np.ndarray:
        """Text ids ``(B, 1 + P + K)`` of the global IR batch of ``step``: query, positives,
        hard negatives (a pure function of seed, step and the batch)."""
        P, K = self.n_positives, self.n_negatives
        rng = np.random.default_rng([self.config.seed, 1, step])
        out = np.empty((len(examples), 1 + P + K), dtype=np.int64)
        for row, e in enumerate(examples):
            pos, own = self.ir_pos[e], self.ir_neg[e]
            if len(pos) >= P:
                chosen = rng.choice(pos, P, replace=False)
            else:  # as get_positives: tile, then sample without replacement
                chosen = rng.choice(np.tile(pos, -(-P // len(pos))), P, replace=False)
            negs = list(rng.permutation(own)[:K])
            taken = {int(self.ir_anchor[e]), *map(int, pos), *map(int, own)}
            while len(negs) < K:  # other anchors' texts
                c = int(self.pool[rng.integers(len(self.pool))])
                if c not in taken:
                    negs.append(c)
                    taken.add(c)
            out[row] = [self.ir_anchor[e], *chosen, *negs]
        return out

    # -- one step -------------------------------------------------------------------------
    def _encode(self, text_ids: np.ndarray) -> torch.Tensor:
        """Pooled float32 embeddings of ``text_ids`` (each distinct text encoded once)."""
        uniq, inverse = np.unique(text_ids, return_inverse=True)
        input_ids, mask = self.encoder._pad([self.ids[i] for i in uniq])
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            emb, _ = self.embed(input_ids, mask, [])
        return emb.float()[torch.as_tensor(inverse.reshape(-1), device=self.device)]

    def compute_loss(self, step: int) -> torch.Tensor:
        task, examples = self.batch_at(step)
        world, rank = self.dist.world_size, self.dist.rank
        n = len(examples) // world
        if task == "ir":
            groups = self.ir_groups(step, examples)[rank * n : (rank + 1) * n]
            emb = self._encode(groups.reshape(-1)).view(n, groups.shape[1], -1)
            queries = D.gather(emb[:, 0].contiguous())
            passages = D.gather(emb[:, 1:].reshape(-1, emb.shape[-1]))
            return self.loss.ir(queries, passages)
        local = self.sts_rows[examples[rank * n : (rank + 1) * n]]
        emb = self._encode(local.reshape(-1)).view(n, 2, -1)
        u, v = D.gather(emb[:, 0].contiguous()), D.gather(emb[:, 1].contiguous())
        labels = torch.as_tensor(self.sts_labels[examples], device=self.device)
        return self.loss.sts(u, v, labels)

    def export(self, out: Path, info: dict[str, Any]) -> None:
        info["method"] = {
            "ir_data": self.data.name,
            "ir_queries": self.n_ir,
            "sts_data": self.sts_name,
            "sts_pairs": self.n_sts,
            "updates_per_epoch": dict(self.batches_per_task),
        }
        super().export(out, info)
