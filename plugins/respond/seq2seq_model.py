"""The attention sequence-to-sequence network (only nn.Modules here; decoding is in
chatbot_plugins.generation, through the ``start`` / ``step`` / ``select`` methods).

An encoder (embedding → GRU or LSTM, one or both directions) reads the source; a decoder of the
same cell writes the target one token at a time, looking back at the source through attention:
Bahdanau's additive attention or Luong's dot / general attention, or none at all (the plain
seq2seq whose decoder knows the source only through the encoder's final state). "Peeky" hands
the encoder's final summary to every decoder step and to the output layer as well ("Deep
Learning from Scratch 2", ch. 7). Id 0 is padding in sources and targets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = ("gru", "lstm")
ATTENTIONS = ("bahdanau", "luong_dot", "luong_general", "none")
PAD = 0

# A recurrent state: the GRU's hidden state, or the LSTM's (hidden, cell) pair, each
# (layers, batch, hidden).
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def reorder_state(state: State, indices: torch.Tensor) -> State:
    """The recurrent state of the rows ``indices`` (beam search expands and reorders rows).

    Args:
        state: a GRU state or an LSTM (hidden, cell) pair, each (layers, batch, hidden).
        indices: row numbers to keep, in order (repeats allowed), (new_batch,).
    """
    if isinstance(state, tuple):
        return tuple(part.index_select(1, indices) for part in state)  # each (layers, new, H)
    return state.index_select(1, indices)  # (layers, new_batch, hidden)


def _cast_state(state: State, dtype: torch.dtype) -> State:
    # Under autocast the bridge's output can be bf16/fp16 while the RNN input is fp32; the
    # RNN needs both in one dtype.
    if isinstance(state, tuple):
        return tuple(part.to(dtype) for part in state)
    return state.to(dtype)


def _top(state: State) -> torch.Tensor:
    """The hidden state of the top layer, (batch, hidden)."""
    hidden = state[0] if isinstance(state, tuple) else state  # (layers, batch, hidden)
    return hidden[-1]  # (batch, hidden)


@dataclass
class EncoderOutput:
    """What the decoder needs from the source, computed once per source.

    Attributes:
        memory: the encoder's output at every source position, 0 at padding,
            (batch, src_len, hidden).
        mask: True at real tokens, False at padding, (batch, src_len).
        state: the decoder's initial recurrent state (see :data:`State`).
        summary: the source in one vector (the decoder's initial top-layer hidden state),
            given to every step by a peeky decoder, (batch, hidden).
        keys: the memory as attention compares it: projected once here for Bahdanau and Luong
            general, the memory itself for Luong dot, None without attention,
            (batch, src_len, key_dim).
    """

    memory: torch.Tensor
    mask: torch.Tensor
    state: State
    summary: torch.Tensor
    keys: torch.Tensor | None

    def index_select(self, indices: torch.Tensor) -> EncoderOutput:
        """The same encoding for the rows ``indices`` (repeats allowed), e.g. ``beam`` copies of
        each example: ``indices = torch.arange(batch).repeat_interleave(beam)``."""
        return EncoderOutput(
            memory=self.memory.index_select(0, indices),  # (new_batch, src_len, hidden)
            mask=self.mask.index_select(0, indices),  # (new_batch, src_len)
            state=reorder_state(self.state, indices),
            summary=self.summary.index_select(0, indices),  # (new_batch, hidden)
            keys=None if self.keys is None else self.keys.index_select(0, indices),
        )

    @property
    def lengths(self) -> torch.Tensor:
        """The number of real source tokens of each row, (batch,)."""
        return self.mask.sum(dim=1)  # (batch,)


@dataclass
class DecoderState:
    """Where decoding stands: the decoder's recurrent state, and the encoding of the sources
    it reads (one row per output being written).

    Attributes:
        recurrent: see :data:`State`, each (layers, rows, hidden).
        encoded: the sources of the rows, (rows, ...).
    """

    recurrent: State
    encoded: EncoderOutput


class Attention(nn.Module):
    """Scores every source position against decoder queries; a masked softmax makes weights.

    ``bahdanau``: score = vᵀ tanh(W_q q + W_k k); ``luong_dot``: score = qᵀ k;
    ``luong_general``: score = qᵀ W k. The key side (W_k k, W k) is computed once per source by
    :meth:`keys`, not at every step.
    """

    def __init__(self, kind: str, hidden: int) -> None:
        super().__init__()
        if kind not in ATTENTIONS or kind == "none":
            raise ValueError(f"unknown attention {kind!r}: use bahdanau, luong_dot or "
                             "luong_general")
        self.kind = kind
        if kind == "bahdanau":
            self.key = nn.Linear(hidden, hidden, bias=False)
            self.query = nn.Linear(hidden, hidden)
            self.v = nn.Linear(hidden, 1, bias=False)
        elif kind == "luong_general":
            self.key = nn.Linear(hidden, hidden, bias=False)  # qᵀ W k = q · (W k)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """The memory projected for scoring, (batch, src_len, hidden)."""
        if self.kind == "luong_dot":
            return memory  # (batch, src_len, hidden)
        return self.key(memory)  # (batch, src_len, hidden)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Context vectors and attention weights for a sequence of queries.

        Args:
            query: decoder states, (batch, steps, hidden).
            keys: from :meth:`keys`, (batch, src_len, hidden).
            memory: the encoder outputs to average, (batch, src_len, hidden).
            mask: True at real source tokens, (batch, src_len).

        Returns:
            context (batch, steps, hidden) and weights (batch, steps, src_len) in float32,
            each row summing to 1 over the real source tokens.
        """
        if self.kind == "bahdanau":
            projected = self.query(query)  # (batch, steps, hidden)
            energy = torch.tanh(projected.unsqueeze(2) + keys.unsqueeze(1))  # (B, T, S, H)
            scores = self.v(energy).squeeze(-1)  # (batch, steps, src_len)
        else:
            scores = torch.bmm(query, keys.transpose(1, 2))  # (batch, steps, src_len)
        # Softmax in float32: padding gets exactly 0 and bf16/fp16 scores lose no precision.
        scores = scores.float().masked_fill(~mask.unsqueeze(1), float("-inf"))  # (B, T, S)
        weights = torch.softmax(scores, dim=-1)  # (batch, steps, src_len)
        # A source of padding only (never in practice) would give NaN rows: make them 0.
        weights = weights.nan_to_num(0.0)  # (batch, steps, src_len)
        context = torch.bmm(weights.to(memory.dtype), memory)  # (batch, steps, hidden)
        return context, weights


class Seq2Seq(nn.Module):
    """Encoder-decoder over token ids, with optional attention and a peeky decoder.

    Args:
        source_vocab: size of the source vocabulary (id 0 is padding).
        target_vocab: size of the target vocabulary (id 0 is padding).
        embed_dim: size of the token embeddings (source and target each have their own).
        hidden: size of the decoder state and of the encoder outputs; a bidirectional encoder
            gives each direction ``hidden // 2`` so its outputs have size ``hidden`` too.
        cell: ``gru`` or ``lstm``.
        bidirectional: read the source in both directions (``hidden`` must then be even).
        attention: ``bahdanau`` (additive, queried with the previous decoder state, its
            context fed into the decoder RNN), ``luong_dot`` or ``luong_general`` (queried with
            the current decoder output, then the attentional state tanh(W_c [c; h])), or
            ``none`` (plain seq2seq: the decoder sees the source only through its initial
            state).
        peeky: also give the encoder's summary vector to every decoder step and to the output
            layer.
        dropout: dropout on embeddings, between RNN layers and before the output layer.
        layers: stacked RNN layers of the encoder and of the decoder.
    """

    def __init__(self, source_vocab: int, target_vocab: int, embed_dim: int = 128,
                 hidden: int = 256, cell: str = "gru", bidirectional: bool = True,
                 attention: str = "bahdanau", peeky: bool = False, dropout: float = 0.1,
                 layers: int = 1) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}: use gru or lstm")
        if attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {attention!r}: use one of {ATTENTIONS}")
        if bidirectional and hidden % 2:
            raise ValueError(f"a bidirectional encoder needs an even hidden size, not {hidden}")
        self.cell, self.attention_kind, self.peeky = cell, attention, peeky
        self.hidden, self.layers, self.bidirectional = hidden, layers, bidirectional
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        between = dropout if layers > 1 else 0.0  # nn.RNN warns about dropout with one layer
        directions = 2 if bidirectional else 1

        self.source_embed = nn.Embedding(source_vocab, embed_dim, padding_idx=PAD)
        self.encoder = rnn(embed_dim, hidden // directions, num_layers=layers, batch_first=True,
                           bidirectional=bidirectional, dropout=between)
        # Both directions' final states → the decoder's initial state. One direction already
        # has the decoder's size and is used as it is (as in the book).
        self.bridge = nn.Linear(hidden, hidden) if bidirectional else None
        self.bridge_cell = nn.Linear(hidden, hidden) if bidirectional and cell == "lstm" else None

        self.target_embed = nn.Embedding(target_vocab, embed_dim, padding_idx=PAD)
        decoder_in = embed_dim
        decoder_in += hidden if attention == "bahdanau" else 0  # the context of this step
        decoder_in += hidden if peeky else 0  # the encoder summary
        self.decoder = rnn(decoder_in, hidden, num_layers=layers, batch_first=True,
                           dropout=between)
        self.attention = Attention(attention, hidden) if attention != "none" else None
        # The attentional hidden state tanh(W_c [c; h]) (Luong et al. 2015, eq. 5).
        self.combine = nn.Linear(2 * hidden, hidden) if attention != "none" else None
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden + (hidden if peeky else 0), target_vocab)

    # ----------------------------------------------------------------------------- encoder

    def encode(self, source: torch.Tensor) -> EncoderOutput:
        """Read a batch of sources once.

        Args:
            source: token ids, 0 after the end, (batch, src_len).
        """
        batch, length = source.shape
        mask = source != PAD  # (batch, src_len)
        # Packed, so padding never enters the states (the backward direction starts at each
        # source's last real token); an empty source counts as one padding token.
        lengths = mask.sum(dim=1).clamp(min=1).cpu()  # (batch,)
        embedded = self.dropout(self.source_embed(source))  # (batch, src_len, embed)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        outputs, final = self.encoder(packed)  # packed (tokens, hidden); final: State
        memory, _ = pad_packed_sequence(outputs, batch_first=True,
                                        total_length=length)  # (batch, src_len, hidden)
        state = self._bridge(final, batch)  # each (layers, batch, hidden)
        summary = _top(state)  # (batch, hidden)
        keys = (self.attention.keys(memory)  # (batch, src_len, hidden)
                if self.attention is not None else None)
        return EncoderOutput(memory=memory, mask=mask, state=state, summary=summary, keys=keys)

    def _bridge(self, final: State, batch: int) -> State:
        """The encoder's final state → the decoder's initial state, each (layers, batch, H)."""
        if not self.bidirectional:
            return final
        if isinstance(final, tuple):
            hidden, cell = final
            return (self._join(hidden, batch, self.bridge),
                    self._join(cell, batch, self.bridge_cell))
        return self._join(final, batch, self.bridge)

    def _join(self, part: torch.Tensor, batch: int, linear: nn.Linear) -> torch.Tensor:
        # nn.RNN orders final states layer by layer, forward before backward.
        halves = part.view(self.layers, 2, batch, self.hidden // 2)  # (layers, 2, batch, H/2)
        joined = torch.cat([halves[:, 0], halves[:, 1]], dim=-1)  # (layers, batch, hidden)
        return torch.tanh(linear(joined))  # (layers, batch, hidden)

    # ----------------------------------------------------------------------------- decoder

    def forward(self, source: torch.Tensor, target_in: torch.Tensor,
                teacher_forcing: float = 1.0) -> torch.Tensor:
        """Logits of every next target token.

        Args:
            source: source ids, 0 for padding, (batch, src_len).
            target_in: the target shifted right: BOS, then the target tokens (0 for padding),
                (batch, tgt_len).
            teacher_forcing: chance of feeding the gold token at each step; otherwise the model
                feeds its own argmax. One draw per step for the whole batch. 1.0 (the default)
                always feeds the gold tokens and, without Bahdanau attention, runs the decoder
                over the whole target in one call.

        Returns:
            logits (batch, tgt_len, target_vocab).
        """
        encoded = self.encode(source)
        if teacher_forcing >= 1.0 and self.attention_kind != "bahdanau":
            return self._decode_all(target_in, encoded)
        state, token = encoded.state, target_in[:, 0]  # token: (batch,)
        steps = []  # each (batch, vocab)
        for position in range(target_in.size(1)):
            logits, state, _ = self._decode_step(token, state, encoded)  # (batch, vocab)
            steps.append(logits)
            if position + 1 < target_in.size(1):
                gold = random.random() < teacher_forcing
                token = (target_in[:, position + 1] if gold
                         else logits.argmax(dim=-1))  # (batch,)
        return torch.stack(steps, dim=1)  # (batch, tgt_len, vocab)

    def start(self, source: torch.Tensor) -> DecoderState:
        """Read a batch of sources; the state before the first output token.

        Args:
            source: token ids, 0 after the end, (batch, src_len).
        """
        encoded = self.encode(source)
        return DecoderState(encoded.state, encoded)

    def step(self, tokens: torch.Tensor, state: DecoderState,
             ) -> tuple[torch.Tensor, DecoderState, torch.Tensor | None]:
        """One decoding step for a batch.

        Args:
            tokens: the previous output token of each row (BOS first), (rows,).
            state: from :meth:`start`, :meth:`step` or :meth:`select`.

        Returns:
            the logits of the next token in float32 (rows, target_vocab), the new state, and
            the attention weights over the source (rows, src_len) in float32, or None without
            attention.
        """
        logits, recurrent, weights = self._decode_step(tokens, state.recurrent,
                                                       state.encoded)  # (rows, vocab)
        return logits.float(), DecoderState(recurrent, state.encoded), weights

    def select(self, state: DecoderState, rows: torch.Tensor,
               same_inputs: bool = False) -> DecoderState:
        """The state of the rows ``rows`` (repeats allowed), (new_rows,). ``same_inputs``: new
        row ``i`` reads the same source as old row ``i`` (beam search reordering the
        hypotheses of each example), so the encoding stays as it is."""
        encoded = state.encoded if same_inputs else state.encoded.index_select(rows)
        return DecoderState(reorder_state(state.recurrent, rows), encoded)

    def _decode_step(self, token: torch.Tensor, state: State, encoded: EncoderOutput,
                     ) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        embedded = self.dropout(self.target_embed(token)).unsqueeze(1)  # (batch, 1, embed)
        parts, weights, context = [embedded], None, None
        if self.attention_kind == "bahdanau":
            # Bahdanau: the previous state asks where to look; the context enters the RNN.
            query = _top(state).unsqueeze(1)  # (batch, 1, hidden)
            context, weights = self.attention(query, encoded.keys, encoded.memory,
                                              encoded.mask)  # (B, 1, H), (B, 1, S)
            parts.append(context.to(embedded.dtype))  # (batch, 1, hidden)
        if self.peeky:
            parts.append(encoded.summary.unsqueeze(1).to(embedded.dtype))  # (batch, 1, hidden)
        inputs = torch.cat(parts, dim=-1)  # (batch, 1, decoder_in)
        output, state = self.decoder(inputs, _cast_state(state, inputs.dtype))  # (B, 1, H)
        if self.attention_kind in ("luong_dot", "luong_general"):
            # Luong: the current output asks where to look.
            context, weights = self.attention(output, encoded.keys, encoded.memory,
                                              encoded.mask)  # (B, 1, H), (B, 1, S)
        logits = self._output(output, context, encoded.summary.unsqueeze(1))  # (B, 1, V)
        # logits (batch, vocab), weights (batch, src_len)
        return logits.squeeze(1), state, None if weights is None else weights.squeeze(1)

    def _decode_all(self, target_in: torch.Tensor, encoded: EncoderOutput) -> torch.Tensor:
        """Teacher forcing without Bahdanau: no step depends on an earlier step's attention,
        so the decoder RNN runs over the whole target in one call (much faster)."""
        steps = target_in.size(1)
        embedded = self.dropout(self.target_embed(target_in))  # (batch, tgt_len, embed)
        summary = encoded.summary.unsqueeze(1).expand(-1, steps, -1)  # (batch, tgt_len, hidden)
        parts = ([embedded, summary.to(embedded.dtype)]  # (batch, tgt_len, embed | hidden)
                 if self.peeky else [embedded])
        inputs = torch.cat(parts, dim=-1)  # (batch, tgt_len, decoder_in)
        output, _ = self.decoder(inputs, _cast_state(encoded.state, inputs.dtype))  # (B, T, H)
        context = None
        if self.attention is not None:
            context, _ = self.attention(output, encoded.keys, encoded.memory,
                                        encoded.mask)  # (batch, tgt_len, hidden)
        return self._output(output, context, summary)  # (batch, tgt_len, vocab)

    def _output(self, output: torch.Tensor, context: torch.Tensor | None,
                summary: torch.Tensor) -> torch.Tensor:
        """Decoder outputs (batch, steps, hidden) → logits (batch, steps, target_vocab)."""
        if context is not None:
            joined = torch.cat([context.to(output.dtype), output], dim=-1)  # (B, T, 2 * hidden)
            output = torch.tanh(self.combine(joined))  # (batch, steps, hidden)
        output = self.dropout(output)  # (batch, steps, hidden)
        if self.peeky:
            output = torch.cat([output, summary.to(output.dtype)], dim=-1)  # (B, T, 2 * hidden)
        return self.out(output)  # (batch, steps, target_vocab)
