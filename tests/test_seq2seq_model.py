"""respond seq2seq: the network's shapes, masking and step API, and greedy / beam decoding
(chatbot_plugins.generation) of it.

A tiny attention model learns to reverse digit strings in a few seconds, so decoding is tested
on a model that really knows its task.
"""

from __future__ import annotations

import itertools
import random

import pytest
import torch
from torch.nn import functional as F

from chatbot_plugins.generation.beam import beam_search, block_repeats
from chatbot_plugins.generation.decoding import DecodeResult, greedy
from chatbot_plugins.respond.seq2seq_model import ATTENTIONS, Seq2Seq, reorder_state

torch.set_num_threads(1)

BOS, EOS = 1, 2
DIGITS = range(3, 13)  # ten "digits" after pad, BOS and EOS
VOCAB = 13


def digit_batch(rng: random.Random, size: int, shortest: int = 2, longest: int = 6,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[list[int]]]:
    """Random digit strings and their reversals: source, target_in, target_out, the strings."""
    strings = [[rng.choice(DIGITS) for _ in range(rng.randint(shortest, longest))]
               for _ in range(size)]
    width = max(map(len, strings))
    source = torch.zeros(size, width, dtype=torch.long)
    target_in = torch.zeros(size, width + 1, dtype=torch.long)
    target_out = torch.zeros(size, width + 1, dtype=torch.long)
    for row, string in enumerate(strings):
        reverse = string[::-1]
        source[row, :len(string)] = torch.tensor(string)
        target_in[row, :len(string) + 1] = torch.tensor([BOS, *reverse])
        target_out[row, :len(string) + 1] = torch.tensor([*reverse, EOS])
    return source, target_in, target_out, strings


def sequence_log_prob(model: Seq2Seq, source: torch.Tensor, tokens: list[int],
                      ended: bool) -> float:
    """Sum of log-probabilities of ``tokens`` (+ EOS when ``ended``) under teacher forcing."""
    target = [*tokens, EOS] if ended else list(tokens)
    target_in = torch.tensor([[BOS, *target[:-1]]])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(source, target_in).float(), dim=-1)[0]
    return float(sum(log_probs[i, token] for i, token in enumerate(target)))


@pytest.fixture(scope="module")
def reverser() -> Seq2Seq:
    """A small GRU + Luong-general model trained to reverse 2-6 digit strings (~3 s)."""
    torch.manual_seed(0)
    rng = random.Random(0)
    model = Seq2Seq(VOCAB, VOCAB, embed_dim=16, hidden=48, cell="gru", bidirectional=True,
                    attention="luong_general", dropout=0.0)
    return train_reverser(model, rng, steps=400, learning_rate=1e-2)


