"""respond.retrieval: the answer of the most similar training question."""

from __future__ import annotations

import itertools
import json
import zlib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field
from safetensors.torch import save_file
from torch.nn import functional as F

from chatbot.contract import Contract, RelevanceCheck, RetrievalCandidate, RetrievalMatch
from chatbot.errors import ChatbotError, NotFittedError
from chatbot.message import Message
from chatbot.plugin import TrainContext
from chatbot.training.safe_load import SavedState
from chatbot_plugins.respond.base import (
    Answer,
    Responder,
    ResponderConfig,
    dialog_pairs,
)
from chatbot_plugins.respond.followups import FollowUpIndex, merged
from chatbot_plugins.respond.ngram_index import NgramIndex

if TYPE_CHECKING:
    from typing import Self

    from chatbot.data.corpus import Corpus

ANSWERS_FILE = "retrieval.json"
VECTORS_FILE = "questions.safetensors"
NGRAM_STEM = "ngrams"


class RetrievalConfig(ResponderConfig):
    threshold: float = Field(0.45, ge=0, le=1, description="least cosine similarity to answer")
    method: Literal["ngram", "vector", "hybrid"] = Field(
        "ngram", description="ngram: TF-IDF of character n-grams (best on chatbotdata, "
        "benchmarks/dialog.py); vector: the sentence vectors of an earlier embed step; "
        "hybrid: the mean of both",
    )
    answer_weight: float = Field(
        0.0, ge=0, le=2, description="also rank by how much the message resembles the answer "
        "(character n-grams), weighted by this: chit-chat answers often echo the message. The "
        "threshold still applies to the question's similarity",
    )
    intent_weight: float = Field(
        0.0, ge=0, le=1, description="added to the similarity of training questions whose "
        "intent is the one the classifier predicted for the message: on chatbotdata the "
        "intent (everyday, breakup, love) tells which of two similar questions has the "
        "fitting answer. Needs a classify.intent step before; the threshold still applies "
        "to the question's own similarity",
    )
    candidates: int = Field(5, ge=1, le=50, description="the answers of this many nearest "
                            "questions are weighed by the relevance model (with "
                            "min_relevance) and left in the trace for later responders "
                            "(respond.seq2seq with rerank: true)")
    intent_gate: float | None = Field(
        None, ge=0, le=1, description="below this similarity, a training question's answer "
        "is used only when the question has the intent predicted for the message (which must "
        "not be ood): a question that merely shares words, such as 통장 하나 만들고 싶어 for "
        "취미 하나 만들고 싶어, has another intent. Needs a classify.intent step before; "
        "null: off")
    sure_similarity: float | None = Field(
        None, ge=0, le=1, description="with min_relevance, a candidate whose question is at "
        "least this similar is sent whatever its relevance (still ranked by it): a near-exact "
        "match of a training question is a stronger sign than a small relevance model's "
        "doubt; null: every candidate needs min_relevance")
    relevance_weight: float = Field(1.0, ge=0, le=10, description="with min_relevance, "
                                    "candidates rank by their question's similarity plus "
                                    "this times their relevance")
    relevance_margin: float = Field(0.1, ge=0, le=1, description="with min_relevance, "
                                    "candidates ranked this close to the best one count as "
                                    "equally good, and the message picks among them (so "
                                    "replies vary)")


