"""Safe checkpoints: tensors in safetensors, everything else in JSON (never pickle).

A checkpoint is a folder: ``model.safetensors``, ``optimizer.safetensors`` and ``state.json``
(epoch, best score, history, optimizer settings, random-number-generator states). It is written
to a temporary folder and renamed, so an interruption never leaves half a checkpoint.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """A model's weights (tied weights are stored once)."""
    save_model(model, str(path))


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load weights saved by :func:`save_weights`; shapes and names must match exactly."""
    missing, unexpected = load_model(model, str(path), strict=True, device="cpu")
    if missing or unexpected:  # strict=True raises first; kept for clarity
        raise ValueError(f"weights do not fit the model: missing {missing}, extra {unexpected}")


def save_checkpoint(
    folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    staging = folder.with_name(folder.name + ".tmp")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    save_weights(model, staging / MODEL_FILE)
    tensors, optimizer_meta = _flatten_optimizer(optimizer.state_dict())
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(staging / OPTIMIZER_FILE))
    payload = {**state, "optimizer": optimizer_meta, "rng_python": random.getstate()}
    (staging / STATE_FILE).write_text(json.dumps(payload), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)


def load_checkpoint(
    folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Restore model, optimizer and random states; returns the saved state dict."""
    load_weights(model, folder / MODEL_FILE)
    tensors = load_file(str(folder / OPTIMIZER_FILE))
    payload = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    optimizer.load_state_dict(_unflatten_optimizer(tensors, payload.pop("optimizer")))
    torch.set_rng_state(tensors["rng.torch"])
    version, internal, gauss = payload.pop("rng_python")
    random.setstate((version, tuple(internal), gauss))
    return payload


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state_dict["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}
