"""Choosing where and in which precision a model trains."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from chatbot.errors import ChatbotError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; an explicit device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ChatbotError(
            f"unknown device {name!r}", hint="use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ChatbotError(
                f"device {name!r} was asked for, but this torch sees no CUDA GPU "
                f"(torch {torch.__version__})",
                hint="use --device cpu, or install a CUDA build of torch on a machine with a GPU",
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ChatbotError(
                f"device {name!r} does not exist: {torch.cuda.device_count()} GPU(s) visible",
                hint="number GPUs from 0, or set CUDA_VISIBLE_DEVICES",
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ChatbotError("device 'mps' was asked for but is not available here")
    return device


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """``auto``: bf16 on a GPU that supports it, else fp32. Mixed precision is GPU-only."""
    if name == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if name not in PRECISIONS:
        raise ChatbotError(f"unknown precision {name!r}", hint="use auto, fp32, bf16 or fp16")
    dtype = PRECISIONS[name]
    if dtype != torch.float32 and device.type != "cuda":
        raise ChatbotError(
            f"precision {name} needs a CUDA GPU; this run is on {device}",
            hint="use precision fp32 (or auto) on the CPU",
        )
    return dtype


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Mixed precision for the forward pass when ``dtype`` is not fp32."""
    if dtype == torch.float32:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
