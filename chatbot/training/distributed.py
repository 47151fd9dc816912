"""Several processes (GPUs or machines) through ``torchrun``: DistributedDataParallel helpers.

``torchrun --nproc_per_node N -m chatbot.cli train ...`` sets RANK, LOCAL_RANK and WORLD_SIZE;
every process trains on its share of each epoch (DistributedSampler), gradients are averaged,
and only rank 0 writes files.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    return world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process_from_env() -> bool:
    """True in torchrun's rank 0 (or when not under torchrun), before the group exists."""
    return int(os.environ.get("RANK", "0")) == 0


def is_main() -> bool:
    """True in the process that saves files and prints progress."""
    return rank() == 0


def setup(device: torch.device) -> torch.device:
    """Join the process group torchrun described; each process gets its own GPU if any."""
    if not is_distributed() or dist.is_initialized():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def mean(value: float, device: torch.device) -> float:
    """The mean of a number over all processes (the value itself when alone)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / dist.get_world_size()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
