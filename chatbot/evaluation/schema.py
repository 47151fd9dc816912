"""The typed model of ``metrics.json`` (and of ``comparison.json``): built once by
:func:`~chatbot.evaluation.scoring.summarize` and read everywhere else by attribute (the report,
the figures, the CLI summary), so renaming a metric is one edit.

The model *is* the documented schema: each field's description is what docs/evaluation.md lists
for its key (:mod:`chatbot.evaluation.schema_doc` writes that section from it, and a test keeps
the two equal). Every key is always present; a metric the logs give nothing to score is null.
Rates, accuracies, precision, recall and F1 are fractions (0-1); BLEU and chrF are 0-100.

:func:`read_metrics` reads a ``metrics.json`` back through the model and says clearly what is
wrong with a malformed one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatbot.errors import ChatbotError

SCHEMA_VERSION = 1

# The headline metrics, compared with confidence intervals by --compare, and whether higher is
# better. Their dotted names are keys of comparison.json and paths into Metrics
# (:func:`metric_value`); a test checks that each names a field.
HEADLINE: dict[str, bool] = {
    "intent.accuracy": True, "intent.macro_f1": True, "spam.f1": True,
    "reply.bleu4": True, "reply.chrf": True, "fallback.rate": False, "lm.perplexity": False,
}


class Part(BaseModel):
    """A part of ``metrics.json``: unknown keys are an error (a typo in the builder, or a file
    that is not ours)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _doc(description: str, keys: str | None = None) -> Any:
    """A required field with its description (the schema section of docs/evaluation.md);
    ``keys`` names a dict's keys there ("LABEL")."""
    return Field(..., description=description,
                 json_schema_extra={"keys": keys} if keys else None)


class ModelInfo(Part):
    path: str = _doc("the pipeline's directory")
    version: str | None = _doc("its name@hash of its manifest")


class FailedTurn(Part):
    source: str = _doc("where the turn is in the logs (file:line)")
    error: str | None = _doc("why it could not be processed")


class Failed(Part):
    count: int = _doc("how many")
    examples: list[FailedTurn] = _doc("the first 20 of them")


class IntentScores(Part):
    precision: float = _doc("share of the turns predicted this label whose gold it is")
    recall: float = _doc("share of the turns of this gold label predicted so")
    f1: float = _doc("harmonic mean of the two")
    support: int = _doc("turns whose gold intent is this label")


class ConfusedPair(Part):
    gold: str = _doc("the gold intent")
    predicted: str = _doc("what was predicted instead")
    count: int = _doc("how many turns")


class IntentMetrics(Part):
    turns: int = _doc("turns with a gold intent and a predicted one: the turns scored here")
    accuracy: float | None = _doc("share of them whose predicted intent is right")
    macro_precision: float | None = _doc("mean precision over every label in the gold or the "
                                         "predictions (as in scikit-learn)")
    macro_recall: float | None = _doc("mean recall over the same labels")
    macro_f1: float | None = _doc("mean F1 over every label in the gold or the predictions")
    weighted_precision: float | None = _doc("precision averaged with each label's support as "
                                            "weight (as in scikit-learn)")
    weighted_recall: float | None = _doc("recall averaged the same way")
    weighted_f1: float | None = _doc("F1 averaged the same way")
    ood_recall: float | None = _doc("share of gold `ood` turns predicted `ood`")
    per_intent: dict[str, IntentScores] = _doc("each label's scores", keys="LABEL")
    labels: list[str] = _doc("the labels of the confusion matrix, in its order")
    confusion: list[list[int]] = _doc("the confusion matrix: rows gold, columns predicted")
    confused_pairs: list[ConfusedPair] = _doc("the 10 most frequent mistakes, most frequent "
                                              "first")


class SpamMetrics(Part):
    turns: int = _doc("turns with a gold spam label and a spam score: the turns scored here")
    spam: int = _doc("of them, gold spam")
    precision: float | None = _doc("of flagging (spam or abuse) against `gold_spam`")
    recall: float | None = _doc("of flagging against `gold_spam`")
    f1: float | None = _doc("of flagging against `gold_spam`")
    roc_auc: float | None = _doc("of the spam score: the chance a spam turn scores above a ham "
                                 "one")


