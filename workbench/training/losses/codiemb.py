"""CoDiEmb's task-specific losses: multi-positive InfoNCE for IR, order-aware losses for STS.

Zhang, Song, Chen, Zhang, Yin and Sun (2025), "CoDiEmb: A Collaborative yet Distinct
Framework for Unified Representation Learning in Information Retrieval and Semantic Textual
Similarity", arXiv:2508.11442. Reference code: TencentCloudADP/youtu-embedding at commit
9a0d6f342d16c4580f17884c403bfd4a73fa6fdf, ``training/CoDiEmb/train/loss.py`` (the losses)
and ``training/CoDiEmb/train/model.py`` (how they are weighted). The functions below compute
the same quantities (checked in ``tests/test_method_codiemb.py`` against values produced by
running that file); the PRO and rank-KL terms are vectorised instead of looped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ...errors import InvalidInputError
from .base import EmbeddingLoss


def multi_positive_infonce(
    queries: torch.Tensor,
    passages: torch.Tensor,
    n_positives: int,
    n_negatives: int,
    temperature: float,
) -> torch.Tensor:
    """InfoNCE with several positives and hard negatives per query (the reference's
    ``ContrastiveLoss(task_type="ir")`` in its ``"all"`` mode).

    ``queries`` ``(B, D)``; ``passages`` ``(B * (P + K), D)``, query ``i``'s ``P`` positives
    then its ``K`` hard negatives. For each positive slot ``j`` every query is scored against
    the slot-``j`` positive and the ``K`` negatives of every query in the batch (so other
    queries' positives and negatives are in-batch negatives); the cross-entropy is averaged
    over the ``P`` slots. Inputs are used as given: pass L2-normalised embeddings for cosine.
    """
    group = n_positives + n_negatives
    b = queries.shape[0]
    if passages.shape[0] != b * group:
        raise InvalidInputError(
            f"{passages.shape[0]} passages for {b} queries; expected {b} x ({n_positives} "
            f"positives + {n_negatives} negatives)"
        )
    grouped = passages.view(b, group, -1)
    negatives = grouped[:, n_positives:]
    target = torch.arange(b, device=queries.device) * (1 + n_negatives)
    total = queries.new_zeros(())
    for j in range(n_positives):
        cands = torch.cat([grouped[:, j : j + 1], negatives], dim=1).reshape(
            b * (1 + n_negatives), -1
        )
        total = total + F.cross_entropy(queries @ cands.T / temperature, target)
    return total / n_positives


def pearson_loss(pred: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """``1 - Pearson(pred, gold)`` (population variances, as the reference); 0 when the gold
    scores are all equal (no order to learn)."""
    if gold.numel() < 2 or bool(gold.min() == gold.max()):
        return pred.sum() * 0.0
    xc, yc = pred - pred.mean(), gold - gold.mean()
    r = (xc * yc).mean() / (xc.pow(2).mean().sqrt() * yc.pow(2).mean().sqrt())
    return 1.0 - r


def pro_loss(
    pred: torch.Tensor, gold: torch.Tensor, temperature: float = 0.05, eps: float = 1e-8
) -> torch.Tensor:
    """The PRO list-wise ranking loss as CoDiEmb adapts it to STS.

    For each pair ``k`` with lower-scored pairs ``j`` (``gold_k - gold_j > eps``), with weights
    ``w_j = gold_k - gold_j``: ``-log softmax([max(w) * s_k, w_j * s_j ...])[0]`` where
    ``s = pred / temperature``; averaged over the pairs that have any lower-scored pair.
    (The reference loops over pairs sorted by gold score; a pair's "tail" there is exactly the
    set of strictly lower pairs, so no sort is needed.)
    """
    if gold.numel() < 2:
        return pred.sum() * 0.0
    s = pred / temperature
    w = gold[:, None] - gold[None, :]  # w[k, j] = gold_k - gold_j
    mask = w > eps
    valid = mask.any(dim=1)
    if not bool(valid.any()):
        return pred.sum() * 0.0
    w_max = w.masked_fill(~mask, float("-inf")).amax(dim=1)
    head = (s * w_max.where(valid, torch.zeros_like(w_max)))[:, None]
    tail = (s[None, :] * w).masked_fill(~mask, float("-inf"))
    log_p = head[:, 0] - torch.logsumexp(torch.cat([head, tail], dim=1), dim=1)
    return -log_p[valid].mean()


def average_ranks_desc(x: torch.Tensor) -> torch.Tensor:
    """0-based ranks of ``x`` in descending order, ties sharing their average rank
    (``scipy.stats.rankdata(-x, method="average") - 1``)."""
    greater = (x[None, :] > x[:, None]).sum(dim=1)
    equal = (x[None, :] == x[:, None]).sum(dim=1)
    return greater.to(x.dtype) + (equal.to(x.dtype) - 1) / 2


def rank_kl_loss(pred: torch.Tensor, gold: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """KL(target || softmax(pred / t)) where the target is the softmax of the gold scores'
    rank positions scaled to [0, 1] (the reference's ``RankKLDivergenceLoss``, batchmean)."""
    n = gold.numel()
    if n < 2:
        return pred.sum() * 0.0
    ranks = average_ranks_desc(gold.to(pred.dtype))
    ideal = (n - 1 - ranks) / (n - 1)
    target = F.softmax(ideal / temperature, dim=0)
    return F.kl_div(F.log_softmax(pred / temperature, dim=0), target, reduction="batchmean")


class CoDiEmbLoss(EmbeddingLoss):
    """CoDiEmb's two objectives; a batch is one task's (the sampler never mixes them).

    - :meth:`ir`: :func:`multi_positive_infonce` on L2-normalised embeddings, temperature 0.02
      (``scripts/train_bge.sh``).
    - :meth:`sts`: ``2 * pearson + 0.5 * PRO + 5 * rank-KL`` on the cosine of each pair, PRO
      and KL at temperature 0.05 (``train/model.py``, ``TrainModel.forward``).

    ``forward(columns, labels)`` dispatches: graded pairs (labels given) go to :meth:`sts`,
    ``[queries, passages]`` to :meth:`ir`.

    >>> loss = CoDiEmbLoss(n_positives=1, n_negatives=2)
    >>> q, p = torch.randn(4, 8), torch.randn(12, 8)
    >>> float(loss([q, p])) > 0
    True
    """

    inputs = "contrastive"

    def __init__(
        self,
        n_positives: int = 2,
        n_negatives: int = 4,
        temperature: float = 0.02,
        rank_temperature: float = 0.05,
        weights: tuple[float, float, float] = (2.0, 0.5, 5.0),
    ) -> None:
        super().__init__()
        if n_positives < 1 or n_negatives < 0:
            raise InvalidInputError("CoDiEmb needs >= 1 positive and >= 0 negatives per query")
        if temperature <= 0 or rank_temperature <= 0:
            raise InvalidInputError("CoDiEmb temperatures must be > 0")
        self.n_positives, self.n_negatives = int(n_positives), int(n_negatives)
        self.temperature, self.rank_temperature = float(temperature), float(rank_temperature)
        self.weights = tuple(float(w) for w in weights)

    def ir(self, queries: torch.Tensor, passages: torch.Tensor) -> torch.Tensor:
        return multi_positive_infonce(
            F.normalize(queries, dim=-1),
            F.normalize(passages, dim=-1),
            self.n_positives,
            self.n_negatives,
            self.temperature,
        )

    def sts_terms(self, u: torch.Tensor, v: torch.Tensor, labels: torch.Tensor) -> dict:
        """The three weighted STS terms (for logging and the parity test)."""
        sim = F.cosine_similarity(u, v, dim=-1)
        y = labels.to(sim.dtype)
        wp, wr, wk = self.weights
        return {
            "pearson": wp * pearson_loss(sim, y),
            "pro": wr * pro_loss(sim, y, self.rank_temperature),
            "kl": wk * rank_kl_loss(sim, y, self.rank_temperature),
        }

    def sts(self, u: torch.Tensor, v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return sum(self.sts_terms(u, v, labels).values())

    def forward(
        self, columns: Sequence[torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        if len(columns) != 2:
            raise InvalidInputError(
                "CoDiEmbLoss takes [queries, passages] or [sentence1, sentence2]"
            )
        if labels is not None:
            return self.sts(columns[0], columns[1], labels)
        return self.ir(columns[0], columns[1])

    def extra_repr(self) -> str:
        return (
            f"positives={self.n_positives}, negatives={self.n_negatives}, "
            f"temperature={self.temperature}, rank_temperature={self.rank_temperature}"
        )
