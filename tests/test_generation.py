"""chatbot_plugins.generation with a model other than the seq2seq: the decoders know a model only
through start / step / select, so fallback.lm's language model is greedy-decoded, beam-searched
and sampled by the same code."""

from __future__ import annotations

import pytest
import torch

from chatbot_plugins.fallback.lm_model import LstmLanguageModel
from chatbot_plugins.generation.beam import beam_search
from chatbot_plugins.generation.decoding import (
    filter_logits,
    greedy,
    mean_log_likelihood,
    sample,
)

torch.set_num_threads(1)

VOCAB, START, EOS, MAX_LEN = 12, 4, 3, 7


@pytest.fixture(scope="module")
def lm() -> LstmLanguageModel:
    torch.manual_seed(0)
    return LstmLanguageModel(VOCAB, embed_dim=8, hidden=16, layers=2, dropout=0.0).eval()


@pytest.fixture(scope="module")
def prompts() -> torch.Tensor:
    """Right-padded prompts of different lengths, (4, 5)."""
    return torch.tensor([[2, 5, 6, 7, 8], [2, 9, 0, 0, 0], [2, 10, 11, 5, 0], [2, 0, 0, 0, 0]])


def teacher_forced_mean(lm: LstmLanguageModel, prompt: list[int], tokens: list[int],
                        ended: bool, banned: tuple[int, ...] = ()) -> float:
    """The mean log-probability of ``tokens`` (+ EOS) after ``prompt`` and the start token."""
    target = [*tokens, EOS] if ended else list(tokens)
    inputs = torch.tensor([[*prompt, START, *target[:-1]]])
    with torch.no_grad():
        logits, _ = lm(inputs)  # (1, length, vocab)
    logits = logits[:, len(prompt):]  # (1, len(target), vocab) the output's positions
    if banned:
        logits[..., list(banned)] = float("-inf")
    return mean_log_likelihood(logits, torch.tensor([target]))[0]


def real(prompts: torch.Tensor, row: int) -> list[int]:
    return [i for i in prompts[row].tolist() if i]


def test_the_step_api_matches_the_whole_sequence(lm, prompts):
    with torch.no_grad():
        state = lm.start(prompts)
        logits, state, attention = lm.step(torch.full((4,), START), state)
        assert attention is None and logits.shape == (4, VOCAB)
        for row in range(4):
            whole, _ = lm(torch.tensor([[*real(prompts, row), START]]))
            assert torch.allclose(logits[row], whole[0, -1], atol=1e-5)
        # select keeps or repeats rows of the state
        picked = lm.select(state, torch.tensor([2, 2, 0]))
        again, _, _ = lm.step(torch.tensor([5, 5, 5]), picked)
        reference, _, _ = lm.step(torch.full((4,), 5), state)
        assert torch.allclose(again, reference[[2, 2, 0]], atol=1e-6)


def test_greedy_and_beam_decode_a_language_model(lm, prompts):
    decoded = greedy(lm, prompts, START, EOS, MAX_LEN)
    assert beam_search(lm, prompts, START, EOS, MAX_LEN, beam=1).tokens == decoded.tokens
    wide = beam_search(lm, prompts, START, EOS, MAX_LEN, beam=4, length_penalty=0.5)
    for result in (decoded, wide):
        assert all(result_attention.numel() == 0 for result_attention in result.attention)
        for row, tokens in enumerate(result.tokens):
            ended = len(tokens) < MAX_LEN
            expected = teacher_forced_mean(lm, real(prompts, row), tokens, ended)
            assert result.mean_log_probs[row] == pytest.approx(expected, abs=1e-4)


def test_sampling_follows_its_draws_and_not_the_batch(lm, prompts):
    draws = torch.rand(4, MAX_LEN, generator=torch.Generator().manual_seed(3))
    together = sample(lm, prompts, START, EOS, MAX_LEN, draws, temperature=1.5, top_k=6,
                      top_p=0.9, banned=(0,))
    assert sample(lm, prompts, START, EOS, MAX_LEN, draws, temperature=1.5, top_k=6,
                  top_p=0.9, banned=(0,)).tokens == together.tokens
    for row in range(4):
        alone = sample(lm, torch.tensor([real(prompts, row)]), START, EOS, MAX_LEN,
                       draws[row:row + 1], temperature=1.5, top_k=6, top_p=0.9, banned=(0,))
        assert alone.tokens[0] == together.tokens[row]
        assert alone.mean_log_probs[0] == pytest.approx(together.mean_log_probs[row], abs=1e-5)
        tokens = together.tokens[row]
        assert 0 not in tokens
        # The confidence is the model's own (temperature 1), the banned ids left out.
        expected = teacher_forced_mean(lm, real(prompts, row), tokens, len(tokens) < MAX_LEN,
                                       banned=(0,))
        assert together.mean_log_probs[row] == pytest.approx(expected, abs=1e-4)
    others = torch.rand(4, MAX_LEN, generator=torch.Generator().manual_seed(5))
    other = sample(lm, prompts, START, EOS, MAX_LEN, others, temperature=1.5, top_k=6,
                   top_p=0.9, banned=(0,))
    assert other.tokens != together.tokens  # the draws do choose


def test_sampling_from_the_top_token_alone_is_greedy(lm, prompts):
    draws = torch.rand(4, MAX_LEN, generator=torch.Generator().manual_seed(4))
    narrow = sample(lm, prompts, START, EOS, MAX_LEN, draws, top_k=1)
    assert narrow.tokens == greedy(lm, prompts, START, EOS, MAX_LEN).tokens


def test_top_k_and_top_p_keep_the_likeliest_tokens():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]])
    assert torch.isfinite(filter_logits(logits, top_k=2)).sum() == 2
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))
    assert kept.tolist() == [[True, True, False, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.01)).sum() == 1