class ReplyMetrics(Part):
    turns: int = _doc("replies scored for diversity and length: every processed turn")
    with_gold: int = _doc("turns with a gold reply: those BLEU and chrF are scored on")
    bleu4: float | None = _doc("corpus BLEU-4 on morphemes (mecab-ko) against `gold_reply`")
    chrf: float | None = _doc("corpus chrF (character 6-grams, β=2) against `gold_reply`")
    bleu4_morpheme: float | None = _doc("BLEU-4 on morphemes (= `bleu4`)")
    bleu4_eojeol: float | None = _doc("BLEU-4 on eojeol (words between spaces)")
    chrf_eojeol: float | None = _doc("chrF on the text (= `chrf`)")
    chrf_morpheme: float | None = _doc("chrF on the morphemes. chrF ignores spaces, so it "
                                       "differs from `chrf_eojeol` only where the tokenizer "
                                       "changes characters")
    distinct1: float | None = _doc("distinct word 1-grams over all 1-grams of all replies")
    distinct2: float | None = _doc("distinct word 2-grams over all 2-grams of all replies")
    mean_words: float | None = _doc("mean words per reply")
    mean_chars: float | None = _doc("mean characters per reply")
    gold_mean_words: float | None = _doc("mean words per gold reply")


class FallbackMetrics(Part):
    rate: float | None = _doc("share of turns answered by a `fallback.*` plugin")
    count: int = _doc("how many turns")


class LmMetrics(Part):
    perplexity: float | None = _doc("perplexity of the gold replies under the pipeline's "
                                    "language model (`fallback.lm`), per subword with the end "
                                    "of reply")
    replies: int = _doc("gold replies it scored")
    tokens: int = _doc("their subwords")


class Percentiles(Part):
    p50: float | None = _doc("median")
    p95: float | None = _doc("95th percentile")
    p99: float | None = _doc("99th percentile")
    mean: float | None = _doc("mean")


class LatencyMetrics(Part):
    p50: float | None = _doc("median of the pipeline's time per turn, one turn at a time (null "
                             "when only batch shares were measured)")
    p95: float | None = _doc("its 95th percentile")
    p99: float | None = _doc("its 99th percentile")
    mean: float | None = _doc("its mean")
    measured: str = _doc("how: every turn one at a time (`--batch-size 1`), or a sample of the "
                         "turns processed again one at a time after the batched run")
    per_plugin: dict[str, Percentiles] = _doc("each plugin's time, measured the same way, in "
                                              "pipeline order", keys="NAME")
    logged: Percentiles | None = _doc("the latency the log recorded when the turn was served "
                                      "(null when the log has none)")


class Feedback(Part):
    likes: int = _doc("turns users liked")
    dislikes: int = _doc("turns users disliked")


class Throughput(Part):
    turns_per_second: float | None = _doc("turns (failed ones too) per second of the run")
    seconds: float = _doc("how long the run took, scoring of gold replies included")
    batch_size: int = _doc("turns per pipeline call (`--batch-size`)")


class Metrics(Part):
    """Everything ``chatbot eval`` measured about one pipeline: ``metrics.json``."""

    schema_version: int = Field(SCHEMA_VERSION, alias="schema",
                                description=f"the version of this layout: {SCHEMA_VERSION}")
    created: str = _doc("when the evaluation ran (UTC, ISO 8601)")
    model: ModelInfo = _doc("the pipeline evaluated")
    logs: list[str] = _doc("the files read")
    turns: int = _doc("turns the pipeline processed (failed ones not counted)")
    failed: Failed = _doc("turns that could not be processed (unreadable, empty, too long, or a "
                          "plugin failed on them)")
    intent: IntentMetrics = _doc("predicted intents against `gold_intent`")
    spam: SpamMetrics = _doc("the spam classifier against `gold_spam`")
    reply: ReplyMetrics = _doc("the replies: against `gold_reply`, diversity, length")
    responders: dict[str, float] = _doc("share of turns each plugin answered (`(no reply)` "
                                        "for none), largest first", keys="NAME")
    fallback: FallbackMetrics = _doc("turns answered by a `fallback.*` plugin")
    lm: LmMetrics = _doc("the language model on the gold replies")
    latency_ms: LatencyMetrics = _doc("the pipeline's time per turn, in milliseconds")
    feedback: Feedback = _doc("what users pressed, as logged")
    throughput: Throughput = _doc("how fast this evaluation ran")
    warnings: list[str] = _doc("e.g. gold intents the model does not know")

    def to_json(self) -> dict[str, Any]:
        """The ``metrics.json`` object (JSON-ready apart from the rounding of floats)."""
        return self.model_dump(by_alias=True)


