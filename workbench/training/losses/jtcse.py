"""JTCSE's three training terms: in-tower InfoNCE, cross-tower InfoNCE, tensor-modulus constraint.

Zong, Yi, Shi, Wang and Xu (2025), "JTCSE: Joint Tensor-Modulus Constraints and
Cross-Attention for Unsupervised Contrastive Learning of Sentence Embeddings", arXiv:2505.02366.
Computed as the reference code, github.com/tianyuzong/JTCSE at commit
0fdda5ea24a2a21289edc128ac78338f86102804, ``model_dual.py`` (``unsup_infonce_loss``, ``icnce``,
``LTN_loss``) and ``train_jtcse_bert.py`` (how they are summed); ``tests/test_method_jtcse.py``
pins values produced by running those functions.

Layout (as the reference): a batch of ``N`` sentences is ``2N`` interleaved rows, rows ``2i``
and ``2i + 1`` being two dropout views of sentence ``i``; row ``j``'s positive is ``j ^ 1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import InvalidInputError


def _partner(n: int, device: torch.device) -> torch.Tensor:
    if n % 2:
        raise InvalidInputError(f"JTCSE losses take 2N interleaved rows (two views), got {n}")
    return torch.arange(n, device=device) ^ 1


def _masked_logits(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    sim = F.cosine_similarity(a.unsqueeze(1), b.unsqueeze(0), dim=-1)
    # the reference subtracts 1e12 from the diagonal: row j never counts itself (or, across
    # towers, its own index) as a candidate
    sim = sim - torch.eye(a.shape[0], device=a.device, dtype=a.dtype) * 1e12
    return sim / temperature


def jtcse_infonce(x: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """Unsupervised SimCSE over ``2N`` interleaved rows: each row against the ``2N - 1`` others,
    its other view the positive (``unsup_infonce_loss``)."""
    target = _partner(x.shape[0], x.device)
    return F.cross_entropy(_masked_logits(x, x, temperature), target)


def jtcse_cross_infonce(
    a: torch.Tensor, b: torch.Tensor, temperature: float = 0.05
) -> torch.Tensor:
    """Cross-tower InfoNCE (``icnce``): row ``j`` of tower ``a`` against every row of tower
    ``b`` but ``j``; its positive is the other view ``j ^ 1`` in tower ``b``."""
    if a.shape != b.shape:
        raise InvalidInputError(f"icnce needs equal shapes, got {tuple(a.shape)}, {tuple(b.shape)}")
    target = _partner(a.shape[0], a.device)
    return F.cross_entropy(_masked_logits(a, b, temperature), target)


def jtcse_modulus(
    cls_a: torch.Tensor,
    cls_b: torch.Tensor,
    pooled_a: torch.Tensor,
    pooled_b: torch.Tensor,
) -> torch.Tensor:
    """The tensor-modulus constraint (``LTN_loss``), over the positive pairs ``(2i, 2i + 1)``::

        mean_i -log(max(cos(a_2i, b_2i+1), clamp)) * |p_2i - q_2i+1| / (|p_2i| + |q_2i+1|) / 2

    ``cls_*``: the towers' CLS vectors; ``pooled_*``: their pooler outputs (the reference uses
    BERT's ``pooler_output``). A negative cosine is replaced, as in the reference, by the
    constant 1e-4 (no gradient through it): ``-log`` then weighs the modulus term by 9.21.
    """
    n = cls_a.shape[0]
    _partner(n, cls_a.device)
    even, odd = slice(0, n, 2), slice(1, n, 2)
    cos = F.cosine_similarity(cls_a[even], cls_b[odd], dim=-1)
    cos = torch.where(cos < 0, torch.full_like(cos, 1e-4).detach(), cos)
    p, q = pooled_a[even], pooled_b[odd]
    modulus = torch.linalg.vector_norm(p - q, dim=-1) / (
        torch.linalg.vector_norm(p, dim=-1) + torch.linalg.vector_norm(q, dim=-1)
    )
    return (-torch.log(cos) * modulus / 2.0).sum() / (n / 2)


def jtcse_loss(
    cls_1: torch.Tensor,
    cls_2: torch.Tensor,
    pooled_1: torch.Tensor,
    pooled_2: torch.Tensor,
    cross_1: torch.Tensor,
    cross_2: torch.Tensor,
    swap: bool,
    temperature: float = 0.05,
    modulus_weight: float = 1.0,
    cross_weight: float = 1.0,
) -> torch.Tensor:
    """``L_nce + L_icnce + L_ictm`` of ``train_jtcse_bert.py`` for one batch.

    ``cls_k``/``pooled_k``: tower ``k``'s CLS vectors and pooler outputs (``2N`` interleaved
    rows); ``cross_k``: the CLS vectors of the cross-attention outputs (the reference's
    ``temp_k``). ``swap``: the reference's coin flip (``random.randint(0, 1)``) of which tower
    gives the other its positives. The weights are 1 in the reference.
    """
    t = temperature
    nce = jtcse_infonce(cls_1, t) + jtcse_infonce(cls_2, t)
    if swap:
        icnce = jtcse_cross_infonce(cross_2, cross_1, t) + jtcse_cross_infonce(cls_2, cls_1, t)
    else:
        icnce = jtcse_cross_infonce(cross_1, cross_2, t) + jtcse_cross_infonce(cls_1, cls_2, t)
    ictm = jtcse_modulus(cls_1, cls_2, pooled_1, pooled_2) + jtcse_modulus(
        cls_2, cls_1, pooled_2, pooled_1
    )
    return nce + cross_weight * icnce + modulus_weight * ictm
