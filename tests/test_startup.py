"""Commands cost what they use: the text pipeline and validation never import torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot_plugins.kiwi_shared import get_kiwi

ROOT = Path(__file__).resolve().parent.parent
# Runs the CLI in a fresh interpreter and reports which heavy libraries it imported.
CHECK = """
import json, sys
from chatbot.cli import main
status = main(sys.argv[1:])
heavy = ("torch", "soynlp", "sklearn", "gradio", "matplotlib")
print(json.dumps({"status": status, "imported": [m for m in heavy if m in sys.modules]}))
"""


@pytest.mark.parametrize("argv", [
    ["validate", "configs/text.yaml"],
    ["validate", "configs/default.yaml"],  # names torch plugins; validating imports them only
    ["process", "--config", "text", "--json", "아버지가방에들어가신다ㅋㅋㅋㅋ"],
])
def test_text_commands_import_no_torch(argv):
    result = subprocess.run([sys.executable, "-c", CHECK, *argv], capture_output=True,
                            text=True, cwd=ROOT, timeout=300)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == 0, result.stderr
    if argv[1] == "configs/default.yaml":
        assert "torch" in report["imported"]  # the check can see torch when it is there
    else:
        assert report["imported"] == []


def test_the_kiwi_plugins_share_one_analyser():
    assert get_kiwi() is get_kiwi(None) is get_kiwi(None, -1)
