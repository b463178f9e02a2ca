"""JTCSE: unsupervised SimCSE with a tensor-modulus constraint and twin-tower CLS cross-attention.

Zong, Yi, Shi, Wang and Xu (2025), "JTCSE: Joint Tensor-Modulus Constraints and
Cross-Attention for Unsupervised Contrastive Learning of Sentence Embeddings", arXiv:2505.02366.
Reference code: github.com/tianyuzong/JTCSE, commit 0fdda5ea24a2a21289edc128ac78338f86102804.

Each step, as ``train_jtcse_bert.py`` there: a batch of ``N`` sentences goes through each of
two towers as ``2N`` interleaved rows (two dropout views each), and the loss is

    L = L_nce(tower 1) + L_nce(tower 2)                      in-tower unsupervised SimCSE
      + L_icnce(cross_1, cross_2) + L_icnce(cls_1, cls_2)    cross-tower InfoNCE (coin-flipped
                                                              direction, a function of the step)
      + L_ictm(1, 2) + L_ictm(2, 1)                          tensor-modulus constraint on positives

(:mod:`workbench.training.losses.jtcse`, pinned against the reference's ``model_dual.py``).
``cross_k`` is the CLS output of a cross-attention between the towers: at the cross-attention
blocks, tower ``k``'s CLS query attends over its own keys and the attention weights are
applied to the *other* tower's values (then tower ``k``'s attention-output dense + LayerNorm).

Defaults from ``train_jtcse_bert.py``'s argparse: lr 1.3e-6, batch 64, max_len 64, 1 epoch,
CLS pooling, temperature 0.05, cross-attention in ``num_ca_layers`` = half of the blocks, equally
spaced (6 of BERT-base's 12: blocks 2, 4, ..., 12). The data default is the shared
``stsb-snli-sentences`` (the reference trains on its ``Wiki_for_JTCSE.txt``, which is not here).

What differs from the paper, and why:

- **Cross-attention.** The reference's modified BERT (``transformers_cp.zip``, class
  ``My_BertModel``) is not in the repository snapshot (the archive is absent), so its exact
  wiring is unknown. Here the towers run their own forward passes unchanged and the
  cross-attention is a side branch (the paper's description: one tower's attention weights
  weight the other tower's value tensor) that feeds ``L_icnce`` only; it trains both towers'
  query/key/value projections but never alters a tower's own forward pass.
- **Exported model.** The paper distils the twin-tower ensemble into one tower (JTCSE-D); the
  distillation script is not in the repository. Because the cross-attention here never changes a
  tower's forward pass, tower 1 is a complete encoder on its own and is what is exported (and
  scored on STS-B dev); no distillation stage runs.
- **Second tower.** The reference starts from two different checkpoints (RTT-augmented +
  unsupervised-SimCSE trained). Here tower 2 is a copy of the base unless ``tower2`` names
  another checkpoint with the same tokenizer and width (``--opt tower2=PATH``); with a copy the
  towers differ only through dropout noise and the coin-flipped cross terms.
- The modulus term uses the model's ``pooler_output`` as the reference does when the model has
  a pooler, otherwise the pooled vector.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import torch

from ...errors import InvalidInputError, WorkbenchError
from .. import distributed as D
from ..data import TrainingData
from ..export import export_encoder
from ..loop import Trainer, _layer_list, max_dropout, set_dropout
from ..losses.jtcse import jtcse_loss


def ca_blocks(num_layers: int, num_ca_layers: int | None) -> list[int]:
    """1-based blocks that take part in the cross-attention: ``num_ca_layers`` equally spaced,
    the last one included (default: half of the blocks, as 6 of 12 in the reference)."""
    n = max(1, num_layers // 2) if num_ca_layers is None else num_ca_layers
    if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n > num_layers or num_layers % n:
        raise InvalidInputError(
            f"num_ca_layers={num_ca_layers} must divide the base's {num_layers} blocks "
            "(equally spaced cross-attention layers, as the reference requires)"
        )
    step = num_layers // n
    return [step * k for k in range(1, n + 1)]


class JTCSETrainer(Trainer):
    """Two towers: unsupervised SimCSE + cross-tower InfoNCE + modulus constraint; exports one."""

    ACCEPTS = ("sentences", "pairs", "triplets", "graded")
    DEFAULTS = {
        "lr": 1.3e-6,
        "batch_size": 64,
        "max_len": 64,
        "data": "stsb-snli-sentences",
        "epochs": 1,
        "pooling": "cls",
    }
    OPTIONS = {
        "num_ca_layers": None,
        "tower2": None,
        "modulus_weight": 1.0,
        "cross_weight": 1.0,
    }

    def load_data(self, data: TrainingData | None) -> TrainingData:
        return super().load_data(data).as_sentences()  # unsupervised: every distinct text

    def setup(self) -> None:
        opts = self.options
        for key in ("modulus_weight", "cross_weight"):
            try:
                ok = float(opts[key]) >= 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InvalidInputError(
                    f"jtcse option {key} must be a number >= 0, got {opts[key]!r}"
                )
        layers = _layer_list(self.model)
        if layers is None or not all(
            hasattr(getattr(getattr(b, "attention", None), "self", None), "value") for b in layers
        ):
            raise WorkbenchError(
                "jtcse's cross-attention needs a BERT-style encoder (blocks with attention."
                f"self.query/key/value); {self.config.base} is {type(self.model).__name__}"
            )
        self.ca_blocks = ca_blocks(len(layers), opts["num_ca_layers"])
        if max_dropout(self.model) == 0:
            set_dropout(self.model, 0.1)  # SimCSE's positives exist only through dropout
            self.dropout_used = 0.1
        if opts["tower2"]:
            from ...encoders import load_encoder

            other = load_encoder(str(opts["tower2"]), device=str(self.device), dtype="float32")
            tower2 = getattr(other, "model", None)
            if (
                tower2 is None
                or type(tower2) is not type(self.model)
                or other.dim != self.encoder.dim
            ):
                raise InvalidInputError(
                    f"tower2 {opts['tower2']!r} must be the same architecture and width as the "
                    f"base ({type(self.model).__name__}, {self.encoder.dim}-d)"
                )
            if other.tokenizer.get_vocab() != self.encoder.tokenizer.get_vocab():
                raise InvalidInputError(f"tower2 {opts['tower2']!r} uses another tokenizer")
            set_dropout(tower2, self.dropout_used)
        else:
            tower2 = copy.deepcopy(self.model)
        self.tower2 = tower2.train()
        self.pairs = torch.nn.ModuleDict({"model": self.model, "tower2": self.tower2})

    def make_loss(self) -> torch.nn.Module:
        return torch.nn.Module()  # the loss is jtcse_loss, called in compute_loss

    def trainable_module(self) -> torch.nn.Module:
        return self.pairs

    # -- one step -------------------------------------------------------------------------
    def _cross(self, src, dst, hs_src, hs_dst, mask) -> torch.Tensor:
        """CLS output of ``src``'s attention weights over ``dst``'s values, mean over blocks."""
        bias = (1.0 - mask[:, None, None, :].to(hs_src[0].dtype)) * torch.finfo(hs_src[0].dtype).min
        outs = []
        src_layers, dst_layers = _layer_list(src), _layer_list(dst)
        for b in self.ca_blocks:
            att, other = src_layers[b - 1].attention, dst_layers[b - 1].attention.self
            x, y = hs_src[b - 1], hs_dst[b - 1]
            h, dh = att.self.num_attention_heads, att.self.attention_head_size
            n, t, _ = x.shape
            q = att.self.query(x[:, :1]).view(n, 1, h, dh).transpose(1, 2)
            k = att.self.key(x).view(n, t, h, dh).transpose(1, 2)
            v = other.value(y).view(n, t, h, dh).transpose(1, 2)
            probs = torch.softmax(q @ k.transpose(-1, -2) / dh**0.5 + bias, dim=-1)
            ctx = (probs @ v).transpose(1, 2).reshape(n, 1, h * dh)
            outs.append(att.output(ctx, x[:, :1])[:, 0])
        return torch.stack(outs).mean(0)

    def compute_loss(self, step: int) -> torch.Tensor:
        from ...encoders.pooling import TOKEN_POOLERS

        rows = self.global_batch(step)
        world, rank = self.dist.world_size, self.dist.rank
        n = len(rows) // world
        local = self.rows[rows[rank * n : (rank + 1) * n], 0]
        ids = [self.token_ids[i] for i in local for _ in range(2)]  # rows 2i, 2i+1: two views
        input_ids, mask = self.encoder._pad(ids)
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        pool = TOKEN_POOLERS[self.encoder.pooling]
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            outs = [
                tower(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
                for tower in (self.model, self.tower2)
            ]
            cls = [pool(o.last_hidden_state, mask) for o in outs]
            pooled = [
                o.pooler_output if getattr(o, "pooler_output", None) is not None else c
                for o, c in zip(outs, cls)
            ]
            cross = [
                self._cross(
                    self.model, self.tower2, outs[0].hidden_states, outs[1].hidden_states, mask
                ),
                self._cross(
                    self.tower2, self.model, outs[1].hidden_states, outs[0].hidden_states, mask
                ),
            ]
        g = [D.gather(x.float()) for x in (*cls, *pooled, *cross)]
        swap = random.Random(self.config.seed * 1_000_003 + step).randint(0, 1) == 1
        return jtcse_loss(
            g[0],
            g[1],
            g[2],
            g[3],
            g[4],
            g[5],
            swap,
            temperature=self.config.temperature,
            modulus_weight=float(self.options["modulus_weight"]),
            cross_weight=float(self.options["cross_weight"]),
        )

    def export(self, out: Path, info: dict[str, Any]) -> None:
        info["jtcse"] = {
            "exported": "tower 1 (no distillation stage; see workbench.training.methods.jtcse)",
            "cross_attention_blocks": self.ca_blocks,
            "tower2": self.options["tower2"] or "copy of the base",
        }
        export_encoder(self.encoder, out, info)


__all__ = ["JTCSETrainer", "ca_blocks"]
