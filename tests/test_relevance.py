"""rank.relevance: its training pairs, its gate, and how responders use it."""

from __future__ import annotations

import json

import pytest
import torch

from chatbot.config import PipelineSpec, Step, parse_config
from chatbot.contract import RelevanceCheck
from chatbot.data.corpus import Corpus, Example
from chatbot.errors import ConfigError
from chatbot.message import Exchange, Message, Prediction
from chatbot.pipeline import Pipeline
from chatbot.plugin import Plugin
from chatbot.registry import default_registry
from chatbot_plugins.rank.relevance import _threshold_at_precision
from chatbot_plugins.rank.relevance_model import KernelMatcher
from chatbot_plugins.rank.relevance_pairs import relevance_pairs

PET = "강아지 키우고 싶어"
EXAM = "시험 망했어"
PET_ANSWERS = ["책임질 준비가 됐는지 먼저 생각해 봐요.", "산책할 시간이 있는지 따져 봐요."]
EXAM_ANSWERS = ["다음 시험이 또 있어요. 오늘은 푹 쉬어요."]


def _examples() -> list[Example]:
    return [
        *(Example(PET, answer=a, intent="pets") for a in PET_ANSWERS),
        Example("강아지 키우고 싶다", answer="어떤 강아지를 생각해요?", intent="pets"),
        *(Example(EXAM, answer=a, intent="study") for a in EXAM_ANSWERS),
        Example("시험 망쳤다", answer="속상하겠어요. 어떤 과목이었어요?", intent="study"),
        Example("왜?", answer="강아지는 십 년 넘게 함께하니까요.", intent="pets",
                history=(Exchange(PET, PET_ANSWERS[0]),)),
        Example("왜?", answer="한 번의 시험이 전부는 아니니까요.", intent="study",
                history=(Exchange(EXAM, EXAM_ANSWERS[0]),)),
    ]


def test_each_reply_fits_its_own_message_and_the_negatives_do_not():
    examples = _examples()
    pairs = relevance_pairs(examples, [e.text for e in examples], seed=3, context_share=0.0)
    fitting = {(p.context, p.message, p.reply) for p in pairs if p.fits}
    assert fitting == {(e.history[-1].user if e.history else "", e.text, e.answer)
                       for e in examples}
    own = {(e.text, e.answer) for e in examples if not e.history}
    for pair in pairs:
        if not pair.fits and not pair.context:
            assert (pair.message, pair.reply) not in own  # a negative is never its own reply
    # Each pet reply has two negatives: a random reply, and the hard one, a reply of the
    # nearest question of another intent (an exam reply).
    pet_negatives = [p.reply for p in pairs if p.message == PET and not p.fits]
    exam_replies = {*EXAM_ANSWERS, "속상하겠어요. 어떤 과목이었어요?"}
    assert len(pet_negatives) == 2 * len(PET_ANSWERS)
    assert sum(reply in exam_replies for reply in pet_negatives) >= len(PET_ANSWERS)
    # A follow-up's own reply after another conversation's turn does not fit.
    swapped = [p for p in pairs if p.message == "왜?" and not p.fits
               and p.reply == "강아지는 십 년 넘게 함께하니까요."]
    assert swapped and all(p.context != PET for p in swapped)


def test_pairs_are_reproducible_and_the_seed_changes_them():
    examples = _examples() * 3
    texts = [e.text for e in examples]
    assert relevance_pairs(examples, texts, 1) == relevance_pairs(examples, texts, 1)
    many = [Example(f"질문 {i}", answer=f"답 {i}", intent=str(i % 3)) for i in range(40)]
    many_texts = [e.text for e in many]
    assert relevance_pairs(many, many_texts, 1) != relevance_pairs(many, many_texts, 2)


def test_the_gate_is_the_lowest_score_that_keeps_the_precision():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    gold = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    assert _threshold_at_precision(scores, gold, 0.75) == pytest.approx(0.6)
    assert _threshold_at_precision(scores, gold, 1.0) == pytest.approx(0.8)
    assert _threshold_at_precision(scores, torch.zeros(6), 0.5) == 0.5  # never reached


def test_the_matcher_scores_a_batch_like_each_pair_alone():
    torch.manual_seed(0)
    model = KernelMatcher(50, dim=8, hidden=8).eval()
    message = torch.tensor([[5, 6, 7], [8, 9, 0]])  # (2, 3), the second padded
    reply = torch.tensor([[5, 10, 0, 0], [11, 12, 13, 14]])  # (2, 4)
    context = torch.tensor([[0], [20]])  # (2, 1): none, then one piece
    batch = model(message, reply, context)
    alone = torch.stack([model(message[:1], reply[:1, :2], context[:1]),
                         model(message[1:, :2], reply[1:], context[1:])]).flatten()
    assert batch.shape == (2,)
    assert torch.allclose(batch, alone, atol=1e-5)


