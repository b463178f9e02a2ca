"""Conan-embedding: hard negatives re-mined from the current model, and the CBB loss.

Shiyu Li, Yang Tang, Shi-Zhe Chen and Xi Chen (2024), "Conan-embedding: General Text
Embedding with More and Better Negative Samples", arXiv:2408.15710 (Tencent BAC). The
authors released model weights (TencentBAC/Conan-embedding-v1) but no training code; what
follows is from the paper, Sec. 3.2, and every number not taken from it is marked as the
workbench's choice.

**Dynamic hard-negative mining** (not a preprocessing step): every ``mine_every`` steps
(paper: 100) the *current* model encodes every query and the candidate pool (every positive
and negative text of the data), and each query's ``negatives`` hard negatives are checked:
one whose current score ``s`` satisfies ``s * 1.15 < s0`` (``s0``: its score when it was
mined) and ``|s| < 0.8`` is no longer hard and is replaced by a new one drawn from the
query's current ranking (ranks ``mine_window``, default 10 to 100 — the workbench's choice:
the top 10 are skipped as likely false negatives, since SNLI holds near-paraphrases of one
premise under other premises). The first mining (step 0) fills every slot from the base
model's ranking. The query's own positives (every positive of the same anchor) and the
anchor itself are never negatives. Mining draws from ``numpy.random.default_rng([seed, 2,
step])`` and the model's deterministic eval-mode encoding, and the mined negatives and their
``s0`` live in buffers saved with every checkpoint, so a resumed run (whose first
``before_step`` re-mines when the step is a mining step, as the uninterrupted run did) equals
an uninterrupted one.

**Cross-GPU Batch Balance (CBB) loss**: every step holds a batch of *each* task (retrieval:
``batch_size`` queries, each with its positive and mined negatives; STS: ``sts_batch_size``
graded pairs) instead of a randomly chosen task per step, and the processes are divided
between the tasks in proportion to the texts each task encodes (:func:`cbb_plan`, at least
one process per task when there are enough). Each process encodes only its share; the
embeddings are all-gathered (differentiable) so every process sees the whole step, the
retrieval InfoNCE takes its negatives from every process that ran retrieval, and the loss is
``L_neg + L_cos`` (:class:`~workbench.training.losses.conan.ConanLoss`). The sum does not
depend on how the rows were split, so with one process it is the ordinary single-process
loss of the same batches (``tests/test_method_conan.py`` checks the split and reassembly
over simulated ranks against the one-process loss).

Data: by default retrieval is SNLI dev (``data="snli-dev"``: premise query, entailed
hypothesis positive; the contradictions join the candidate pool) and STS is STS-B train
(``sts_data="stsb-train"``; ``"none"`` trains retrieval alone). Defaults the paper does not
give are the workbench's: lr 2e-5, temperature 0.05, 3 negatives, batch 32 + 32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import InvalidInputError
from .. import distributed as D
from ..data import batch_order, load_training_data
from ..loop import Trainer
from ..losses.conan import ConanLoss

TASKS = ("retrieval", "sts")


def cbb_plan(world: int, rows: dict[str, int], texts_per_row: dict[str, int]) -> list:
    """Which rows of which task each process encodes: ``plan[rank] = [(task, start, stop)]``.

    With at least as many processes as tasks, each task gets its own processes, as many as
    balance the texts each process encodes (greedy: the next process goes to the task with the
    most texts per process), never more than its rows; a task's rows are split into
    near-equal contiguous ranges in rank order. With fewer processes than tasks every process
    takes a near-equal slice of every task. Pure function of its arguments.
    """
    tasks = [t for t in rows if rows[t] > 0]
    if not tasks:
        raise InvalidInputError("a CBB step needs at least one task with rows")

    def split(n: int, parts: int) -> list[tuple[int, int]]:
        cuts = [n * i // parts for i in range(parts + 1)]
        return list(zip(cuts[:-1], cuts[1:]))

    if world < len(tasks) or world == 1:
        if any(rows[t] < world for t in tasks):
            raise InvalidInputError(f"every task needs at least {world} rows per step")
        per = {t: split(rows[t], world) for t in tasks}
        return [[(t, *per[t][r]) for t in tasks] for r in range(world)]
    if sum(rows[t] for t in tasks) < world:
        raise InvalidInputError(f"{sum(rows.values())} rows per step cannot feed {world} processes")
    alloc = dict.fromkeys(tasks, 1)
    load = {t: rows[t] * texts_per_row[t] for t in tasks}
    for _ in range(world - len(tasks)):
        open_ = [t for t in tasks if alloc[t] < rows[t]]
        best = max(open_, key=lambda t: (load[t] / alloc[t], -tasks.index(t)))
        alloc[best] += 1
    plan: list[list[tuple[str, int, int]]] = []
    for t in tasks:
        plan.extend([(t, a, b)] for a, b in split(rows[t], alloc[t]))
    return plan


def local_count(part: list[tuple[str, int, int]], texts_per_row: dict[str, int]) -> int:
    return sum((b - a) * texts_per_row[t] for t, a, b in part)


def assemble(
    gathered: torch.Tensor, plan: list, texts_per_row: dict[str, int]
) -> dict[str, torch.Tensor]:
    """Undo :func:`cbb_plan`: from the all-gathered, per-process padded embeddings
    ``(world * width, D)`` rebuild each task's ``(rows, texts_per_row, D)`` in row order."""
    width = max(local_count(p, texts_per_row) for p in plan)
    pieces: dict[str, list[tuple[int, torch.Tensor]]] = {}
    for r, part in enumerate(plan):
        off = r * width
        for t, a, b in part:
            n = (b - a) * texts_per_row[t]
            pieces.setdefault(t, []).append(
                (a, gathered[off : off + n].view(b - a, texts_per_row[t], -1))
            )
            off += n
    return {t: torch.cat([x for _, x in sorted(p, key=lambda q: q[0])]) for t, p in pieces.items()}


