"""The responders and the fallback: each on its own, and chained as the default bot chains them."""

from __future__ import annotations

import json

import pytest
import torch

from chatbot.config import parse_config
from chatbot.data.corpus import Corpus, Example
from chatbot.errors import ChatbotError, ConfigError
from chatbot.message import Message, Prediction
from chatbot.pipeline import Pipeline
from chatbot.trace import format_trace
from chatbot_plugins.respond.decoding import greedy, mean_log_likelihood
from chatbot_plugins.respond.sampling import filter_logits
from chatbot_plugins.respond.subwords import BOS, EOS
from chatbot_plugins.respond.template import TemplateConfig, TemplateResponder
from tests.conftest import CHAIN


@pytest.fixture(scope="module")
def bot(small_bot) -> Pipeline:
    return small_bot


def plugin(pipeline: Pipeline, name: str):
    return next(p for p in pipeline.plugins if p.name == name)


# -- respond.template ----------------------------------------------------------------------


def test_template_answers_confident_intents_and_declines_the_rest():
    template = TemplateResponder(TemplateConfig())
    sure = Message("안녕하세요", intent=Prediction("greeting", 0.95))
    unsure = Message("안녕?", intent=Prediction("greeting", 0.4))
    other = Message("배고파", intent=Prediction("food", 0.99))
    template.process([sure, unsure, other])
    assert sure.reply in template.table["greeting"] and sure.responder == "respond.template"
    assert sure.reply_confidence == 0.95
    assert unsure.reply is None and "below threshold 0.7" in unsure.notes["respond.template"]
    assert other.reply is None and "no template for intent food" in other.notes[template.name]
    again = Message("안녕하세요", intent=Prediction("greeting", 0.95))
    assert template.process([again])[0].reply == sure.reply  # same message, same variation


def test_template_table_from_config_and_a_missing_table(tmp_path):
    template = TemplateResponder(TemplateConfig(responses={"food": ["맛있는 거 드세요!"]}))
    message = template.process([Message("배고파", intent=Prediction("food", 0.9))])[0]
    assert message.reply == "맛있는 거 드세요!"
    with pytest.raises(ChatbotError, match="not found"):
        TemplateResponder(TemplateConfig(table=str(tmp_path / "none.tsv")))


# -- the chain -----------------------------------------------------------------------------


def test_every_message_gets_a_reply_and_the_trace_says_who_and_why(bot):
    texts = ["안녕하세요", "오늘 너무 우울해", "양자역학의 불확정성 원리를 설명해 줘", "ㅁㄴㅇㄹ"]
    messages = bot.process_texts(texts)
    assert all(m.reply and m.responder for m in messages)
    assert messages[0].responder == "respond.template"
    for message in messages:
        order = [p.name for p in bot.plugins if p.name.startswith(("respond.", "fallback."))]
        answered_at = order.index(message.responder)
        # Every responder before the one that answered says why it declined; none after it.
        assert all(name in message.notes for name in order[:answered_at])
        assert all(name not in message.notes for name in order[answered_at + 1:])
        assert 0 <= message.reply_confidence <= 1
        assert f"[{message.responder} " in format_trace(message)


def test_retrieval_returns_the_answer_of_a_training_question(bot, demo_corpus):
    retrieval = plugin(bot, "respond.retrieval")
    example = next(e for e in demo_corpus.examples if e.answer and e.intent == "weather")
    message = bot.process_texts([example.text])[0]
    assert message.extras["retrieval"].similarity > 0.99
    answers = retrieval.answers[retrieval.questions.index(example.text)]
    assert message.reply in answers or message.responder == "respond.template"


def test_seq2seq_decodes_in_batches_like_one_by_one_with_attention(bot):
    seq2seq = plugin(bot, "respond.seq2seq")
    texts = ["배고파 뭐 먹지", "내일 비 와?", "고마워"]
    batch = seq2seq.decode(texts)
    for index, text in enumerate(texts):
        single = seq2seq.decode([text])
        assert single.tokens[0] == batch.tokens[index]
        assert single.scores[0] == pytest.approx(batch.scores[index], abs=1e-4)
    message = Message("배고파 뭐 먹지", normalized="배고파 뭐 먹지")
    seq2seq.answer([message])
    attention = message.extras["attention"]
    weights = torch.tensor(attention["weights"])
    assert weights.shape == (len(attention["reply"]), len(attention["source"]))
    assert torch.allclose(weights.sum(dim=1), torch.ones(len(weights)), atol=0.01)


