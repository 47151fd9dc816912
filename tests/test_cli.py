"""The command line, run as users run it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.cli import main
from chatbot.registry import BUILTINS


def run(capsys, *argv: str, stdin: bytes | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_process_prints_a_readable_trace(capsys):
    code, out, _ = run(capsys, "process", "--config", "text",
                       "아버지가방에들어가신다 오늘날씨정말좋네요ㅋㅋㅋㅋ")
    assert code == 0
    for label in ("normalized", "sentences", "spaced", "morphemes", "kept", "time (ms)"):
        assert f"  {label}" in out
    assert "아버지가 방에 들어가신다" in out
    assert "아버지/NNG" in out


def test_process_json_lines_from_stdin(capsys, monkeypatch):
    code, out, _ = run(capsys, "process", "--config", "text", "--json", "-",
                       stdin="안녕하세요\n반가워요\n".encode(), monkeypatch=monkeypatch)
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["text"] for line in lines] == ["안녕하세요", "반가워요"]
    assert all("tokens" in line and "timings_ms" in line for line in lines)


def test_bad_stdin_lines_are_reported_in_place_and_lose_nothing(capsys, monkeypatch):
    stdin = b"\n".join(
        ["첫 줄".encode(), b"\xff\xfe broken", "셋째\x00줄".encode(), "마지막".encode(), b""]
    )
    code, out, _ = run(capsys, "process", "--config", "text", "--json", "--batch-size", "2",
                       "-", stdin=stdin, monkeypatch=monkeypatch)
    assert code == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["text"] == "첫 줄" and lines[3]["text"] == "마지막"
    assert lines[1] == {"line": 2, "error": "not valid UTF-8 text"}
    assert lines[2]["line"] == 3 and "binary" in lines[2]["error"]
    assert len(lines) == 4  # the final newline ends line 4; it starts no fifth line


def test_overlong_argument_is_refused_with_the_limit(capsys):
    code, _, err = run(capsys, "process", "--config", "text", "가" * 5000)
    assert code == 1 and "the limit is 2,000" in err


def test_plugins_lists_every_builtin_with_settings(capsys):
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    for name in BUILTINS:
        assert f"\n{name}" in f"\n{out}"
    assert "- backend = \"fast\": fast: rules only" in out
    code, out, _ = run(capsys, "plugins", "--json")
    described = json.loads(out)
    assert {p["name"] for p in described["plugins"]} >= set(BUILTINS)


def test_validate_good_and_bad(capsys, tmp_path):
    code, out, _ = run(capsys, "validate", "default")
    assert code == 0 and out.startswith("ok: ") and "split.kiwi → spacing.kiwi" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline:\n  - plugin: tokenize.kiwii\n  - plugin: split.kss\n    fast: 1\n")
    code, _, err = run(capsys, "validate", str(bad))
    assert code == 2
    assert f"{bad}:2: pipeline[0].plugin: unknown plugin 'tokenize.kiwii'" in err
    assert f"{bad}:4: pipeline[1].fast: unknown setting for split.kss" in err


def test_set_override_reaches_the_pipeline(capsys):
    code, out, _ = run(capsys, "process", "--config", "text", "--json", "--set",
                       "normalize.soynlp.max_repeats=0", "ㅋㅋㅋㅋㅋㅋ")
    assert code == 0 and json.loads(out)["normalized"] == "ㅋㅋㅋㅋㅋㅋ"


TRAINABLE = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: tokenize.soynlp
  - plugin: stopwords.pos
"""


def test_train_then_process_the_saved_model(capsys, tmp_path):
    config = tmp_path / "soy.yaml"
    config.write_text(TRAINABLE)
    code, _, err = run(capsys, "process", "--config", str(config), "안녕")
    assert code == 2 and "must be trained first: tokenize.soynlp" in err
    code, _, err = run(capsys, "train", str(config), "--out", str(tmp_path / "model"))
    assert code == 0 and "saved" in err
    model = str(tmp_path / "model")
    code, out, _ = run(capsys, "process", "--json", "--model", model, "날씨 좋네요")
    assert code == 0 and json.loads(out)["tokens"][0]["surface"] == "날씨"


def test_missing_model_directory_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "process", "--model", str(tmp_path / "none"), "안녕")
    assert code == 2 and "cannot load the pipeline" in err and "no such directory" in err


def test_console_script_end_to_end():
    # The script pip installed beside this interpreter (PATH may not include the venv).
    script = Path(sys.executable).with_name("chatbot")
    assert script.exists(), f"no console script at {script}: is the project installed?"
    result = subprocess.run(
        [str(script), "process", "--config", "text", "--json", "-"],
        input="안녕하세요\n반가워요\n", capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert result.stderr == ""  # no library warnings leak into the user's terminal


@pytest.mark.slow
def test_process_without_a_model_trains_the_default_bot_once(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CHATBOT_MODELS_DIR", str(tmp_path))
    texts = ["안녕하세요 반가워요", "[Web발신] 무직자 당일 대출 승인 http://loan.example"]
    code, out, _ = run(capsys, "process", "--json", *texts)
    assert code == 0, out
    greeting, spam = (json.loads(line) for line in out.splitlines())
    assert greeting["intent"]["label"] == "greeting" and greeting["spam"]["label"] == "ham"
    assert spam["spam"]["label"] == "spam" and spam["responder"] == "classify.spam"
    # Only the model is left: no checkpoints, hidden or not (a lock file is all else).
    (model,) = (path for path in tmp_path.iterdir() if path.is_dir())
    assert model.name.startswith("default-")
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == [f".{model.name}.lock"]
    saved = (model / "manifest.json").stat().st_mtime_ns
    code, out, _ = run(capsys, "process", "--model", "default", "--json", "고마워요")
    assert code == 0 and json.loads(out)["intent"]["label"] == "thanks"
    assert (model / "manifest.json").stat().st_mtime_ns == saved  # found, not trained again


def test_a_missing_model_directory_points_to_the_default_bot(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CHATBOT_MODELS_DIR", str(tmp_path))
    code, _, err = run(capsys, "process", "--model", str(tmp_path / "nowhere"), "안녕")
    assert code == 2
    assert "no such directory" in err and "--model default" in err
