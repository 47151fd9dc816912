"""The probe sets (benchmarks/probes/): well formed, none of them in the training corpus, and
the tune set apart from the report set."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBES = ROOT / "benchmarks" / "probes" / "probes.jsonl"
TUNE = ROOT / "benchmarks" / "probes" / "tune.jsonl"
TUNE_LABELS = ROOT / "benchmarks" / "probes" / "tune-labels.csv"
KINDS = {"new_wording", "uncovered", "out_of_scope", "conversation"}


def _probes(path: Path = PROBES) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _key(text: str) -> str:
    """A question as a matcher sees it: no spaces, laughter, crying or punctuation."""
    return re.sub(r"[\sㅋㅎㅠㅜ~!?.,]+", "", text)


@pytest.mark.parametrize("path", [PROBES, TUNE], ids=["report", "tune"])
def test_the_probes_are_well_formed(path):
    probes = _probes(path)
    assert len(probes) >= (300 if path == PROBES else 100)
    assert len({p["id"] for p in probes}) == len(probes)
    assert {p["kind"] for p in probes} == KINDS
    for probe in probes:
        conversation = probe["kind"] == "conversation"
        assert probe["follow_up"] is conversation
        assert (2 <= len(probe["turns"]) <= 3) if conversation else len(probe["turns"]) == 1
        assert all(turn.strip() for turn in probe["turns"])
    counts = Counter(p["kind"] for p in probes)
    if path == PROBES:
        assert counts["conversation"] >= 100 and counts["out_of_scope"] >= 40


def test_the_tune_set_shares_no_message_with_the_report_set():
    """Short follow-ups (왜?, 진짜?) may recur; no opening message does."""
    report = {_key(turn) for probe in _probes() for turn in probe["turns"]}
    assert [p["turns"][0] for p in _probes(TUNE) if _key(p["turns"][0]) in report] == []


def test_every_tune_label_names_a_turn_of_the_tune_set():
    turns = {f"{p['id']}.{index}" for p in _probes(TUNE) for index in range(len(p["turns"]))}
    with open(TUNE_LABELS, encoding="utf-8", newline="") as rows:
        labels = list(csv.DictReader(rows))
    assert len(labels) >= 1000
    assert {row["turn"] for row in labels} <= turns
    assert {row["fits"] for row in labels} == {"yes", "no"}


@pytest.mark.parametrize("path", [PROBES, TUNE], ids=["report", "tune"])
def test_no_probe_opens_with_a_question_of_the_training_corpus(path):
    """Nor with the opener of one of its multi-turn dialogs, nor an out-of-domain message."""
    from chatbot.data.datasets import load_dataset

    corpus = {_key(e.text) for e in load_dataset("demo").examples
              if (e.answer or e.intent) and not e.history}
    openings = [p["turns"][0] for p in _probes(path)]
    assert [text for text in openings if _key(text) in corpus] == []