class _Judge(Plugin):
    """A relevance model that prefers replies mentioning 산책, for testing the responders'
    policy (rank.relevance itself is tested trained, below)."""

    name = "test.judge"

    def process(self, messages):
        return messages

    def relevance(self, messages, replies):
        return [[0.9 if "산책" in reply else 0.2 for reply in candidates]
                for candidates in replies]

    def tuned_threshold(self):
        return 0.5


def _retrieval_bot() -> Pipeline:
    """Retrieval checked by the judge above, fitted on the examples."""
    retrieval = default_registry().get("respond.retrieval")
    pipeline = Pipeline(PipelineSpec(steps=[
        Step(_Judge, _Judge.Config()),
        Step(retrieval, retrieval.Config(min_relevance="auto", threshold=0.3)),
    ]))
    pipeline.fit(Corpus(examples=_examples()))
    return pipeline


def test_retrieval_sends_the_candidate_the_relevance_model_prefers():
    bot = _retrieval_bot()
    message = bot.process([Message(PET)])[0]
    assert message.reply == PET_ANSWERS[1]  # the one about 산책, not the first answer
    checks = message.extras["relevance"]
    assert all(isinstance(check, RelevanceCheck) for check in checks)
    assert {check.reply for check in checks} >= set(PET_ANSWERS)
    assert [check.reply for check in checks if check.sent] == [PET_ANSWERS[1]]


def test_retrieval_declines_when_no_candidate_is_relevant_enough():
    message = _retrieval_bot().process([Message(EXAM)])[0]
    assert message.reply is None
    assert "relevance 0.20 below min_relevance 0.50" in message.notes["respond.retrieval"]
    assert not any(check.sent for check in message.extras["relevance"])


def test_retrieval_never_repeats_a_reply_it_already_gave():
    bot = _retrieval_bot()
    history = [Exchange(PET, PET_ANSWERS[1]), Exchange("그래", "응")]
    message = bot.process([Message(PET, history=history)])[0]
    assert message.reply != PET_ANSWERS[1]


def test_a_follow_up_is_answered_in_the_topic_of_the_turn_before():
    bot = Pipeline(parse_config("""
pipeline:
  - plugin: normalize.soynlp
  - plugin: respond.retrieval
    threshold: 0.3
"""))
    bot.fit(Corpus(examples=_examples()))
    after_pet = bot.process([Message("왜?", history=[Exchange("강아지 키우고 싶어요", "좋아요")])])
    after_exam = bot.process([Message("왜?", history=[Exchange("시험 망했어ㅠㅠ", "저런")])])
    assert after_pet[0].reply == "강아지는 십 년 넘게 함께하니까요."
    assert after_exam[0].reply == "한 번의 시험이 전부는 아니니까요."


def test_min_relevance_needs_a_relevance_model_before_it():
    with pytest.raises(ConfigError, match="ScoresRelevance"):
        parse_config("pipeline:\n  - plugin: respond.retrieval\n    min_relevance: 0.5\n")


def test_the_validator_accepts_a_relevance_model_before_the_responder():
    spec = parse_config("pipeline:\n  - plugin: rank.relevance\n"
                        "  - plugin: respond.retrieval\n    min_relevance: 0.5\n")
    assert "extras.relevance" in spec.steps[1].plugin.contract(spec.steps[1].config).assigns


@pytest.mark.slow
def test_a_trained_relevance_model_prefers_the_real_reply(demo_corpus, tmp_path):
    """Trained briefly on a third of the tests' slice of the bundled dialogs, it ranks a
    question's own answer above another question's answer for most questions it has not seen
    (chance: half)."""
    registry = default_registry()
    dialog = [e for e in demo_corpus.examples if e.answer]
    seen, unseen = dialog[::3], dialog[1::7][:200]
    plugin = registry.get("rank.relevance")(registry.get("rank.relevance").Config(
        epochs=2, dim=32, hidden=32, vocab_size=2000))
    from chatbot.plugin import TrainContext

    plugin.fit(Corpus(examples=seen), TrainContext(seed=3))
    shuffled = unseen[50:] + unseen[:50]
    pairs = [[e.answer, other.answer] for e, other in zip(unseen, shuffled, strict=True)]
    scores = plugin.relevance([Message(e.text) for e in unseen], pairs)
    wins = sum(own > other for own, other in scores)
    assert wins / len(scores) > 0.65
    # Saved and loaded, it scores the same.
    plugin.save(tmp_path)
    loaded = type(plugin).load(tmp_path, plugin.config)
    again = loaded.relevance([Message(unseen[0].text)], [[unseen[0].answer]])
    assert again[0][0] == pytest.approx(scores[0][0], abs=1e-5)
    assert 0 < loaded.tuned_threshold() < 1


