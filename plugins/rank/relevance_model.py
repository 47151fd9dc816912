"""The relevance model's network (only nn.Modules here; data and training are in
chatbot_plugins.rank.relevance)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

KERNELS = 11  # one exact-match kernel and ten soft ones (K-NRM)


class KernelMatcher(nn.Module):
    """An interaction-based cross-encoder: it compares every piece of the reply with every
    piece of the message (and of the previous user turn), counts the matches at eleven
    levels of similarity with Gaussian kernels (K-NRM, Xiong et al. 2017), and adds a topic
    term from the mean pieces of both sides; a small network turns these into one logit.

    A reply is judged together with the message, piece by piece, as a cross-encoder does. A
    small Transformer reading both at once was tried first: a training step took about eight
    times longer on two cores (130 ms against 17 ms), too slow for the default bot's budget.
    """

    def __init__(self, vocab_size: int, dim: int = 64, hidden: int = 64,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        # Kernel centres from exact match (1.0) down to opposite (-0.9); the exact one narrow.
        self.register_buffer("centres", torch.tensor([1.0, 0.9, 0.7, 0.5, 0.3, 0.1, -0.1, -0.3,
                                                      -0.5, -0.7, -0.9]))  # (kernels,)
        self.register_buffer("widths", torch.tensor([1e-3] + [0.1] * 10))  # (kernels,)
        self.dropout = nn.Dropout(dropout)
        # message-reply kernels, context-reply kernels, "has a context", the topic features
        self.score = nn.Sequential(nn.Linear(2 * KERNELS + 1 + 4 * dim, hidden), nn.ReLU(),
                                   nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, message: torch.Tensor, reply: torch.Tensor,
                context: torch.Tensor) -> torch.Tensor:
        """Ids (batch, length) of each part, 0-padded on the right; the logits (batch,)."""
        message_vectors, reply_vectors = self.embed(message), self.embed(reply)  # (B, L, dim)
        context_vectors = self.embed(context)  # (batch, context length, dim)
        reply_mask = (reply != 0).float()  # (batch, reply length)
        features = [
            self.kernels(message_vectors, message != 0, reply_vectors, reply_mask),  # (B, K)
            self.kernels(context_vectors, context != 0, reply_vectors, reply_mask),  # (B, K)
            (context != 0).any(dim=1, keepdim=True).float(),  # (batch, 1)
        ]
        asked = _mean(torch.cat([message_vectors, context_vectors], dim=1),
                      torch.cat([message != 0, context != 0], dim=1))  # (batch, dim)
        said = _mean(reply_vectors, reply != 0)  # (batch, dim)
        features.append(self.dropout(torch.cat([asked, said, asked * said,
                                                (asked - said).abs()], dim=1)))  # (B, 4 dim)
        return self.score(torch.cat(features, dim=1))[:, 0]  # (batch,)

    def kernels(self, query: torch.Tensor, query_mask: torch.Tensor, reply: torch.Tensor,
                reply_mask: torch.Tensor) -> torch.Tensor:
        """Soft match counts of the query pieces in the reply, pooled over the query:
        (batch, kernels)."""
        similarity = F.normalize(query, dim=-1) @ F.normalize(reply, dim=-1).transpose(1, 2)
        # similarity: (batch, query length, reply length)
        weights = torch.exp(-(similarity[..., None] - self.centres) ** 2
                            / (2 * self.widths ** 2))  # (batch, query, reply, kernels)
        counts = (weights * reply_mask[:, None, :, None]).sum(dim=2)  # (batch, query, kernels)
        pooled = torch.log1p(counts) * query_mask[..., None].float()  # (batch, query, kernels)
        return pooled.sum(dim=1) / query_mask.sum(dim=1, keepdim=True).clamp(min=1)  # (B, K)


def _mean(vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of the unmasked rows: (batch, dim) from (batch, length, dim)."""
    weights = mask.float()[..., None]  # (batch, length, 1)
    return (vectors * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)  # (batch, dim)
