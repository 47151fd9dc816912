"""The pipeline: batches, the trace, save/load round trips and every way a load can fail."""

from __future__ import annotations

import json

import pytest

from chatbot.errors import InputError, MissingJavaError, ModelLoadError, NotFittedError
from chatbot.message import Message
from chatbot.pipeline import Pipeline
from chatbot.text_input import prepare_text
from tests.conftest import MESSY_TEXTS, build

TRAINABLE = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: split.kiwi
  - plugin: spacing.soyspacing
  - plugin: tokenize.soynlp
  - plugin: stopwords.pos
    extra_stopwords: [진짜]
"""

SUBWORDS = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: tokenize.sentencepiece
    vocab_size: 2000
"""


@pytest.fixture(scope="module")
def trained(small_corpus) -> Pipeline:
    pipeline = build(TRAINABLE)
    pipeline.fit(small_corpus)
    return pipeline


def test_default_pipeline_fills_every_stage(default_pipeline):
    text = "아버지가방에들어가신다 오늘날씨정말좋네요ㅋㅋㅋㅋ"
    message = default_pipeline.process_texts([text])[0]
    assert message.normalized.endswith("좋네요ㅋㅋ")
    assert message.sentences
    assert message.spaced.startswith("아버지가 방에 들어가신다")
    assert [t.lemma for t in message.kept_tokens()][:3] == ["아버지", "방", "들어가다"]
    assert set(message.timings_ms) == set(default_pipeline.names)


def test_batch_equals_one_by_one(default_pipeline):
    texts = [t for t in MESSY_TEXTS if t.strip()]
    batched = [m.to_dict() for m in default_pipeline.process_texts(texts)]
    single = [default_pipeline.process_texts([t])[0].to_dict() for t in texts]
    for one in batched + single:
        one.pop("timings_ms")
    assert batched == single


def test_json_trace_has_the_stable_keys(default_pipeline):
    out = default_pipeline.process_texts(["안녕하세요"])[0].to_dict()
    assert list(out) == ["text", "normalized", "sentences", "spaced", "tokens", "timings_ms"]
    assert set(out["tokens"][0]) >= {"surface", "lemma", "tag", "kept"}
    assert "intent" not in out and "reply" not in out  # stages not in the pipeline
    json.dumps(out)


def test_empty_batch_and_empty_text_are_fine_inside(default_pipeline):
    assert default_pipeline.process([]) == []
    message = default_pipeline.process([Message("")])[0]
    assert message.sentences == [] and message.tokens == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "empty"), ("   \n", "empty"), ("가" * 2001, "2,001 characters"),
     ("abc\x00def", "binary"), ("\x01\x02\x03\x04\x05안녕", "binary"), ("\ufffd" * 5, "binary")],
)
def test_bad_input_is_rejected_clearly(text, reason):
    with pytest.raises(InputError, match=reason):
        prepare_text(text)


def test_untrained_plugin_says_to_train(small_corpus):
    pipeline = build(TRAINABLE)
    with pytest.raises(NotFittedError, match="chatbot train"):
        pipeline.process_texts(["안녕"])


def test_trained_pipeline_round_trips(trained, tmp_path):
    before = [m.to_dict() for m in trained.process_texts([t for t in MESSY_TEXTS if t.strip()])]
    trained.save(tmp_path / "model")
    loaded = Pipeline.load(tmp_path / "model")
    after = [m.to_dict() for m in loaded.process_texts([t for t in MESSY_TEXTS if t.strip()])]
    for one in before + after:
        one.pop("timings_ms")
    assert after == before
    tokens = loaded.process_texts(["진짜 좋아요"])[0].tokens
    assert [t.kept for t in tokens if t.surface == "진짜"] == [False]  # the saved extra word
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["format"] == 1 and "kiwipiepy" in manifest["packages"]
    assert [s["plugin"] for s in manifest["steps"]] == trained.names


def test_subword_pipeline_round_trips(small_corpus, tmp_path):
    pipeline = build(SUBWORDS)
    pipeline.fit(small_corpus)
    pipeline.save(tmp_path / "model")
    loaded = Pipeline.load(tmp_path / "model")
    text = ["오늘 날씨 정말 좋네요"]
    assert loaded.process_texts(text)[0].tokens == pipeline.process_texts(text)[0].tokens


def test_saving_replaces_an_old_model_whole(trained, tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    trained.save(target)
    assert not (target / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging folder left


def _saved(trained, tmp_path):
    return trained.save(tmp_path / "model")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: (d / "manifest.json").unlink(), "manifest.json is missing"),
        (lambda d: (d / "manifest.json").write_text("{not json"), "manifest.json is corrupt"),
        (lambda d: (d / "config.yaml").unlink(), "config.yaml is missing"),
        (lambda d: _edit_manifest(d, format=99), "format 99"),
        (lambda d: _edit_manifest(d, version=7), "saved by version 7"),
        (lambda d: _edit_manifest(d, steps=[]), "list other steps"),
        (lambda d: (d / "steps/03-tokenize.soynlp/word_scores.json").write_text("[1, 2"),
         "state of tokenize.soynlp .* is corrupt"),
        (lambda d: (d / "steps/02-spacing.soyspacing/soyspacing.json").unlink(),
         "state of spacing.soyspacing .* is corrupt"),
        (lambda d: _rename_plugin(d), "not valid here"),
    ],
    ids=["no-manifest", "bad-json", "no-config", "format", "plugin-version", "steps",
         "corrupt-state", "missing-state", "unknown-plugin"],
)
def test_damaged_model_fails_to_load_clearly(trained, tmp_path, damage, reason):
    directory = _saved(trained, tmp_path)
    damage(directory)
    with pytest.raises(ModelLoadError, match=reason) as caught:
        Pipeline.load(directory)
    assert "chatbot train" in str(caught.value)


def test_missing_directory_fails_clearly(tmp_path):
    with pytest.raises(ModelLoadError, match="no such directory"):
        Pipeline.load(tmp_path / "nothing")


def _edit_manifest(directory, format=None, version=None, steps=None):
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    if format is not None:
        manifest["format"] = format
    if version is not None:
        manifest["steps"][0]["version"] = version
    if steps is not None:
        manifest["steps"] = steps
    path.write_text(json.dumps(manifest))


def _rename_plugin(directory):
    path = directory / "config.yaml"
    path.write_text(path.read_text().replace("tokenize.soynlp", "tokenize.gone"))


def test_konlpy_without_java_says_how_to_install_a_jdk(monkeypatch):
    import jpype

    from chatbot_plugins.tokenize.konlpy import KonlpyTokenizer

    def no_jvm():
        raise jpype.JVMNotFoundException("No JVM shared library file (libjvm.so) found.")

    monkeypatch.setattr(jpype, "getDefaultJVMPath", no_jvm)
    (problem,) = KonlpyTokenizer.check_environment()
    assert isinstance(problem, MissingJavaError)
    assert "install a JDK" in str(problem) and "default-jdk" in str(problem)
