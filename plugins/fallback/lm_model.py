"""The fallback's causal language models, an LSTM and a decoder-only Transformer (only
nn.Modules here; decoding is in chatbot_plugins.generation, through the ``start`` / ``step`` /
``select`` methods)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from chatbot_plugins.generation.transformer_model import (
    MAX_POSITIONS,
    SelfAttentionLayer,
    causal_mask,
    sinusoids,
)
from chatbot_plugins.generation.transformer_state import LanguageModelState


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


class TransformerLanguageModel(nn.Module):
    """A decoder-only Transformer: pre-LayerNorm causal self-attention layers, sinusoidal
    positions, the output layer sharing the embedding matrix.

    Training reads right-padded sequences (a position never looks at a later one, so padding at
    the end changes nothing before it). For decoding, :meth:`start` moves each prompt to the
    right end of its row, so that every row's next token goes in the same column; the padding
    before it is masked, and positions count from each row's first real token.
    """

    def __init__(self, vocab_size: int, dim: int = 256, heads: int = 4, layers: int = 3,
                 ff_dim: int = 1024, dropout: float = 0.1) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"the model width {dim} is not a multiple of heads ({heads})")
        self.dim, self.heads = dim, heads
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)  # tied with the output
        self.register_buffer("positions", sinusoids(MAX_POSITIONS, dim),
                             persistent=False)  # (MAX_POSITIONS, dim)
        self.layers = nn.ModuleList(
            SelfAttentionLayer(dim, heads, ff_dim, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.normal_(self.embed.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.embed.weight[0].zero_()

    def forward(self, tokens: torch.Tensor, state: None = None) -> tuple[torch.Tensor, None]:
        """Logits of every next token (batch, length, vocab), and no recurrent state (the
        LSTM's interface)."""
        features, _ = self.features(tokens)  # (batch, length, dim)
        return self.out(features), None  # (batch, length, vocab)

    def features(self, tokens: torch.Tensor, state: None = None,
                 left_padding: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        """What the output layer reads at each position, (batch, length, dim).

        Args:
            tokens: ids, (batch, length).
            state: unused (the LSTM's interface).
            left_padding: True at padding before the real tokens (decoding), (batch, length);
                None for right-padded sequences (training).
        """
        x, mask = self._inputs(tokens, left_padding)  # (batch, length, dim), as masks go
        for layer in self.layers:
            x = layer(x, mask=mask)  # (batch, length, dim)
        return self.norm(x), None  # (batch, length, dim)

    def _inputs(self, tokens: torch.Tensor, left_padding: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The first layer's input (batch, length, dim) and the attention mask: (length,
        length) for right-padded rows, (batch * heads, length, length) with ``left_padding``
        (batch, length)."""
        length = tokens.size(1)
        if length > MAX_POSITIONS:
            raise ValueError(f"a sequence of {length} tokens is longer than the "
                             f"{MAX_POSITIONS} positions the model knows")
        mask = causal_mask(length, tokens.device)  # (length, length)
        if left_padding is None:
            positions = self.positions[:length][None]  # (1, length, dim)
        else:
            # Each row counts positions from its first real token.
            order = ((~left_padding).cumsum(dim=1) - 1).clamp(min=0)  # (batch, length)
            positions = self.positions[order]  # (batch, length, dim)
            # No position looks at padding, except padding at itself (a row of nothing to
            # look at would give NaN).
            hidden = mask[None] | left_padding[:, None, :]  # (batch, length, length)
            hidden = hidden & ~torch.eye(length, dtype=torch.bool, device=tokens.device)
            mask = hidden.repeat_interleave(self.heads, dim=0)  # (batch * heads, L, L)
        scaled = self.embed(tokens) * math.sqrt(self.dim)  # (batch, length, dim)
        return self.dropout(scaled + positions.to(scaled.dtype)), mask  # (B, L, dim), mask

    def out(self, features: torch.Tensor) -> torch.Tensor:
        """Features (..., dim) → logits (..., vocab), through the shared embedding."""
        return F.linear(features, self.embed.weight)

    def start(self, prompts: torch.Tensor) -> LanguageModelState:
        """Read right-padded prompts (0 for padding), (batch, length): the state after each
        prompt's last real token. Each prompt moves to the right end of its row, so that every
        row's next token goes in the same column."""
        lengths = (prompts != 0).sum(dim=1).clamp(min=1)  # (batch,)
        width = prompts.size(1)
        shift = width - lengths  # (batch,)
        columns = torch.arange(width, device=prompts.device)[None]  # (1, width)
        source = (columns - shift[:, None]).clamp(min=0)  # (batch, width)
        padding = columns < shift[:, None]  # (batch, width)
        moved = prompts.gather(1, source).masked_fill(padding, 0)  # (batch, width)
        x, mask = self._inputs(moved, padding)  # (batch, width, dim), (B * heads, W, W)
        past = []
        for layer in self.layers:
            x, every = layer.extend(x, x[:, :0], mask=mask)  # (B, W, dim), (B, W, dim)
            past.append(every)
        return LanguageModelState(past, padding, lengths)

    def step(self, tokens: torch.Tensor, state: LanguageModelState
             ) -> tuple[torch.Tensor, LanguageModelState, None]:
        """The logits of the token after ``tokens`` (rows,) in float32 (rows, vocab), the new
        state, and no attention map. Only the new position is computed."""
        if int(state.positions.max()) >= MAX_POSITIONS:
            raise ValueError(f"a sequence longer than the {MAX_POSITIONS} positions the "
                             "model knows")
        scaled = self.embed(tokens[:, None]) * math.sqrt(self.dim)  # (rows, 1, dim)
        x = scaled + self.positions[state.positions][:, None].to(scaled.dtype)  # (R, 1, dim)
        padding = F.pad(state.padding, (0, 1), value=False)  # (rows, length + 1)
        past = []
        for layer, before in zip(self.layers, state.past, strict=True):
            x, every = layer.extend(x, before, padding=padding)  # (R, 1, dim), (R, L + 1, dim)
            past.append(every)
        logits = self.out(self.norm(x[:, 0])).float()  # (rows, vocab)
        return logits, LanguageModelState(past, padding, state.positions + 1), None

    def select(self, state: LanguageModelState, rows: torch.Tensor,
               same_inputs: bool = False) -> LanguageModelState:
        """The state of the rows ``rows`` (repeats allowed), (new_rows,)."""
        return LanguageModelState([every.index_select(0, rows) for every in state.past],
                                  state.padding.index_select(0, rows),
                                  state.positions.index_select(0, rows))
