"""Conversations with memory: the last turns reach the plugins through the message, from the
chat service (also after a restart), the batcher and ``chatbot eval``; the helpful fallback."""

from __future__ import annotations

import pytest

from chatbot.config import PipelineSpec, Step, parse_config
from chatbot.data.corpus import Corpus, Example
from chatbot.data.logstore import LogStore
from chatbot.evaluation.logs import EvalTurn, conversation_histories
from chatbot.message import MAX_HISTORY, Exchange, Message, Prediction
from chatbot.pipeline import Pipeline
from chatbot.plugin import Plugin
from chatbot.registry import Registry, default_registry
from chatbot.serving.service import ChatService
from chatbot_plugins.classify.intent import IntentClassifier


class _Recall(Plugin):
    """Replies with what it was told before: the number of earlier turns and the last one."""

    name = "test.recall"
    requires = ("text", "history")
    assigns = ("reply",)

    def process(self, messages):
        for message in messages:
            last = message.history[-1] if message.history else None
            message.reply = f"{len(message.history)}|{last.user if last else ''}"
        return messages


def _recall_service(store: LogStore) -> ChatService:
    return ChatService(Pipeline(PipelineSpec(steps=[Step(_Recall, _Recall.Config())])), store,
                       "v", max_batch=4)


def test_a_plugin_may_require_the_history_without_an_earlier_step():
    registry = Registry(plugins={_Recall.name: _Recall})
    spec = parse_config("pipeline:\n  - plugin: test.recall\n", registry=registry)
    assert spec.steps[0].plugin is _Recall  # validated: the front end fills the history


def test_the_service_gives_each_message_its_conversation_so_far(tmp_path):
    service = _recall_service(LogStore(tmp_path / "log.sqlite"))
    try:
        first = service.respond("강아지 키우고 싶어", "room")
        assert first.text == "0|"
        assert service.respond("왜?", "room").text == "1|강아지 키우고 싶어"
        assert service.respond("다른 방에서", "other").text == "0|"  # conversations apart
        for number in range(5):
            service.respond(f"말 {number}", "room")
        assert service.respond("마지막", "room").text == f"{MAX_HISTORY}|말 4"
        history = service.history("room")
        assert [exchange.user for exchange in history] == ["말 3", "말 4", "마지막"]
        assert history[-1].bot == f"{MAX_HISTORY}|말 4"
    finally:
        service.close()


def test_a_restarted_service_remembers_the_conversation_from_the_log(tmp_path):
    service = _recall_service(LogStore(tmp_path / "log.sqlite"))
    service.respond("시험 망했어", "room")
    service.close()
    again = _recall_service(LogStore(tmp_path / "log.sqlite"))
    try:
        reply = again.respond("그럼 어떻게 해?", "room")
        assert reply.text == "1|시험 망했어" and reply.turn_index == 1
        logged = again.store.turns("room")[1].trace
        assert logged["history"] == [{"user": "시험 망했어", "bot": "0|"}]
    finally:
        again.close()


def test_eval_gives_each_logged_turn_the_turns_before_it_in_turn_order():
    turns = [EvalTurn("f:3", "셋째", conversation_id="a", turn_index=2, logged_reply="c"),
             EvalTurn("f:1", "첫째", conversation_id="a", turn_index=0, logged_reply="a"),
             EvalTurn("f:9", "혼자", conversation_id="b", turn_index=0),
             EvalTurn("f:2", "둘째", conversation_id="a", turn_index=1, logged_reply=None),
             EvalTurn("t:1", "표의 한 줄")]
    histories = conversation_histories(turns)
    assert histories[0] == [Exchange("첫째", "a"), Exchange("둘째", "")]
    assert histories[1] == [] and histories[2] == [] and histories[4] == []
    assert histories[3] == [Exchange("첫째", "a")]


def test_process_each_keeps_each_texts_history_also_when_retried_alone():
    pipeline = Pipeline(PipelineSpec(steps=[Step(_Recall, _Recall.Config())]))
    results = pipeline.process_each(["가", "나"], histories=[[], [Exchange("전", "답")] * 5])
    assert [r.reply for r in results] == ["0|", f"{MAX_HISTORY}|전"]
    with pytest.raises(ValueError, match="histories"):
        pipeline.process_each(["가"], histories=[])


# -- the helpful fallback ----------------------------------------------------------------


