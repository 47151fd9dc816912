"""Hostile input at the surfaces that take text, configs, overrides and conversation ids.

Each test reproduces a defect found by trying the toolkit as a hostile user would; see also
test_hardening_data.py (dataset files, logs) and test_hardening_model.py (saved models).
"""

from __future__ import annotations

import io
import json
import sys
import time

import pytest

from chatbot.cli import main
from chatbot.config import load_config, parse_config
from chatbot.data.logstore import LogStore
from chatbot.errors import ConfigError, InputError, ModelLoadError
from chatbot.pipeline import Pipeline
from chatbot.serving import service as service_module
from chatbot.serving.service import ChatService

BOMB = "\n".join(
    [f"a0: &a0 [{', '.join(['lol'] * 9)}]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["pipeline: *a8"]
) + "\n"
GOOD = "pipeline:\n  - plugin: normalize.soynlp\ntraining:\n  datasets: [demo]\n"


@pytest.fixture
def text_service(default_pipeline, tmp_path):
    chat = ChatService(default_pipeline, LogStore(tmp_path / "log.sqlite"), "text")
    yield chat
    chat.close()


# -- message text --------------------------------------------------------------------------


def test_lone_surrogates_become_replacement_characters_not_a_failed_batch(default_pipeline):
    first, second = default_pipeline.process_texts(["안녕\ud800하세요", "반가워요\udfff"])
    assert first.text == "안녕\ufffd하세요" and second.text == "반가워요\ufffd"
    assert [t.surface for t in first.tokens if t.surface == "안녕"] == ["안녕"]


def test_a_surrogate_message_is_answered_and_logged(text_service, tmp_path):
    reply = text_service.respond("오늘 \udc80 날씨")
    assert not reply.refused and reply.turn_index == 0
    turns = text_service.store.turns(reply.conversation_id)
    assert turns[0].user_text == "오늘 \ufffd 날씨"


def test_process_texts_names_the_text_it_refuses(default_pipeline):
    with pytest.raises(InputError, match="text 2 of 3: the message is empty"):
        default_pipeline.process_texts(["안녕", "  ", "반가워"])


# -- configs -------------------------------------------------------------------------------


def test_a_yaml_alias_bomb_is_refused_at_once():
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than"):
        parse_config(BOMB, "bomb.yaml")
    assert time.perf_counter() - started < 5


def test_a_yaml_alias_bomb_in_a_model_folder_is_refused(default_pipeline, tmp_path):
    model = default_pipeline.save(tmp_path / "model")
    (model / "config.yaml").write_text(BOMB, encoding="utf-8")
    with pytest.raises(ModelLoadError, match="expands to more than"):
        Pipeline.load(model)


def test_an_oversized_config_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(GOOD + "# " + "x" * 3_000_000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="over the limit"):
        load_config(path)


@pytest.mark.parametrize("text", ["[" * 100_000, "{a: " * 50_000, "- " * 100_000 + "x"])
def test_deep_nesting_is_refused_not_a_recursion_error(text):
    with pytest.raises(ConfigError, match="nested more than"):
        parse_config(text, "deep.yaml")


@pytest.mark.parametrize("raw", ["pipeline:\n  - plugin: 정규화\n".encode("cp949"),
                                 b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"])
def test_a_config_that_is_not_utf8_names_the_file_and_line(tmp_path, capsys, raw):
    path = tmp_path / "config.yaml"
    path.write_bytes(raw)
    assert main(["validate", str(path)]) == 2
    error = capsys.readouterr().err
    assert f"{path}:" in error and "not UTF-8" in error and "Traceback" not in error


def test_a_duplicate_key_is_refused_naming_both_lines():
    text = "pipeline:\n  - plugin: normalize.soynlp\n    max_repeats: 2\n    max_repeats: 3\n"
    with pytest.raises(ConfigError, match=r"x.yaml:4: key 'max_repeats' is given twice "
                                          r"\(lines 3 and 4\)"):
        parse_config(text, "x.yaml")


@pytest.mark.parametrize(("override", "says"), [
    ("language.x=1", "language is a str ('ko'), so it has no setting 'x'"),
    ("training.datasets.0.x=1", "training.datasets.0 is a str ('demo')"),
    ("training.datasets.3=x", "is a list of 1 item(s), numbered from 0, so it has no item 3"),
    ("training.datasets.x=1", "no item 'x'"),
    ("normalize.soynlp.max_repeats=" + "[" * 10_000, "nested more than"),
    ("normalize.soynlp.max_repeats=" + "*a " * 10, "max_repeats"),
    ("=1", "expected KEY=VALUE"),
    ("nope.nope=1", "no such setting"),
])
def test_every_bad_override_gets_a_message_naming_its_key(override, says):
    text = GOOD.replace("[demo]", "[demo]\nlanguage: ko")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "x.yaml", overrides=[override])
    assert says in str(caught.value)


def test_a_good_list_override_sets_the_item():
    spec = parse_config(GOOD, overrides=["training.datasets.0=chatbotdata"])
    assert spec.training.datasets == ["chatbotdata"]


# -- chatbot process - ---------------------------------------------------------------------


def test_process_stdin_gives_one_line_per_input_line_with_its_number(monkeypatch, capsys):
    lines = ["안녕하세요", "", "   ", "\r", "\x0b", "\x0c", "반가워요 \x0b 정말", "\xff"]
    raw = b"\n".join(line.encode("utf-8") if line != "\xff" else b"\xff" for line in lines)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw + b"\n")))
    assert main(["process", "--config", "text", "--json", "-"]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["line"] for row in out] == list(range(1, len(lines) + 1))
    assert out[0]["text"] == "안녕하세요" and out[6]["text"] == "반가워요 \x0b 정말"
    assert [row.get("error") for row in out[1:6]] == ["the message is empty"] * 5
    assert out[7]["error"] == "not valid UTF-8 text"


def test_process_arguments_carry_their_position(capsys):
    assert main(["process", "--config", "text", "--json", "안녕", ""]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["argument"] for row in out] == [1, 2] and "error" in out[1]


@pytest.mark.parametrize("argv", [["process", "--batch-size", "0", "x"],
                                  ["process", "--batch-size", "10**12", "x"],
                                  ["serve", "--port", "70000"],
                                  ["eval", "x.jsonl", "--model", "m", "--out", "o",
                                   "--label-below", "nan"]])
def test_numbers_on_the_command_line_are_bounded(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    error = capsys.readouterr().err
    assert caught.value.code == 2 and ("between" in error or "is not a" in error)


# -- conversation ids ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["x" * 1_000_000, "x" * 129, "a b", "../x", "대화", "\x00"])
def test_unbounded_or_odd_conversation_ids_are_refused_and_not_stored(text_service, bad):
    with pytest.raises(InputError, match="conversation_id"):
        text_service.respond("안녕", bad)
    assert text_service.store.count() == 0 and not text_service._conversations


def test_idle_conversations_are_forgotten_and_indices_still_continue(text_service, monkeypatch):
    monkeypatch.setattr(service_module, "MAX_ACTIVE_CONVERSATIONS", 3)
    for number in range(10):
        text_service.respond("안녕", f"user-{number}")
    assert len(text_service._conversations) == 3
    again = text_service.respond("또 왔어요", "user-0")  # forgotten, then found in the store
    assert again.turn_index == 1
