"""The training engine and the classifiers built on it: devices, resume, Ctrl-C, DDP, quality."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from chatbot.config import parse_config
from chatbot.data.corpus import Corpus
from chatbot.errors import ChatbotError
from chatbot.message import Message
from chatbot.pipeline import Pipeline
from chatbot.training.device import resolve_device, resolve_precision
from chatbot.training.loop import TrainingInterrupted

SMALL = "epochs: {epochs}\n    embed_dim: 32\n    hidden: 32\n    ngram_buckets: 5000\n"
INTENT_CONFIG = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: tokenize.mecab
  - plugin: classify.intent
    {small}
  - plugin: classify.spam
    {small}
training:
  datasets: [demo]
  device: cpu
  seed: 7
"""


def config_text(epochs: int = 4, schedule: str = "") -> str:
    return INTENT_CONFIG.format(small=SMALL.format(epochs=epochs) + schedule)


@pytest.fixture(scope="module")
def trained(demo_corpus) -> Pipeline:
    pipeline = Pipeline.from_config(parse_config(config_text(epochs=6)))
    pipeline.fit(demo_corpus)
    return pipeline


# -- devices -------------------------------------------------------------------------------


def test_device_choice_and_clear_errors():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ChatbotError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ChatbotError, match="no CUDA GPU") as caught:
            resolve_device("cuda:0")
        assert "--device cpu" in str(caught.value)
        with pytest.raises(ChatbotError, match="needs a CUDA GPU"):
            resolve_precision("bf16", torch.device("cpu"))
    assert resolve_precision("auto", torch.device("cpu")) == torch.float32


# -- the classifiers -----------------------------------------------------------------------


def test_classifiers_learn_the_bundled_intents_and_spam(trained):
    intent, spam = trained.plugins[2], trained.plugins[3]
    assert intent.history.epochs[-1]["dev_macro_f1"] > 0.4  # 47 labels: chance is 0.02
    assert spam.history.epochs[-1]["dev_macro_f1"] > 0.8
    assert len(intent.labels) == 47 and "ood" in intent.labels
    messages = trained.process_texts([
        "파이썬 코드 짜줘",
        "[Web발신] 무직자 당일 대출 승인 http://loan.example",
        "배고파 뭐 먹지",
    ])
    assert messages[0].intent.label == "ood" and messages[2].intent.label == "food"
    assert messages[1].spam.label == "spam"
    assert messages[1].reply == spam.config.refusal and messages[1].responder == "classify.spam"
    assert messages[2].spam.label == "ham" and messages[2].reply is None
    assert all(0 <= m.intent.confidence <= 1 for m in messages)


def test_low_confidence_becomes_out_of_domain(trained):
    intent = trained.plugins[2]
    message = Message("x")
    intent.assign(message, {"greeting": 0.4, "thanks": 0.35, "ood": 0.25})
    assert message.intent.label == "ood" and "below ood_threshold" in message.notes[intent.name]


def test_temperature_is_calibrated_and_saved_with_history(trained, tmp_path):
    intent = trained.plugins[2]
    assert intent.temperature != 1.0
    trained.save(tmp_path / "model")
    state = tmp_path / "model" / "steps" / "02-classify.intent"
    assert {"model.safetensors", "classifier.json", "history.json",
            "training_curve.png"} <= {p.name for p in state.iterdir()}
    loaded = Pipeline.load(tmp_path / "model")
    texts = ["오늘 날씨 어때", "고마워요!!", "파이썬 데코레이터 알려줘"]
    before = [m.to_dict() for m in trained.process_texts(texts)]
    after = [m.to_dict() for m in loaded.process_texts(texts)]
    for one in before + after:
        one.pop("timings_ms")
    assert after == before


def test_one_label_only_is_a_clear_error():
    pipeline = Pipeline.from_config(parse_config(config_text(epochs=1)))
    from chatbot.data.corpus import Example

    corpus = Corpus(examples=[Example("안녕", intent="greeting")] * 10)
    with pytest.raises(ChatbotError, match="at least two labels"):
        pipeline.fit(corpus)


@pytest.mark.slow
def test_an_ensemble_starts_from_word2vec_and_round_trips(demo_corpus, tmp_path):
    text = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: tokenize.mecab
  - plugin: embed.word2vec
    dim: 32
    epochs: 1
    use: all
  - plugin: classify.intent
    epochs: 2
    embed_dim: 32
    hidden: 32
    ngram_buckets: 5000
    members: 2
training:
  datasets: [demo]
  seed: 3
