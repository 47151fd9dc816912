"""respond.seq2seq's rerank: its written reply against the answers an earlier
respond.retrieval found, each scored by the seq2seq model's mean token log-probability."""

from __future__ import annotations

import math

from chatbot.contract import RerankContest, RetrievalCandidate
from chatbot_plugins.respond.base import Answer


def rerank(written: Answer | str, written_log_prob: float,
           scored: list[tuple[RetrievalCandidate, float]],
           bonus: float) -> tuple[Answer | str, RerankContest | None]:
    """The written reply, or a retrieved answer that beats it.

    A retrieved answer scores its mean token log-probability plus ``bonus`` × its question's
    similarity; the written reply its own mean token log-probability (the same scale: see
    :meth:`Seq2SeqResponder.likelihood`). The best retrieved answer replaces the written
    reply (or the lack of one) when it scores higher.

    Args:
        written: the written reply, or why there is none.
        written_log_prob: its mean token log-probability.
        scored: candidates with their mean token log-probability
            (:meth:`Seq2SeqResponder.score_candidates`).
        bonus: ``rerank_bonus``.

    Returns:
        the answer to give and the contest for the trace (None without candidates).
    """
    if not scored:
        return written, None
    total, log_likelihood, candidate = max(
        ((log_likelihood + bonus * candidate.similarity, log_likelihood, candidate)
         for candidate, log_likelihood in scored), key=lambda row: row[0])
    score = written_log_prob if isinstance(written, Answer) else None  # nothing was written
    chosen = "retrieved" if score is None or total > score else "written"
    contest = RerankContest(None if score is None else round(score, 4), round(total, 4),
                            candidate.question, chosen)
    if chosen == "retrieved":
        return Answer(candidate.answer, math.exp(log_likelihood)), contest
    return written, contest
