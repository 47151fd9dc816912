"""chatbot eval end to end: a real trained pipeline over a real dialog log, the report read back."""

from __future__ import annotations

import csv
import json
import re

import pytest

from chatbot.cli import main
from chatbot.config import parse_config
from chatbot.data.datasets import load_dataset
from chatbot.data.dialog_log import Turn, utc_now, write_jsonl
from chatbot.data.logstore import LogStore
from chatbot.evaluation.schema import read_metrics
from chatbot.pipeline import Pipeline
from tests.conftest import CHAIN

# The small bot of the other tests, with a spam classifier, so that every metric has a source.
SPAM_STEP = """\
  - plugin: classify.spam
    epochs: 3
    embed_dim: 32
    hidden: 32
    ngram_buckets: 5000
  - plugin: classify.intent
"""
HEADLINE_KEYS = ("intent.accuracy", "intent.macro_f1", "spam.f1", "reply.bleu4", "reply.chrf",
                 "reply.distinct2", "lm.perplexity", "fallback.rate", "latency_ms.p50",
                 "latency_ms.p95")


@pytest.fixture(scope="module")
def eval_bot_dir(demo_corpus, tmp_path_factory):
    pipeline = Pipeline.from_config(parse_config(
        CHAIN.replace("  - plugin: classify.intent\n", SPAM_STEP)))
    pipeline.fit(demo_corpus)
    return pipeline.save(tmp_path_factory.mktemp("models") / "eval-bot")


@pytest.fixture(scope="module")
def dialog_log(tmp_path_factory):
    """A served log: demo questions with reviewers' labels, spam, a like and a dislike, an
    HTML-looking message, and one turn no pipeline can take (too long)."""
    corpus = load_dataset("demo")
    dialog = [e for e in corpus.examples if e.answer][::160]
    spam = [e for e in corpus.examples if e.spam == "spam"][::60]
    turns = [Turn(f"c{i // 5}", i % 5, utc_now(), e.text, bot_reply="(그때의 답)",
                  gold_intent=e.intent, gold_reply=e.answer, gold_spam="ham",
                  latency_ms=20.0 + i, feedback=(1 if i == 0 else -1 if i == 1 else None))
             for i, e in enumerate(dialog)]
    turns += [Turn("spam", i, utc_now(), e.text, gold_spam="spam") for i, e in enumerate(spam)]
    turns += [Turn("odd", 0, utc_now(), "<b>굵게</b> & <script>alert(1)</script>"),
              Turn("odd", 1, utc_now(), "가" * 5000)]
    path = tmp_path_factory.mktemp("logs") / "dialog.jsonl"
    write_jsonl(turns, path)
    return path


@pytest.fixture(scope="module")
def report(eval_bot_dir, dialog_log, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["eval", str(dialog_log), "--model", str(eval_bot_dir), "--out", str(out),
                 "--quiet"]) == 0
    return out


def _lookup(metrics: dict, dotted: str):
    value = metrics
    for key in dotted.split("."):
        value = value[key]
    return value


def test_metrics_json_has_every_documented_key_and_agrees_with_the_turns(report, dialog_log):
    metrics = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    logged = sum(1 for _ in open(dialog_log, encoding="utf-8"))
    assert metrics["turns"] == logged - 1 and metrics["failed"]["count"] == 1
    assert "the limit is" in metrics["failed"]["examples"][0]["error"]
    for key in HEADLINE_KEYS:
        assert _lookup(metrics, key) is not None, key
    assert 0 <= metrics["intent"]["accuracy"] <= 1 and 0 <= metrics["spam"]["roc_auc"] <= 1
    assert metrics["lm"]["perplexity"] > 1 and metrics["latency_ms"]["logged"]["p50"] >= 20
    assert "sample of" in metrics["latency_ms"]["measured"]  # batched: turns timed alone
    assert read_metrics(report / "metrics.json").intent.accuracy == metrics["intent"]["accuracy"]
    assert metrics["feedback"] == {"likes": 1, "dislikes": 1}
    assert sum(metrics["responders"].values()) == pytest.approx(1)
    turns = [json.loads(line) for line in open(report / "turns.jsonl", encoding="utf-8")]
    assert len(turns) == logged and turns[-1]["error"] and turns[0]["trace"]["tokens"]
    judged = [t["scores"]["intent_correct"] for t in turns
              if t["scores"] and t["scores"]["intent_correct"] is not None]
    assert metrics["intent"]["accuracy"] == pytest.approx(sum(judged) / len(judged), abs=1e-6)
    spam_turns = [t for t in turns if t["gold"]["spam"] == "spam"]
    assert all(t["predicted"]["spam_score"] is not None for t in spam_turns)


