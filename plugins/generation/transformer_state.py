"""Where step-by-step decoding of the Transformers stands (the ``state`` their ``start``,
``step`` and ``select`` pass around): what each layer's self-attention has read so far, so
that a step computes only its new position."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TransformerState:
    """Where decoding stands, one row per output being written: what each decoder layer's
    self-attention has read so far (so that a step computes only its new position) and the
    encoded sources.

    Attributes:
        past: for each decoder layer, the normalized inputs of its self-attention at every
            position so far (the start token first), (rows, steps, dim).
        memory: the encoder's output, (rows, src_len, dim).
        padding: True at source padding, (rows, src_len).
    """

    past: list[torch.Tensor]
    memory: torch.Tensor
    padding: torch.Tensor


@dataclass
class LanguageModelState:
    """Where the Transformer language model's decoding stands, one row per text being written.

    Attributes:
        past: for each layer, the normalized inputs of its self-attention at every position
            so far, (rows, length, dim).
        padding: True at the padding before each row's prompt, (rows, length).
        positions: the position the next token of each row takes, (rows,).
    """

    past: list[torch.Tensor]
    padding: torch.Tensor
    positions: torch.Tensor
