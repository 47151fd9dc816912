"""respond.retrieval: the answer of the most similar training question."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field
from safetensors.torch import load_file, save_file
from torch.nn import functional as F

from chatbot.errors import ChatbotError, NotFittedError
from chatbot.message import Message
from chatbot.plugin import TrainContext
from chatbot_plugins.respond.base import (
    Answer,
    Responder,
    ResponderConfig,
    dialog_pairs,
    text_of,
)
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
    candidates: int = Field(5, ge=1, le=50, description="the answers of this many nearest "
                            "questions are left in the trace for later responders "
                            "(respond.seq2seq with rerank: true)")


class RetrievalResponder(Responder):
    """Finds the training question closest to the message and answers with its answer when
    the similarity clears ``threshold``. A question seen with several answers gets one of
    them per message (the same message always gets the same one)."""

    name = "respond.retrieval"
    Config = RetrievalConfig
    requires = ("text",)
    trainable = True

    def __init__(self, config: RetrievalConfig) -> None:
        super().__init__(config)
        self.questions: list[str] = []
        self.answers: list[list[str]] = []
        self.index: NgramIndex | None = None
        self.vectors: torch.Tensor | None = None  # (questions, dim), unit rows

    @property
    def uses_vectors(self) -> bool:
        return self.config.method in ("vector", "hybrid")

    @property
    def uses_ngrams(self) -> bool:
        return self.config.method in ("ngram", "hybrid")

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        grouped: dict[str, list[str]] = {}
        for example in dialog_pairs(corpus, self.name):
            grouped.setdefault(example.text.strip(), []).append(example.answer)
        self.questions = list(grouped)
        self.answers = [list(dict.fromkeys(answers)) for answers in grouped.values()]
        messages = context.upstream(self.questions)
        if self.uses_ngrams:
            self.index = NgramIndex.build([text_of(m) for m in messages])
        if self.uses_vectors:
            self.vectors = _unit_vectors(messages, self.name)

    def answer(self, messages: list[Message]) -> list[Answer | str]:
        if not self.questions:
            raise NotFittedError(self.name)
        similarity = torch.zeros(len(messages), len(self.questions))  # (batch, questions)
        parts = 0
        if self.index is not None:
            similarity += self.index.similarities([text_of(m) for m in messages])
            parts += 1
        if self.vectors is not None:
            similarity += _unit_vectors(messages, self.name) @ self.vectors.T
            parts += 1
        nearest = (similarity / parts).topk(min(self.config.candidates, len(self.questions)),
                                             dim=1)
        results: list[Answer | str] = []
        for message, scores, indices in zip(messages, nearest.values.tolist(),
                                            nearest.indices.tolist(), strict=True):
            pick = zlib.crc32(message.text.encode())
            candidates: dict[str, dict] = {}  # answer → its nearest question; many share one
            for score, index in zip(scores, indices, strict=True):
                answer = self.answers[index][pick % len(self.answers[index])]
                candidates.setdefault(answer, {"question": self.questions[index],
                                               "answer": answer,
                                               "similarity": round(score, 4)})
            best = next(iter(candidates.values()))
            message.extras.setdefault("retrieval", {"question": best["question"],
                                                    "similarity": best["similarity"],
                                                    "candidates": list(candidates.values())})
            results.append(Answer(best["answer"], max(0.0, min(1.0, scores[0]))))
        return results

    def save(self, path: Path) -> None:
        if not self.questions:
            raise NotFittedError(self.name)
        (path / ANSWERS_FILE).write_text(json.dumps(
            {"questions": self.questions, "answers": self.answers}, ensure_ascii=False),
            encoding="utf-8")
        if self.index is not None:
            self.index.save(path, NGRAM_STEM)
        if self.vectors is not None:
            save_file({"vectors": self.vectors.contiguous()}, str(path / VECTORS_FILE))

    @classmethod
    def load(cls, path: Path, config: RetrievalConfig) -> Self:
        plugin = cls(config)
        data = json.loads((path / ANSWERS_FILE).read_text(encoding="utf-8"))
        plugin.questions, plugin.answers = data["questions"], data["answers"]
        if plugin.uses_ngrams:
            plugin.index = NgramIndex.load(path, NGRAM_STEM)
        if plugin.uses_vectors:
            plugin.vectors = load_file(str(path / VECTORS_FILE))["vectors"]
        return plugin



def _unit_vectors(messages: list[Message], name: str) -> torch.Tensor:
    if any(m.vector is None for m in messages):
        raise ChatbotError(f"{name} with method vector or hybrid needs sentence vectors",
                           hint="put an embed step (embed.word2vec) before it, or set "
                           f"{name}.method=ngram")
    return F.normalize(torch.tensor([m.vector for m in messages]), dim=1)  # (batch, dim)