"""
    pipeline = Pipeline.from_config(parse_config(text))
    embedder, intent = pipeline.plugins[2], pipeline.plugins[3]
    pipeline.fit(demo_corpus)
    assert len(intent.model.members) == 2 and len(intent.histories) == 2
    # Member 1 started from the word vectors: rows of frequent words keep their direction.
    first = intent.model.members[0].embed.weight.detach()
    word = "날씨"
    row = intent.vocab.index[word]
    start = embedder.vectors_for([word])[0]
    assert torch.cosine_similarity(first[row], start, dim=0) > 0.5
    # Two members with different seeds are different models.
    second = intent.model.members[1].embed.weight.detach()
    assert not torch.equal(first, second)
    pipeline.save(tmp_path / "model")
    state = tmp_path / "model" / "steps" / "03-classify.intent"
    assert (state / "member-2" / "history.json").is_file()
    loaded = Pipeline.load(tmp_path / "model")
    texts = ["오늘 날씨 어때", "고마워요"]
    before = [m.intent for m in pipeline.process_texts(texts)]
    assert [m.intent for m in loaded.process_texts(texts)] == before
    assert len(loaded.plugins[3].histories) == 2


@pytest.mark.slow
def test_word_vectors_of_another_size_are_a_clear_error(demo_corpus):
    text = config_text(epochs=1).replace(
        "  - plugin: classify.intent", "  - plugin: embed.word2vec\n    dim: 16\n    epochs: 1\n"
        "  - plugin: classify.intent", 1)
    pipeline = Pipeline.from_config(parse_config(text))
    with pytest.raises(ChatbotError, match="embed_dim 32 differs") as caught:
        pipeline.fit(demo_corpus)
    assert "embed_dim=16" in caught.value.hint


# -- checkpoints ---------------------------------------------------------------------------


def _history(pipeline: Pipeline) -> list[dict]:
    return pipeline.plugins[2].history.epochs


# A warm-up and a cosine decay: a resumed run that lost its place in the schedule would train
# its last epoch at another learning rate and end elsewhere.
SCHEDULED = "    schedule: cosine\n    warmup_steps: 20\n"


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_same_result(demo_corpus, tmp_path, monkeypatch):
    straight = Pipeline.from_config(parse_config(config_text(3, SCHEDULED)))
    straight.fit(demo_corpus)

    # Interrupt during epoch 3 of the intent classifier, as Ctrl-C would.
    from chatbot.training import loop

    real_train_epoch = loop._train_epoch
    calls = {"n": 0}

    def interrupt_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_train_epoch(*args, **kwargs)

    monkeypatch.setattr(loop, "_train_epoch", interrupt_third)
    interrupted = Pipeline.from_config(parse_config(config_text(3, SCHEDULED)))
    with pytest.raises(TrainingInterrupted, match="epochs up to 2 are saved") as caught:
        interrupted.fit(demo_corpus, workdir=tmp_path)
    assert "--resume" in str(caught.value)
    monkeypatch.setattr(loop, "_train_epoch", real_train_epoch)

    resumed = Pipeline.from_config(parse_config(config_text(3, SCHEDULED)))
    resumed.fit(demo_corpus, workdir=tmp_path, resume=True)
    assert _history(resumed) == _history(straight)
    texts = ["안녕", "대출 승인 문자", "심심해"]
    assert [m.intent for m in resumed.process_texts(texts)] == [
        m.intent for m in straight.process_texts(texts)
    ]


# -- several processes ---------------------------------------------------------------------


@pytest.mark.slow
def test_torchrun_with_two_cpu_processes_matches_one(tmp_path):
    """DistributedDataParallel on CPU (gloo): same quality as one process, rank 0 saves."""
    config = tmp_path / "intent.yaml"
    config.write_text(config_text(epochs=6))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    single = [sys.executable, "-m", "chatbot.cli", "train", str(config), "--quiet"]
    subprocess.run([*single, "--out", str(tmp_path / "one")], check=True, env=env,
                   capture_output=True, timeout=600)
    # The documented recipe (deploy/train-distributed.sh), on CPU: torchrun, 2 processes, gloo.
    script = Path(__file__).resolve().parent.parent / "deploy" / "train-distributed.sh"
    env.update(NPROC="2", DEVICE="cpu",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]]))
    result = subprocess.run(
        ["bash", str(script), str(config), str(tmp_path / "two"), "--quiet"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    def best_f1(model: str) -> float:
        path = tmp_path / model / "steps" / "02-classify.intent" / "history.json"
        history = json.loads(path.read_text())
        return max(row["dev_macro_f1"] for row in history["epochs"])

    assert best_f1("one") > 0.4
    assert abs(best_f1("two") - best_f1("one")) < 0.08
    assert not (tmp_path / "two.checkpoints").exists()
