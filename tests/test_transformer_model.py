"""The Transformer encoder-decoder (chatbot_plugins.generation.transformer_model): masks,
step-by-step decoding against the all-at-once forward pass, and that it learns."""

from __future__ import annotations

import random

import pytest
import torch
from torch.nn import functional as F

from chatbot_plugins.fallback.lm_model import TransformerLanguageModel
from chatbot_plugins.generation.beam import beam_search
from chatbot_plugins.generation.decoding import greedy, sample
from chatbot_plugins.generation.transformer_model import TransformerSeq2Seq
from tests.test_seq2seq_model import (
    BOS,
    DIGITS,
    EOS,
    VOCAB,
    accuracy,
    digit_batch,
    train_reverser,
)

torch.set_num_threads(1)


def _model(**sizes) -> TransformerSeq2Seq:
    torch.manual_seed(0)
    settings = {"dim": 32, "heads": 4, "layers": 2, "ff_dim": 64, "dropout": 0.0, **sizes}
    return TransformerSeq2Seq(VOCAB, **settings).eval()


def test_stepping_reproduces_the_forward_pass_with_its_attention():
    model = _model()
    source, target_in, _, _ = digit_batch(random.Random(0), 5)
    with torch.no_grad():
        whole = model(source, target_in)  # (batch, tgt, vocab)
        _, weights = model.decode(target_in, *model.encode(source))  # (batch, tgt, src)
        state, steps = model.start(source), []
        for position in range(target_in.size(1)):
            logits, state, attention = model.step(target_in[:, position], state)
            steps.append(logits)
            assert torch.allclose(attention, weights[:, position], atol=1e-5)
    assert torch.allclose(torch.stack(steps, dim=1), whole, atol=1e-4)


def test_padding_and_later_tokens_change_nothing_before_them():
    model = _model()
    source, target_in, _, _ = digit_batch(random.Random(1), 4)
    with torch.no_grad():
        plain = model(source, target_in)
        padded_source = F.pad(source, (0, 3))  # three more padding columns
        assert torch.allclose(model(padded_source, target_in), plain, atol=1e-5)
        changed = target_in.clone()
        changed[:, -1] = 5  # a different last input token
        again = model(source, changed)
    assert torch.allclose(again[:, :-1], plain[:, :-1], atol=1e-5)
    assert not torch.allclose(again[:, -1], plain[:, -1])


def test_cross_attention_is_a_distribution_over_real_source_tokens():
    model = _model()
    source, target_in, _, strings = digit_batch(random.Random(2), 6)
    with torch.no_grad():
        _, weights = model.decode(target_in, *model.encode(source))  # (batch, tgt, src)
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:2]), atol=1e-5)
    for row, string in enumerate(strings):
        assert float(weights[row, :, len(string):].abs().sum()) == 0.0


def test_selecting_rows_keeps_their_state():
    model = _model()
    source, target_in, _, _ = digit_batch(random.Random(3), 3)
    with torch.no_grad():
        state = model.start(source)
        _, state, _ = model.step(target_in[:, 0], state)
        rows = torch.tensor([2, 0, 2])
        picked = model.select(state, rows)
        logits, _, _ = model.step(target_in[rows, 1], picked)
        alone, _, _ = model.step(target_in[:, 1], state)
    assert torch.allclose(logits, alone[rows], atol=1e-5)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="multiple of heads"):
        TransformerSeq2Seq(VOCAB, dim=30, heads=4)
    with pytest.raises(ValueError, match="teacher forcing only"):
        _model().train()(*digit_batch(random.Random(4), 2)[:2], teacher_forcing=0.5)


def test_it_learns_to_reverse_and_beam_search_decodes_it():
    """A small model trained on digit reversal; greedy and beam search read it back."""
    model = train_reverser(_model().train(), random.Random(0), steps=500, learning_rate=3e-3)
    source, _, _, strings = digit_batch(random.Random(1), 200)
    decoded = greedy(model, source, BOS, EOS, max_len=8)
    assert accuracy(decoded, strings) > 0.9
    beamed = beam_search(model, source, BOS, EOS, max_len=8, beam=3)
    assert accuracy(beamed, strings) >= accuracy(decoded, strings) - 0.02
    assert decoded.attention[0].shape == (len(decoded.tokens[0]), len(strings[0]))


# -- the decoder-only language model (fallback.lm's architecture: transformer) --------------


def _language_model() -> TransformerLanguageModel:
    torch.manual_seed(0)
    return TransformerLanguageModel(VOCAB, dim=32, heads=4, layers=2, ff_dim=64,
                                    dropout=0.0).eval()


def test_the_language_model_steps_each_prompt_as_if_it_were_alone():
    """Prompts of different lengths decoded together give each row what it gives alone: the
    padding before a moved prompt is invisible, and positions start at its first token."""
    model = _language_model()
    prompts = [[BOS, 5, 6, 7], [BOS, 8], [BOS, 9, 10]]
    padded = torch.zeros(3, 4, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        padded[row, :len(prompt)] = torch.tensor(prompt)
    with torch.no_grad():
        state = model.start(padded)
        together, state, _ = model.step(torch.tensor([3, 3, 3]), state)
        after, _, _ = model.step(torch.tensor([4, 11, 12]), state)
        for row, prompt in enumerate(prompts):
            alone, _ = model(torch.tensor([[*prompt, 3]]))  # (1, length, vocab)
            assert torch.allclose(together[row], alone[0, -1], atol=1e-4)
            longer, _ = model(torch.tensor([[*prompt, 3, [4, 11, 12][row]]]))
            assert torch.allclose(after[row], longer[0, -1], atol=1e-4)
            assert torch.isfinite(after).all()


def test_the_language_model_learns_and_samples_what_it_learned():
    """Trained on "<bos> x y <eos> y x <eos>" for digit pairs (the first <eos> standing for
    <sep>), it samples the swap at a low temperature."""
    model = _language_model().train()
    rng = random.Random(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        pairs = [(rng.choice(DIGITS), rng.choice(DIGITS)) for _ in range(32)]
        batch = torch.tensor([[BOS, a, b, EOS, b, a, EOS] for a, b in pairs])
        logits, _ = model(batch[:, :-1])
        loss = F.cross_entropy(logits.transpose(1, 2), batch[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    prompts = torch.tensor([[BOS, 4, 9], [BOS, 7, 3]])
    draws = torch.rand(2, 3, generator=torch.Generator().manual_seed(0))
    result = sample(model, prompts, EOS, EOS, 3, draws, temperature=0.1, top_k=0, top_p=1.0)
    assert [ids[:2] for ids in result.tokens] == [[9, 4], [3, 7]]