class RetrievalResponder(Responder):
    """Finds the training question closest to the message and answers with its answer when
    the similarity clears ``threshold``. A question seen with several answers gets one of
    them per message (the same message always gets the same one), never a reply the bot
    already gave in the conversation. A message with a history is also matched against the
    follow-up turns of the corpus's multi-turn dialogs (chatbot_plugins.respond.followups).
    With ``min_relevance``, the relevance model chooses among the candidates and vets the one
    chosen."""

    name = "respond.retrieval"
    # 2: matches the spaced text when a spacing step ran (1: the normalized text)
    version = 2
    Config = RetrievalConfig
    requires = ("text",)
    assigns = ("reply", "extras.retrieval")
    trainable = True

    @classmethod
    def own_contract(cls, config: RetrievalConfig) -> Contract:
        requires, because = ["text"], {}
        if config.method != "ngram":
            requires.append("vector")
            because["vector"] = f"method: {config.method}"
        if config.intent_weight > 0:
            requires.append("intent")
            because["intent"] = f"intent_weight: {config.intent_weight}"
        elif config.intent_gate is not None:
            requires.append("intent")
            because["intent"] = f"intent_gate: {config.intent_gate}"
        return Contract(requires=tuple(requires), assigns=cls.assigns, because=because)

    def __init__(self, config: RetrievalConfig) -> None:
        super().__init__(config)
        self.questions: list[str] = []
        self.answers: list[list[str]] = []
        self.intents: list[str | None] = []  # each question's intent in the corpus
        self.index: NgramIndex | None = None
        self.vectors: torch.Tensor | None = None  # (questions, dim), unit rows
        self.answer_index: NgramIndex | None = None  # every answer, questions' lists flattened
        self.follow_ups: FollowUpIndex | None = None  # turns of multi-turn dialogs

    @property
    def uses_vectors(self) -> bool:
        return self.config.method in ("vector", "hybrid")

    @property
    def uses_ngrams(self) -> bool:
        return self.config.method in ("ngram", "hybrid")

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        grouped: dict[str, list[str]] = {}
        intents: dict[str, Counter] = {}
        for example in dialog_pairs(corpus, self.name):
            question = example.text.strip()
            grouped.setdefault(question, []).append(example.answer)
            intents.setdefault(question, Counter())[example.intent] += 1
        self.questions = list(grouped)
        self.answers = [list(dict.fromkeys(answers)) for answers in grouped.values()]
        # A question seen under several intents keeps its most frequent one.
        self.intents = [intents[question].most_common(1)[0][0] for question in grouped]
        messages = context.upstream(self.questions)
        if self.uses_ngrams:
            self.index = NgramIndex.build([m.current_text for m in messages])
        if self.uses_vectors:
            self.vectors = _unit_vectors(messages, self.name)
        if self.config.intent_weight > 0:
            self._same_intent(messages[:1])  # no classifier before: say so now, not at chat
        self._index_answers()
        turns = [e for e in dialog_pairs(corpus, self.name, follow_ups=True) if e.history]
        self.follow_ups = FollowUpIndex.build(
            turns, [m.current_text for m in context.upstream(e.text for e in turns)])

    def _index_answers(self) -> None:
        """The answers' n-gram index, built from the stored answers when answer_weight is on."""
        if self.config.answer_weight > 0 and self.answer_index is None:
            self.answer_index = NgramIndex.build([a for group in self.answers for a in group])

    def answer(self, messages: list[Message]) -> list[Answer | str]:
        if not self.questions:
            raise NotFittedError(self.name)
        similarity = torch.zeros(len(messages), len(self.questions))  # (batch, questions)
        parts = 0
        if self.index is not None:
            similarity += self.index.similarities([m.current_text for m in messages])
            parts += 1
        if self.vectors is not None:
            vectors = _unit_vectors(messages, self.name)  # (batch, dim)
            if vectors.shape[1] != self.vectors.shape[1]:
                raise ChatbotError(
                    f"{self.name} was trained on sentence vectors of size "
                    f"{self.vectors.shape[1]}; the embed step before it gives size "
                    f"{vectors.shape[1]}",
                    hint="train the pipeline again, so that both steps are trained together")
            similarity += vectors @ self.vectors.T
            parts += 1
        similarity /= parts  # (batch, questions)
        ranking, best_answer = similarity, None
        if self.config.intent_weight > 0:
            ranking = similarity + self.config.intent_weight * self._same_intent(messages)
        if self.config.answer_weight > 0:
            self._index_answers()
            ranking, best_answer = self._with_answers(messages, ranking)
        nearest = ranking.topk(min(self.config.candidates, len(self.questions)), dim=1)
        rows = []
        for row, (message, indices) in enumerate(zip(messages, nearest.indices.tolist(),
                                                     strict=True)):
            scores = similarity[row, indices].tolist()  # the questions' own similarity
            chosen = None if best_answer is None else best_answer[row, indices].tolist()
            rows.append(self._candidates(message, indices, scores, chosen))
        if self.follow_ups is not None:
            later = self.follow_ups.candidates(messages, [m.current_text for m in messages],
                                               self.config.candidates)
            rows = [merged(row, extra) for row, extra in zip(rows, later, strict=True)]
        if self.config.relevance_checked() and self.index is not None:
            rows = [merged(row, extra) for row, extra in zip(rows, self._continuations(messages),
                                                             strict=True)]
        if self.config.relevance_checked():
            return self._by_relevance(messages, rows)
        results: list[Answer | str] = []
        for message, candidates in zip(messages, rows, strict=True):
            candidates = [c for c in candidates if self._intent_allows(message, c)]
            if not candidates:
                results.append("no answer left that is not an earlier reply, or of another "
                               "intent (intent_gate)")
                continue
            best = candidates[0]
            message.extras.setdefault("retrieval", RetrievalMatch(
                best.question, best.similarity, candidates))
            results.append(Answer(best.answer, max(0.0, min(1.0, best.similarity))))
        return results

    def _candidates(self, message: Message, indices: list[int], scores: list[float],
                    chosen: list[int] | None) -> list[RetrievalCandidate]:
        """The answers of the nearest questions, nearest first, never one the bot already gave.

        Without the relevance model a question gives one of its answers (the one that best
        echoes the message with ``answer_weight``, else one picked by the message's hash, so
        the same message gets the same answer); with it, every answer, for the model to
        weigh.
        """
        pick = zlib.crc32(message.text.encode())
        every = self.config.relevance_checked()
        candidates: dict[str, RetrievalCandidate] = {}  # answer → its nearest question
        for position, (score, index) in enumerate(zip(scores, indices, strict=True)):
            answers = self.answers[index]
            if not every:  # its chosen answer first, the others after it in turn
                start = (pick if chosen is None else chosen[position]) % len(answers)
                answers = answers[start:] + answers[:start]
            earlier = message.earlier_replies
            answers = [a for a in answers if a not in earlier][:None if every else 1]
            for answer in answers:
                candidates.setdefault(answer, RetrievalCandidate(
                    self.questions[index], answer, round(score, 4), self.intents[index]))
        return list(candidates.values())

    def required_relevance(self, answer: Answer) -> float:
        sure = self.config.sure_similarity
        if sure is not None and answer.confidence >= sure:
            return 0.0
        return super().required_relevance(answer)

    def _intent_allows(self, message: Message, candidate: RetrievalCandidate) -> bool:
        """Whether ``intent_gate`` lets the candidate be used for the message."""
        gate = self.config.intent_gate
        if gate is None or candidate.similarity >= gate or candidate.intent is None:
            return True
        return message.intent is not None and message.intent.label == candidate.intent

    def _continuations(self, messages: list[Message]) -> list[list[RetrievalCandidate]]:
        """For a message with a history, the other answers of the question nearest to the
        previous user turn: "그럼 어떻게 해?" may be answered by the advice the bot did not
        give yet. Only the relevance model can tell whether one fits, so only with it."""
        out: list[list[RetrievalCandidate]] = [[] for _ in messages]
        rows = [index for index, message in enumerate(messages) if message.history]
        if not rows:
            return out
        similarity = self.index.similarities([messages[i].history[-1].user
                                              for i in rows])  # (rows, questions)
        best = similarity.max(dim=1)
        for row, value, index in zip(rows, best.values.tolist(), best.indices.tolist(),
                                     strict=True):
            out[row] = [RetrievalCandidate(f"{self.questions[index]} (the turn before)", answer,
                                           round(value, 4), self.intents[index])
                        for answer in self.answers[index]
                        if answer not in messages[row].earlier_replies]
        return out

    def _by_relevance(self, messages: list[Message],
                      rows: list[list[RetrievalCandidate]]) -> list[Answer | str]:
        """The best candidate by its question's similarity and its relevance (weighted by
        ``relevance_weight``), among those whose question clears ``threshold``; every
        candidate's relevance goes into the trace. Candidates within ``relevance_margin`` of
        the best count as equally good, and the message's hash picks among them, so that
        replies vary."""
        eligible = [[c for c in candidates if c.similarity >= self.config.threshold
                     and self._intent_allows(message, c)]
                    for message, candidates in zip(messages, rows, strict=True)]
        scores = self.relevance_model.relevance(messages, [[c.answer for c in candidates]
                                                           for candidates in eligible])
        results: list[Answer | str] = []
        for message, candidates, usable, relevance in zip(messages, rows, eligible, scores,
                                                          strict=True):
            if candidates:
                message.extras.setdefault("retrieval", RetrievalMatch(
                    candidates[0].question, candidates[0].similarity, candidates))
            if not usable:
                nearest = candidates[0].similarity if candidates else 0.0
                results.append(f"no training question is similar enough (nearest "
                               f"{nearest:.2f}, threshold {self.config.threshold})")
                continue
            checks = message.extras.setdefault("relevance", [])
            checks += [RelevanceCheck(self.name, c.answer, round(r, 4), False)
                       for c, r in zip(usable, relevance, strict=True)]
            weight = self.config.relevance_weight
            ranked = [(c.similarity + weight * r, c, r)
                      for c, r in zip(usable, relevance, strict=True)]
            # Only candidates relevant enough to be sent compete; when none is, the best one
            # goes to the base class, which declines it and says why.
            passing = [(score, c, r) for score, c, r in ranked
                       if r >= self.required_relevance(Answer(c.answer, c.similarity))]
            passing = passing or [max(ranked, key=lambda row: row[0])]
            top = max(score for score, _, _ in passing)
            good = [(c, r) for score, c, r in passing
                    if score >= top - self.config.relevance_margin]
            candidate, score = good[zlib.crc32(message.text.encode()) % len(good)]
            results.append(Answer(candidate.answer, max(0.0, min(1.0, candidate.similarity)),
                                  relevance=score))
        return results

    def _same_intent(self, messages: list[Message]) -> torch.Tensor:
        """1 where a training question has the message's predicted intent: (batch, questions).
        All zeros for a model saved without intents."""
        if any(m.intent is None for m in messages):
            raise ChatbotError(f"{self.name} with intent_weight needs predicted intents",
                               hint="put a classify.intent step before it, or set "
                               f"{self.name}.intent_weight=0")
        labels = {label: i for i, label in enumerate(dict.fromkeys(self.intents))}
        question_labels = torch.tensor([labels[label] for label in self.intents])  # (questions,)
        predicted = torch.tensor([labels.get(m.intent.label, -1)
                                  for m in messages])  # (batch,)
        return (predicted[:, None] == question_labels[None, :]).float()  # (batch, questions)

    def _with_answers(self, messages: list[Message],
                      similarity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ranking score (``similarity`` + answer_weight × the similarity of the
        question's best-matching answer) and which of its answers that is."""
        group = torch.tensor([q for q, answers in enumerate(self.answers)
                              for _ in answers])  # (answers,) the question of each answer
        start = torch.tensor([0, *itertools.accumulate(len(a) for a in self.answers)][:-1])
        to_answer = self.answer_index.similarities([m.current_text for m in messages])  # (B, A)
        best = torch.full_like(similarity, -1.0).scatter_reduce(
            1, group.expand_as(to_answer), to_answer, reduce="amax")  # (batch, questions)
        # The first answer of each question that reaches its best similarity.
        reaches = to_answer >= best.gather(1, group.expand_as(to_answer))  # (batch, answers)
        position = torch.arange(len(group)).expand_as(to_answer)  # (batch, answers)
        first = torch.full_like(similarity, len(group), dtype=torch.long).scatter_reduce(
            1, group.expand_as(to_answer), torch.where(reaches, position, len(group)),
            reduce="amin")  # (batch, questions)
        return similarity + self.config.answer_weight * best, first - start

    def save(self, path: Path) -> None:
        if not self.questions:
            raise NotFittedError(self.name)
        (path / ANSWERS_FILE).write_text(json.dumps(
            {"questions": self.questions, "answers": self.answers, "intents": self.intents},
            ensure_ascii=False),
            encoding="utf-8")
        if self.index is not None:
            self.index.save(path, NGRAM_STEM)
        if self.follow_ups is not None:
            self.follow_ups.save(path)
        if self.vectors is not None:
            save_file({"vectors": self.vectors.contiguous()}, str(path / VECTORS_FILE))

    @classmethod
    def load(cls, path: Path, config: RetrievalConfig) -> Self:
        state = SavedState(path, cls.name)
        data = state.json_object(ANSWERS_FILE, ("questions", "answers"))
        plugin = cls(config)
        plugin.questions = state.strings(f"questions in {ANSWERS_FILE}", data["questions"],
                                         minimum=1)
        count = len(plugin.questions)
        plugin.answers = state.string_lists(f"answers in {ANSWERS_FILE}", data["answers"],
                                            count, "its questions")
        # Models saved before intent_weight existed have no intents: no question matches.
        plugin.intents = state.optional_strings(f"intents in {ANSWERS_FILE}",
                                                data.get("intents"), count, "its questions")
        if plugin.uses_ngrams:
            plugin.index = NgramIndex.load(state, NGRAM_STEM, count)
        if plugin.uses_vectors:
            vectors = state.tensors(VECTORS_FILE, {"vectors": ("F32", 2)})["vectors"]
            state.within(VECTORS_FILE, "vectors", vectors, -1.001, 1.001)  # unit rows
            state.size(f"the questions in {ANSWERS_FILE}", count, vectors.shape[0],
                       VECTORS_FILE)
            plugin.vectors = vectors
        plugin._index_answers()
        plugin.follow_ups = FollowUpIndex.load(state)
        return plugin


def _unit_vectors(messages: list[Message], name: str) -> torch.Tensor:
    if any(m.vector is None for m in messages):
        raise ChatbotError(f"{name} with method vector or hybrid needs sentence vectors",
                           hint="put an embed step (embed.word2vec) before it, or set "
                           f"{name}.method=ngram")
    return F.normalize(torch.tensor([m.vector for m in messages]), dim=1)  # (batch, dim)