def test_the_relevance_checks_are_in_the_json_trace():
    message = _retrieval_bot().process([Message(PET)])[0]
    checks = json.loads(json.dumps(message.to_dict(), ensure_ascii=False))["relevance"]
    assert {check["reply"] for check in checks} >= set(PET_ANSWERS)
    assert [check["sent"] for check in checks].count(True) == 1


class _Guess(Plugin):
    """Predicts the intent the test put in the text's first word (pets, study, ood)."""

    name = "test.guess"
    assigns = ("intent",)

    def process(self, messages):
        for message in messages:
            label = {"강아지": "pets", "시험": "study"}.get(message.text.split()[0], "ood")
            message.intent = Prediction(label, 0.9)
        return messages


def test_the_intent_gate_keeps_answers_of_another_intent_out_below_its_similarity():
    retrieval = default_registry().get("respond.retrieval")
    bot = Pipeline(PipelineSpec(steps=[
        Step(_Guess, _Guess.Config()),
        Step(retrieval, retrieval.Config(threshold=0.1, intent_gate=0.99)),
    ]))
    odd = Example("강아지 시험 망했어", answer="강아지도 시험을 보나요?", intent="study")
    bot.fit(Corpus(examples=[*_examples(), odd]))
    same, other, unknown = bot.process([
        Message("강아지 키우고 싶다고"), Message("시험 키우고 싶어"), Message("뭐 키우고 싶어")])
    assert same.reply in (*PET_ANSWERS, "어떤 강아지를 생각해요?")
    assert other.reply in (*EXAM_ANSWERS, "속상하겠어요. 어떤 과목이었어요?", None)
    assert unknown.reply is None  # ood: no answer below the gate
    assert "intent_gate" in unknown.notes["respond.retrieval"]
    # At or above the gate's similarity, the intent does not matter: guessed pets, a study
    # question.
    exact = bot.process([Message(odd.text)])[0]
    assert exact.intent.label == "pets" and exact.reply == odd.answer


def test_a_responder_without_its_own_ranking_is_gated_by_the_base_class():
    """What gates the generators in configs/generative.yaml: the base class asks the
    relevance model about the answer and declines it below min_relevance."""
    helpful = default_registry().get("fallback.helpful")
    bot = Pipeline(PipelineSpec(steps=[
        Step(_Judge, _Judge.Config()), Step(helpful, helpful.Config(min_relevance="auto"))]))
    bot.fit(Corpus(examples=_examples()))
    message = bot.process([Message("무슨 말인지 모를 말")])[0]
    assert message.reply is None  # its reply has no 산책: relevance 0.2 < 0.5
    assert "relevance 0.20 below min_relevance 0.50" in message.notes["fallback.helpful"]
    assert [(c.responder, c.sent) for c in message.extras["relevance"]] == [
        ("fallback.helpful", False)]


def test_a_candidate_below_min_relevance_never_wins_a_tie_with_one_above_it():
    """Candidates ranked within relevance_margin of the best share the pick, but only those
    relevant enough to be sent compete."""
    retrieval = default_registry().get("respond.retrieval")
    bot = Pipeline(PipelineSpec(steps=[
        Step(_Judge, _Judge.Config()),
        Step(retrieval, retrieval.Config(min_relevance="auto", threshold=0.3,
                                         relevance_weight=0, relevance_margin=1.0)),
    ]))
    bot.fit(Corpus(examples=_examples()))
    wordings = [PET, f"{PET}요", f"{PET}!!", f"{PET}ㅠㅠ", f"나 {PET}", f"{PET} 진짜"]
    for message in bot.process([Message(text) for text in wordings]):
        assert message.reply == PET_ANSWERS[1], message.text  # the one about 산책


def test_follow_up_turns_carry_the_intent_of_their_dialog_through_the_intent_gate(tmp_path):
    retrieval = default_registry().get("respond.retrieval")
    bot = Pipeline(PipelineSpec(steps=[
        Step(_Guess, _Guess.Config()),
        Step(retrieval, retrieval.Config(threshold=0.1, intent_gate=1.0)),
    ]))
    bot.fit(Corpus(examples=_examples()))
    follow_ups = bot.plugins[1].follow_ups
    assert sorted(follow_ups.intents) == ["pets", "study"]
    # "왜?" alone is guessed ood, so the gate lets no dialog's follow-up answer it (before,
    # follow-up turns had no intent and passed any gate).
    message = bot.process([Message("왜?", history=[Exchange("강아지 키우고 싶다고", "좋아요")])])[0]
    assert message.reply is None and "intent_gate" in message.notes["respond.retrieval"]
    bot.plugins[1].save(tmp_path)
    assert retrieval.load(tmp_path, bot.plugins[1].config).follow_ups.intents == \
        follow_ups.intents