def train_reverser(model: torch.nn.Module, rng: random.Random, steps: int,
                   learning_rate: float) -> torch.nn.Module:
    """``model`` trained to reverse digit strings (batches of 32), in eval mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    for _ in range(steps):
        source, target_in, target_out, _ = digit_batch(rng, 32)
        loss = F.cross_entropy(model(source, target_in).transpose(1, 2), target_out,
                               ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def held_out() -> tuple[torch.Tensor, list[list[int]]]:
    source, _, _, strings = digit_batch(random.Random(1), 200)
    return source, strings


def accuracy(result: DecodeResult, strings: list[list[int]]) -> float:
    return sum(out == s[::-1] for out, s in zip(result.tokens, strings, strict=True)) / len(strings)


# ------------------------------------------------------------------------------- network


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_forward_shapes_and_gradients(cell: str, attention: str):
    torch.manual_seed(0)
    model = Seq2Seq(11, 17, embed_dim=8, hidden=12, cell=cell, attention=attention,
                    peeky=attention == "none", layers=2)
    source = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10], [5, 0, 0, 0, 0]])
    target_in = torch.tensor([[1, 2, 3, 4], [1, 5, 6, 0], [1, 0, 0, 0]])
    for forcing in (1.0, 0.5):
        logits = model(source, target_in, teacher_forcing=forcing)
        assert logits.shape == (3, 4, 17)
        logits.sum().backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        model.zero_grad()
    encoded = model.encode(source)
    assert encoded.memory.shape == (3, 5, 12)
    assert encoded.summary.shape == (3, 12)
    assert encoded.lengths.tolist() == [3, 5, 1]
    logits, state, weights = model.step(torch.tensor([1, 1, 1]), model.start(source))
    assert logits.shape == (3, 17) and logits.dtype == torch.float32
    assert state.encoded.memory.shape == (3, 5, 12)
    assert (weights is None) == (attention == "none")
    if weights is not None:
        assert weights.shape == (3, 5)


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("peeky", [False, True])
def test_step_api_reproduces_forward(attention: str, peeky: bool):
    """Step by step with the gold tokens gives the logits of the one-call forward."""
    torch.manual_seed(1)
    model = Seq2Seq(11, 11, embed_dim=8, hidden=16, cell="lstm", attention=attention,
                    peeky=peeky).eval()
    source, target_in, _, _ = digit_batch(random.Random(2), 5)
    source, target_in = source.clamp(max=10), target_in.clamp(max=10)
    with torch.no_grad():
        expected = torch.log_softmax(model(source, target_in), dim=-1)  # (B, T, V)
        state = model.start(source)
        for position in range(target_in.size(1)):
            logits, state, _ = model.step(target_in[:, position], state)
            assert torch.allclose(torch.log_softmax(logits, dim=-1), expected[:, position],
                                  atol=1e-5)


@pytest.mark.parametrize("attention", ["bahdanau", "luong_dot"])
def test_without_teacher_forcing_the_model_reads_its_own_argmax(attention: str):
    torch.manual_seed(8)
    model = Seq2Seq(VOCAB, VOCAB, embed_dim=8, hidden=16, attention=attention).eval()
    source, target_in, _, _ = digit_batch(random.Random(3), 6)
    garbage = target_in.clone()
    garbage[:, 1:] = 5
    with torch.no_grad():
        own = model(source, target_in, teacher_forcing=0.0)
        # Only BOS is read from target_in: the rest comes from the model itself.
        assert torch.equal(own, model(source, garbage, teacher_forcing=0.0))
        assert not torch.allclose(own, model(source, target_in, teacher_forcing=1.0))
    decoded = greedy(model, source, BOS, eos=-1, max_len=target_in.size(1))
    assert own.argmax(-1).tolist() == decoded.tokens


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_source_padding_changes_nothing(attention: str, cell: str):
    """Extra padding, or sharing a batch with a longer source, leaves an output unchanged."""
    torch.manual_seed(2)
    model = Seq2Seq(11, 11, embed_dim=8, hidden=16, cell=cell, attention=attention,
                    peeky=True).eval()
    short = torch.tensor([[3, 4, 5]])
    target_in = torch.tensor([[1, 6, 7, 8]])
    with torch.no_grad():
        alone = model(short, target_in)
        padded = model(torch.tensor([[3, 4, 5, 0, 0, 0]]), target_in)
        batched = model(torch.tensor([[9, 9, 9, 9, 9, 9], [3, 4, 5, 0, 0, 0]]),
                        target_in.repeat(2, 1))
    assert torch.allclose(alone, padded, atol=1e-5)
    assert torch.allclose(alone[0], batched[1], atol=1e-5)
    assert not torch.allclose(batched[0], batched[1], atol=1e-3)  # the source does matter


def test_attention_is_a_distribution_over_real_tokens_only():
    torch.manual_seed(3)
    for kind in ("bahdanau", "luong_dot", "luong_general"):
        model = Seq2Seq(11, 11, embed_dim=8, hidden=16, attention=kind).eval()
        source = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]])
        _, _, weights = model.step(torch.tensor([BOS, BOS]), model.start(source))
        assert torch.allclose(weights.sum(-1), torch.ones(2))
        assert torch.all(weights[0, 3:] == 0)
        result = greedy(model, source, BOS, EOS, max_len=6)
        for rows, length in zip(result.attention, (3, 5), strict=True):
            assert rows.shape[1] == length and rows.device.type == "cpu"
            assert torch.allclose(rows.sum(-1), torch.ones(len(rows)), atol=1e-5)
    plain = Seq2Seq(11, 11, embed_dim=8, hidden=16, attention="none")
    assert greedy(plain, source, BOS, EOS, max_len=4).attention[0].numel() == 0


def test_index_select_and_reorder_state():
    torch.manual_seed(4)
    model = Seq2Seq(11, 11, embed_dim=8, hidden=16, cell="lstm", attention="bahdanau").eval()
    source = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]])
    encoded = model.encode(source)
    indices = torch.tensor([1, 1, 0])
    picked = encoded.index_select(indices)
    assert torch.equal(picked.memory[2], encoded.memory[0])
    assert torch.equal(picked.mask[0], encoded.mask[1])
    assert torch.equal(picked.state[1][:, 1], encoded.state[1][:, 1])
    assert torch.equal(reorder_state(encoded.state[0], indices)[:, 2], encoded.state[0][:, 0])
    # Stepping the selected rows equals stepping the originals.
    tokens = torch.tensor([BOS, BOS])
    state = model.start(source)
    logits, after, _ = model.step(tokens, state)
    selected = model.select(state, indices)
    assert torch.equal(selected.encoded.memory, picked.memory)
    picked_logits, _, _ = model.step(tokens[indices], selected)
    assert torch.allclose(picked_logits, logits[indices], atol=1e-6)
    # Reordering rows that read the same source (beam search) moves only the recurrent state.
    twice = model.select(state, torch.tensor([0, 0, 1, 1]))
    swapped = model.select(twice, torch.tensor([1, 0, 3, 2]), same_inputs=True)
    assert swapped.encoded is twice.encoded
    assert torch.equal(swapped.recurrent[0][:, 0], twice.recurrent[0][:, 1])


def _cpu_has_bf16_lstm() -> bool:
    """oneDNN builds no bf16 LSTM on CPUs without AVX-512 BF16 (e.g. some AMD EPYC)."""
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.nn.LSTM(2, 2)(torch.zeros(1, 1, 2))
    except RuntimeError:
        return False
    return True


def test_autocast_bf16_forward_backward_and_decoding():
    if not _cpu_has_bf16_lstm():
        pytest.skip("this CPU's oneDNN has no bf16 LSTM; bf16 training is for GPUs anyway")
    torch.manual_seed(5)
    model = Seq2Seq(11, 11, embed_dim=8, hidden=16, cell="lstm", attention="bahdanau",
                    peeky=True)
    source, target_in, target_out, _ = digit_batch(random.Random(4), 4)
    source, target_in, target_out = (t.clamp(max=10) for t in (source, target_in, target_out))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(source, target_in)
        loss = F.cross_entropy(logits.float().transpose(1, 2), target_out, ignore_index=0)
        fast = Seq2Seq(11, 11, embed_dim=8, hidden=16, attention="luong_dot")
        assert fast(source, target_in).shape == logits.shape
        result = beam_search(model, source, BOS, EOS, max_len=5, beam=2)
    loss.backward()
    assert torch.isfinite(loss)
    assert len(result.tokens) == 4 and all(torch.isfinite(torch.tensor(result.scores)))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        Seq2Seq(5, 5, cell="rnn")
    with pytest.raises(ValueError):
        Seq2Seq(5, 5, attention="luong_concat")
    with pytest.raises(ValueError):
        Seq2Seq(5, 5, hidden=15, bidirectional=True)


# ------------------------------------------------------------------------------ decoding


def test_reverser_learns_and_greedy_equals_beam_one(reverser, held_out):
    source, strings = held_out
    decoded = greedy(reverser, source, BOS, EOS, max_len=8)
    assert accuracy(decoded, strings) > 0.9
    single = beam_search(reverser, source, BOS, EOS, max_len=8, beam=1)
    assert single.tokens == decoded.tokens
    assert torch.allclose(torch.tensor(single.scores), torch.tensor(decoded.scores), atol=1e-5)
    assert reverser.training is False


def test_scores_are_the_mean_log_probability_of_the_output(reverser, held_out):
    source, _ = held_out
    for result in (greedy(reverser, source[:20], BOS, EOS, max_len=8),
                   beam_search(reverser, source[:20], BOS, EOS, max_len=8, beam=4)):
        for row in range(20):
            tokens = result.tokens[row]
            ended = len(tokens) < 8
            total = sequence_log_prob(reverser, source[row:row + 1], tokens, ended)
            mean = total / (len(tokens) + ended)
            assert result.mean_log_probs[row] == pytest.approx(mean, abs=1e-4)
            assert result.scores[row] == pytest.approx(mean, abs=1e-4)  # length_penalty 1


@pytest.mark.parametrize("length_penalty", [0.0, 0.5, 2.0])
def test_the_length_penalty_changes_the_ranking_score_not_the_mean_log_probability(
        length_penalty: float):
    """Beam search ranks by sum / length ** penalty, but reports every output's mean token
    log-probability as it is: a reply's confidence does not depend on the penalty."""
    torch.manual_seed(10)
    model = Seq2Seq(VOCAB, VOCAB, embed_dim=16, hidden=32, attention="bahdanau").eval()
    source, _, _, _ = digit_batch(random.Random(5), 12)
    result = beam_search(model, source, BOS, EOS, max_len=6, beam=3,
                         length_penalty=length_penalty)
    for row, tokens in enumerate(result.tokens):
        ended = len(tokens) < 6
        total = sequence_log_prob(model, source[row:row + 1], tokens, ended)
        count = len(tokens) + ended
        assert result.mean_log_probs[row] == pytest.approx(total / count, abs=1e-4)
        assert result.scores[row] == pytest.approx(total / count ** length_penalty, abs=1e-4)


