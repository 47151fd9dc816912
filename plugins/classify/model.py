"""The text classifier network (only nn.Modules here)."""

from __future__ import annotations

import torch
from torch import nn


class AttentionPooling(nn.Module):
    """A learned query scores each position; the output is the weighted mean."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.score = nn.Linear(size, 1)

    def forward(
        self, states: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(states).squeeze(-1)  # (batch, length)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)  # (batch, length)
        pooled = torch.bmm(weights.unsqueeze(1), states).squeeze(1)  # (batch, size)
        return pooled, weights


class TextClassifier(nn.Module):
    """Tokens → embeddings → BiGRU/BiLSTM or CNN → attention pooling, beside a bag of hashed
    character n-grams (fastText-style); each has its own output layer and their logits add.

    The sequence branch reads word order; the n-gram branch is robust to typos and spacing,
    which chat text is full of. Trained together they act as a small ensemble.
    """

    def __init__(self, vocab_size: int, classes: int, embed_dim: int = 128, hidden: int = 128,
                 encoder: str = "gru", ngram_buckets: int = 50_000, ngram_dim: int = 64,
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.encoder_kind = encoder
        if encoder == "cnn":
            self.convs = nn.ModuleList(
                nn.Conv1d(embed_dim, hidden, width, padding=width // 2) for width in (2, 3, 4)
            )
            encoded = 3 * hidden
        else:
            rnn = nn.GRU if encoder == "gru" else nn.LSTM
            self.rnn = rnn(embed_dim, hidden, batch_first=True, bidirectional=True)
            encoded = 2 * hidden
        self.pool = AttentionPooling(encoded)
        self.ngrams = nn.EmbeddingBag(ngram_buckets, ngram_dim, mode="mean", padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.sequence_out = nn.Linear(encoded, classes)
        self.ngram_out = nn.Linear(ngram_dim, classes)

    def forward(self, tokens: torch.Tensor, ngrams: torch.Tensor) -> torch.Tensor:
        mask = tokens != 0  # (batch, length)
        mask[:, 0] = True  # an empty text still has one (padding) position to attend to
        states = self.dropout(self.embed(tokens))  # (batch, length, embed)
        if self.encoder_kind == "cnn":
            length = tokens.size(1)
            conv_in = states.transpose(1, 2)  # (batch, embed, length)
            states = torch.cat(
                [torch.relu(conv(conv_in))[:, :, :length] for conv in self.convs], dim=1
            ).transpose(1, 2)  # (batch, length, 3 * hidden)
        else:
            # Packed, so the backward direction starts at each text's own last token: with
            # padding read first, a message's prediction would depend on its batch.
            packed = nn.utils.rnn.pack_padded_sequence(
                states, mask.sum(dim=1).cpu(), batch_first=True, enforce_sorted=False)
            states, _ = nn.utils.rnn.pad_packed_sequence(
                self.rnn(packed)[0], batch_first=True,
                total_length=tokens.size(1))  # (batch, length, 2 * hidden)
        pooled, _ = self.pool(states, mask)  # (batch, encoded)
        bag = self.ngrams(ngrams)  # (batch, ngram_dim)
        # Two heads whose logits add up: each branch has to be predictive on its own.
        return self.sequence_out(self.dropout(pooled)) + self.ngram_out(bag)  # (batch, classes)


class Ensemble(nn.Module):
    """Members trained apart (different seeds); their log-probabilities are averaged, which
    is the log of a geometric mean of their predictions, so it calibrates like one model."""

    def __init__(self, members: list[TextClassifier]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, tokens: torch.Tensor, ngrams: torch.Tensor) -> torch.Tensor:
        stacked = torch.stack(
            [torch.log_softmax(member(tokens, ngrams), dim=-1) for member in self.members]
        )  # (members, batch, classes)
        return stacked.mean(dim=0)  # (batch, classes)
