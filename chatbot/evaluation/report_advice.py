"""What the report advises when a metric is missing: add a column to the logs, or a plugin to
the pipeline.

Which of the two is decided from the pipeline's declared contracts (the steps that write
``intent``, ``spam``, ``reply``) and capabilities (a step that can score replies), gathered in
:class:`PipelineFacts`, never from plugin names: a third-party spam classifier counts as one.
Without the facts (a report built from ``metrics.json`` alone) the advice names both.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.capabilities import ScoresReplies
from chatbot.evaluation.schema import Metrics
from chatbot.pipeline import Pipeline


@dataclass(frozen=True)
class PipelineFacts:
    """What the evaluated pipeline can produce: the names of the steps that write each field."""

    intent: tuple[str, ...] = ()
    spam: tuple[str, ...] = ()
    reply: tuple[str, ...] = ()
    reply_scorers: tuple[str, ...] = ()  # steps that can score gold replies (ScoresReplies)


def pipeline_facts(pipeline: Pipeline) -> PipelineFacts:
    """The facts of a pipeline, from its steps' contracts and capabilities."""
    return PipelineFacts(
        intent=tuple(pipeline.writers_of("intent")), spam=tuple(pipeline.writers_of("spam")),
        reply=tuple(pipeline.writers_of("reply")),
        reply_scorers=tuple(p.name for p in pipeline.plugins if isinstance(p, ScoresReplies)))


def _steps(names: tuple[str, ...]) -> str:
    return ", ".join(names)


def intent_advice(facts: PipelineFacts | None) -> str:
    """Why no intent is scored, and what to do."""
    if facts is not None and not facts.intent:
        return ("The pipeline has no intent classifier (no step writes intent); add one "
                "(classify.intent) to score intents.")
    return ("No turn has a gold intent label; add a gold_intent column "
            "(or map one with --columns gold_intent=COLUMN).")


def spam_advice(facts: PipelineFacts | None) -> str:
    """Why no spam is scored, and what to do."""
    if facts is None:
        return ("No turn has a gold spam label and a spam score; add a gold_spam column "
                "(spam/ham), and a spam classifier if the pipeline has none.")
    if not facts.spam:
        return ("The pipeline has no spam classifier (no step writes spam); add one "
                "(classify.spam), and a gold_spam column (spam/ham) if the logs have none.")
    return (f"No turn has a gold spam label; add a gold_spam column (spam/ham) to score "
            f"{_steps(facts.spam)}.")


def reply_advice(facts: PipelineFacts | None) -> str:
    """Why no reply is scored against gold, and what to do."""
    if facts is not None and not facts.reply:
        return ("The pipeline has no responder (no step writes reply); add one (respond.* or "
                "fallback.*) to score replies.")
    return "No turn has a gold reply; add a gold_reply column to score BLEU-4 and chrF."


def lm_advice(metrics: Metrics, facts: PipelineFacts | None) -> str:
    """Why there is no perplexity of the gold replies, and what to do."""
    if facts is not None and not facts.reply_scorers:
        return ("No perplexity: the pipeline has no language model that can score replies "
                "(fallback.lm does).")
    if not metrics.reply.with_gold:
        return "No perplexity: no turn has a gold reply; add a gold_reply column."
    return ("No perplexity: it needs gold replies and a pipeline whose language model can score "
            "them.")


def card_note(key: str, metrics: Metrics, facts: PipelineFacts | None) -> str:
    """Why a headline card (by metric key) has no value, in a few words."""
    known = facts is not None
    if key.startswith("intent."):
        return "no intent classifier" if known and not facts.intent else "no gold intent labels"
    if key.startswith("spam."):
        return "no spam classifier" if known and not facts.spam else "no gold spam labels"
    if key.startswith("reply."):
        return "no responder" if known and not facts.reply else "no gold replies"
    if key.startswith("lm."):
        if known and not facts.reply_scorers:
            return "no LM that scores replies"
        return "no gold replies" if not metrics.reply.with_gold else "no LM or no gold replies"
    if key.startswith("latency_ms."):
        if metrics.latency_ms.mean is not None:
            return "batched: see Latency"
        return "no timings"
    return "no replies" if key.startswith("fallback.") else "no data"
