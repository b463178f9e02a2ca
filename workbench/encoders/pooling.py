"""Pooling: from token states to one vector per sentence.

Every function takes hidden states ``(batch, tokens, dim)`` and the attention mask
``(batch, tokens)`` (1 for real tokens, 0 for padding) and must ignore padding exactly, so
that a sentence gets the same vector whatever batch it is padded in.

Names (aliases in brackets):

- ``cls`` [``cls_before_pooler``]: the first token's state at the chosen layer. This is what
  unsupervised SimCSE evaluates.
- ``pooler`` [``pooler_output``]: BERT's pooler output (CLS through the trained dense+tanh);
  last layer only.
- ``mean`` [``avg``]: mean over real tokens (sentence-transformers' default).
- ``max``: element-wise max over real tokens.
- ``mean-sqrt-len``: sum over real tokens divided by sqrt(length) (sentence-transformers).
- ``first-last-avg`` [``avg_first_last``]: average of the *first transformer layer*
  (``hidden_states[1]``) and the last layer, then mean over tokens, as in SimCSE's
  evaluation code. BERT-flow's original code used the embedding layer
  (``hidden_states[0]``) instead; pass ``first_layer=0`` to :func:`first_last_avg` for that.
- ``last-token`` [``last``, ``eos``]: the state of the last real token (decoder LLMs,
  PromptEOL). Works with left or right padding.
"""

from __future__ import annotations

import torch

from ..errors import UnknownNameError

POOLINGS = ("cls", "pooler", "mean", "max", "mean-sqrt-len", "first-last-avg", "last-token")
ALIASES = {
    "cls_before_pooler": "cls",
    "pooler_output": "pooler",
    "avg": "mean",
    "mean_tokens": "mean",
    "max_tokens": "max",
    "mean_sqrt_len_tokens": "mean-sqrt-len",
    "avg_first_last": "first-last-avg",
    "first_last_avg": "first-last-avg",
    "first-last": "first-last-avg",
    "last": "last-token",
    "lasttoken": "last-token",
    "last_token": "last-token",
    "eos": "last-token",
}
#: pooling modes that need every layer's states rather than one layer's
NEEDS_ALL_LAYERS = {"first-last-avg"}


def resolve_pooling(name: str) -> str:
    """Canonical pooling name, or :class:`UnknownNameError` listing the valid ones."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in POOLINGS:
        raise UnknownNameError(
            f"unknown pooling {name!r}; choose one of {', '.join(POOLINGS)}"
            f" (aliases: {', '.join(sorted(ALIASES))})"
        )
    return key


def _mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.unsqueeze(-1).to(like.dtype)


def cls(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # With left padding the first real token is not at position 0.
    first = mask.float().argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), first]


def mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = _mask(mask, hidden)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def mean_sqrt_len(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = _mask(mask, hidden)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9).sqrt()


def max_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    neg = torch.finfo(hidden.dtype).min
    return hidden.masked_fill(~mask.bool().unsqueeze(-1), neg).max(dim=1).values


def last_token(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # index of the last 1 in each row: correct for right and for left padding
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = (positions * mask.long()).max(dim=1).values
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def first_last_avg(
    hidden_states: tuple[torch.Tensor, ...], mask: torch.Tensor, first_layer: int = 1
) -> torch.Tensor:
    return mean((hidden_states[first_layer] + hidden_states[-1]) / 2, mask)


TOKEN_POOLERS = {
    "cls": cls,
    "mean": mean,
    "max": max_pool,
    "mean-sqrt-len": mean_sqrt_len,
    "last-token": last_token,
}
