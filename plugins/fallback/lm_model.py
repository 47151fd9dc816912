"""The fallback's causal language model (only nn.Modules here)."""

from __future__ import annotations

import torch
from torch import nn


class LstmLanguageModel(nn.Module):
    """Embeddings → stacked LSTM → a projection back to the embedding size → output layer
    sharing the embedding matrix (weight tying: fewer parameters, better perplexity on small
    corpora), with dropout between the layers."""

    def __init__(self, vocab_size: int, embed_dim: int = 256, hidden: int = 512,
                 layers: int = 2, dropout: float = 0.3) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(hidden, embed_dim)
        self.out = nn.Linear(embed_dim, vocab_size)
        self.out.weight = self.embed.weight  # tied

    def forward(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        projected, state = self.features(tokens, state)  # (batch, length, embed)
        return self.out(projected), state  # (batch, length, vocab)

    def features(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """What the output layer reads at each position (``self.out`` turns it into logits):
        scoring only some positions then skips the vocabulary-sized product for the rest."""
        embedded = self.dropout(self.embed(tokens))  # (batch, length, embed)
        outputs, state = self.lstm(embedded, state)  # (batch, length, hidden)
        return self.project(self.dropout(outputs)), state  # (batch, length, embed)

    def encode_prompts(
        self, prompts: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run right-padded prompts of different lengths; returns the logits after each
        prompt's last real token (batch, vocab) and the LSTM state there."""
        embedded = self.embed(prompts)  # (batch, length, embed)
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        outputs, state = self.lstm(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True)
        last = outputs[torch.arange(len(lengths)), lengths - 1]  # (batch, hidden)
        return self.out(self.project(last)), state  # (batch, vocab)