def test_the_html_report_is_self_contained_and_escapes_user_text(report):
    page = (report / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in page and "<b>굵게" not in page
    assert not re.search(r"(src|href)=[\"']https?:", page)  # nothing fetched from elsewhere
    assert page.count("data:image/png;base64,") >= 4
    for figure in ("confusion", "per_intent_f1", "responders", "latency", "lengths"):
        assert (report / "figures" / f"{figure}.png").stat().st_size > 1000
    markdown = (report / "report.md").read_text(encoding="utf-8")
    assert "figures/confusion.png" in markdown and "| " in markdown
    worst = [json.loads(line) for line in open(report / "worst_turns.jsonl", encoding="utf-8")]
    assert {"worst_replies", "slowest", "failed", "disliked"} <= {w["category"] for w in worst}


def test_the_turns_to_label_go_back_into_training_data(report, tmp_path, monkeypatch):
    with open(report / "to_label.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {"text", "intent", "answer", "spam", "predicted_intent"} <= set(rows[0])
    for row in rows:  # a reviewer fills in the intent
        row["intent"] = row["intent"] or row["predicted_intent"] or "ood"
    labelled = tmp_path / "labelled.csv"
    with open(labelled, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))
    assert main(["data", "add", "my-labels", str(labelled)]) == 0
    corpus = load_dataset("my-labels")
    assert [e.text for e in corpus.examples] == [row["text"] for row in rows]
    assert all(e.intent for e in corpus.examples)


def test_comparing_two_pipelines_gives_intervals_and_the_turns_that_differ(
        eval_bot_dir, small_bot_dir, dialog_log, tmp_path, capsys):
    assert main(["eval", str(dialog_log), "--model", str(small_bot_dir), "--compare",
                 str(eval_bot_dir), "--out", str(tmp_path), "--quiet",
                 "--bootstrap", "200"]) == 0
    comparison = json.loads((tmp_path / "comparison.json").read_text(encoding="utf-8"))
    assert comparison["a"]["version"].startswith("small-bot@")
    for key, row in comparison["metrics"].items():
        if row["delta"] is not None:
            assert row["low"] <= row["delta"] + 1e-9 and row["delta"] <= row["high"] + 1e-9, key
    assert comparison["metrics"]["spam.f1"]["delta"] is None  # A has no spam classifier
    assert comparison["differing_turns"]
    assert read_metrics(tmp_path / "compare" / "metrics.json").model.version.startswith(
        "eval-bot@")
    assert "B - A" in capsys.readouterr().out
    assert "Comparison" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_a_pipeline_compared_with_itself_differs_in_nothing(eval_bot_dir, dialog_log, tmp_path):
    assert main(["eval", str(dialog_log), "--model", str(eval_bot_dir), "--compare",
                 str(eval_bot_dir), "--out", str(tmp_path), "--quiet", "--bootstrap", "50"]) == 0
    comparison = json.loads((tmp_path / "comparison.json").read_text(encoding="utf-8"))
    assert all(row["delta"] == 0 and row["low"] == 0 == row["high"]
               for row in comparison["metrics"].values())
    assert comparison["differing_turns"] == []


def test_a_sqlite_log_and_a_bad_csv(eval_bot_dir, report, tmp_path, capsys):
    with LogStore(tmp_path / "served.sqlite") as store:
        store.append(Turn("web-1", 0, utc_now(), "안녕하세요", bot_reply="반가워요"))
    assert main(["eval", str(tmp_path / "served.sqlite"), "--model", str(eval_bot_dir),
                 "--out", str(tmp_path / "r"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["turns"] == 1 and metrics["intent"]["accuracy"] is None
    markdown = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "add a gold_spam column" in markdown  # the pipeline has a spam step: the logs
    assert "spam classifier" not in markdown     # lack labels, not the pipeline a classifier
    labelled = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    for part in ("intent", "spam", "reply", "lm", "latency_ms"):  # one shape, with or without
        assert set(metrics[part]) == set(labelled[part]), part   # the labels to score
    bad = tmp_path / "bad.csv"
    bad.write_text("Q,A,label\n안녕,반가워,0\n\"끝나지 않은,따옴표,1\n", encoding="utf-8")
    assert main(["eval", str(bad), "--model", str(eval_bot_dir), "--out", str(tmp_path / "b"),
                 "--quiet"]) == 2
    assert f"{bad}:3" in capsys.readouterr().err
