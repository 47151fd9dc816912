"""The relevance model's training pairs: every dialog reply with its own message (it fits),
and replies that do not fit: a random one, a hard one from a retrieval's near miss, and for a
turn of a multi-turn dialog, its own reply after another conversation's previous turn."""

from __future__ import annotations

import random
from dataclasses import dataclass

from chatbot.data.corpus import Example
from chatbot_plugins.respond.ngram_index import NgramIndex

NEAR_MISSES = 10  # nearest other questions searched for a hard negative
SEARCH_CHUNK = 512  # questions compared at once (bounds the similarity matrix)


@dataclass(frozen=True)
class Pair:
    """A candidate reply to a message (after ``context``, the previous user turn, "" when
    none) and whether it fits."""

    context: str
    message: str
    reply: str
    fits: bool


@dataclass
class _Group:
    """One message (in its context) and every reply the corpus gives it."""

    context: str
    message: str
    intent: str | None
    replies: list[str]


def relevance_pairs(examples: list[Example], messages: list[str], seed: int,
                    context_share: float = 0.3) -> list[Pair]:
    """The pairs to train on.

    Args:
        examples: dialog pairs (question and answer), multi-turn turns among them.
        messages: each example's question as the model will see it (normalized).
        seed: makes the choice of negatives reproducible.
        context_share: share of single-turn groups that also appear after an unrelated
            previous turn (with the same labels), so that a message that stands on its own
            is judged on its own, whatever came before it.
    """
    rng = random.Random(seed)
    groups = _groups(examples, messages)
    contexts = sorted({group.context for group in groups if group.context}
                      | {group.message for group in groups if not group.context})
    pairs: list[Pair] = []
    for group, near in zip(groups, _near_misses(groups), strict=True):
        for reply in group.replies:
            rows = [(reply, True), (_random_reply(groups, group, rng), False)]
            hard = _hard_reply(groups, group, near, rng)
            if hard is not None:
                rows.append((hard, False))
            pairs += [Pair(group.context, group.message, text, fits) for text, fits in rows]
            if group.context:
                other = rng.choice(contexts)
                if other != group.context:
                    pairs.append(Pair(other, group.message, reply, False))
            elif contexts and rng.random() < context_share:
                other = rng.choice(contexts)
                pairs += [Pair(other, group.message, text, fits) for text, fits in rows]
    return pairs


def _groups(examples: list[Example], messages: list[str]) -> list[_Group]:
    by_key: dict[tuple[str, str], _Group] = {}
    for example, message in zip(examples, messages, strict=True):
        context = example.history[-1].user if example.history else ""
        group = by_key.setdefault((context, message),
                                  _Group(context, message, example.intent, []))
        if example.answer and example.answer not in group.replies:
            group.replies.append(example.answer)
    return [group for group in by_key.values() if group.replies]


def _near_misses(groups: list[_Group]) -> list[list[int]]:
    """For each group, the other groups whose messages are most alike, nearest first."""
    if len(groups) < 2:
        return [[] for _ in groups]
    texts = [group.message for group in groups]
    index = NgramIndex.build(texts)
    count = min(NEAR_MISSES + 1, len(groups))
    near: list[list[int]] = []
    for start in range(0, len(texts), SEARCH_CHUNK):
        similarity = index.similarities(texts[start:start + SEARCH_CHUNK])  # (chunk, groups)
        for row, indices in enumerate(similarity.topk(count, dim=1).indices.tolist()):
            near.append([i for i in indices if i != start + row])
    return near


def _random_reply(groups: list[_Group], group: _Group, rng: random.Random) -> str:
    while True:  # a corpus of one group has no negative: its own replies are all there is
        other = rng.choice(groups)
        reply = rng.choice(other.replies)
        if reply not in group.replies or len(groups) == 1:
            return reply


def _hard_reply(groups: list[_Group], group: _Group, near: list[int],
                rng: random.Random) -> str | None:
    """A reply of the nearest other message that has another intent (a same-intent neighbour's
    reply may well fit too), None when no near message qualifies."""
    for index in near:
        other = groups[index]
        if group.intent is not None and other.intent == group.intent:
            continue
        replies = [reply for reply in other.replies if reply not in group.replies]
        if replies:
            return rng.choice(replies)
    return None
