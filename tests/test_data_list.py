"""`chatbot data list`: every dataset with its tasks, licence and rows, the bundled one too."""

from __future__ import annotations

import json

from chatbot.cli import main
from chatbot.data.catalog import BUNDLED_INFO, CATALOG


def test_the_list_gives_every_dataset_its_tasks(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))
    assert main(["data", "list", "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(listed) == ["demo", *CATALOG]
    assert all(row["tasks"] for row in listed.values()), listed
    demo = listed["demo"]
    assert demo["present"] and demo["licence"] == "Apache-2.0"
    assert "intent classification" in demo["tasks"] and "spam filter" in demo["tasks"]
    assert demo["rows"] == BUNDLED_INFO.rows

    assert main(["data", "list"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if " demo " in line)
    assert line.startswith(" ✓ demo") and line.endswith(", ".join(BUNDLED_INFO.tasks))


def test_the_listed_rows_of_the_bundled_corpus_are_what_stats_counts(capsys):
    assert main(["data", "stats", "demo"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"demo: {BUNDLED_INFO.rows}"