def refresh_negatives(
    sim: np.ndarray,
    excluded: np.ndarray,
    current: np.ndarray | None,
    initial: np.ndarray | None,
    k: int,
    window: tuple[int, int],
    rng: np.random.Generator,
    ratio: float = 1.15,
    max_abs: float = 0.8,
) -> tuple[np.ndarray, np.ndarray, int]:
    """One round of dynamic mining for queries with similarities ``sim`` ``(Q, P)`` to the
    pool (``excluded``: boolean ``(Q, P)``, never a negative).

    ``current is None``: fill ``k`` slots per query from its ranks ``window``. Otherwise a slot
    whose score ``s`` now has ``s * ratio < s0`` and ``|s| < max_abs`` is replaced by a
    candidate from the window that is not already a negative of that query. Returns the
    negatives ``(Q, k)`` (pool indices), their initial scores and how many were replaced.
    """
    q, p = sim.shape
    masked = np.where(excluded, -np.inf, sim)
    order = np.argsort(-masked, axis=1, kind="stable")
    n_ok = (~excluded).sum(axis=1)
    lo, hi = window
    neg = np.empty((q, k), dtype=np.int64) if current is None else current.copy()
    init = np.empty((q, k), dtype=np.float32) if initial is None else initial.copy()
    replaced = 0
    for i in range(q):
        if current is None:
            stale = np.arange(k)
        else:
            s = sim[i, neg[i]]
            stale = np.flatnonzero((s * ratio < init[i]) & (np.abs(s) < max_abs))
        if len(stale) == 0:
            continue
        usable = order[i, : n_ok[i]]
        if current is not None:
            usable = usable[~np.isin(usable, neg[i])]
        cands = usable[min(lo, max(0, len(usable) - len(stale))) : hi]
        if len(cands) < len(stale):
            cands = usable[: max(hi, len(stale))]
        if len(cands) < len(stale):
            raise InvalidInputError(
                f"query {i} has only {len(cands)} candidate negatives for {len(stale)} slots; "
                "give more data or fewer --opt negatives"
            )
        new = rng.choice(cands, len(stale), replace=False)
        neg[i, stale] = new
        init[i, stale] = sim[i, new]
        replaced += len(stale) if current is not None else 0
    return neg, init, replaced


class NegativeBank(torch.nn.Module):
    """The mined negatives and their scores at mining time: buffers, so every checkpoint
    holds them and a resumed run continues from the same state."""

    def __init__(self, rows: int, k: int) -> None:
        super().__init__()
        self.register_buffer("negatives", torch.zeros((rows, k), dtype=torch.long))
        self.register_buffer("initial", torch.zeros((rows, k), dtype=torch.float32))
        self.register_buffer("rounds", torch.zeros((), dtype=torch.long))
        self.register_buffer("replaced", torch.zeros((), dtype=torch.long))


