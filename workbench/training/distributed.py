"""Many processes: set-up, a differentiable all-gather, and gradient averaging.

The loop splits each global batch into equal slices, one per process. Every process
gathers the embeddings of all slices (:func:`gather`, differentiable) and computes the loss
of the whole global batch, so contrastive negatives come from every process: the
cross-device negatives of CoDiEmb and Conan-embedding. The gather's backward sums the
gradient every process sends to a slice; :func:`average_gradients` then divides the summed
parameter gradients by the number of processes. Together this gives exactly the gradient of
one process on the concatenated batch (checked in ``tests/test_distributed.py``).

Launch with ``torchrun --nproc_per_node N $(which workbench) train ...``; on the CPU the
backend is gloo, on CUDA nccl.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, and its ``local_rank``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the process group torchrun (or a test) described in the environment.

    Reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; one process (no such variables) needs
    nothing. Already-initialised groups are reused.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        use_cuda = (device is None or str(device).startswith(("cuda", "auto"))) and (
            torch.cuda.is_available()
        )
        backend = "nccl" if use_cuda else "gloo"
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
        log.info("process %d of %d joined (%s)", rank, world, backend)
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every process's gradient for the local slice."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        world = dist.get_world_size()
        ctx.rank, ctx.n = dist.get_rank(), tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every process along dim 0, in rank order, keeping the
    autograd graph. Every process must pass the same shape. One process: unchanged."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


def average_gradients(parameters) -> None:
    """Average ``.grad`` of ``parameters`` over processes (one flat all-reduce).

    Parameters without a gradient (unused, such as BERT's pooler under mean pooling) are
    skipped; they are the same on every process.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` from process ``src`` on every process (pickled)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def all_equal(value: Any) -> bool:
    """True when every process holds the same picklable ``value``."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return True
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return all(v == out[0] for v in out)