def test_seq2seq_likelihood_of_its_own_reply_is_its_score(bot):
    seq2seq = plugin(bot, "respond.seq2seq")
    source = torch.tensor([seq2seq.sources(["배고파 뭐 먹지"])[0]])  # (1, src_len)
    decoded = greedy(seq2seq.model, source, BOS, EOS, 20)
    tokens = decoded.tokens[0]
    scored = mean_log_likelihood(seq2seq.model, source, torch.tensor([[BOS, *tokens]]),
                                 torch.tensor([[*tokens, EOS]]))
    assert scored[0] == pytest.approx(decoded.scores[0], abs=1e-4)


def test_seq2seq_rerank_can_choose_a_retrieved_answer(bot, monkeypatch):
    retrieval, seq2seq = plugin(bot, "respond.retrieval"), plugin(bot, "respond.seq2seq")
    monkeypatch.setattr(retrieval, "config", retrieval.config.model_copy(
        update={"threshold": 1.0, "candidates": 3}))  # retrieval declines, leaves candidates
    monkeypatch.setattr(seq2seq, "config", seq2seq.config.model_copy(
        update={"threshold": 0.0, "rerank": True, "rerank_bonus": 100.0}))
    message = bot.process_texts(["오늘 회사 가기 너무 싫다"])[0]
    candidates = message.extras["retrieval"]["candidates"]
    assert 1 <= len(candidates) <= 3 and message.responder == "respond.seq2seq"
    assert message.extras["rerank"]["chosen"] == "retrieved"
    assert message.reply in [c["answer"] for c in candidates] and "attention" not in message.extras
    monkeypatch.setattr(seq2seq, "config", seq2seq.config.model_copy(
        update={"rerank_bonus": 0.0}))
    message = bot.process_texts(["오늘 회사 가기 너무 싫다"])[0]
    contest = message.extras["rerank"]
    assert contest["chosen"] == ("retrieved" if contest["retrieved_score"]
                                 > contest["written_score"] else "written")


def test_fallback_always_answers_repeatably_and_cans_what_it_doubts(bot, monkeypatch):
    lm = plugin(bot, "fallback.lm")
    assert 1 < lm.dev_perplexity < 800
    first = lm.generate([Message("주말에 뭐 하지")])[0]
    assert lm.generate([Message("주말에 뭐 하지"), Message("아무거나")])[0] == first
    monkeypatch.setattr(lm, "config", lm.config.model_copy(update={"threshold": 1.0}))
    message = lm.process([Message("주말에 뭐 하지")])[0]
    assert message.reply == lm.config.canned_reply and "unsure" in message.notes[lm.name]


def test_the_trained_chain_round_trips(bot, tmp_path):
    bot.save(tmp_path / "bot")
    loaded = Pipeline.load(tmp_path / "bot")
    texts = ["안녕하세요", "주말에 뭐 하지", "회사 가기 싫다"]
    before = [(m.reply, m.responder) for m in bot.process_texts(texts)]
    assert [(m.reply, m.responder) for m in loaded.process_texts(texts)] == before


def test_responders_need_dialog_pairs():
    text = CHAIN.split("  - plugin: embed.word2vec")[0] + "  - plugin: respond.retrieval\n"
    pipeline = Pipeline.from_config(parse_config(text))
    with pytest.raises(ChatbotError, match="needs dialog pairs"):
        pipeline.fit(Corpus(examples=[Example("안녕", intent="greeting")]))


def test_top_k_and_top_p_keep_the_likeliest_tokens():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]])
    assert torch.isfinite(filter_logits(logits, top_k=2)).sum() == 2
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))
    assert kept.tolist() == [[True, True, False, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.01)).sum() == 1


def test_hybrid_retrieval_uses_sentence_vectors_and_round_trips(demo_corpus, tmp_path):
    text = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: tokenize.mecab
  - plugin: embed.word2vec
    dim: 16
    epochs: 1
  - plugin: respond.retrieval
    method: hybrid
