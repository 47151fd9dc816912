"""The Transformer encoder-decoder (only nn.Modules here; decoding is in
chatbot_plugins.generation, through the ``start`` / ``step`` / ``select`` methods).

Pre-LayerNorm layers (Xiong et al. 2020: a LayerNorm before each sub-layer, one after the
stack), one subword embedding shared by the source, the target and the output layer, sinusoidal
positions, dropout after every sub-layer. The decoder's last layer reports its cross-attention
weights (averaged over heads), which the trace shows as the reply's attention map. Id 0 is
padding in sources and targets.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from chatbot_plugins.generation.transformer_state import TransformerState

PAD = 0
MAX_POSITIONS = 512  # longest source or target the position table covers


def sinusoids(length: int, dim: int) -> torch.Tensor:
    """The sinusoidal position table of Vaswani et al. 2017, (length, dim)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (length, 1)
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32)
                     * (-math.log(10_000.0) / dim))  # (dim / 2,)
    table = torch.zeros(length, dim)  # (length, dim)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[: dim // 2])
    return table


def causal_mask(length: int, device: torch.device) -> torch.Tensor:
    """True above the diagonal: no position looks at a later one, (length, length)."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


class FeedForward(nn.Sequential):
    """Position-wise feed-forward: dim → ff_dim → dim, GELU between."""

    def __init__(self, dim: int, ff_dim: int, dropout: float) -> None:
        super().__init__(nn.Linear(dim, ff_dim), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(ff_dim, dim))


class SelfAttentionLayer(nn.Module):
    """Self-attention, then feed-forward; each after a LayerNorm. The encoder's layer (with the
    source padding) and the language model's (with a causal mask)."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ff_norm = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, ff_dim, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """The layer's output, (batch, length, dim).

        Args:
            x: (batch, length, dim).
            padding: True at padding, which no position looks at, (batch, length).
            mask: True where a position may not look, (length, length) or
                (batch * heads, length, length).
        """
        normed = self.attention_norm(x)  # (batch, length, dim)
        attended, _ = self.attention(normed, normed, normed, key_padding_mask=padding,
                                     attn_mask=mask, need_weights=False)  # (B, length, dim)
        return self._feed_forward_after(x, attended)

    def extend(self, x: torch.Tensor, past: torch.Tensor, padding: torch.Tensor | None = None,
               mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """New positions after earlier ones, for step-by-step decoding: their output (batch,
        new, dim), and the normalized inputs of every position so far (batch, seen + new,
        dim), which the next call takes as ``past``.

        Args:
            x: the new positions' inputs, (batch, new, dim).
            past: the normalized inputs of the earlier positions, (batch, seen, dim).
            padding: True at padding among all the positions, (batch, seen + new).
            mask: True where a new position may not look, (new, seen + new) or
                (batch * heads, new, seen + new).
        """
        normed = self.attention_norm(x)  # (batch, new, dim)
        every = torch.cat([past, normed], dim=1)  # (batch, seen + new, dim)
        attended, _ = self.attention(normed, every, every, key_padding_mask=padding,
                                     attn_mask=mask, need_weights=False)  # (B, new, dim)
        return self._feed_forward_after(x, attended), every

    def _feed_forward_after(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        """The residual of the attention, then the feed-forward sub-layer: (batch, length,
        dim) from the layer's input and the attention's output, both (batch, length, dim)."""
        x = x + self.dropout(attended)  # (batch, length, dim)
        return x + self.dropout(self.ff(self.ff_norm(x)))  # (batch, length, dim)


class DecoderLayer(nn.Module):
    """Causal self-attention over the target so far, cross-attention to the source, then
    feed-forward; each after a LayerNorm."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_norm = nn.LayerNorm(dim)
        self.self_attention = nn.MultiheadAttention(dim, heads, dropout=dropout,
                                                    batch_first=True)
        self.cross_norm = nn.LayerNorm(dim)
        self.cross_attention = nn.MultiheadAttention(dim, heads, dropout=dropout,
                                                     batch_first=True)
        self.ff_norm = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, ff_dim, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, source_padding: torch.Tensor,
                causal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's output (batch, tgt_len, dim) and its cross-attention weights averaged
        over heads (batch, tgt_len, src_len).

        Args:
            x: the target so far, (batch, tgt_len, dim).
            memory: the encoder's output, (batch, src_len, dim).
            source_padding: True at source padding, (batch, src_len).
            causal: True where a position may not look (a later one), (tgt_len, tgt_len).
        """
        normed = self.self_norm(x)  # (batch, tgt_len, dim)
        attended, _ = self.self_attention(normed, normed, normed, attn_mask=causal,
                                          need_weights=False)  # (batch, tgt_len, dim)
        return self._cross_and_feed_forward(x + self.dropout(attended), memory, source_padding)

    def step(self, x: torch.Tensor, past: torch.Tensor, memory: torch.Tensor,
             source_padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One new target position: its output (rows, 1, dim), the self-attention's inputs of
        every position so far (rows, steps + 1, dim), for the next step, and the new
        position's cross-attention weights (rows, 1, src_len).

        Args:
            x: the new position's input, (rows, 1, dim).
            past: what this returned the step before (the normalized inputs of the earlier
                positions, all of which the new one may look at), (rows, steps, dim).
            memory: the encoder's output, (rows, src_len, dim).
            source_padding: True at source padding, (rows, src_len).
        """
        normed = self.self_norm(x)  # (rows, 1, dim)
        seen = torch.cat([past, normed], dim=1)  # (rows, steps + 1, dim)
        attended, _ = self.self_attention(normed, seen, seen, need_weights=False)  # (R, 1, dim)
        x, weights = self._cross_and_feed_forward(x + self.dropout(attended), memory,
                                                  source_padding)
        return x, seen, weights  # (rows, 1, dim), (rows, steps + 1, dim), (rows, 1, src_len)

    def _cross_and_feed_forward(self, x: torch.Tensor, memory: torch.Tensor,
                                source_padding: torch.Tensor
                                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The cross-attention and feed-forward sub-layers: (batch, tgt_len, dim) and the
        cross-attention weights averaged over heads (batch, tgt_len, src_len)."""
        crossed, weights = self.cross_attention(
            self.cross_norm(x), memory, memory, key_padding_mask=source_padding,
            need_weights=True, average_attn_weights=True)  # (B, T, dim), (B, T, src_len)
        x = x + self.dropout(crossed)  # (batch, tgt_len, dim)
        return x + self.dropout(self.ff(self.ff_norm(x))), weights  # (B, T, dim), (B, T, S)


class TransformerSeq2Seq(nn.Module):
    """Encoder-decoder Transformer over one shared subword vocabulary.

    Args:
        vocab: vocabulary size (id 0 is padding).
        dim: model width (embeddings, attention, residual stream).
        heads: attention heads (``dim`` must be a multiple).
        layers: layers of the encoder and, as many, of the decoder.
        ff_dim: width of the feed-forward sub-layers.
        dropout: dropout after embeddings and every sub-layer, and in attention.
    """

    def __init__(self, vocab: int, dim: int = 256, heads: int = 4, layers: int = 3,
                 ff_dim: int = 1024, dropout: float = 0.1) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"the model width {dim} is not a multiple of heads ({heads})")
        self.dim = dim
        self.embed = nn.Embedding(vocab, dim, padding_idx=PAD)  # source, target and output
        self.register_buffer("positions", sinusoids(MAX_POSITIONS, dim),
                             persistent=False)  # (MAX_POSITIONS, dim)
        self.encoder_layers = nn.ModuleList(
            SelfAttentionLayer(dim, heads, ff_dim, dropout) for _ in range(layers))
        self.encoder_norm = nn.LayerNorm(dim)
        self.decoder_layers = nn.ModuleList(
            DecoderLayer(dim, heads, ff_dim, dropout) for _ in range(layers))
        self.decoder_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.normal_(self.embed.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.embed.weight[PAD].zero_()

    def _embedded(self, ids: torch.Tensor, first_position: int = 0) -> torch.Tensor:
        """Token embeddings (scaled, as the output layer shares them) plus positions, counted
        from ``first_position``: (batch, length, dim) from (batch, length)."""
        end = first_position + ids.size(1)
        if end > MAX_POSITIONS:
            raise ValueError(f"a sequence of {end} tokens is longer than the "
                             f"{MAX_POSITIONS} positions the model knows")
        scaled = self.embed(ids) * math.sqrt(self.dim)  # (batch, length, dim)
        return self.dropout(scaled + self.positions[first_position:end].to(scaled.dtype))

    def encode(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's output (batch, src_len, dim) and the source padding (batch, src_len).

        Args:
            source: token ids, 0 after the end, (batch, src_len); at least one real token each.
        """
        padding = source == PAD  # (batch, src_len)
        x = self._embedded(source)  # (batch, src_len, dim)
        for layer in self.encoder_layers:
            x = layer(x, padding)  # (batch, src_len, dim)
        return self.encoder_norm(x), padding

    def decode(self, target_in: torch.Tensor, memory: torch.Tensor,
               padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of every next token (batch, tgt_len, vocab) and the last layer's
        cross-attention weights (batch, tgt_len, src_len).

        Args:
            target_in: the decoder's inputs (the start token, then the target), (batch,
                tgt_len).
            memory: from :meth:`encode`, (batch, src_len, dim).
            padding: from :meth:`encode`, (batch, src_len).
        """
        causal = causal_mask(target_in.size(1), target_in.device)  # (tgt_len, tgt_len)
        x = self._embedded(target_in)  # (batch, tgt_len, dim)
        weights = None
        for layer in self.decoder_layers:
            x, weights = layer(x, memory, padding, causal)  # (B, T, dim), (B, T, src_len)
        x = self.decoder_norm(x)  # (batch, tgt_len, dim)
        return F.linear(x, self.embed.weight), weights  # (B, T, vocab), (B, T, src_len)

    def forward(self, source: torch.Tensor, target_in: torch.Tensor,
                teacher_forcing: float = 1.0) -> torch.Tensor:
        """Logits of every next target token, (batch, tgt_len, vocab). A Transformer is always
        trained with teacher forcing (all positions at once), so ``teacher_forcing`` is
        accepted for the recurrent models' interface and must be 1."""
        if teacher_forcing < 1.0:
            raise ValueError("the Transformer is trained with teacher forcing only")
        memory, padding = self.encode(source)
        logits, _ = self.decode(target_in, memory, padding)
        return logits  # (batch, tgt_len, vocab)

    # -- step by step, for chatbot_plugins.generation's decoders ----------------------------

    def start(self, source: torch.Tensor) -> TransformerState:
        """Read a batch of sources; the state before the first output token.

        Args:
            source: token ids, 0 after the end, (batch, src_len).
        """
        memory, padding = self.encode(source)
        nothing = memory.new_zeros(source.size(0), 0, self.dim)  # (batch, 0, dim)
        return TransformerState([nothing] * len(self.decoder_layers), memory, padding)

    def step(self, tokens: torch.Tensor, state: TransformerState,
             ) -> tuple[torch.Tensor, TransformerState, torch.Tensor]:
        """One decoding step: the logits of the next token in float32 (rows, vocab), the new
        state, and the cross-attention over the source (rows, src_len) in float32. Only the
        new position is computed; what the earlier ones give its self-attention is in
        ``state``.

        Args:
            tokens: the previous output token of each row (the start token first), (rows,).
            state: from :meth:`start`, :meth:`step` or :meth:`select`.
        """
        x = self._embedded(tokens[:, None], first_position=state.past[0].size(1))  # (R, 1, dim)
        past = []
        for layer, before in zip(self.decoder_layers, state.past, strict=True):
            x, seen, weights = layer.step(x, before, state.memory, state.padding)
            past.append(seen)  # (rows, steps + 1, dim)
        logits = F.linear(self.decoder_norm(x[:, 0]), self.embed.weight)  # (rows, vocab)
        new_state = TransformerState(past, state.memory, state.padding)
        return logits.float(), new_state, weights[:, 0].float()  # (R, vocab), _, (R, src_len)

    def select(self, state: TransformerState, rows: torch.Tensor,
               same_inputs: bool = False) -> TransformerState:
        """The state of the rows ``rows`` (repeats allowed), (new_rows,). ``same_inputs``: new
        row ``i`` reads the same source as old row ``i``, so the encoding stays as it is."""
        past = [seen.index_select(0, rows) for seen in state.past]  # (new_rows, steps, dim)
        if same_inputs:
            return TransformerState(past, state.memory, state.padding)
        return TransformerState(past, state.memory.index_select(0, rows),  # (new, S, dim)
                                state.padding.index_select(0, rows))  # (new_rows, src_len)