# -- comparison.json (with --compare) --------------------------------------------------------


class ComparisonRow(Part):
    """One headline metric of A and B, and the paired bootstrap interval of B - A."""

    a: float | None = _doc("A's value")
    b: float | None = _doc("B's value")
    delta: float | None = _doc("B - A")
    low: float | None = _doc("the interval's lower end")
    high: float | None = _doc("the interval's upper end")
    higher_is_better: bool = _doc("whether a higher value is better")
    verdict: Literal["better", "worse", "unclear"] = _doc(
        "better or worse when the interval excludes 0, else unclear")


class Answer(Part):
    """What one pipeline made of a turn, as a differing turn shows it."""

    reply: str | None = _doc("its reply")
    responder: str | None = _doc("the plugin that replied")
    intent: str | None = _doc("the predicted intent")
    chrf: float | None = _doc("the reply's chrF against the gold reply")


class DifferingTurn(Part):
    source: str = _doc("where the turn is in the logs")
    text: str = _doc("the message")
    gold_reply: str | None = _doc("its gold reply")
    gold_intent: str | None = _doc("its gold intent")
    a: Answer = _doc("A's answer")
    b: Answer = _doc("B's answer")
    difference: float = _doc("how far apart the replies are in chrF points, +100 when only one "
                             "got the intent right")


class Bootstrap(Part):
    resamples: int = _doc("resamples of the turns (`--bootstrap`)")
    confidence: float = _doc("of the intervals")
    seed: int = _doc("of the resampling (`--seed`)")


class Comparison(Part):
    """Two pipelines on the same turns: ``comparison.json``, and B's metrics beside it."""

    a: ModelInfo = _doc("pipeline A (`--model`)")
    b: ModelInfo = _doc("pipeline B (`--compare`)")
    turns: int = _doc("turns both processed: the turns compared")
    bootstrap: Bootstrap = _doc("how the intervals were drawn")
    metrics: dict[str, ComparisonRow] = _doc("each headline metric", keys="METRIC")
    differing_turns: list[DifferingTurn] = _doc("the turns where the two differ most")
    b_metrics: Metrics = Field(..., exclude=True,
                               description="B's metrics (written as compare/metrics.json)")

    def to_json(self) -> dict[str, Any]:
        """The ``comparison.json`` object (B's metrics are a file of their own)."""
        return self.model_dump(by_alias=True)


def metric_value(metrics: Metrics, key: str) -> Any:
    """The value of a dotted metric name ("intent.accuracy") in ``metrics``.

    Raises:
        AttributeError: the name is no field of the model.
    """
    value: Any = metrics
    for part in key.split("."):
        if not isinstance(value, BaseModel) or part not in type(value).model_fields:
            raise AttributeError(f"{key!r} names no field of {type(metrics).__name__}")
        value = getattr(value, part)
    return value


def read_metrics(path: Path) -> Metrics:
    """Read a ``metrics.json`` written by ``chatbot eval``, checked against the model.

    Raises:
        ChatbotError: the file cannot be read, is not JSON, is of another schema version, or
            lacks a key or has one of the wrong type (the message names the key).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ChatbotError(f"cannot read {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ChatbotError(f"{path} is not a JSON file: {error}") from None
    if not isinstance(data, dict):
        raise ChatbotError(f"{path} is not a metrics.json of chatbot eval: not a JSON object")
    if data.get("schema") != SCHEMA_VERSION:
        raise ChatbotError(f"{path} has schema {data.get('schema')!r}; this version of chatbot "
                           f"reads schema {SCHEMA_VERSION}",
                           hint="evaluate again with this version to get a metrics.json it reads")
    try:
        return Metrics.model_validate(data)
    except ValidationError as error:
        raise ChatbotError(f"{path} is not a valid metrics.json:\n"
                           + "\n".join(f"  - {problem}" for problem in problems(error)),
                           hint="docs/evaluation.md lists every key of metrics.json") from None


def problems(error: ValidationError, limit: int = 10) -> list[str]:
    """One line per problem of a validation error: the dotted key, then what is wrong."""
    lines = []
    for item in error.errors()[:limit]:
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{key}: {item['msg'].lower()}")
    if error.error_count() > limit:
        lines.append(f"… and {error.error_count() - limit} more")
    return lines
