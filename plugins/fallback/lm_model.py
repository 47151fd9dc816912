"""The fallback's causal language model (only nn.Modules here; decoding is in
chatbot_plugins.generation, through the ``start`` / ``step`` / ``select`` methods)."""

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

    def start(self, prompts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Read right-padded prompts (0 for padding) of different lengths; the LSTM state
        after each prompt's last real token, each (layers, batch, hidden). Decoding
        (chatbot_plugins.generation) then feeds the token that starts the output."""
        lengths = (prompts != 0).sum(dim=1).clamp(min=1)  # (batch,)
        embedded = self.embed(prompts)  # (batch, length, embed)
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, state = self.lstm(packed)  # each (layers, batch, hidden)
        return state

    def step(self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], None]:
        """The logits of the token after ``tokens`` (rows,) in float32 (rows, vocab), the new
        state, and no attention."""
        logits, state = self(tokens[:, None], state)  # (rows, 1, vocab)
        return logits[:, 0].float(), state, None

    def select(self, state: tuple[torch.Tensor, torch.Tensor], rows: torch.Tensor,
               same_inputs: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The state of the rows ``rows`` (repeats allowed), each (layers, new_rows, hidden);
        the prompts live in the state, so ``same_inputs`` changes nothing."""
        hidden, cell = state
        return hidden.index_select(1, rows), cell.index_select(1, rows)
