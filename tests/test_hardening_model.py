"""Loading a saved model that was damaged or tampered with: every problem is a ModelLoadError
that names it, found before anything is sized by it, and a saved model reads no file outside
its own folder."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from chatbot.config import parse_config
from chatbot.data.corpus import Corpus
from chatbot.errors import ChatbotError, DatasetError, ModelLoadError
from chatbot.pipeline import Pipeline
from chatbot_corpora import DEMO_DIR
from chatbot_plugins.classify.features import Encoded
from chatbot_plugins.classify.intent import IntentClassifier, IntentConfig
from chatbot_plugins.respond.template import TemplateConfig, TemplateResponder
from chatbot_plugins.stopwords.pos import StopwordConfig, StopwordFilter
from tests.conftest import build

# Untrainable steps only: saved in a moment, enough for the manifest and the state folders.
PLAIN = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: tokenize.mecab
  - plugin: stopwords.pos
    extra_stopwords: [진짜]
"""

# Every trainable plugin, as small as it gets: trains in about fifteen seconds.
TINY = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: spacing.soyspacing
  - plugin: spacing.bigru
    epochs: 1
    embed_dim: 8
    conv_channels: 8
    conv_widths: [3]
    hidden: 8
    bigram_buckets: 100
    max_vocab: 300
  - plugin: tokenize.sentencepiece
    vocab_size: 1500
  - plugin: tokenize.soynlp
  - plugin: embed.word2vec
    dim: 8
    epochs: 1
  - plugin: classify.intent
    epochs: 1
    embed_dim: 8
    hidden: 8
    ngram_buckets: 1000
    ngram_dim: 8
    max_vocab: 300
  - plugin: classify.spam
    epochs: 1
    embed_dim: 8
    hidden: 8
    ngram_buckets: 1000
    ngram_dim: 8
    max_vocab: 300
  - plugin: respond.template
    table: {table}
  - plugin: respond.retrieval
    method: hybrid
  - plugin: respond.seq2seq
    epochs: 1
    embed_dim: 8
    hidden: 8
    vocab_size: 800
    beam: 1
    max_reply: 5
  - plugin: fallback.lm
    epochs: 1
    embed_dim: 8
    hidden: 8
    layers: 1
    vocab_size: 800
    max_reply: 5
training:
  seed: 3
