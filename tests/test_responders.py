"""The responders and the fallback: each on its own, and chained as the default bot chains them."""

from __future__ import annotations

import json
import math

import pytest
import torch

from chatbot.config import parse_config
from chatbot.data.corpus import Corpus, Example
from chatbot.errors import ChatbotError, ConfigError
from chatbot.message import Message, Prediction
from chatbot.pipeline import Pipeline
from chatbot.trace import format_trace
from chatbot_plugins.generation.decoding import greedy, mean_log_likelihood
from chatbot_plugins.generation.subwords import BOS, EOS
from chatbot_plugins.respond.base import Responder
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
    # A greeting: the template's, or the answer of the same training question.
    assert messages[0].responder in ("respond.template", "respond.retrieval")
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
        assert single.mean_log_probs[0] == pytest.approx(batch.mean_log_probs[index], abs=1e-4)
    message = Message("배고파 뭐 먹지", normalized="배고파 뭐 먹지")
    seq2seq.answer([message])
    attention = message.extras["attention"]
    weights = torch.tensor(attention.weights)
    assert weights.shape == (len(attention.reply), len(attention.source))
    assert torch.allclose(weights.sum(dim=1), torch.ones(len(weights)), atol=0.01)


def test_seq2seq_attention_in_the_trace_is_valid_json_even_when_the_model_breaks(bot):
    seq2seq = plugin(bot, "respond.seq2seq")
    source = seq2seq.sources(["배고파 뭐 먹지"])[0]
    weights = torch.full((2, len(source)), 1.0 / len(source))
    weights[0, 0], weights[1, -1] = float("nan"), float("inf")
    trace = seq2seq._attention_trace(source, [5, 6], weights)
    json.dumps(trace.weights, allow_nan=False)  # raises on NaN or infinity
    assert trace.weights[0][0] == 0.0 and trace.weights[1][-1] == 0.0
    assert trace.weights[0][-1] == round(1.0 / len(source), 3)


def test_seq2seq_likelihood_of_its_own_reply_is_its_score(bot):
    seq2seq = plugin(bot, "respond.seq2seq")
    source = torch.tensor([seq2seq.sources(["배고파 뭐 먹지"])[0]])  # (1, src_len)
    decoded = greedy(seq2seq.model, source, BOS, EOS, 20)
    tokens = decoded.tokens[0]
    # A reply cut at 20 pieces has no end of reply to score.
    target = [*tokens, EOS] if len(tokens) < 20 else tokens
    with torch.no_grad():
        logits = seq2seq.model(source, torch.tensor([[BOS, *target[:-1]]]))  # (1, tgt, vocab)
    scored = mean_log_likelihood(logits, torch.tensor([target]))
    assert scored[0] == pytest.approx(decoded.mean_log_probs[0], abs=1e-4)


SEQ2SEQ_TEXTS = ["배고파 뭐 먹지", "내일 비 와?", "고마워", "주말에 뭐 하지", "회사 가기 싫다",
                 "오늘 너무 우울해", "요즘 잠이 안 와", "친구랑 싸웠어"]


def test_seq2seq_confidence_does_not_depend_on_the_length_penalty(bot, monkeypatch):
    seq2seq = plugin(bot, "respond.seq2seq")
    messages = [Message(text, normalized=text) for text in SEQ2SEQ_TEXTS]
    answered = {}
    for penalty in (0.0, 1.0, 2.0):
        monkeypatch.setattr(seq2seq, "config", seq2seq.config.model_copy(
            update={"length_penalty": penalty, "threshold": 0.0}))
        answered[penalty] = (seq2seq.decode(SEQ2SEQ_TEXTS), seq2seq.answer(messages))
    plain, plain_answers = answered[1.0]
    same = 0
    for penalty in (0.0, 2.0):
        result, answers = answered[penalty]
        for index, tokens in enumerate(result.tokens):
            if tokens != plain.tokens[index] or not tokens:
                continue  # another reply, or one (EOS alone) whose length does not weigh
            same += 1
            # The penalty changes how the reply ranked, not how sure of it the model is.
            assert result.scores[index] != pytest.approx(plain.scores[index], abs=1e-4)
            assert result.mean_log_probs[index] == pytest.approx(plain.mean_log_probs[index],
                                                                 abs=1e-5)
            assert answers[index].confidence == pytest.approx(
                plain_answers[index].confidence, abs=1e-5)
    assert same >= 3


@pytest.mark.parametrize("penalty", [1.0, 2.0])
def test_seq2seq_confidence_is_the_likelihood_of_its_reply(bot, monkeypatch, penalty):
    """What reranking compares: the written reply's confidence and the likelihood of an answer
    are one scale, whatever the length penalty. A decoded reply's text may read back as other
    subwords ('.' decoded alone is '▁' '.' encoded), so the likelihood is taken of the reply's
    own ids."""
    seq2seq = plugin(bot, "respond.seq2seq")
    monkeypatch.setattr(seq2seq, "config", seq2seq.config.model_copy(
        update={"length_penalty": penalty}))
    result = seq2seq.decode(SEQ2SEQ_TEXTS)
    answers = seq2seq.answer([Message(text, normalized=text) for text in SEQ2SEQ_TEXTS])
    checked = 0
    for text, tokens, answer in zip(SEQ2SEQ_TEXTS, result.tokens, answers, strict=True):
        if isinstance(answer, str) or len(tokens) >= seq2seq.config.max_reply - 1:
            continue  # no reply, or one cut short (the likelihood counts an end of reply)
        checked += 1
        likelihood = seq2seq.likelihood_of_ids([text], [tokens])[0]
        assert answer.confidence == pytest.approx(math.exp(likelihood), abs=1e-4)
        ids = seq2seq.subwords.encode([answer.text])[0]
        assert seq2seq.likelihood([text], [answer.text]) == pytest.approx(
            seq2seq.likelihood_of_ids([text], [ids]), abs=1e-6)
    assert checked >= 3


