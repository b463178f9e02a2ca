"""AnglE: angle-optimised text embeddings.

Li and Li (2024), "AnglE-optimized Text Embeddings", ACL. https://arxiv.org/abs/2309.12871
Reference code: SeanLee97/AnglE (PyPI ``angle-emb``). Two presets:

- ``current``: the ``AngleLoss`` defaults of the current release, angle-emb 0.6.1 (commit
  5155458cfa6f7fbc7a8a19a66960cd86eadfd534, ``angle_emb/angle.py`` ``AngleLoss.__init__``):
  ``cosine_w=0, ibn_w=1, angle_w=0.02``, every temperature 20; rows whose text already
  appeared in the batch are dropped (``AngleDataCollator(filter_duplicate=True)``, the
  ``AnglE.fit`` default).
- ``2023``: the code of the paper's first release (v0.1.6, commit
  cf51cdf011db47c3be6f75b7253c33e11cb3dc81, the same defaults as the first commit
  de7b7508, Oct 2023): ``w1 = w2 = w3 = 1`` (cosine, in-batch negatives, angle),
  ``cosine_tau = ibn_tau = 20``, ``angle_tau = 1``; gold scores cast to ``int`` by the
  data tokenizer; a text seen twice in a batch is an extra positive of the in-batch term
  (its ``similar_matrix``).

``tests/test_loss_parity.py`` pins values produced by running both versions' loss functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InvalidInputError, UnknownNameError
from .base import EmbeddingLoss, check_pairs, ranking_loss

#: weights, temperatures, label handling and duplicate handling of each preset
ANGLE_PRESETS: dict[str, dict[str, Any]] = {
    "current": {
        "cosine_weight": 0.0,
        "ibn_weight": 1.0,
        "angle_weight": 0.02,
        "cosine_tau": 20.0,
        "ibn_tau": 20.0,
        "angle_tau": 20.0,
        "integer_labels": False,
        "duplicates": "drop",
    },
    "2023": {
        "cosine_weight": 1.0,
        "ibn_weight": 1.0,
        "angle_weight": 1.0,
        "cosine_tau": 20.0,
        "ibn_tau": 20.0,
        "angle_tau": 1.0,
        "integer_labels": True,
        "duplicates": "positive",
    },
}
DUPLICATE_MODES = ("drop", "positive", "keep")


def angle_similarity(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """AnglE's similarity: the absolute summed angle difference in complex space.

    Each vector is read as ``D/2`` complex numbers (first half real parts, second half
    imaginary parts). As in the reference ``angle_loss``, ``z = a + bi`` is "divided" by
    ``w = c + di`` as ``z * conj(w) / |w|^2`` with ``|w|`` the norm of the whole vector,
    normalised by ``|z| / |w|``, and a pair scores ``|sum(Re) + sum(Im)|``: that is
    ``|cos + sin|`` of the L2-normalised vectors. Odd dimensions get one zero pad.
    """
    if u.shape[-1] % 2:
        u, v = F.pad(u, (0, 1)), F.pad(v, (0, 1))
    a, b = torch.chunk(u, 2, dim=-1)
    c, d = torch.chunk(v, 2, dim=-1)
    w2 = (c**2 + d**2).sum(-1, keepdim=True)
    re = (a * c + b * d) / w2
    im = (b * c - a * d) / w2
    ratio = (a**2 + b**2).sum(-1, keepdim=True).sqrt() / w2.sqrt()  # |z| / |w|
    re, im = re / ratio, im / ratio
    return (re.sum(-1) + im.sum(-1)).abs()


def first_occurrence_rows(text_ids: np.ndarray) -> np.ndarray:
    """Rows AnglE's collator keeps with ``filter_duplicate=True``: in batch order, a row is
    dropped as soon as one of its texts was seen before (texts of a dropped row that came
    before the duplicate still count as seen, as in the reference loop)."""
    seen: set[int] = set()
    keep = np.ones(len(text_ids), dtype=bool)
    for r, row in enumerate(text_ids):
        for t in row:
            if int(t) in seen:
                keep[r] = False
                break
            seen.add(int(t))
    return keep


def ibn_targets(labels: torch.Tensor) -> torch.Tensor:
    """AnglE's in-batch target matrix over zigzag rows ``[u0, v0, u1, v1, ...]``.

    ``labels`` are per row (both rows of a pair carry the pair's score) and truncated to
    ``int``. Row ``j`` is a positive of row ``i`` when ``j * y_j == partner(i) * y_i`` with
    both ``y`` non-zero (``make_target_matrix`` in the reference): for 0/1 labels, exactly the
    partner of a positive pair. With integer scores above 1 (STS-B's 0-5) the products also
    coincide for some unrelated rows, which the reference then counts as positives too; this
    function reproduces that.
    """
    y = labels.to(torch.int64)
    idx = torch.arange(len(y), device=y.device)
    partner = idx + 1 - (idx % 2) * 2
    cols = torch.where(y != 0, idx * y, torch.full_like(y, -2))
    rows = torch.where(y != 0, partner * y, torch.full_like(y, -1))
    return (rows[:, None] == cols[None, :]).to(labels.dtype)


def in_batch_negative_loss(z: torch.Tensor, targets: torch.Tensor, tau: float) -> torch.Tensor:
    """``mean_i -sum_j targets[i, j] * log_softmax_j(tau * cos(z_i, z_j))``, self excluded."""
    zn = F.normalize(z, p=2, dim=-1)
    # the reference subtracts 1e12 on the diagonal (a finite mask: 0 * mask stays 0)
    sims = (zn @ zn.T - torch.eye(len(z), dtype=z.dtype, device=z.device) * 1e12) * tau
    return -(F.log_softmax(sims, dim=1) * targets).sum(dim=1).mean()


class AnglELoss(EmbeddingLoss):
    """``cosine_weight * CoSENT(cos, cosine_tau) + ibn_weight * IBN(ibn_tau)
    + angle_weight * CoSENT(angle_similarity, angle_tau)``, as AnglE computes it.

    ``preset``: ``"current"`` (angle-emb 0.6.1's ``AngleLoss`` defaults) or ``"2023"``
    (the paper's first code release); see the module docstring. Any weight, temperature,
    ``integer_labels`` or ``duplicates`` given explicitly overrides the preset.

    The in-batch negative term (IBN) is a cross-entropy over every other text of the
    batch: the rows ``[u0, v0, u1, v1, ...]``, each row's positives given by
    :func:`ibn_targets` from its pair's gold score. Scores are in [0, 1] here; the
    reference's STS-B scripts feed the raw 0-5 score, so ``label_scale=5`` maps them back
    before the reference's ``int`` truncation (a pair scored below 1/5 has no positive).
    ``integer_labels`` truncates the scores for every term, as the 2023 data tokenizer did.

    Duplicates need ``text_ids`` (``(N, 2)`` ids, equal for equal texts), which the
    training loop passes: ``"drop"`` removes a row whose text already appeared in the batch
    (the current collator), ``"positive"`` makes equal texts positives of each other in
    the IBN term (2023), ``"keep"`` does nothing. Without ``text_ids`` nothing is removed.

    sentence-transformers' ``AnglELoss`` is the angle term alone with temperature 20, and
    its ``CoSENTLoss`` the cosine term.

    Inputs: ``columns = [sentence1, sentence2]``, ``labels`` ``(N,)`` gold scores in [0, 1].

    >>> loss = AnglELoss()
    >>> u, v, y = torch.randn(8, 16), torch.randn(8, 16), torch.rand(8)
    >>> float(loss([u, v], y)) >= 0
    True
    """

    inputs = "graded"
    uses_text_ids = True

    def __init__(
        self,
        preset: str = "current",
        *,
        cosine_weight: float | None = None,
        ibn_weight: float | None = None,
        angle_weight: float | None = None,
        cosine_tau: float | None = None,
        ibn_tau: float | None = None,
        angle_tau: float | None = None,
        integer_labels: bool | None = None,
        duplicates: str | None = None,
        label_scale: float = 5.0,
    ) -> None:
        super().__init__()
        key = str(preset).strip().lower()
        if key not in ANGLE_PRESETS:
            raise UnknownNameError(
                f"unknown AnglE preset {preset!r}; choose one of {', '.join(ANGLE_PRESETS)}"
            )
        given = {
            "cosine_weight": cosine_weight,
            "ibn_weight": ibn_weight,
            "angle_weight": angle_weight,
            "cosine_tau": cosine_tau,
            "ibn_tau": ibn_tau,
            "angle_tau": angle_tau,
            "integer_labels": integer_labels,
            "duplicates": duplicates,
        }
        cfg = {k: (v if given.get(k) is None else given[k]) for k, v in ANGLE_PRESETS[key].items()}
        if cfg["duplicates"] not in DUPLICATE_MODES:
            raise InvalidInputError(
                f"duplicates must be one of {', '.join(DUPLICATE_MODES)}, got {duplicates!r}"
            )
        if label_scale <= 0:
            raise InvalidInputError(f"label_scale must be > 0, got {label_scale}")
        self.preset = key
        self.cosine_weight = float(cfg["cosine_weight"])
        self.ibn_weight = float(cfg["ibn_weight"])
        self.angle_weight = float(cfg["angle_weight"])
        self.cosine_tau = float(cfg["cosine_tau"])
        self.ibn_tau = float(cfg["ibn_tau"])
        self.angle_tau = float(cfg["angle_tau"])
        self.integer_labels = bool(cfg["integer_labels"])
        self.duplicates = str(cfg["duplicates"])
        self.label_scale = float(label_scale)

    def reference_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Gold scores on the reference's scale (``label_scale``), truncated if asked."""
        y = labels * self.label_scale
        if self.integer_labels:
            # rounding first: 0.6 * 5 must be 3, not 2.9999998
            y = torch.trunc(torch.round(y, decimals=4))
        return y

    def forward(
        self,
        columns: Sequence[torch.Tensor],
        labels: torch.Tensor | None = None,
        text_ids: torch.Tensor | np.ndarray | None = None,
    ) -> torch.Tensor:
        u, v, y = check_pairs(columns, labels, "AnglELoss")
        ids = None
        if text_ids is not None and self.duplicates != "keep":
            ids = np.asarray(text_ids.cpu() if torch.is_tensor(text_ids) else text_ids)
            if ids.shape != (u.shape[0], 2):
                raise InvalidInputError(
                    f"AnglELoss: text_ids must be ({u.shape[0]}, 2), got {tuple(ids.shape)}"
                )
            if self.duplicates == "drop":
                keep = first_occurrence_rows(ids)
                if not keep.all():
                    k = torch.as_tensor(np.flatnonzero(keep), device=u.device)
                    u, v, y, ids = u[k], v[k], y[k], ids[keep]
        y = self.reference_labels(y)
        loss = u.new_zeros(())
        if self.cosine_weight > 0:
            cos = F.cosine_similarity(u, v, dim=-1)
            loss = loss + self.cosine_weight * ranking_loss(cos, y, self.cosine_tau)
        if self.ibn_weight > 0:
            z = torch.stack((u, v), dim=1).reshape(-1, u.shape[-1])  # u0, v0, u1, v1, ...
            # rounding first: a score of 3 stored as 0.6 * 5 = 2.9999998 must count as 3
            targets = ibn_targets(torch.round(y, decimals=4).repeat_interleave(2))
            if ids is not None and self.duplicates == "positive":
                flat = torch.as_tensor(ids.reshape(-1), device=u.device)
                same = flat[:, None] == flat[None, :]
                same.fill_diagonal_(False)
                targets = targets + same.to(targets.dtype)
            loss = loss + self.ibn_weight * in_batch_negative_loss(z, targets, self.ibn_tau)
        if self.angle_weight > 0:
            ang = angle_similarity(u, v)
            loss = loss + self.angle_weight * ranking_loss(ang, y, self.angle_tau)
        return loss

    def extra_repr(self) -> str:
        return (
            f"preset={self.preset!r}, cosine_weight={self.cosine_weight}, "
            f"ibn_weight={self.ibn_weight}, angle_weight={self.angle_weight}, "
            f"cosine_tau={self.cosine_tau}, ibn_tau={self.ibn_tau}, angle_tau={self.angle_tau}, "
            f"integer_labels={self.integer_labels}, duplicates={self.duplicates!r}, "
            f"label_scale={self.label_scale}"
        )
