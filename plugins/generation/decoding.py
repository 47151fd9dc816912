"""Turning a model's next-token distributions into outputs, for any model that implements
:class:`StepModel` (respond.seq2seq's encoder-decoder, fallback.lm's language model).

- :func:`greedy` takes the most likely token at every step;
- :func:`sample` draws every token from the temperature-scaled distribution, cut to its top-k
  / top-p tokens, with random numbers the caller gives (so it can seed them per message);
- :func:`~chatbot_plugins.generation.beam.beam_search` keeps the ``beam`` best partial
  outputs of every example.

They work on a whole batch at once, in eval mode and without gradients. An output ends at
``eos``, or after ``max_len`` tokens; for fixed-width outputs pass an id the model never
produces (e.g. -1) as ``eos``. Every decoder reports each output's mean token
log-probability (:attr:`DecodeResult.mean_log_probs`) apart from what it ranked outputs by, so
a reply's confidence does not depend on how it was found; :func:`mean_log_likelihood` scores
given outputs on the same scale.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

PAD = 0  # padding in the inputs of every model


class StepModel(Protocol):
    """What the decoders need from a model (an ``nn.Module``): read the inputs once, then the
    next token's logits one step at a time for a batch of rows, and rows kept or reordered.

    The state is the model's own business (a recurrent state, the encoder's output, a key /
    value cache): the decoders only hand it back to :meth:`step` and :meth:`select`.
    """

    training: bool

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...

    def start(self, inputs: torch.Tensor) -> Any:
        """The state before the first output token.

        Args:
            inputs: what the output follows (a question, a prompt), ids right-padded with
                ``PAD``, (batch, length).
        """
        ...

    def step(self, tokens: torch.Tensor, state: Any
             ) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        """One output token for every row.

        Args:
            tokens: the previous token of each row (the start token first), (rows,).
            state: from :meth:`start`, :meth:`step` or :meth:`select`.

        Returns:
            the logits of the next token in float32 (rows, vocab), the new state, and the
            attention over the inputs in float32 (rows, length), or None without attention.
        """
        ...

    def select(self, state: Any, rows: torch.Tensor, same_inputs: bool = False) -> Any:
        """The state of the rows ``rows``, in that order, repeats allowed, (new_rows,).

        ``same_inputs``: new row ``i`` reads the same inputs as old row ``i`` did (beam search
        reorders the hypotheses of each example among themselves), so what depends on the
        inputs alone (an encoder's output) may stay where it is.
        """
        ...


@dataclass
class DecodeResult:
    """The decoded outputs of a batch, one entry per example.

    Attributes:
        tokens: output ids, without the start token and EOS.
        scores: what the decoder ranked outputs by: beam search's sum of log-probabilities /
            length ** length_penalty, greedy decoding's mean log-probability at its
            temperature, sampling's mean log-probability. Depends on the decoding settings.
        mean_log_probs: the mean log-probability under the model (temperature 1) of each
            output's tokens, the EOS included when there is one: whatever the decoder and its
            settings, on the same scale as :func:`mean_log_likelihood`. A reply's confidence
            is its exp.
        attention: the attention weights, (len(tokens), real input length) on the CPU (padding
            columns cut off); an empty tensor for a model without attention.
    """

    tokens: list[list[int]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    mean_log_probs: list[float] = field(default_factory=list)
    attention: list[torch.Tensor] = field(default_factory=list)

    def extend(self, other: DecodeResult) -> None:
        """Append the examples of ``other`` (the next batch) to these."""
        self.tokens += other.tokens
        self.scores += other.scores
        self.mean_log_probs += other.mean_log_probs
        self.attention += other.attention


@contextlib.contextmanager
def inference(model: StepModel) -> Iterator[None]:
    """Eval mode and no gradients for the block; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def collect(tokens: torch.Tensor, lengths: torch.Tensor, scores: torch.Tensor,
            mean_log_probs: torch.Tensor, attention: torch.Tensor | None,
            inputs: torch.Tensor) -> DecodeResult:
    """Tensors of the whole batch → one DecodeResult (lists of Python values, CPU tensors).

    Args:
        tokens: output ids, anything after each row's length ignored, (batch, steps).
        lengths: output tokens of each row, EOS excluded, (batch,).
        scores: (batch,).
        mean_log_probs: (batch,).
        attention: weights of each output token, (batch, steps, length), or None.
        inputs: the decoded inputs, ``PAD`` for padding, (batch, length).
    """
    input_lengths = (inputs != PAD).sum(dim=1).cpu()  # (batch,)
    tokens, lengths = tokens.cpu(), lengths.cpu()
    attention = attention.float().cpu() if attention is not None else None
    result = DecodeResult(scores=scores.float().cpu().tolist(),
                          mean_log_probs=mean_log_probs.float().cpu().tolist())
    for row in range(tokens.size(0)):
        length, input_length = int(lengths[row]), int(input_lengths[row])
        result.tokens.append(tokens[row, :length].tolist())
        result.attention.append(attention[row, :length, :input_length].clone()
                                if attention is not None else torch.empty(0))
    return result


def greedy(model: StepModel, inputs: torch.Tensor, bos: int, eos: int, max_len: int,
           temperature: float = 1.0) -> DecodeResult:
    """The most likely token at every step, for a whole batch at once.

    Args:
        model: the network (put in eval mode for the call).
        inputs: input ids, ``PAD`` for padding, on the model's device, (batch, length).
        bos: the id every output starts from.
        eos: the id that ends an output (not returned).
        max_len: most output tokens, EOS included.
        temperature: divides the logits before the log-softmax of the scores; changes the
            scores, not the choice nor ``mean_log_probs``.

    Returns:
        tokens, mean token log-probabilities and attention of each example.
    """
    with inference(model):
        batch, device = inputs.size(0), inputs.device
        state = model.start(inputs)
        token = torch.full((batch,), bos, dtype=torch.long, device=device)  # (batch,)
        finished = torch.zeros(batch, dtype=torch.bool, device=device)  # (batch,)
        lengths = torch.zeros(batch, dtype=torch.long, device=device)  # (batch,)
        total = torch.zeros(batch, device=device)  # (batch,) sum of tempered log-probabilities
        own = torch.zeros(batch, device=device)  # (batch,) ... and of the model's own
        counted = torch.zeros(batch, device=device)  # (batch,) tokens in the sums
        outputs, weights = [], []
        for _ in range(max_len):
            logits, state, attention = model.step(token, state)  # (batch, vocab)
            log_probs = torch.log_softmax(logits.float() / temperature, dim=-1)  # (B, vocab)
            best_log_prob, token = log_probs.max(dim=-1)  # (batch,), (batch,)
            if temperature != 1.0:
                plain = torch.log_softmax(logits.float(), dim=-1)  # (batch, vocab)
                model_log_prob = plain.gather(1, token[:, None]).squeeze(1)  # (batch,)
            else:
                model_log_prob = best_log_prob  # (batch,)
            alive = ~finished  # (batch,) rows still writing; finished rows no longer count
            total += torch.where(alive, best_log_prob, 0.0)  # (batch,)
            own += torch.where(alive, model_log_prob, 0.0)  # (batch,)
            counted += alive.float()  # (batch,)
            ends = alive & (token == eos)  # (batch,)
            lengths += (alive & ~ends).long()  # (batch,)
            finished |= ends
            outputs.append(token)
            if attention is not None:
                weights.append(attention)
            if bool(finished.all()):
                break
        tokens = torch.stack(outputs, dim=1)  # (batch, steps)
        attention = torch.stack(weights, dim=1) if weights else None  # (batch, steps, length)
        counted = counted.clamp(min=1)  # (batch,)
        return collect(tokens, lengths, total / counted, own / counted, attention, inputs)


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


def sample(model: StepModel, inputs: torch.Tensor, bos: int, eos: int, max_len: int,
           draws: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           banned: Sequence[int] = ()) -> DecodeResult:
    """Every token drawn from the model's distribution, divided by ``temperature`` and cut to
    the ``top_k`` / ``top_p`` likeliest tokens (:func:`filter_logits`), for a whole batch.

    Args:
        model: the network (put in eval mode for the call).
        inputs: input ids, ``PAD`` for padding, on the model's device, (batch, length).
        bos: the id every output starts from.
        eos: the id that ends an output (not returned).
        max_len: most output tokens, EOS included.
        draws: a uniform number in [0, 1) for every example and step, (batch, max_len): step
            ``t`` of example ``i`` takes the token where the cumulative distribution passes
            ``draws[i, t]``. Seeded per example, an output does not depend on the batch.
        temperature: above 1 bolder, below 1 safer outputs.
        top_k: sample among the k likeliest tokens; 0: all.
        top_p: ...and among the smallest set holding this much probability.
        banned: ids never produced (e.g. padding); the log-probabilities leave them out too.

    Returns:
        tokens, mean token log-probabilities (as ``scores`` and ``mean_log_probs``) and
        attention of each example.
    """
    with inference(model):
        batch, device = inputs.size(0), inputs.device
        draws = draws.to(device)  # (batch, max_len)
        state = model.start(inputs)
        token = torch.full((batch,), bos, dtype=torch.long, device=device)  # (batch,)
        tokens = torch.zeros(batch, max_len, dtype=torch.long, device=device)  # (batch, T)
        lengths = torch.zeros(batch, dtype=torch.long, device=device)  # (batch,) before EOS
        total = torch.zeros(batch, device=device)  # (batch,) sum of log-probabilities
        done = torch.zeros(batch, dtype=torch.bool, device=device)  # (batch,)
        banned_ids = torch.tensor(list(banned), dtype=torch.long, device=device)  # (banned,)
        weights = []
        for position in range(max_len):
            logits, state, attention = model.step(token, state)  # (batch, vocab)
            logits = logits.float().index_fill(1, banned_ids, -math.inf)  # (batch, vocab)
            filtered = filter_logits(logits / temperature, top_k, top_p)  # (batch, vocab)
            cumulative = torch.softmax(filtered, dim=-1).cumsum(dim=-1)  # (batch, vocab)
            # side="right": never a token of probability 0 (the cumulative sum is flat there);
            # the factor keeps the target below the total despite rounding.
            target = draws[:, position, None] * cumulative[:, -1:] * (1 - 1e-6)  # (batch, 1)
            token = torch.searchsorted(cumulative, target, side="right").squeeze(1)  # (batch,)
            log_prob = torch.log_softmax(logits, dim=-1).gather(1, token[:, None])[:, 0]  # (B,)
            live = ~done  # (batch,)
            total += torch.where(live, log_prob, 0.0)  # (batch,)
            tokens[:, position] = token
            done |= token == eos
            lengths += (live & ~done).long()  # (batch,)
            if attention is not None:
                weights.append(attention)
            if bool(done.all()):
                break
        counts = (lengths + done.long()).float().clamp(min=1)  # (batch,) EOS counts if it came
        mean = total / counts  # (batch,)
        attention = torch.stack(weights, dim=1) if weights else None  # (batch, steps, length)
        return collect(tokens, lengths, mean, mean, attention, inputs)


def mean_log_likelihood(logits: torch.Tensor, target_out: torch.Tensor,
                        pad: int = PAD) -> list[float]:
    """How likely a model finds given outputs: the mean log-probability of each row's tokens
    (EOS included), on the scale of :attr:`DecodeResult.mean_log_probs`.

    Args:
        logits: the model's next-token logits, fed the outputs (teacher forcing),
            (batch, tgt_len, vocab).
        target_out: the output tokens, then EOS, ``pad`` for padding, (batch, tgt_len).
        pad: the padding id.
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)  # (batch, tgt_len, vocab)
    real = target_out != pad  # (batch, tgt_len)
    gold = log_probs.gather(-1, target_out.unsqueeze(-1)).squeeze(-1)  # (batch, tgt_len)
    total = torch.where(real, gold, 0.0).sum(dim=1)  # (batch,)
    return (total / real.sum(dim=1).clamp(min=1)).cpu().tolist()