def raw_sums(result: DecodeResult, max_len: int) -> list[float]:
    """Mean log-probabilities back to sums (the EOS counts when the output ended)."""
    return [score * (len(tokens) + (len(tokens) < max_len))
            for score, tokens in zip(result.scores, result.tokens, strict=True)]


def test_beam_search_does_not_lose_to_greedy(reverser, held_out):
    source, strings = held_out
    torch.manual_seed(9)
    untrained = Seq2Seq(VOCAB, VOCAB, embed_dim=16, hidden=48, attention="bahdanau").eval()
    for model in (reverser, untrained):
        greedy_sums = raw_sums(greedy(model, source, BOS, EOS, max_len=8), 8)
        # Ranked by the plain sum (length_penalty 0), beam 4 keeps greedy's path unless four
        # better ones push it out: it scores at least as well on nearly every example.
        searched = beam_search(model, source, BOS, EOS, max_len=8, beam=4, length_penalty=0.0)
        pairs = list(zip(searched.scores, greedy_sums, strict=True))
        assert sum(b >= g - 1e-4 for b, g in pairs) >= 0.98 * len(pairs)
        assert sum(searched.scores) >= sum(greedy_sums) - 1e-3
    # The untrained model is unsure, so the search finds better outputs than greedy.
    assert sum(b > g + 1e-3 for b, g in pairs) >= 10
    decoded = greedy(reverser, source, BOS, EOS, max_len=8)
    wide = beam_search(reverser, source, BOS, EOS, max_len=8, beam=4)
    assert accuracy(wide, strings) >= accuracy(decoded, strings) - 0.02


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_a_wide_enough_beam_finds_the_best_output(length_penalty: float):
    """With every hypothesis kept, beam search is exhaustive: compare with brute force."""
    torch.manual_seed(6)
    vocab, max_len = 5, 3
    model = Seq2Seq(6, vocab, embed_dim=8, hidden=16, attention="bahdanau").eval()
    source = torch.tensor([[3, 4, 5, 1]])
    outputs = [(tokens, True) for n in range(max_len) for tokens in
               itertools.product([t for t in range(vocab) if t != EOS], repeat=n)]
    outputs += [(tokens, False) for tokens in
                itertools.product([t for t in range(vocab) if t != EOS], repeat=max_len)]
    best = max(sequence_log_prob(model, source, list(t), ended) / (len(t) + ended) **
               length_penalty for t, ended in outputs)
    result = beam_search(model, source, BOS, EOS, max_len=max_len, beam=vocab ** max_len,
                         length_penalty=length_penalty)
    assert result.scores[0] == pytest.approx(best, abs=1e-5)
    narrow = beam_search(model, source, BOS, EOS, max_len=max_len, beam=2,
                         length_penalty=length_penalty)
    assert narrow.scores[0] <= best + 1e-6


