"""The probe set (benchmarks/probes/): well formed, and none of it in the training corpus."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBES = ROOT / "benchmarks" / "probes" / "probes.jsonl"
KINDS = {"new_wording", "uncovered", "out_of_scope", "conversation"}


def _probes() -> list[dict]:
    return [json.loads(line) for line in PROBES.read_text(encoding="utf-8").splitlines()]


def _key(text: str) -> str:
    """A question as a matcher sees it: no spaces, laughter, crying or punctuation."""
    return re.sub(r"[\sㅋㅎㅠㅜ~!?.,]+", "", text)


def test_the_probes_are_well_formed():
    probes = _probes()
    assert len(probes) >= 300
    assert len({p["id"] for p in probes}) == len(probes)
    assert {p["kind"] for p in probes} == KINDS
    for probe in probes:
        conversation = probe["kind"] == "conversation"
        assert probe["follow_up"] is conversation
        assert (2 <= len(probe["turns"]) <= 3) if conversation else len(probe["turns"]) == 1
        assert all(turn.strip() for turn in probe["turns"])
    counts = Counter(p["kind"] for p in probes)
    assert counts["conversation"] >= 100 and counts["out_of_scope"] >= 40


def test_no_probe_opens_with_a_question_of_the_training_corpus():
    """Nor with the opener of one of its multi-turn dialogs, nor an out-of-domain message."""
    from chatbot.data.datasets import load_dataset

    corpus = {_key(e.text) for e in load_dataset("demo").examples
              if (e.answer or e.intent) and not e.history}
    openings = [p["turns"][0] for p in _probes()]
    assert [text for text in openings if _key(text) in corpus] == []
