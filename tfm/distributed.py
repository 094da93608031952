"""Several processes: ``torchrun`` and DistributedDataParallel.

Every process builds the same global batch (the batch generator has the same seed everywhere),
trains on its own slice of the rows (:func:`shard_batch`), and DistributedDataParallel averages
the gradients, so the result does not depend on the number of processes. Rank 0 alone writes
checkpoints and prints.
"""
from __future__ import annotations

import inspect
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from .device import get_device

Batch = tuple[Tensor, ...]  # (inputs..., target)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a ``torchrun`` launch; a process on its own is rank 0 of 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # the process's number on its machine: which GPU it drives

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints and prints."""
        return self.rank == 0


def dist_info() -> DistInfo:
    """RANK, WORLD_SIZE and LOCAL_RANK, the environment variables torchrun sets for each process."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    env = os.environ
    return DistInfo(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def setup_distributed(device: str | None = None) -> tuple[DistInfo, torch.device, bool]:
    """Join the process group torchrun describes, if any: returns (info, device, created).

    Each process drives one GPU (``cuda:LOCAL_RANK``, backend NCCL) or runs on the CPU
    (backend gloo). ``created``: this call started the group, so the caller ends it.
    """
    info = dist_info()
    if not info.enabled:
        return info, get_device(device), False
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        device = f"cuda:{info.local_rank}"  # one GPU per process
    dev = get_device(device)
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"distributed training runs on CPUs (gloo) or CUDA GPUs (nccl), not on {dev}")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if dist.is_initialized():
        return info, dev, False
    # MASTER_ADDR and MASTER_PORT (set by torchrun) say where the processes meet.
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=info.rank, world_size=info.world_size)
    return info, dev, True


def cpu_group(device: torch.device):
    """A process group for small CPU tensors: the default one on CPUs (gloo), a gloo group beside
    NCCL on GPUs, so that agreeing on a flag never makes the CPU wait for a GPU."""
    return dist.new_group(backend="gloo") if device.type == "cuda" else None


def wrap_ddp(model: torch.nn.Module, device: torch.device) -> DistributedDataParallel:
    """DDP around ``model``: it averages the gradients over the processes during backward()."""
    params = inspect.signature(DistributedDataParallel).parameters
    # tfm's buffers are constants: skip copying them before every forward.
    no_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None, **no_sync)


def shard_batch(batch: Batch, info: DistInfo) -> Batch:
    """This process's rows of the global batch: rows [rank * B/W, (rank + 1) * B/W) of every tensor.

    Every process draws the same global batch (the batch generator has the same seed
    everywhere) and keeps its slice, so together they see exactly the batch one process would.
    """
    B = batch[0].size(0)
    if B % info.world_size:
        raise ValueError(f"the batch size {B} must be divisible by the number of processes ({info.world_size})")
    rows = B // info.world_size
    return tuple(t[info.rank * rows : (info.rank + 1) * rows] for t in batch)


def any_process(flag: bool, group=None) -> bool:
    """True on every process if ``flag`` is True on any of them (a CPU all-reduce)."""
    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, group=group)
    return bool(t.item() > 0)


def gather_objects(obj: object, group=None) -> list:
    """``obj`` of every process, in rank order, on every process."""
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj, group=group)
    return out