def test_block_repeats():
    history = torch.tensor([[5, 6, 5, 7, 5], [3, 4, 3, 4, 8]])
    log_probs = torch.zeros(2, 10)
    blocked = block_repeats(log_probs, history, 2)
    # Row 0 ends in 5; "5 6" and "5 7" were seen, so 6 and 7 may not follow.
    assert torch.isinf(blocked[0]).nonzero().flatten().tolist() == [6, 7]
    assert not torch.isinf(blocked[1]).any()  # nothing follows 8 yet
    assert torch.isinf(block_repeats(log_probs, history, 1)[1]).nonzero().flatten().tolist() \
        == [3, 4, 8]
    assert torch.equal(block_repeats(log_probs, history[:, :1], 2), log_probs)


def test_no_repeat_ngram_really_blocks_repeats():
    torch.manual_seed(7)
    # An untrained model with a tiny vocabulary repeats itself within a few tokens.
    model = Seq2Seq(8, 6, embed_dim=8, hidden=16, attention="luong_dot").eval()
    source = torch.tensor([[3, 4, 5, 6, 7], [4, 4, 0, 0, 0], [7, 6, 5, 0, 0]])

    def repeats(tokens: list[int], size: int) -> bool:
        grams = [tuple(tokens[i:i + size]) for i in range(len(tokens) - size + 1)]
        return len(grams) != len(set(grams))

    free = beam_search(model, source, BOS, eos=-1, max_len=12, beam=3)
    assert any(repeats(tokens, 2) for tokens in free.tokens)
    blocked = beam_search(model, source, BOS, eos=-1, max_len=12, beam=3, no_repeat_ngram=2)
    assert all(len(tokens) == 12 for tokens in blocked.tokens)
    assert not any(repeats(tokens, 2) for tokens in blocked.tokens)


