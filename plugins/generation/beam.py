"""Beam search for any :class:`~chatbot_plugins.generation.decoding.StepModel`: the ``beam``
best partial outputs of every example, all examples' beams rows of one batch, finished outputs
ranked by their length-normalised log-probability, repeated n-grams optionally forbidden."""

from __future__ import annotations

import torch

from chatbot_plugins.generation.decoding import DecodeResult, StepModel, collect, inference


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


def beam_search(model: StepModel, inputs: torch.Tensor, bos: int, eos: int, max_len: int,
                beam: int = 4, length_penalty: float = 1.0,
                no_repeat_ngram: int = 0) -> DecodeResult:
    """Beam search over a whole batch: ``batch * beam`` rows decoded together.

    At each step the ``2 * beam`` best continuations of an example are ranked; those ending in
    EOS within the first ``beam`` are finished outputs, the ``beam`` best others go on. An
    example stops when no live hypothesis can beat its best finished output any more, however it
    goes on, or when ``beam`` outputs have finished and the best of them beats every live one
    as it stands (so ``beam=1`` is exactly greedy decoding); at ``max_len`` the live ones
    compete as they are. Outputs are ranked by sum of log-probabilities
    / length ** ``length_penalty`` (the length counts the EOS): that is ``scores``; the
    outputs' ``mean_log_probs`` do not depend on the penalty.

    Args:
        model: the network (put in eval mode for the call).
        inputs: input ids, ``PAD`` for padding, on the model's device, (batch, length).
        bos: the id every output starts from.
        eos: the id that ends an output (not returned).
        max_len: most output tokens, EOS included.
        beam: hypotheses kept per example (1 is greedy decoding).
        length_penalty: 0 ranks by the plain sum (favours short outputs), 1 by the mean.
        no_repeat_ngram: forbid repeating any n-gram of this many tokens; 0: off.

    Returns:
        the best output of each example, its normalised score, its mean token log-probability
        and its attention.
    """
    if beam < 1:
        raise ValueError(f"beam must be at least 1, not {beam}")
    with inference(model):
        batch, src_len, device = inputs.size(0), inputs.size(1), inputs.device
        has_attention = False  # known after the first step
        # What is returned, filled in as examples finish.
        out_score = torch.full((batch,), float("-inf"), device=device)  # (batch,)
        out_sum = torch.full((batch,), float("-inf"), device=device)  # (batch,)
        out_count = torch.ones(batch, device=device)  # (batch,) tokens in out_sum
        out_tokens = torch.zeros(batch, max_len, dtype=torch.long, device=device)  # (B, max)
        out_length = torch.zeros(batch, dtype=torch.long, device=device)  # (batch,)
        out_attention = torch.zeros(batch, max_len, src_len, device=device)  # (B, max, S)
        # The examples still being decoded: finished ones leave the batch, so a long output
        # does not keep every other example's beams running to the end.
        alive = torch.arange(batch, device=device)  # (A,) their rows in the output
        state = model.select(model.start(inputs), alive.repeat_interleave(beam))  # A * K rows
        token = torch.full((batch * beam,), bos, dtype=torch.long, device=device)  # (A * K,)
        # Only the first copy of each example starts, so the first step yields `beam`
        # different hypotheses rather than `beam` copies of one.
        sums = torch.full((batch, beam), float("-inf"), device=device)  # (A, beam)
        sums[:, 0] = 0.0
        history = torch.zeros(batch, beam, 0, dtype=torch.long, device=device)  # (A, K, t)
        seen = torch.zeros(batch, beam, 0, src_len, device=device)  # (A, K, t, S) attention
        # The best finished output of each example so far.
        best_score = torch.full((batch,), float("-inf"), device=device)  # (A,)
        best_sum = torch.full((batch,), float("-inf"), device=device)  # (A,)
        best_count = torch.ones(batch, device=device)  # (A,) its tokens, EOS included
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
            out_sum[targets] = best_sum[rows]
            out_count[targets] = best_count[rows]
            out_tokens[targets] = best_tokens[rows]
            out_length[targets] = best_length[rows]
            out_attention[targets] = best_attention[rows]

        for step in range(max_len):
            rows = torch.arange(alive.size(0), device=device)  # (A,)
            live_n = alive.size(0)
            logits, state, attention = model.step(token, state)  # (A * K, vocab)
            has_attention = attention is not None
            log_probs = torch.log_softmax(logits.float(), dim=-1)  # (A * K, vocab)
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
                ended_sum = cand_total.gather(1, which[:, None]).squeeze(1)  # (A,)
                best_tokens[better, :step] = history[rows, from_beam][better]  # (n, step)
                if has_attention:
                    best_attention[better, :step] = seen[rows, from_beam][better]  # (n, t, S)
                best_length = torch.where(better, step, best_length)  # (A,)
                best_score = torch.where(better, ended_score, best_score)  # (A,)
                best_sum = torch.where(better, ended_sum, best_sum)  # (A,)
                best_count = torch.where(better, float(step + 1), best_count)  # (A,)
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
            state = model.select(state, flat, same_inputs=True)
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
                best_sum, best_count = best_sum[keep], best_count[keep]
                best_length, best_attention = best_length[keep], best_attention[keep]
                done = done[keep]
                token, state = token[keep_rows], model.select(state, keep_rows)
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
                live_sum = sums.gather(1, live_beam[:, None]).squeeze(1)  # (A,)
                best_length = torch.where(take, steps, best_length)
                best_score = torch.where(take, live_score, best_score)
                best_sum = torch.where(take, live_sum, best_sum)
                best_count = torch.where(take, float(max(steps, 1)), best_count)
            finish(rows)
        return collect(out_tokens, out_length, out_score, out_sum / out_count,
                       out_attention if has_attention else None, inputs)