"""
    pipeline = Pipeline.from_config(parse_config(text))
    pipeline.fit(demo_corpus)
    question = next(e.text for e in demo_corpus.examples if e.answer)
    message = pipeline.process_texts([question])[0]
    assert message.extras["retrieval"].question == question
    assert message.responder == "respond.retrieval"
    pipeline.save(tmp_path / "hybrid")
    again = Pipeline.load(tmp_path / "hybrid").process_texts([question])[0]
    assert again.reply == message.reply


@pytest.mark.parametrize(("step", "error"), [
    ("respond.retrieval\n    method: hybrid",
     "<config>:5: pipeline[2].method: respond.retrieval requires vector (because of method: "
     "hybrid), which no earlier step assigns; add a step that assigns it before this one "
     "(embed.word2vec assigns it), or change method"),
    ("respond.retrieval\n    intent_weight: 0.2",
     "<config>:5: pipeline[2].intent_weight: respond.retrieval requires intent (because of "
     "intent_weight: 0.2)"),
    ("respond.seq2seq\n    rerank: true",
     "<config>:5: pipeline[2].rerank: respond.seq2seq requires extras.retrieval (because of "
     "rerank: true), which no earlier step assigns; add a step that assigns it before this "
     "one (respond.retrieval assigns it)"),
])
def test_what_a_responder_s_settings_need_is_checked_before_anything_trains(step, error):
    text = ("pipeline:\n  - plugin: normalize.soynlp\n  - plugin: tokenize.kiwi\n"
            f"  - plugin: {step}\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert len(caught.value.problems) == 1 and caught.value.problems[0].startswith(error)


def test_retrieval_can_rank_by_the_answer_too(tmp_path):
    from chatbot.plugin import TrainContext
    from chatbot_plugins.respond.retrieval import RetrievalConfig, RetrievalResponder

    corpus = Corpus(examples=[
        Example("오늘 날씨 어때", answer="맑고 따뜻해요."),
        Example("오늘 날씨 어때", answer="오후에 비가 온대요. 우산 챙기세요."),
        Example("오늘 기분 어때", answer="저는 늘 좋아요!"),
    ])
    message = "오늘 날씨 비 온대?"

    def reply(weight: float, plugin: RetrievalResponder | None = None) -> str:
        plugin = plugin or RetrievalResponder(RetrievalConfig(answer_weight=weight))
        if not plugin.questions:
            plugin.fit(corpus, TrainContext())
        return plugin.answer([Message(message)])[0].text

    # By the question alone both 날씨 answers tie (one is picked per message); weighing the
    # answers, the one that echoes the message wins.
    assert reply(0.0) == "맑고 따뜻해요."
    assert reply(1.0) == "오후에 비가 온대요. 우산 챙기세요."
    trained = RetrievalResponder(RetrievalConfig(answer_weight=1.0))
    trained.fit(corpus, TrainContext())
    trained.save(tmp_path)
    loaded = RetrievalResponder.load(tmp_path, RetrievalConfig(answer_weight=1.0))
    assert reply(1.0, loaded) == reply(1.0, trained)
    confidence = loaded.answer([Message(message)])[0].confidence
    plain = RetrievalResponder(RetrievalConfig())
    plain.fit(corpus, TrainContext())
    assert confidence == pytest.approx(plain.answer([Message(message)])[0].confidence)


def test_retrieval_prefers_questions_of_the_predicted_intent(tmp_path):
    from chatbot.plugin import TrainContext
    from chatbot_plugins.respond.retrieval import RetrievalConfig, RetrievalResponder

    corpus = Corpus(examples=[
        Example("요즘 일이 너무 힘들어", answer="잠깐 쉬어 가도 괜찮아요.", intent="everyday"),
        Example("헤어지고 너무 힘들어", answer="시간이 지나면 나아질 거예요.", intent="breakup"),
    ])
    classified = TrainContext(upstream=lambda texts: [
        Message(text, intent=Prediction("everyday", 1.0)) for text in texts])
    preferring = RetrievalResponder(RetrievalConfig(intent_weight=0.5))
    preferring.fit(corpus, classified)
    plain = RetrievalResponder(RetrievalConfig())
    plain.fit(corpus, TrainContext())

    def answer(plugin: RetrievalResponder, intent: str):
        return plugin.answer([Message("요즘 너무 힘들어", intent=Prediction(intent, 0.9))])[0]

    # The everyday question is the closer one by its characters ...
    assert answer(plain, "breakup").text == "잠깐 쉬어 가도 괜찮아요."
    # ... but a message classified as breakup gets the breakup question's answer, with that
    # question's own similarity as the confidence (the threshold ignores the bonus).
    chosen = answer(preferring, "breakup")
    assert chosen.text == "시간이 지나면 나아질 거예요."
    assert chosen.confidence < answer(plain, "everyday").confidence
    assert answer(preferring, "love").text == "잠깐 쉬어 가도 괜찮아요."  # no love question

    preferring.save(tmp_path)
    loaded = RetrievalResponder.load(tmp_path, RetrievalConfig(intent_weight=0.5))
    assert answer(loaded, "breakup").text == chosen.text
    # A model saved before intents were stored answers by similarity alone.
    saved = json.loads((tmp_path / "retrieval.json").read_text(encoding="utf-8"))
    del saved["intents"]
    (tmp_path / "retrieval.json").write_text(json.dumps(saved), encoding="utf-8")
    older = RetrievalResponder.load(tmp_path, RetrievalConfig(intent_weight=0.5))
    assert answer(older, "breakup").text == "잠깐 쉬어 가도 괜찮아요."
