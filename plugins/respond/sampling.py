"""Top-k and top-p (nucleus) filtering of next-token logits, shared by the generators."""

from __future__ import annotations

import math

import torch


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Keep the ``top_k`` likeliest tokens (0: all) and, of those, the smallest set whose
    probability reaches ``top_p``; the rest get -inf. The likeliest token always stays.

    Args:
        logits: (batch, vocab) scores of the next token.
    """
    filtered = logits.clone()  # (batch, vocab)
    if 0 < top_k < logits.size(-1):
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (batch, 1)
        filtered[filtered < kth] = -math.inf
    if top_p < 1.0:
        ordered, order = filtered.sort(dim=-1, descending=True)  # (batch, vocab)
        cumulative = torch.softmax(ordered, dim=-1).cumsum(dim=-1)  # (batch, vocab)
        # Drop a token once the tokens before it already hold top_p of the probability.
        drop = cumulative - torch.softmax(ordered, dim=-1) >= top_p  # (batch, vocab)
        filtered.scatter_(1, order, ordered.masked_fill(drop, -math.inf))
    return filtered