def test_seq2seq_rerank_can_choose_a_retrieved_answer(bot, monkeypatch):
    retrieval, seq2seq = plugin(bot, "respond.retrieval"), plugin(bot, "respond.seq2seq")
    monkeypatch.setattr(retrieval, "config", retrieval.config.model_copy(
        update={"threshold": 1.0, "candidates": 3}))  # retrieval declines, leaves candidates
    monkeypatch.setattr(seq2seq, "config", seq2seq.config.model_copy(
        update={"threshold": 0.0, "rerank": True, "rerank_bonus": 100.0}))
    message = bot.process_texts(["오늘 회사 가기 너무 싫다"])[0]
    candidates = message.extras["retrieval"].candidates
    assert 1 <= len(candidates) <= 3 and message.responder == "respond.seq2seq"
    assert message.extras["rerank"].chosen == "retrieved"
    assert message.reply in [c.answer for c in candidates] and "attention" not in message.extras
    # The retrieved answer's confidence is its likelihood under the model, bonus left out.
    likelihood = seq2seq.likelihood([message.normalized], [message.reply])[0]
    assert message.reply_confidence == pytest.approx(math.exp(likelihood), abs=1e-4)
    monkeypatch.setattr(seq2seq, "config", seq2seq.config.model_copy(
        update={"rerank_bonus": 0.0}))
    message = bot.process_texts(["오늘 회사 가기 너무 싫다"])[0]
    contest = message.extras["rerank"]
    assert contest.chosen == ("retrieved" if contest.retrieved_score > contest.written_score
                              else "written")
    if contest.chosen == "written":  # the written reply competed with its confidence's score
        assert message.reply_confidence == pytest.approx(math.exp(contest.written_score),
                                                         abs=1e-3)


def test_rerank_without_a_written_reply_takes_the_retrieved_one_and_stays_valid_json():
    from chatbot.contract import RetrievalCandidate
    from chatbot_plugins.respond.seq2seq_rerank import rerank

    candidate = RetrievalCandidate("배고파", "밥 먹으러 가요", 0.8)
    answer, contest = rerank("the model produced an empty reply", 0.0, [(candidate, -2.0)], 1.0)
    assert answer.text == "밥 먹으러 가요" and contest.chosen == "retrieved"
    assert contest.written_score is None
    message = Message("배고파", extras={"rerank": contest})
    json.dumps(message.to_dict(), allow_nan=False)  # as the log store writes it


def test_seq2seq_rerank_weighs_the_written_reply_by_its_mean_log_probability(bot, monkeypatch):
    """Not by its beam score: with a length penalty other than 1 the two differ."""
    retrieval, seq2seq = plugin(bot, "respond.retrieval"), plugin(bot, "respond.seq2seq")
    monkeypatch.setattr(retrieval, "config", retrieval.config.model_copy(
        update={"threshold": 1.0, "candidates": 3}))
    for penalty in (0.0, 2.0):
        monkeypatch.setattr(seq2seq, "config", seq2seq.config.model_copy(
            update={"threshold": 0.0, "rerank": True, "length_penalty": penalty}))
        message = bot.process_texts(["주말에 뭐 하지"])[0]
        decoded = seq2seq.decode([message.normalized])
        assert decoded.tokens[0]  # with EOS 2 tokens or more: the penalty weighs
        assert message.extras["rerank"].written_score == pytest.approx(
            decoded.mean_log_probs[0], abs=1e-3)


def test_fallback_always_answers_repeatably_and_cans_what_it_doubts(bot, monkeypatch):
    lm = plugin(bot, "fallback.lm")
    assert isinstance(lm, Responder)
    assert 1 < lm.dev_perplexity < 800
    first = lm.generate([Message("주말에 뭐 하지")])[0]
    in_a_batch = lm.generate([Message("주말에 뭐 하지"), Message("아무거나")])[0]
    assert in_a_batch.text == first.text  # the same reply; its probability to float rounding
    assert in_a_batch.confidence == pytest.approx(first.confidence, rel=1e-5)
    monkeypatch.setattr(lm, "config", lm.config.model_copy(update={"threshold": 0.0}))
    message = lm.process([Message("주말에 뭐 하지")])[0]
    assert (message.reply, message.reply_confidence) == (first.text, first.confidence)
    assert lm.name not in message.notes
    monkeypatch.setattr(lm, "config", lm.config.model_copy(update={"threshold": 1.0}))
    answered = Message("안녕", reply="안녕하세요!", responder="respond.template")
    message, answered = lm.process([Message("주말에 뭐 하지"), answered])
    # Declined, with the reason and what it would have said, and still answered.
    assert message.reply == lm.config.canned_reply and message.responder == lm.name
    assert message.reply_confidence == pytest.approx(first.confidence)
    note = message.notes[lm.name]
    assert note.startswith("declined: confidence") and "below threshold 1.0" in note
    assert first.text[:10] in note and note.endswith("the canned reply instead")
    # A message that already has a reply is left alone.
    assert answered.reply == "안녕하세요!" and lm.name not in answered.notes


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


@pytest.mark.slow
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