def test_batch_decoding_equals_one_by_one(reverser, held_out):
    source, _ = held_out
    source = source[:12]
    for decode in (lambda s: greedy(reverser, s, BOS, EOS, max_len=8, temperature=0.7),
                   lambda s: beam_search(reverser, s, BOS, EOS, max_len=8, beam=3,
                                         no_repeat_ngram=3)):
        together = decode(source)
        for row in range(len(source)):
            length = int((source[row] != 0).sum())
            alone = decode(source[row:row + 1, :length])
            assert alone.tokens[0] == together.tokens[row]
            assert alone.scores[0] == pytest.approx(together.scores[row], abs=1e-5)
            assert torch.allclose(alone.attention[0], together.attention[row], atol=1e-5)


def test_temperature_changes_scores_not_choices(reverser, held_out):
    source, _ = held_out
    plain = greedy(reverser, source[:10], BOS, EOS, max_len=8)
    hot = greedy(reverser, source[:10], BOS, EOS, max_len=8, temperature=2.0)
    assert hot.tokens == plain.tokens
    assert all(h < p for h, p in zip(hot.scores, plain.scores, strict=True))
    assert hot.mean_log_probs == pytest.approx(plain.mean_log_probs, abs=1e-6)
    assert plain.mean_log_probs == pytest.approx(plain.scores, abs=1e-6)