"""
# What the words of a file that must never be quoted look like.
SECRET = "root:x:0:0:root:/root:/bin/bash\n"


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory) -> Path:
    return build(PLAIN).save(tmp_path_factory.mktemp("plain") / "model")


@pytest.fixture(scope="module")
def tiny_dir(demo_corpus, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    table = shutil.copy(DEMO_DIR / "responses.tsv", folder / "my-responses.tsv")
    corpus = Corpus(examples=demo_corpus.examples[::8], sentences=demo_corpus.sentences[:300],
                    name="tiny")
    pipeline = Pipeline.from_config(parse_config(TINY.format(table=table)))
    pipeline.fit(corpus)
    return pipeline.save(folder / "model")


def _copy(model: Path, tmp_path: Path) -> Path:
    return shutil.copytree(model, tmp_path / "model", symlinks=True)


def _step(model: Path, plugin: str) -> Path:
    (folder,) = [p for p in (model / "steps").iterdir() if p.name.endswith(f"-{plugin}")]
    return folder


def _edit_json(path: Path, edit: Callable[[Any], Any]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _edit_config(model: Path, plugin: str, **settings: Any) -> None:
    path = model / "config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    (step,) = [s for s in config["pipeline"] if s["plugin"] == plugin]
    step.update(settings)
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")


def _set(key: str, value: Any) -> Callable[[dict], None]:
    return lambda data: data.__setitem__(key, value)


# -- 1. manifest.json and config.yaml ------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        (["a", 1, None], "step 1 is 'a', not an object"),
        ([{"plugin": 1, "version": 1, "state": "steps/00-normalize.soynlp"}],
         "the plugin of step 1 is 1, not a string"),
        ([{"plugin": "normalize.soynlp", "version": "1", "state": "steps/00-normalize.soynlp"}],
         "the version of step 1 is '1', not a whole number"),
        ([{"plugin": "normalize.soynlp", "version": True, "state": "steps/00-normalize.soynlp"}],
         "the version of step 1 is True, not a whole number"),
        ([{"plugin": "normalize.soynlp", "version": 1, "state": None}],
         "the state of step 1 is None, not a string"),
        ([{"plugin": "normalize.soynlp", "version": 1}],
         "the state of step 1 is None, not a string"),
    ],
    ids=["not-objects", "plugin-number", "version-string", "version-bool", "state-null",
         "state-missing"],
)
def test_a_manifest_with_malformed_steps_is_a_clear_error(plain_dir, tmp_path, steps, problem):
    model = _copy(plain_dir, tmp_path)

    def damage(manifest: dict) -> None:
        manifest["steps"] = steps if len(steps) > 1 else steps + manifest["steps"][1:]

    _edit_json(model / "manifest.json", damage)
    with pytest.raises(ModelLoadError, match=re.escape(f"manifest.json is corrupt ({problem}")):
        Pipeline.load(model)


def test_an_oversized_manifest_is_refused_before_it_is_read(plain_dir, tmp_path):
    model = _copy(plain_dir, tmp_path)
    with open(model / "manifest.json", "a", encoding="utf-8") as manifest:
        manifest.write(" " * (2 << 20))  # still valid JSON
    with pytest.raises(ModelLoadError, match="manifest.json is over 1,048,576 bytes"):
        Pipeline.load(model)


def test_the_format_must_be_the_number_1_not_true(plain_dir, tmp_path):
    model = _copy(plain_dir, tmp_path)
    _edit_json(model / "manifest.json", _set("format", True))
    with pytest.raises(ModelLoadError, match="saved in format True"):
        Pipeline.load(model)


def test_an_integer_too_long_for_python_is_a_load_error(plain_dir, tmp_path):
    model = _copy(plain_dir, tmp_path)
    manifest = model / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"format": 1', '"format": 1' + "0" * 5000))
    with pytest.raises(ModelLoadError, match="manifest.json is corrupt"):
        Pipeline.load(model)


@pytest.mark.parametrize(
    "content",
    [lambda text: text.replace("진짜", "진짜 우울해").encode("cp949"),
     lambda text: bytes(range(256)) * 4],
    ids=["cp949", "binary"],
)
def test_a_config_yaml_that_is_not_utf8_is_a_load_error(plain_dir, tmp_path, content):
    model = _copy(plain_dir, tmp_path)
    config = model / "config.yaml"
    config.write_bytes(content(config.read_text(encoding="utf-8")))
    with pytest.raises(ModelLoadError, match=r"config.yaml:\d+: not UTF-8 text"):
        Pipeline.load(model)


# -- 2. each step's state is its own folder --------------------------------------------------


@pytest.mark.parametrize(
    "state",
    ["steps/00-normalize.soynlp",  # another step's folder
     "steps/02-stopwords.pos/../00-normalize.soynlp",
     "{outside}",  # an absolute path
     "../outside"],
    ids=["other-step", "dot-dot", "absolute", "parent"],
)
def test_a_state_anywhere_but_its_own_step_folder_is_refused(plain_dir, tmp_path, state):
    model = _copy(plain_dir, tmp_path)
    outside = shutil.copytree(model / "steps/02-stopwords.pos", tmp_path / "outside")
    _edit_json(model / "manifest.json", lambda manifest: manifest["steps"][2].update(
        state=state.format(outside=outside)))
    with pytest.raises(ModelLoadError, match="a saved pipeline keeps it in "
                       "steps/02-stopwords.pos"):
        Pipeline.load(model)


def test_a_state_folder_linked_out_of_the_model_is_refused(plain_dir, tmp_path):
    model = _copy(plain_dir, tmp_path)
    state = model / "steps/02-stopwords.pos"
    outside = shutil.copytree(state, tmp_path / "outside")
    shutil.rmtree(state)
    state.symlink_to(outside, target_is_directory=True)
    with pytest.raises(ModelLoadError, match="is a link to a folder elsewhere"):
        Pipeline.load(model)


def test_a_state_file_linked_out_of_the_model_is_refused(plain_dir, tmp_path):
    model = _copy(plain_dir, tmp_path)
    outside = tmp_path / "words.txt"
    outside.write_text("비밀\n", encoding="utf-8")
    (model / "steps/02-stopwords.pos/stopwords.txt").unlink()
    (model / "steps/02-stopwords.pos/stopwords.txt").symlink_to(outside)
    with pytest.raises(ModelLoadError, match="stopwords.txt is a link to a file outside"):
        Pipeline.load(model)


@pytest.mark.slow
def test_the_intent_classifier_cannot_load_the_spam_classifier_state(tiny_dir, tmp_path):
    model = _copy(tiny_dir, tmp_path)
    spam = _step(model, "classify.spam").relative_to(model).as_posix()
    _edit_json(model / "manifest.json", lambda manifest: [
        step.update(state=spam) for step in manifest["steps"]
        if step["plugin"] == "classify.intent"])
    with pytest.raises(ModelLoadError, match=r"gives step 7 \(classify.intent\) the state"):
        Pipeline.load(model)


# -- 3. every size is checked against the saved tensors, before it sizes anything ------------

SIZES = [
    ("config", "classify.intent", {"hidden": 4096},
     "hidden in config.yaml is 4,096, but model.safetensors holds 8"),
    ("config", "classify.intent", {"ngram_buckets": 5_000_000},
     "ngram_buckets in config.yaml is 5,000,000, but model.safetensors holds 1,000"),
    ("config", "classify.intent", {"ngram_dim": 4096},
     "ngram_dim in config.yaml is 4,096, but model.safetensors holds 8"),
    ("config", "classify.intent", {"members": 3},
     "members in config.yaml is 3, but model.safetensors holds 1"),
    ("classifier.json", "classify.intent", lambda meta: meta["vocab"].extend(["<x1>", "<x2>"]),
     "the vocabulary in classifier.json is"),
    ("classifier.json", "classify.spam", lambda meta: meta["labels"].append("eggs"),
     "the labels in classifier.json is 3, but model.safetensors holds 2"),
    ("config", "respond.seq2seq", {"hidden": 4096},
     "hidden in config.yaml is 4,096, but seq2seq.safetensors holds 8"),
    ("config", "respond.seq2seq", {"layers": 3},
     "layers in config.yaml is 3, but seq2seq.safetensors holds 1"),
    ("config", "fallback.lm", {"hidden": 4096},
     "hidden in config.yaml is 4,096, but lm.safetensors holds 8"),
    ("config", "fallback.lm", {"embed_dim": 4096},
     "embed_dim in config.yaml is 4,096, but lm.safetensors holds 8"),
    ("config", "embed.word2vec", {"dim": 4096},
     "dim in config.yaml is 4,096, but vectors.safetensors holds 8"),
    ("word2vec.json", "embed.word2vec", lambda meta: meta["counts"].__setitem__(3, -5),
     "a count in word2vec.json is -5"),
    ("spacing.json", "spacing.bigru", lambda meta: meta["sizes"].update(hidden=10**8),
     "hidden in spacing.json is 100,000,000, but model.safetensors holds 8"),
    ("spacing.json", "spacing.bigru", lambda meta: meta["sizes"].update(bigram_buckets=10**12),
     "bigram_buckets in spacing.json is 1,000,000,000,000, but model.safetensors holds 100"),
    ("spacing.json", "spacing.bigru", lambda meta: meta["sizes"].update(widths=[3, 5]),
     "the widths in spacing.json is 2, but model.safetensors holds 1"),
    ("ngrams.json", "respond.retrieval", _set("documents", 10**12),
     "documents in ngrams.json is 1,000,000,000,000, but the saved texts holds"),
    ("retrieval.json", "respond.retrieval", lambda data: data["answers"].__setitem__(0, []),
     "answers in retrieval.json is not a list of non-empty lists of strings"),
    ("retrieval.json", "respond.retrieval", lambda data: data["intents"].pop(),
     "the intents in retrieval.json is"),
    ("soyspacing.json", "spacing.soyspacing",
     lambda model: model["parameters"].update(max_window=10**9),
     "max_window in soyspacing.json is 1,000,000,000; it must be from 3 to 20"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("plugin", "setting"), [
    ("classify.intent", "hidden"), ("classify.intent", "ngram_buckets"),
    ("respond.seq2seq", "hidden"), ("fallback.lm", "embed_dim"), ("embed.word2vec", "dim")])
def test_a_config_size_past_its_bound_is_refused_before_any_tensor_is_read(
        tiny_dir, tmp_path, plugin, setting):
    model = _copy(tiny_dir, tmp_path)
    _edit_config(model, plugin, **{setting: 10**12})
    with pytest.raises(ModelLoadError, match=rf"{setting}: Input should be less than or equal"):
        Pipeline.load(model)


@pytest.mark.slow
@pytest.mark.parametrize(("where", "plugin", "edit", "problem"), SIZES,
                         ids=[f"{p}-{w}-{i}" for i, (w, p, _, _) in enumerate(SIZES)])
def test_a_size_that_the_saved_tensors_do_not_hold_is_a_load_error(tiny_dir, tmp_path, where,
                                                                    plugin, edit, problem):
    model = _copy(tiny_dir, tmp_path)
    if where == "config":
        _edit_config(model, plugin, **edit)
    else:
        _edit_json(_step(model, plugin) / where, edit)
    with pytest.raises(ModelLoadError, match=re.escape(problem)) as caught:
        Pipeline.load(model)
    assert plugin in str(caught.value)


# -- 4. every number is finite and in range; no NaN reaches a message ------------------------


@pytest.mark.slow
@pytest.mark.parametrize("temperature", [0, math.nan, math.inf, -1.0, 1e9, "1"])
def test_a_temperature_out_of_range_is_a_load_error(tiny_dir, tmp_path, temperature):
    model = _copy(tiny_dir, tmp_path)
    _edit_json(_step(model, "classify.intent") / "classifier.json",
               _set("temperature", temperature))
    with pytest.raises(ModelLoadError, match=r"temperature in classifier.json is .*; it must "
                       r"be a finite number from 0.05 to 20"):
        Pipeline.load(model)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("file", "plugin", "edit", "problem"),
    [("lm.json", "fallback.lm", _set("dev_perplexity", math.nan), "dev_perplexity in lm.json"),
     ("word_scores.json", "tokenize.soynlp",
      lambda scores: scores.__setitem__(next(iter(scores)), math.inf),
      "the score of a word in word_scores.json is inf"),
     ("word2vec.json", "embed.word2vec",
      lambda meta: meta["sif_component"].__setitem__(0, math.nan),
      "a value of sif_component in word2vec.json is nan")],
    ids=["perplexity", "word-score", "sif-component"],
)
def test_a_number_that_is_not_finite_is_a_load_error(tiny_dir, tmp_path, file, plugin, edit,
                                                     problem):
    model = _copy(tiny_dir, tmp_path)
    _edit_json(_step(model, plugin) / file, edit)
    with pytest.raises(ModelLoadError, match=re.escape(problem)):
        Pipeline.load(model)


@pytest.mark.slow
def test_a_step_integer_too_long_for_python_is_a_load_error(tiny_dir, tmp_path):
    model = _copy(tiny_dir, tmp_path)
    meta = _step(model, "classify.intent") / "classifier.json"
    data = json.loads(meta.read_text(encoding="utf-8"))
    meta.write_text(json.dumps({**data, "temperature": "TOO-LONG"}).replace(
        '"TOO-LONG"', "1" * 5000), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="classifier.json is not valid JSON"):
        Pipeline.load(model)


def _edit_weights(folder: Path, name: str, edit: Callable) -> None:
    tensors = load_file(str(folder / name))
    save_file({key: edit(value) for key, value in tensors.items()}, str(folder / name))


@pytest.mark.slow
def test_weights_holding_nan_are_a_load_error(tiny_dir, tmp_path):
    model = _copy(tiny_dir, tmp_path)
    _edit_weights(_step(model, "classify.intent"), "model.safetensors",
                  lambda tensor: tensor * math.nan)
    with pytest.raises(ModelLoadError, match="holds NaN or infinite values"):
        Pipeline.load(model)


@pytest.mark.slow
def test_weights_that_overflow_are_an_error_not_a_nan_confidence(tiny_dir, tmp_path):
    model = _copy(tiny_dir, tmp_path)
    _edit_weights(_step(model, "classify.intent"), "model.safetensors",
                  lambda tensor: tensor.sign() * 1e37 if tensor.is_floating_point() else tensor)
    loaded = Pipeline.load(model)  # finite: nothing to see before it runs
    with pytest.raises(ChatbotError, match="classify.intent computed a confidence of nan"):
        loaded.process_texts(["안녕하세요"])


def test_a_calibration_that_diverges_still_saves_a_finite_temperature(monkeypatch):
    # LBFGS can step to a NaN temperature on a near-flat model (one epoch, tiny sizes): the
    # model then saved a NaN that made every confidence NaN.
    plugin = IntentClassifier(IntentConfig())
    plugin.labels = ["a", "b"]
    monkeypatch.setattr(plugin, "_logits", lambda *_: torch.tensor([[2.0, 0.0], [0.0, 2.0]]))

    def diverge(optimizer: torch.optim.LBFGS, closure: Callable) -> None:
        closure()
        with torch.no_grad():
            optimizer.param_groups[0]["params"][0].fill_(math.nan)

    monkeypatch.setattr(torch.optim.LBFGS, "step", diverge)
    temperature = plugin._calibrate([Encoded([2], [5], 0), Encoded([3], [7], 1)])
    assert 0.05 <= temperature <= 20


# -- 5. a saved model reads only its own folder; errors quote no file ------------------------


@pytest.mark.slow
def test_a_saved_model_answers_from_its_own_copy_of_the_table(tiny_dir, tmp_path):
    model = _copy(tiny_dir, tmp_path)
    secret = tmp_path / "secret.tsv"
    secret.write_text("intent\tresponse\ngreeting\tSECRET\n", encoding="utf-8")
    _edit_config(model, "respond.template", table=str(secret))
    template = Pipeline.load(model).plugins[8]
    assert isinstance(template, TemplateResponder)
    assert "SECRET" not in str(template.table)
    assert template.table["greeting"][0] == "안녕하세요! 오늘은 어떤 이야기를 나눠 볼까요?"


@pytest.mark.slow
def test_a_saved_model_never_reads_the_file_its_config_names(tiny_dir, tmp_path):
    model = _copy(tiny_dir, tmp_path)
    passwd = tmp_path / "passwd"
    passwd.write_text(SECRET, encoding="utf-8")
    _edit_config(model, "respond.template", table=str(passwd))
    Pipeline.load(model).process_texts(["안녕하세요"])  # the copy: no error, nothing quoted


@pytest.mark.slow
def test_a_template_model_without_its_table_copy_is_a_load_error(tiny_dir, tmp_path):
    model = _copy(tiny_dir, tmp_path)
    (_step(model, "respond.template") / "responses.json").unlink()
    with pytest.raises(ModelLoadError, match="responses.json, the copy of the response table"):
        Pipeline.load(model)


@pytest.mark.parametrize(
    ("name", "content"),
    [("passwd", SECRET), ("table.tsv", "intent\tresponse\n" + SECRET.replace(":", "\t"))],
    ids=["no-header", "bad-row"],
)
def test_a_bad_response_table_is_an_error_that_quotes_none_of_it(tmp_path, name, content):
    table = tmp_path / name
    table.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"{name}:\d+: ") as caught:
        TemplateResponder(TemplateConfig(table=str(table)))
    assert "root" not in str(caught.value).replace(str(tmp_path), "")


def test_a_stopword_list_that_is_not_utf8_is_a_clear_error(tmp_path):
    words = tmp_path / "stopwords.txt"
    words.write_bytes("진짜\n정말\n".encode("cp949"))
    with pytest.raises(ChatbotError, match=r"stopwords.txt:1: not UTF-8 text"):
        StopwordFilter(StopwordConfig(stopwords_file=str(words)))


def test_a_saved_stopword_list_that_is_not_utf8_is_a_load_error(plain_dir, tmp_path):
    model = _copy(plain_dir, tmp_path)
    (model / "steps/02-stopwords.pos/stopwords.txt").write_bytes("진짜\n".encode("cp949"))
    with pytest.raises(ModelLoadError, match="stopwords.txt is not UTF-8 text"):
        Pipeline.load(model)
