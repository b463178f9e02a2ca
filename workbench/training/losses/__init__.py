"""Training losses, one per module, each naming its paper.

Every loss is a :class:`torch.nn.Module` called as ``loss(columns, labels)``:

- ``columns``: a list of ``(N, D)`` embedding tensors, one per input column (anchors,
  positives, hard negatives; or the two sentences of a graded pair), already gathered from
  every process, so the loss always sees the global batch;
- ``labels``: ``(N,)`` float gold scores in [0, 1] for graded pairs, else ``None``.

:class:`Matryoshka2dLoss` (``uses_layers``) also takes ``prior_layers`` (the same columns
pooled at earlier layers) and the step's ``plan`` (which layers and dims it trains), which
the loop gets from ``loss.plan_for_step(step, num_layers)``, a pure function of the seed and
the step. Losses with ``uses_text_ids`` (AnglE) also take ``text_ids``, ``(N, columns)``
ids that are equal for equal texts, to treat duplicates as their reference does.
"""

from __future__ import annotations

from .angle import AnglELoss, angle_similarity
from .base import EmbeddingLoss
from .codiemb import CoDiEmbLoss
from .conan import ConanLoss
from .cosent import CoSENTLoss
from .matryoshka import MatryoshkaLoss
from .matryoshka2d import Matryoshka2dLoss, Matryoshka2dPlan
from .pcc import PccLoss
from .simcse import SimCSELoss

__all__ = [
    "AnglELoss",
    "CoDiEmbLoss",
    "CoSENTLoss",
    "ConanLoss",
    "EmbeddingLoss",
    "Matryoshka2dLoss",
    "Matryoshka2dPlan",
    "MatryoshkaLoss",
    "PccLoss",
    "SimCSELoss",
    "angle_similarity",
]
