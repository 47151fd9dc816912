"""Turning a trained :class:`~chatbot_plugins.respond.seq2seq_model.Seq2Seq` into output tokens.

Both decoders work on a whole batch at once through the model's step-wise API (``encode`` once,
then ``step`` per output token), in eval mode and without gradients:

- :func:`greedy` takes the most likely token at every step;
- :func:`beam_search` keeps the ``beam`` best partial outputs of every example (all examples'
  beams are rows of one batch), ranks finished outputs by their length-normalised
  log-probability and can forbid repeating an n-gram.

An output ends at ``eos``, or after ``max_len`` tokens. For fixed-width outputs pass an id the
model never produces (e.g. -1) as ``eos``: every output then has ``max_len`` tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from chatbot_plugins.respond.seq2seq_model import Seq2Seq, reorder_state


@dataclass
class DecodeResult:
    """The decoded outputs of a batch, one entry per example.

    Attributes:
        tokens: output ids, without BOS and EOS.
        scores: the reply's confidence: the mean log-probability of its tokens, the EOS
            included when there is one (beam search: sum / length ** length_penalty, which is
            the same for ``length_penalty=1``).
        attention: the attention weights, (len(tokens), source length) on the CPU (padding
            columns cut off); an empty tensor for a model without attention.
    """

    tokens: list[list[int]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    attention: list[torch.Tensor] = field(default_factory=list)


@contextlib.contextmanager
def _inference(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients for the block; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _collect(tokens: torch.Tensor, lengths: torch.Tensor, scores: torch.Tensor,
             attention: torch.Tensor | None, source_lengths: torch.Tensor) -> DecodeResult:
    """Tensors of the whole batch → one DecodeResult (lists of Python values, CPU tensors).

    Args:
        tokens: output ids, anything after each row's length ignored, (batch, steps).
        lengths: output tokens of each row, EOS excluded, (batch,).
        scores: (batch,).
        attention: weights of each output token, (batch, steps, src_len), or None.
        source_lengths: real source tokens of each row, (batch,).
    """
    tokens, lengths, source_lengths = tokens.cpu(), lengths.cpu(), source_lengths.cpu()
    attention = attention.float().cpu() if attention is not None else None
    result = DecodeResult(scores=scores.float().cpu().tolist())
    for row in range(tokens.size(0)):
        length, source_length = int(lengths[row]), int(source_lengths[row])
        result.tokens.append(tokens[row, :length].tolist())
        result.attention.append(attention[row, :length, :source_length].clone()
                                if attention is not None else torch.empty(0))
    return result


def greedy(model: Seq2Seq, source: torch.Tensor, bos: int, eos: int, max_len: int,
           temperature: float = 1.0) -> DecodeResult:
    """The most likely token at every step, for a whole batch at once.

    Args:
        model: the network (put in eval mode for the call).
        source: source ids, 0 for padding, on the model's device, (batch, src_len).
        bos: the id that starts every output.
        eos: the id that ends an output (not returned).
        max_len: most output tokens, EOS included.
        temperature: divides the logits before the log-softmax; changes the scores, not the
            choice.

    Returns:
        tokens, mean token log-probabilities and attention of each example.
    """
    with _inference(model):
        encoded = model.encode(source)
        batch = source.size(0)
        token = torch.full((batch,), bos, dtype=torch.long, device=source.device)  # (batch,)
        state = encoded.state
        finished = torch.zeros(batch, dtype=torch.bool, device=source.device)  # (batch,)
        lengths = torch.zeros(batch, dtype=torch.long, device=source.device)  # (batch,)
        total = torch.zeros(batch, device=source.device)  # (batch,) sum of log-probabilities
        counted = torch.zeros(batch, device=source.device)  # (batch,) tokens in ``total``
        outputs, weights = [], []
        for _ in range(max_len):
            log_probs, state, attention = model.step(token, state, encoded,
                                                     temperature)  # (batch, vocab)
            best_log_prob, token = log_probs.max(dim=-1)  # (batch,), (batch,)
            alive = ~finished  # (batch,) rows still writing; finished rows no longer count
            total += torch.where(alive, best_log_prob, 0.0)  # (batch,)
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
        attention = torch.stack(weights, dim=1) if weights else None  # (batch, steps, src_len)
        scores = total / counted.clamp(min=1)  # (batch,)
        return _collect(tokens, lengths, scores, attention, encoded.lengths)


def block_repeats(log_probs: torch.Tensor, history: torch.Tensor, size: int) -> torch.Tensor:
    """Forbid every token that would repeat an n-gram of ``size`` tokens already in ``history``.

    Args:
        log_probs: next-token log-probabilities, (rows, vocab).
        history: the tokens output so far by each row, (rows, steps).
        size: the n-gram size (1: no token twice).

    Returns:
        ``log_probs`` with -inf at the forbidden tokens, (rows, vocab).
    """
    rows, steps = history.shape
    if size < 1 or steps < size:
        return log_probs  # no complete n-gram yet
    windows = history.unfold(1, size, 1)  # (rows, steps - size + 1, size)
    prefix = history[:, steps - size + 1:]  # (rows, size - 1) the n-gram's given start
    # A window whose first size - 1 tokens equal the last size - 1 outputs: its last token
    # would repeat it.
    matches = (windows[:, :, :-1] == prefix.unsqueeze(1)).all(dim=-1)  # (rows, windows)
    hits = torch.zeros(rows, log_probs.size(1), device=log_probs.device)  # (rows, vocab)
    hits.scatter_add_(1, windows[:, :, -1], matches.float())  # (rows, vocab)
    return log_probs.masked_fill(hits > 0, float("-inf"))  # (rows, vocab)


def beam_search(model: Seq2Seq, source: torch.Tensor, bos: int, eos: int, max_len: int,
                beam: int = 4, length_penalty: float = 1.0,
                no_repeat_ngram: int = 0) -> DecodeResult:
    """Beam search over a whole batch: ``batch * beam`` rows decoded together.

    At each step the ``2 * beam`` best continuations of an example are ranked; those ending in
    EOS within the first ``beam`` are finished outputs, the ``beam`` best others go on. An
    example stops when no live hypothesis can beat its best finished output any more, however it
    goes on, or when ``beam`` outputs have finished and the best of them beats every live one
    as it stands (so ``beam=1`` is exactly greedy decoding); at ``max_len`` the live ones
    compete as they are. Outputs are ranked by sum of log-probabilities
    / length ** ``length_penalty`` (the length counts the EOS).

    Args:
        model: the network (put in eval mode for the call).
        source: source ids, 0 for padding, on the model's device, (batch, src_len).
        bos: the id that starts every output.
        eos: the id that ends an output (not returned).
        max_len: most output tokens, EOS included.
        beam: hypotheses kept per example (1 is greedy decoding).
        length_penalty: 0 ranks by the plain sum (favours short outputs), 1 by the mean.
        no_repeat_ngram: forbid repeating any n-gram of this many tokens; 0: off.

    Returns:
        the best output of each example, its normalised score and its attention.
    """
    if beam < 1:
        raise ValueError(f"beam must be at least 1, not {beam}")
    with _inference(model):
        batch, src_len, device = source.size(0), source.size(1), source.device
        has_attention = model.attention is not None
        encoded = model.encode(source)
        source_lengths = encoded.lengths  # (batch,)
        # What is returned, filled in as examples finish.
        out_score = torch.full((batch,), float("-inf"), device=device)  # (batch,)
        out_tokens = torch.zeros(batch, max_len, dtype=torch.long, device=device)  # (B, max)
        out_length = torch.zeros(batch, dtype=torch.long, device=device)  # (batch,)
        out_attention = torch.zeros(batch, max_len, src_len, device=device)  # (B, max, S)
        # The examples still being decoded: finished ones leave the batch, so a long reply
        # does not keep every other example's beams running to the end.
        alive = torch.arange(batch, device=device)  # (A,) their rows in the output
        encoded = encoded.index_select(alive.repeat_interleave(beam))  # A * K rows
        state = encoded.state
        token = torch.full((batch * beam,), bos, dtype=torch.long, device=device)  # (A * K,)
        # Only the first copy of each example starts, so the first step yields `beam`
        # different hypotheses rather than `beam` copies of one.
        sums = torch.full((batch, beam), float("-inf"), device=device)  # (A, beam)
        sums[:, 0] = 0.0
        history = torch.zeros(batch, beam, 0, dtype=torch.long, device=device)  # (A, K, t)
        seen = torch.zeros(batch, beam, 0, src_len, device=device)  # (A, K, t, S) attention
        # The best finished output of each example so far.
        best_score = torch.full((batch,), float("-inf"), device=device)  # (A,)
        best_tokens = torch.zeros(batch, max_len, dtype=torch.long, device=device)  # (A, max)
        best_length = torch.zeros(batch, dtype=torch.long, device=device)  # (A,)
        best_attention = torch.zeros(batch, max_len, src_len, device=device)  # (A, max, S)
        found = torch.zeros(batch, dtype=torch.long, device=device)  # (A,) outputs ended
        done = torch.zeros(batch, dtype=torch.bool, device=device)  # (A,)
        candidates = 2 * beam

        def finish(rows: torch.Tensor) -> None:
            """Copy the best outputs of working rows ``rows`` into the returned ones."""
            targets = alive[rows]
            out_score[targets] = best_score[rows]
            out_tokens[targets] = best_tokens[rows]
            out_length[targets] = best_length[rows]
            out_attention[targets] = best_attention[rows]

        for step in range(max_len):
            rows = torch.arange(alive.size(0), device=device)  # (A,)
            live_n = alive.size(0)
            log_probs, state, attention = model.step(token, state, encoded)  # (A * K, vocab)
            vocab = log_probs.size(1)
            if no_repeat_ngram:
                log_probs = block_repeats(log_probs, history.view(live_n * beam, step),
                                          no_repeat_ngram)  # (A * K, vocab)
            total = sums.unsqueeze(-1) + log_probs.view(live_n, beam, vocab)  # (A, K, vocab)
            # Every candidate of this step has step + 1 tokens, so the sums rank them.
            cand_total, cand_index = total.view(live_n, beam * vocab).topk(
                min(candidates, beam * vocab), dim=1)  # (A, C), (A, C)
            origin = cand_index // vocab  # (A, C) the beam each candidate extends
            word = cand_index % vocab  # (A, C)
            is_eos = word == eos  # (A, C)
            rank = torch.arange(cand_total.size(1), device=device)  # (C,)
            norm = (step + 1) ** length_penalty
            ends = is_eos & (rank < beam) & torch.isfinite(cand_total)  # (A, C)
            found += ends.sum(dim=1)
            ended_score, which = torch.where(ends, cand_total / norm,
                                             float("-inf")).max(dim=1)  # (A,), (A,)
            better = ended_score > best_score  # (A,)
            if bool(better.any()):
                from_beam = origin.gather(1, which[:, None]).squeeze(1)  # (A,)
                best_tokens[better, :step] = history[rows, from_beam][better]  # (n, step)
                if has_attention:
                    best_attention[better, :step] = seen[rows, from_beam][better]  # (n, t, S)
                best_length = torch.where(better, step, best_length)  # (A,)
                best_score = torch.where(better, ended_score, best_score)  # (A,)
            # The `beam` best candidates that do not end go on (EOS ones sorted last).
            order = torch.where(is_eos, rank + candidates, rank).argsort(dim=1)[:, :beam]
            keep_total = cand_total.gather(1, order)  # (A, K)
            keep_origin = origin.gather(1, order)  # (A, K)
            keep_word = word.gather(1, order)  # (A, K)
            sums = torch.where(is_eos.gather(1, order), float("-inf"), keep_total)  # (A, K)
            history = torch.cat([
                history.gather(1, keep_origin[:, :, None].expand(-1, -1, step)),
                keep_word[:, :, None],
            ], dim=2)  # (A, K, step + 1)
            if has_attention:
                step_weights = attention.view(live_n, beam, src_len).gather(
                    1, keep_origin[:, :, None].expand(-1, -1, src_len))  # (A, K, S)
                seen = torch.cat([
                    seen.gather(1, keep_origin[:, :, None, None].expand(-1, -1, step, src_len)),
                    step_weights[:, :, None],
                ], dim=2)  # (A, K, step + 1, S)
            flat = (rows[:, None] * beam + keep_origin).view(-1)  # (A * K,)
            state = reorder_state(state, flat)
            token = keep_word.view(-1)  # (A * K,)
            # Stop an example once no live hypothesis can still win: log-probabilities are
            # <= 0, so a sum only falls, and with length_penalty > 0 the most a live one can
            # reach is its sum spread over the longest possible output. That bound is loose,
            # so also stop once `beam` outputs have ended and the best beats every live one
            # as it stands now (Hugging Face's rule; it makes beam 1 exactly greedy).
            best_live = sums.max(dim=1).values  # (A,)
            horizon = max_len if length_penalty > 0 else step + 1
            done |= best_score >= best_live / horizon ** length_penalty
            done |= (found >= beam) & (best_score >= best_live / norm)
            if bool(done.any()):
                finish(done.nonzero().squeeze(1))
                keep = (~done).nonzero().squeeze(1)  # (A',)
                if not len(keep):
                    break
                keep_rows = (keep[:, None] * beam + torch.arange(beam, device=device)).view(-1)
                alive, sums, history, seen, found = (alive[keep], sums[keep], history[keep],
                                                     seen[keep], found[keep])
                best_score, best_tokens = best_score[keep], best_tokens[keep]
                best_length, best_attention = best_length[keep], best_attention[keep]
                done = done[keep]
                token, state = token[keep_rows], reorder_state(state, keep_rows)
                encoded = encoded.index_select(keep_rows)
        else:
            # Outputs cut by max_len compete with the finished ones as they are.
            steps = history.size(2)
            rows = torch.arange(alive.size(0), device=device)  # (A,)
            live_score, live_beam = (sums / max(steps, 1) ** length_penalty).max(dim=1)  # (A,)
            take = live_score > best_score  # (A,)
            if bool(take.any()):
                best_tokens[take, :steps] = history[rows, live_beam][take]
                if has_attention:
                    best_attention[take, :steps] = seen[rows, live_beam][take]  # (n, steps, S)
                best_length = torch.where(take, steps, best_length)
                best_score = torch.where(take, live_score, best_score)
            finish(rows)
        return _collect(out_tokens, out_length, out_score,
                        out_attention if has_attention else None, source_lengths)


def mean_log_likelihood(model: Seq2Seq, source: torch.Tensor, target_in: torch.Tensor,
                        target_out: torch.Tensor, pad: int = 0) -> list[float]:
    """How likely the model finds given outputs: the mean log-probability of each row's tokens
    (EOS included), comparable with the scores of :func:`greedy` and :func:`beam_search`.

    Args:
        model: the network (put in eval mode for the call).
        source: source ids, ``pad`` for padding, (batch, src_len).
        target_in: BOS, then the output tokens, ``pad`` for padding, (batch, tgt_len).
        target_out: the output tokens, then EOS, ``pad`` for padding, (batch, tgt_len).
        pad: the padding id.
    """
    with _inference(model):
        logits = model(source, target_in)  # (batch, tgt_len, vocab)
        log_probs = torch.log_softmax(logits.float(), dim=-1)  # (batch, tgt_len, vocab)
        real = target_out != pad  # (batch, tgt_len)
        gold = log_probs.gather(-1, target_out.unsqueeze(-1)).squeeze(-1)  # (batch, tgt_len)
        total = torch.where(real, gold, 0.0).sum(dim=1)  # (batch,)
        return (total / real.sum(dim=1).clamp(min=1)).cpu().tolist()
