"""Follow-up turns for respond.retrieval: what to say to "왜?" or "그럼 어떻게 해?" depends on
what was said before.

The turns of the corpus's multi-turn dialogs that follow an earlier turn are indexed twice: by
what the user says (the follow-up) and by what the user said the turn before (its context). A
message with a history is compared with both, and a turn scores the lower of the two
similarities, so "왜?" after a question about a dog finds the "왜?" of a conversation about
dogs, not of one about exams.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from chatbot.contract import RetrievalCandidate
from chatbot.training.safe_load import SavedState
from chatbot_plugins.respond.ngram_index import NgramIndex

if TYPE_CHECKING:
    from chatbot.data.corpus import Example
    from chatbot.message import Message

TURNS_FILE = "followups.json"
TEXT_STEM, CONTEXT_STEM = "followup-ngrams", "followup-context-ngrams"


@dataclass
class FollowUpIndex:
    """Follow-up turns (the previous user turn, the follow-up, its replies, the intent of its
    dialog) and their indexes."""

    contexts: list[str]
    texts: list[str]
    replies: list[list[str]]
    intents: list[str | None]
    text_index: NgramIndex
    context_index: NgramIndex

    @classmethod
    def build(cls, examples: list[Example], texts: list[str]) -> FollowUpIndex | None:
        """The index of the examples that follow an earlier turn (``texts``: each example's
        processed text); None when there are none."""
        grouped: dict[tuple[str, str], list[str]] = {}
        intents: dict[tuple[str, str], Counter] = {}
        for example, text in zip(examples, texts, strict=True):
            if example.history and example.answer:
                key = (example.history[-1].user, text)
                replies = grouped.setdefault(key, [])
                if example.answer not in replies:
                    replies.append(example.answer)
                intents.setdefault(key, Counter())[example.intent] += 1
        if not grouped:
            return None
        contexts = [context for context, _ in grouped]
        follow_ups = [text for _, text in grouped]
        return cls(contexts, follow_ups, list(grouped.values()),
                   [intents[key].most_common(1)[0][0] for key in grouped],
                   NgramIndex.build(follow_ups), NgramIndex.build(contexts))

    def candidates(self, messages: list[Message], texts: list[str],
                   count: int) -> list[list[RetrievalCandidate]]:
        """For each message with a history, the replies of its ``count`` best-matching
        follow-up turns (best first; their ``similarity`` the lower of the follow-up's and the
        context's), never a reply the bot already gave; nothing for a message without history."""
        out: list[list[RetrievalCandidate]] = [[] for _ in messages]
        rows = [index for index, message in enumerate(messages) if message.history]
        if not rows:
            return out
        text_similarity = self.text_index.similarities([texts[i] for i in rows])  # (rows, F)
        context_similarity = self.context_index.similarities(
            [messages[i].history[-1].user for i in rows])  # (rows, F)
        # The weaker of the two: "왜?" after another topic matches the follow-up perfectly and
        # its context not at all.
        score = torch.minimum(text_similarity, context_similarity)  # (rows, F)
        best = score.topk(min(count, len(self.texts)), dim=1)
        for row, values, indices in zip(rows, best.values.tolist(), best.indices.tolist(),
                                        strict=True):
            earlier = messages[row].earlier_replies
            out[row] = [RetrievalCandidate(f"{self.contexts[i]} → {self.texts[i]}", reply,
                                           round(value, 4), self.intents[i])
                        for value, i in zip(values, indices, strict=True)
                        for reply in self.replies[i] if reply not in earlier]
        return out

    def save(self, folder: Path) -> None:
        (folder / TURNS_FILE).write_text(json.dumps(
            {"contexts": self.contexts, "texts": self.texts, "replies": self.replies,
             "intents": self.intents},
            ensure_ascii=False), encoding="utf-8")
        self.text_index.save(folder, TEXT_STEM)
        self.context_index.save(folder, CONTEXT_STEM)

    @classmethod
    def load(cls, state: SavedState) -> FollowUpIndex | None:
        """The index :meth:`save` wrote, None when the model has none."""
        if not (state.folder / TURNS_FILE).exists():
            return None
        data = state.json_object(TURNS_FILE, ("contexts", "texts", "replies"))
        texts = state.strings(f"texts in {TURNS_FILE}", data["texts"], minimum=1)
        contexts = state.strings(f"contexts in {TURNS_FILE}", data["contexts"])
        state.size(f"the contexts in {TURNS_FILE}", len(contexts), len(texts), "its texts")
        replies = state.string_lists(f"replies in {TURNS_FILE}", data["replies"], len(texts),
                                     "its texts")
        intents = state.optional_strings(f"intents in {TURNS_FILE}", data.get("intents"),
                                         len(texts), "its texts")
        return cls(contexts, texts, replies, intents,
                   NgramIndex.load(state, TEXT_STEM, len(texts)),
                   NgramIndex.load(state, CONTEXT_STEM, len(texts)))


def merged(first: list[RetrievalCandidate], second: list[RetrievalCandidate],
           ) -> list[RetrievalCandidate]:
    """Both lists as one, most similar first, each reply once."""
    out: dict[str, RetrievalCandidate] = {}
    for candidate in sorted(first + second, key=lambda c: -c.similarity):
        out.setdefault(candidate.answer, candidate)
    return list(out.values())

