"""chatbot eval's metrics model and report without a trained model: metrics.json through the
model and back, the documented schema, the latency section of a batched run, and the advice
that depends on what the pipeline can produce."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot.config import parse_config
from chatbot.errors import ChatbotError
from chatbot.evaluation import charts, schema_doc
from chatbot.evaluation.evaluate import _label_warnings
from chatbot.evaluation.logs import EvalTurn
from chatbot.evaluation.report import write_json
from chatbot.evaluation.report_advice import PipelineFacts, pipeline_facts
from chatbot.evaluation.report_format import DASH, Note, Table
from chatbot.evaluation.report_sections import _CARDS, build_cards, build_sections
from chatbot.evaluation.runner import Outcome, Run
from chatbot.evaluation.schema import HEADLINE, Metrics, metric_value, read_metrics
from chatbot.evaluation.scoring import build_table, summarize
from chatbot.message import Message, Prediction
from chatbot.pipeline import Pipeline

# The keys metrics.json had before it had a model: users read them, so they stay.
LEGACY_KEYS = {
    None: {"schema", "created", "model", "logs", "turns", "failed", "intent", "spam", "reply",
           "responders", "fallback", "lm", "latency_ms", "feedback", "throughput", "warnings"},
    "model": {"path", "version"},
    "failed": {"count", "examples"},
    "intent": {"turns", "accuracy", "macro_precision", "macro_recall", "macro_f1",
               "weighted_precision", "weighted_recall", "weighted_f1", "ood_recall",
               "per_intent", "labels", "confusion", "confused_pairs"},
    "spam": {"turns", "spam", "precision", "recall", "f1", "roc_auc"},
    "reply": {"turns", "with_gold", "bleu4", "chrf", "bleu4_morpheme", "bleu4_eojeol",
              "chrf_eojeol", "chrf_morpheme", "distinct1", "distinct2", "mean_words",
              "mean_chars", "gold_mean_words"},
    "fallback": {"rate", "count"},
    "lm": {"perplexity", "replies", "tokens"},
    "latency_ms": {"p50", "p95", "p99", "mean", "measured", "per_plugin", "logged"},
    "feedback": {"likes", "dislikes"},
    "throughput": {"turns_per_second", "seconds", "batch_size"},
}
BATCH_SHARE = {"normalize.soynlp": 0.25, "classify.intent": 1.75}  # every turn of a batch


def _outcomes(count: int = 40, spam_score: bool = True) -> list[Outcome]:
    """Processed turns as a batched run leaves them: every turn the same share of time."""
    outcomes = []
    for i in range(count):
        gold = ["weather", "food"][i % 2]
        message = Message(f"메시지 {i}", intent=Prediction(gold if i % 3 else "food", 0.8),
                          spam=Prediction("ham", 0.1) if spam_score else None,
                          reply="오늘은 맑아요", responder="respond.retrieval",
                          timings_ms=dict(BATCH_SHARE))
        turn = EvalTurn(f"log.csv:{i + 2}", message.text, gold_intent=gold,
                        gold_reply="오늘은 정말 맑아요", logged_latency_ms=20.0 + i,
                        feedback=1 if i == 0 else None)
        outcomes.append(Outcome(turn, message))
    outcomes.append(Outcome(EvalTurn("log.csv:99", "가" * 10), error="too long"))
    return outcomes


def _metrics(batch_size: int = 64, sample: list[dict[str, float]] | None = None,
             **kwargs) -> Metrics:
    outcomes = _outcomes(**kwargs)
    return summarize(Run(outcomes, 2.0, batch_size), build_table(outcomes),
                     {"path": "models/x", "version": "x@1"}, ["log.csv"],
                     warnings=["a warning"], latency_sample=sample)


def _section(metrics: Metrics, anchor: str, facts: PipelineFacts | None = None):
    return next(s for s in build_sections(metrics, {}, None, facts) if s.anchor == anchor)


def _notes(section) -> str:
    return " ".join(block.text for block in section.blocks if isinstance(block, Note))


# -- metrics.json through the model ------------------------------------------------------------


def test_metrics_json_keeps_its_keys_and_reads_back_through_the_model(tmp_path):
    metrics = _metrics(sample=[{"normalize.soynlp": 0.2, "classify.intent": 1.0 + i}
                               for i in range(10)])
    path = tmp_path / "metrics.json"
    write_json(metrics.to_json(), path)
    written = json.loads(path.read_text(encoding="utf-8"))
    for part, keys in LEGACY_KEYS.items():
        assert set(written if part is None else written[part]) == keys, part
    assert set(written["intent"]["per_intent"]["weather"]) == {"precision", "recall", "f1",
                                                               "support"}
    assert set(written["failed"]["examples"][0]) == {"source", "error"}
    back = read_metrics(path)
    assert back.intent.accuracy == pytest.approx(metrics.intent.accuracy)
    assert back.latency_ms.per_plugin["classify.intent"].p99 == pytest.approx(
        metrics.latency_ms.per_plugin["classify.intent"].p99)
    assert back.warnings == ["a warning"] and back.failed.examples[0].error == "too long"
    write_json(back.to_json(), tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text(encoding="utf-8")) == written


def test_a_malformed_metrics_json_is_refused_with_the_key_at_fault(tmp_path):
    write_json(_metrics().to_json(), tmp_path / "good.json")
    good = json.loads((tmp_path / "good.json").read_text(encoding="utf-8"))
    path = tmp_path / "metrics.json"
    broken = {**good, "intent": {**good["intent"], "accuracy": "high"}}
    del broken["reply"]
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(ChatbotError) as error:
        read_metrics(path)
    assert "intent.accuracy" in str(error.value) and "reply: field required" in str(error.value)
    path.write_text(json.dumps({**good, "schema": 7}), encoding="utf-8")
    with pytest.raises(ChatbotError, match="schema 7"):
        read_metrics(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ChatbotError, match="not a JSON file"):
        read_metrics(path)
    with pytest.raises(ChatbotError, match="cannot read"):
        read_metrics(tmp_path / "missing.json")


def test_the_doc_lists_every_field_of_the_model_as_generated():
    doc = (Path(__file__).parents[1] / "docs" / "evaluation.md").read_text(encoding="utf-8")
    missing = [key for key, _, _ in schema_doc.rows() if f"| `{key}` |" not in doc]
    assert not missing, f"not in docs/evaluation.md: {missing}"
    assert schema_doc.documented(doc) == schema_doc.table(), (
        "docs/evaluation.md is out of date: run python -m chatbot.evaluation.schema_doc")


def test_headline_and_card_keys_name_fields_of_the_model():
    metrics = _metrics()
    for key in [*HEADLINE, *(key for _, key in _CARDS)]:
        metric_value(metrics, key)  # raises if the key names no field
    assert metric_value(metrics, "intent.accuracy") == metrics.intent.accuracy
    with pytest.raises(AttributeError):
        metric_value(metrics, "intent.acuracy")


# -- latency -----------------------------------------------------------------------------------


def _latency_rows(metrics: Metrics) -> dict[str, list[str]]:
    table = next(b for b in _section(metrics, "latency").blocks if isinstance(b, Table))
    return {row[0].lines[0]: [c.lines[0] for c in row[1:]] for row in table.rows}


def test_a_batched_run_shows_latency_of_turns_timed_alone_not_batch_shares():
    sample = [{"normalize.soynlp": 0.2, "classify.intent": 1.0 + i} for i in range(20)]
    metrics = _metrics(batch_size=64, sample=sample)
    p50, p95, p99, _ = _latency_rows(metrics)["per turn"]
    assert len({p50, p95, p99}) == 3  # the sample's spread, not the batch's one share
    assert metrics.latency_ms.p50 == pytest.approx(1.2 + 9.5)
    assert "sample of 20" in metrics.latency_ms.measured
    notes = _notes(_section(metrics, "latency"))
    assert "sample of 20" in notes and "batches of 64" in notes
    assert "not how long one user waits" in notes  # the throughput line says what it is


def test_a_batched_run_without_a_sample_gives_a_mean_and_no_percentiles():
    metrics = _metrics(batch_size=64, sample=None)
    rows = _latency_rows(metrics)
    label = "per turn, share of a batch of 64"
    assert rows[label][:3] == [DASH, DASH, DASH] and rows[label][3] == "2.0 ms"
    assert metrics.latency_ms.per_plugin["classify.intent"].p95 is None
    cards = {card.label: card for card in build_cards(metrics)}
    assert cards["Latency p50"].note == "batched: see Latency"
    assert charts.latency_png(metrics.latency_ms.per_plugin).startswith(b"\x89PNG")  # means


def test_one_turn_at_a_time_every_turn_is_timed():
    metrics = _metrics(batch_size=1)
    assert metrics.latency_ms.measured == "one at a time"
    assert metrics.latency_ms.p50 == pytest.approx(2.0)
    assert "per turn" in _latency_rows(metrics)


# -- advice from the pipeline's contracts -------------------------------------------------------


@pytest.fixture(scope="module")
def pipelines() -> dict[str, Pipeline]:
    """Untrained pipelines: their contracts are all the advice needs."""
    def build(steps: str) -> Pipeline:
        return Pipeline.from_config(parse_config(f"pipeline:\n  - plugin: normalize.soynlp\n"
                                                 f"{steps}"))

    return {"spam": build("  - plugin: classify.spam\n  - plugin: classify.intent\n"),
            "plain": build("  - plugin: classify.intent\n  - plugin: fallback.lm\n")}


def test_spam_advice_follows_the_pipelines_contract(pipelines):
    metrics = _metrics(spam_score=False)  # no turn has a spam score and a gold label
    with_spam = pipeline_facts(pipelines["spam"])
    without = pipeline_facts(pipelines["plain"])
    assert with_spam.spam == ("classify.spam",) and without.spam == ()
    advice = _notes(_section(metrics, "spam", with_spam))
    assert "spam classifier" not in advice and "gold_spam" in advice
    assert "classify.spam" in advice  # what the column would score
    advice = _notes(_section(metrics, "spam", without))
    assert "no spam classifier" in advice and "add one (classify.spam)" in advice
    cards = {card.label: card.note for card in build_cards(metrics, None, with_spam)}
    assert cards["Spam F1"] == "no gold spam labels"
    cards = {card.label: card.note for card in build_cards(metrics, None, without)}
    assert cards["Spam F1"] == "no spam classifier"


def test_language_model_advice_follows_the_pipelines_capabilities(pipelines):
    metrics = _metrics()  # gold replies, but no perplexity
    without = pipeline_facts(pipelines["spam"])
    assert "no language model that can score replies" in _notes(
        _section(metrics, "lm", without))
    with_lm = pipeline_facts(pipelines["plain"])
    assert with_lm.reply_scorers == ("fallback.lm",)
    assert "no language model" not in _notes(_section(metrics, "lm", with_lm))


def test_intent_advice_follows_the_pipelines_contract():
    outcomes = _outcomes()
    for outcome in outcomes:
        outcome.turn.gold_intent = None
    metrics = summarize(Run(outcomes, 1.0, 1), build_table(outcomes), {"path": "x",
                                                                       "version": None}, [])
    assert "gold_intent" in _notes(_section(metrics, "intent", PipelineFacts(intent=("i",))))
    assert "no intent classifier" in _notes(_section(metrics, "intent", PipelineFacts()))


def test_unknown_gold_intents_are_checked_against_the_declared_labels(pipelines):
    pipeline = pipelines["plain"]
    intent = next(p for p in pipeline.plugins if p.name == "classify.intent")
    intent.labels = ["weather"]  # as if trained on one intent
    warnings = _label_warnings(build_table(_outcomes()), pipeline)
    assert len(warnings) == 1 and "gold intents food are not labels" in warnings[0]
    assert "(ood, weather)" in warnings[0]  # label_names gives ood once
    intent.labels = ["food", "weather"]
    assert _label_warnings(build_table(_outcomes()), pipeline) == []
