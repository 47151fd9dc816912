"""chatbot eval's parts without a model: reading logs, the metrics, scoring, the bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from sacrebleu.metrics import BLEU, CHRF
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from chatbot.data.dialog_log import Turn, write_jsonl
from chatbot.data.logstore import LogStore
from chatbot.errors import ChatbotError, DatasetError
from chatbot.evaluation import metrics
from chatbot.evaluation.compare import differing_turns, paired_bootstrap
from chatbot.evaluation.logs import EvalTurn, parse_columns, read_logs
from chatbot.evaluation.records import to_label
from chatbot.evaluation.runner import Outcome
from chatbot.evaluation.scoring import build_table, headline
from chatbot.message import Message, Prediction

# -- metrics against the reference implementations --------------------------------------------


def test_classification_report_agrees_with_scikit_learn():
    random = np.random.default_rng(3)
    labels = ["인사", "날씨", "음식", "ood"]
    gold = [labels[i] for i in random.integers(0, 4, 300)]
    # Mostly right, a label never predicted ("ood"), and one predicted but never gold.
    predicted = [g if random.random() < 0.7 else random.choice(["인사", "날씨", "기타"])
                 for g in gold]
    predicted = [("날씨" if p == "ood" else p) for p in predicted]
    report = metrics.classification_report(gold, predicted)
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(gold, predicted, average=average,
                                                     zero_division=0)
        assert report[f"{average}_precision"] == pytest.approx(p)
        assert report[f"{average}_recall"] == pytest.approx(r)
        assert report[f"{average}_f1"] == pytest.approx(f)
    assert report["accuracy"] == pytest.approx(np.mean(np.array(gold) == np.array(predicted)))
    assert report["per_intent"]["ood"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                           "support": gold.count("ood")}
    top = report["confused_pairs"][0]
    assert top["gold"] == "ood" and top["predicted"] == "날씨"  # every ood turn went there


def test_roc_auc_agrees_with_scikit_learn_with_ties():
    random = np.random.default_rng(0)
    gold = random.random(200) < 0.3
    scores = np.round(np.clip(gold * 0.3 + random.random(200) * 0.7, 0, 1), 1)  # many ties
    assert metrics.roc_auc(gold, scores) == pytest.approx(roc_auc_score(gold, scores))
    assert metrics.roc_auc(np.ones(5, dtype=bool), np.ones(5)) is None


def test_statistics_of_any_subset_give_sacrebleus_corpus_scores():
    replies = ["오늘 날씨 좋네요", "밥 먹었어요 ?", "잘 모르겠어요", "반가워요 !"]
    gold = ["오늘 날씨 정말 좋네요", "밥은 먹었어요 ?", "저도 잘 모르겠네요", "만나서 반가워요"]
    bleu, chrf = metrics.bleu_statistics(replies, gold), metrics.chrf_statistics(replies, gold)
    subset = [0, 2, 3]
    pick = [replies[i] for i in subset], [[gold[i] for i in subset]]
    assert metrics.bleu_score(bleu[subset]) == pytest.approx(
        BLEU(tokenize="none").corpus_score(*pick).score)
    assert metrics.chrf_score(chrf[subset]) == pytest.approx(CHRF().corpus_score(*pick).score)


def test_distinct_and_percentiles():
    assert metrics.distinct(["좋아요 좋아요", "좋아요"], 1) == pytest.approx(1 / 3)
    assert metrics.distinct(["a b c", "a b d"], 2) == pytest.approx(3 / 4)
    assert metrics.percentiles([1.0, 2.0, 3.0, 4.0])["p50"] == 2.5
    assert metrics.percentiles([])["p95"] is None


# -- reading logs -----------------------------------------------------------------------------


def test_chatbotdata_csv_is_recognised_and_its_numbered_labels_named(tmp_path):
    path = tmp_path / "ChatbotData.csv"
    path.write_text("Q,A,label\n12시 땡!,하루가 또 가네요.,0\n이별했어,많이 힘들겠어요.,1\n",
                    encoding="utf-8")
    turns = read_logs([path])
    assert [(t.text, t.gold_reply, t.gold_intent) for t in turns] == [
        ("12시 땡!", "하루가 또 가네요.", "everyday"), ("이별했어", "많이 힘들겠어요.", "breakup")]
    assert turns[1].source == f"{path}:3"
    mapped = read_logs([path], parse_columns("text=A,gold_reply=Q"))
    assert mapped[0].text == "하루가 또 가네요." and mapped[0].gold_intent is None


def test_a_bad_row_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "mine.tsv"
    path.write_text("text\tintent\tspam\n안녕\tgreeting\tham\n광고\tads\tmaybe\n",
                    encoding="utf-8")
    with pytest.raises(DatasetError, match=r"mine\.tsv:3: gold_spam 'maybe'"):
        read_logs([path])
    path.write_text("text\tintent\n안녕\tgreeting\n하나\t둘\t셋\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"mine\.tsv:3: expected 2 fields"):
        read_logs([path])
    (tmp_path / "x.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="cannot tell which column"):
        read_logs([tmp_path / "x.csv"])
    (tmp_path / "log.xlsx").write_bytes(b"PK")
    with pytest.raises(DatasetError, match="extension .xlsx"):
        read_logs([tmp_path / "log.xlsx"])


def test_jsonl_and_sqlite_dialog_logs_keep_what_was_logged(tmp_path):
    turns = [Turn("c1", 0, "2026-11-21T10:00:00+00:00", "안녕하세요", bot_reply="반가워요",
                  gold_intent="greeting", feedback=1, latency_ms=12.5),
             Turn("c1", 1, "2026-11-21T10:00:05+00:00", "고마워", gold_spam="ham")]
    write_jsonl(turns, tmp_path / "log.jsonl")
    with LogStore(tmp_path / "log.sqlite") as store:
        for turn in turns:
            store.append(turn)
    for name in ("log.jsonl", "log.sqlite"):
        read = read_logs([tmp_path / name])
        assert [(t.text, t.gold_intent, t.gold_spam, t.feedback, t.logged_latency_ms)
                for t in read] == [("안녕하세요", "greeting", None, 1, 12.5),
                                   ("고마워", None, "ham", None, None)]
    assert read[0].source.endswith("log.sqlite[c1#0]")


def test_column_mappings_are_checked():
    assert parse_columns("text=Q, gold_intent=label") == {"text": "Q", "gold_intent": "label"}
    with pytest.raises(ChatbotError, match="unknown key 'answer'"):
        parse_columns("text=Q,answer=A")
    with pytest.raises(ChatbotError, match="must map text"):
        parse_columns("gold_reply=A")
    with pytest.raises(ChatbotError, match="not KEY=COLUMN"):
        parse_columns("text")


# -- scoring and the bootstrap, on outcomes made by hand ---------------------------------------


GOLD_REPLY = "네 오늘은 정말 좋은 하루였어요"


def _outcome(index: int, gold: str, predicted: str, reply: str, responder: str) -> Outcome:
    message = Message(f"메시지 {index}", intent=Prediction(predicted, 0.4 + (index % 6) / 10),
                      spam=Prediction("ham", 0.1), reply=reply, responder=responder)
    turn = EvalTurn(f"log:{index}", message.text, gold_intent=gold, gold_reply=GOLD_REPLY,
                    gold_spam="ham")
    return Outcome(turn, message, gold_nll=(2.0, 4))


def _outcomes(right_share: float, seed: int) -> list[Outcome]:
    random = np.random.default_rng(seed)
    rows = []
    for i in range(200):
        gold = ["weather", "food"][i % 2]
        right = random.random() < right_share
        predicted = gold if right else ["food", "weather"][i % 2]
        reply, responder = ((GOLD_REPLY, "respond.retrieval") if right
                            else ("글쎄요", "fallback.lm"))
        rows.append(_outcome(i, gold, predicted, reply, responder))
    return rows


def test_headline_metrics_of_a_table():
    table = build_table(_outcomes(0.5, seed=1))
    top = headline(table)
    right = np.mean([o.message.intent.label == o.turn.gold_intent for o in table.outcomes])
    assert top["intent.accuracy"] == pytest.approx(right)
    assert top["fallback.rate"] == pytest.approx(1 - right)
    assert top["spam.f1"] == 0.0  # no spam among the gold labels, none flagged
    assert top["lm.perplexity"] == pytest.approx(np.exp(0.5))
    replies = [o.message.reply for o in table.outcomes]
    gold = [[GOLD_REPLY] * len(replies)]
    assert top["reply.bleu4"] == pytest.approx(BLEU(tokenize="none").corpus_score(
        metrics.morphemes(replies), [metrics.morphemes(gold[0])]).score)
    assert top["reply.chrf"] == pytest.approx(CHRF().corpus_score(replies, gold).score)


def test_paired_bootstrap_finds_a_real_difference_and_none_between_equals():
    worse, better = build_table(_outcomes(0.5, seed=1)), build_table(_outcomes(0.9, seed=1))
    result = paired_bootstrap(worse, better, resamples=300)
    accuracy = result["intent.accuracy"]
    assert accuracy.low <= accuracy.delta <= accuracy.high
    assert accuracy.low > 0 and accuracy.verdict == "better"
    assert result["fallback.rate"].verdict == "better"  # fewer fallbacks: lower is better
    same = paired_bootstrap(worse, worse, resamples=50)
    assert all(row.delta == 0 and row.verdict == "unclear"
               for row in same.values() if row.delta is not None)
    assert differing_turns(worse, worse) == []
    assert differing_turns(worse, better)[0].difference >= 100  # one got the intent right


def test_the_least_certain_turns_are_exported_for_labelling():
    from chatbot.evaluation.records import turn_records
    from chatbot.evaluation.runner import Run

    outcomes = _outcomes(0.5, seed=2)
    run = Run(outcomes, 1.0, 64)
    rows = to_label(turn_records(run, build_table(outcomes)), below=0.6, limit=1000)
    assert rows and all(row["intent_confidence"] < 0.6 or row["responder"] == "fallback.lm"
                        for row in rows)
    confidences = [row["intent_confidence"] for row in rows]
    assert confidences == sorted(confidences)
    gold = {o.turn.source: o.turn.gold_intent for o in outcomes}
    assert all(row["intent"] == gold[row["source"]] for row in rows)  # known labels kept