class ConanTrainer(Trainer):
    """Conan-embedding (see the module docstring). ``batch_size``: retrieval queries a step."""

    ACCEPTS = ("triplets", "pairs")
    DEFAULTS = {"lr": 2e-5, "batch_size": 32, "max_len": 32, "data": "snli-dev", "epochs": 1}
    OPTIONS = {
        "sts_data": "stsb-train",
        "sts_batch_size": 32,
        "negatives": 3,
        "mine_every": 100,
        "mine_window": [10, 100],
        "score_ratio": 1.15,
        "max_score": 0.8,
        "temperature": 0.05,
    }

    def setup(self) -> None:
        o = self.options
        for key in ("negatives", "mine_every", "sts_batch_size"):
            if not isinstance(o[key], int) or isinstance(o[key], bool) or o[key] < 1:
                raise InvalidInputError(f"conan option {key} must be a positive integer")
        w = o["mine_window"]
        if (
            not isinstance(w, list | tuple)
            or len(w) != 2
            or not all(isinstance(x, int) for x in w)
            or not 0 <= w[0] < w[1]
        ):
            raise InvalidInputError(
                f"conan option mine_window must be two ranks [lo, hi] with 0 <= lo < hi, not {w!r}"
            )
        for key in ("score_ratio", "max_score", "temperature"):
            if not isinstance(o[key], int | float) or o[key] <= 0:
                raise InvalidInputError(f"conan option {key} must be a number > 0")
        table: dict[str, int] = {}

        def tid(text: str) -> int:
            return table.setdefault(text, len(table))

        cols = self.data.columns
        self.anchor = np.array([tid(t) for t in cols[0]], dtype=np.int64)
        self.positive = np.array([tid(t) for t in cols[1]], dtype=np.int64)
        pool_ids = list(dict.fromkeys(tid(t) for c in cols[1:] for t in c))
        self.pool = np.array(pool_ids, dtype=np.int64)
        where = {t: i for i, t in enumerate(pool_ids)}
        # mining is per distinct anchor: its own positives (and itself) are never negatives
        uniq, self.row_query = np.unique(self.anchor, return_inverse=True)
        self.queries = uniq
        self.excluded = np.zeros((len(uniq), len(pool_ids)), dtype=bool)
        for r, qi in enumerate(self.row_query):
            self.excluded[qi, where[int(self.positive[r])]] = True
        for qi, a in enumerate(uniq):
            if int(a) in where:
                self.excluded[qi, where[int(a)]] = True
        k = o["negatives"]
        if int((~self.excluded).sum(axis=1).min()) < k:
            raise InvalidInputError(
                f"conan: some query has fewer than {k} candidate negatives in the data's "
                "texts; give more data or fewer --opt negatives"
            )
        self.sts = None
        if str(o["sts_data"]).lower() != "none":
            sts = load_training_data(o["sts_data"])
            if sts.kind != "graded":
                raise InvalidInputError(
                    f'conan sts_data {o["sts_data"]!r} must be graded pairs (or "none"), '
                    f"not {sts.kind}"
                )
            if len(sts) < o["sts_batch_size"]:
                raise InvalidInputError(
                    f"conan: {len(sts)} STS pairs cannot fill a batch of {o['sts_batch_size']}"
                )
            self.sts = sts
            self.sts_rows = np.array([[tid(a), tid(b)] for a, b in zip(*sts.columns)])
        self.texts = list(table)
        self.ids = self.tokenize(self.texts)
        self.bank = NegativeBank(len(self.data), k)
        self.rows_per_step = {"retrieval": self.config.batch_size}
        self.rows_per_step["sts"] = o["sts_batch_size"] if self.sts is not None else 0
        self.texts_per_row = {"retrieval": 2 + k, "sts": 2}
        self.plan = cbb_plan(self.dist.world_size, self.rows_per_step, self.texts_per_row)

    def trainable_module(self) -> torch.nn.Module:
        return torch.nn.ModuleDict({"model": self.model, "bank": self.bank})

    def make_loss(self) -> ConanLoss:
        return ConanLoss(float(self.options["temperature"]), scale=self.config.scale)

    # -- dynamic hard-negative mining -------------------------------------------------------
    def _embed_texts(self, ids: np.ndarray) -> np.ndarray:
        texts = [self.texts[i] for i in ids]
        self.model.eval()
        try:
            emb = self.encoder._encode(texts, self.config.eval_batch_size, False)
        finally:
            self.model.train()
        emb = np.asarray(emb, dtype=np.float32)
        return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)

    def mine(self, step: int) -> None:
        """Re-mine the negatives from the current model (rank 0 computes, all receive)."""
        o, bank = self.options, self.bank
        result = None
        if self.dist.is_main:
            sim = self._embed_texts(self.queries) @ self._embed_texts(self.pool).T
            first = int(bank.rounds) == 0
            rows_sim = sim[self.row_query]
            result = refresh_negatives(
                rows_sim,
                self.excluded[self.row_query],
                None if first else bank.negatives.cpu().numpy(),
                None if first else bank.initial.cpu().numpy(),
                o["negatives"],
                tuple(o["mine_window"]),
                np.random.default_rng([self.config.seed, 2, step]),
                ratio=float(o["score_ratio"]),
                max_abs=float(o["max_score"]),
            )
        neg, init, replaced = D.broadcast_object(result)
        bank.negatives.copy_(torch.as_tensor(neg))
        bank.initial.copy_(torch.as_tensor(init))
        bank.rounds += 1
        bank.replaced += replaced

    def before_step(self, step: int) -> None:
        if step % int(self.options["mine_every"]) == 0 or int(self.bank.rounds) == 0:
            self.mine(step)

    # -- one step -------------------------------------------------------------------------
    def step_rows(self, step: int) -> dict[str, np.ndarray]:
        """The global rows of each task at ``step`` (each task cycles through its own epochs;
        a pure function of seed and step)."""
        out = {}
        for t, task in enumerate(TASKS):
            size = self.rows_per_step[task]
            if not size:
                continue
            n = len(self.data) if task == "retrieval" else len(self.sts_rows)
            per_epoch = n // size
            epoch, pos = divmod(step, per_epoch)
            if (task, epoch) not in self._orders:
                self._orders = {k: v for k, v in self._orders.items() if k[0] != task}
                self._orders[(task, epoch)] = batch_order(n, size, epoch, self.config.seed + t)
            out[task] = self._orders[(task, epoch)][pos]
        return out

    def task_texts(self, task: str, rows: np.ndarray) -> np.ndarray:
        """Text ids ``(rows, texts_per_row)``: query, positive, mined negatives / the pair."""
        if task == "sts":
            return self.sts_rows[rows]
        negs = self.pool[self.bank.negatives[torch.as_tensor(rows)].cpu().numpy()]
        return np.column_stack([self.anchor[rows], self.positive[rows], negs])

    def compute_loss(self, step: int) -> torch.Tensor:
        rows = self.step_rows(step)
        part = self.plan[self.dist.rank]
        ids = [self.task_texts(t, rows[t][a:b]).reshape(-1) for t, a, b in part]
        flat = np.concatenate(ids)
        uniq, inverse = np.unique(flat, return_inverse=True)
        input_ids, mask = self.encoder._pad([self.ids[i] for i in uniq])
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            emb, _ = self.embed(input_ids, mask, [])
        emb = emb.float()[torch.as_tensor(inverse.reshape(-1), device=self.device)]
        width = max(local_count(p, self.texts_per_row) for p in self.plan)
        emb = torch.nn.functional.pad(emb, (0, 0, 0, width - emb.shape[0]))
        parts = assemble(D.gather(emb), self.plan, self.texts_per_row)
        retrieval = sts = None
        if "retrieval" in parts:
            r = parts["retrieval"]
            retrieval = [r[:, c] for c in range(r.shape[1])]
        if "sts" in parts:
            labels = torch.as_tensor(self.sts.labels[rows["sts"]], device=self.device)
            sts = (parts["sts"][:, 0], parts["sts"][:, 1], labels)
        return self.loss.cbb(retrieval, sts)

    def export(self, out: Path, info: dict[str, Any]) -> None:
        info["method"] = {
            "retrieval_data": self.data.name,
            "sts_data": self.sts.name if self.sts is not None else None,
            "mining_rounds": int(self.bank.rounds),
            "negatives_replaced": int(self.bank.replaced),
            "pool_size": len(self.pool),
            "cbb_plan": self.plan,
        }
        super().export(out, info)