def _helpful() -> Pipeline:
    pipeline = Pipeline(parse_config("pipeline:\n  - plugin: fallback.helpful\n"))
    examples = [Example(f"{topic} 질문 {n}", answer=f"답 {n}", intent=topic)
                for topic in ("pets", "food", "travel", "insult") for n in range(3)]
    examples.append(Example("pets 질문 2", answer="또 다른 답", intent="pets"))
    pipeline.fit(Corpus(examples=examples))
    return pipeline


def test_the_fallback_varies_its_wording_and_never_repeats_itself():
    bot = _helpful()
    replies = {bot.process([Message(f"알 수 없는 말 {n}")])[0].reply for n in range(20)}
    assert len(replies) >= 3
    first = bot.process([Message("뭐라고?")])[0]
    second = bot.process([Message("뭐라고?", history=[Exchange("뭐라고?", first.reply)])])[0]
    third = bot.process([Message("뭐라고?", history=[Exchange("뭐라고?", first.reply),
                                                      Exchange("뭐라고?", second.reply)])])[0]
    assert len({first.reply, second.reply, third.reply}) == 3
    assert third.responder == "fallback.helpful"
    assert "반려동물" in " ".join(replies)  # it says what the bot can talk about


def test_the_fallback_suggests_questions_the_bot_knows_from_the_guessed_intent_first():
    bot = _helpful()
    message = Message("강아지 얘기", intent=Prediction("food", 0.3))
    suggestions = bot.process([message])[0].suggestions
    assert len(suggestions) == 3 and len(set(suggestions)) == 3
    assert suggestions[0].startswith("food 질문")
    assert not any(s.startswith("insult") for s in suggestions)  # skipped intent
    # The most answered question of an intent comes first among its questions.
    assert "pets 질문 2" in bot.plugins[0].questions["pets"][:1]


def test_a_request_the_classifier_is_sure_is_out_of_scope_gets_a_decline():
    bot = _helpful()
    sure = bot.process([Message("코드 짜줘", intent=Prediction("ood", 0.9))])[0]
    unsure = bot.process([Message("코드 짜줘", intent=Prediction("ood", 0.2))])[0]
    assert any(word in sure.reply for word in ("부탁", "할 수 없어요"))
    assert sure.reply != unsure.reply
    assert sure.to_dict()["suggestions"] == sure.suggestions


def test_the_fallback_round_trips(tmp_path):
    bot = _helpful()
    loaded = Pipeline.load(bot.save(tmp_path / "bot"))
    [before] = bot.process([Message("무슨 말?")])
    [after] = loaded.process([Message("무슨 말?")])
    assert after.suggestions == before.suggestions and after.reply == before.reply


def test_a_known_topic_gets_a_question_back_not_the_list_of_topics():
    bot = _helpful()
    known = bot.process([Message("강아지가 아파", intent=Prediction("pets", 0.9))])[0]
    unknown = bot.process([Message("강아지가 아파")])[0]
    assert "반려동물" not in known.reply and known.reply.endswith(("?", "요."))
    assert known.reply != unknown.reply


class _KeywordIntents(IntentClassifier):
    """classify.intent with fixed probabilities by keyword, to test how it mixes in the turn
    before (the network itself is tested trained in test_training.py)."""

    def probabilities(self, messages):
        rows = []
        for message in messages:
            text = message.normalized or message.text
            if "강아지" in text:
                rows.append({"pets": 0.9, "study": 0.05, "ood": 0.05})
            elif "시험" in text:
                rows.append({"pets": 0.05, "study": 0.9, "ood": 0.05})
            else:  # a short follow-up: no topic of its own
                rows.append({"pets": 0.3, "study": 0.3, "ood": 0.4})
        return rows


def test_a_follow_up_keeps_the_intent_of_the_turn_before_and_a_new_topic_gets_its_own():
    normalize = default_registry().get("normalize.soynlp")
    steps = [normalize(normalize.Config())]
    mixing = _KeywordIntents(_KeywordIntents.Config(context_weight=0.4))
    mixing.bind(steps)  # it reads the turn before through the steps before it
    after_dog = [Exchange("우리 강아지가 밥을 안 먹어", "걱정되겠어요")]
    follow_up, new_topic, alone = mixing.process([
        Message("왜 그럴까?", history=after_dog),
        Message("근데 나 시험 망했어", history=after_dog),
        Message("왜 그럴까?")])
    assert follow_up.intent.label == "pets"
    assert follow_up.intent.confidence == pytest.approx(0.6 * 0.3 + 0.4 * 0.9)
    assert new_topic.intent.label == "study"
    assert alone.intent.label == "ood"
    unmixed = _KeywordIntents(_KeywordIntents.Config())
    assert unmixed.process([Message("왜 그럴까?", history=after_dog)])[0].intent.label == "ood"
