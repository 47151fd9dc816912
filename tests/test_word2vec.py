"""embed.word2vec on the bundled demo corpus: training, word and sentence vectors, save/load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from chatbot.data.corpus import Corpus
from chatbot.errors import ChatbotError, NotFittedError
from chatbot.message import Message
from chatbot.pipeline import Pipeline
from chatbot.plugin import TrainContext
from chatbot_plugins.embed.word2vec import Word2VecConfig, Word2VecEmbedder
from tests.conftest import build

DIM = 32
TOKENS = """\
pipeline:
  - plugin: tokenize.mecab
  - plugin: stopwords.pos
"""
# Subsampling at 1e-3 rather than the default 1e-4: the demo corpus has only ~70k kept words,
# and 1e-4 would drop most occurrences of every word seen more than a handful of times.
EMBED = TOKENS + f"""\
  - plugin: embed.word2vec
    dim: {DIM}
    epochs: 4
    subsample: 0.001
training:
  device: cpu
"""

# Same intent, (mostly) different words; crossing the lists gives unrelated pairs.
PARAPHRASES = [
    ("내일 날씨 알려줘", "내일 비 온대?"),
    ("너무 덥다", "더워서 아무것도 하기 싫다"),
    ("감사합니다", "고마워요"),
    ("감기 걸린 것 같아", "기침이 안 멈춰"),
    ("영화 추천해줘", "볼만한 영화 있어?"),
    ("배고파", "뭐 먹을까"),
    ("미안해", "죄송합니다"),
]
# (word, a word used in the same contexts, a word from another topic): pairs that hold with
# every seed tried, for a corpus this small gives noisy vectors.
WORD_TRIPLES = [
    ("고마워", "고마워요", "기침"),
    ("커피", "원두", "고양이"),
    ("안녕", "반가워요", "커피"),
    ("영화", "드라마", "커피"),
    ("강아지", "고양이", "시험"),
    ("여행", "비행기", "시험"),
    ("미안", "죄송", "날씨"),
    ("춥", "덥", "영화"),
]


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    # The matrices are tiny: one thread is as fast, and spares the OpenMP threads from
    # spinning against each other when the two cores are busy with other work.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer() -> Pipeline:
    """The steps before embed.word2vec (they learn nothing), to tokenize test messages."""
    return build(TOKENS)


def tokenized(tokenizer: Pipeline, *texts: str) -> list[Message]:
    return tokenizer.process([Message(text) for text in texts])


@pytest.fixture(scope="module")
def trained(demo_corpus: Corpus, one_thread: None) -> Pipeline:
    pipeline = build(EMBED)
    pipeline.fit(demo_corpus)
    return pipeline


@pytest.fixture(scope="module")
def embedder(trained: Pipeline) -> Word2VecEmbedder:
    plugin = trained.plugins[-1]
    assert isinstance(plugin, Word2VecEmbedder)
    return plugin


@pytest.fixture(scope="module")
def saved(embedder: Word2VecEmbedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("word2vec")
    embedder.save(path)
    return path


def with_mode(embedder: Word2VecEmbedder, saved: Path, mode: str) -> Word2VecEmbedder:
    """The trained embedder loaded again with another ``sentence_vector`` setting."""
    config = embedder.config.model_copy(update={"sentence_vector": mode})
    return Word2VecEmbedder.load(saved, config)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a, b, dim=0))


# -- training ------------------------------------------------------------------------------


def test_dev_metric_improves_over_epochs(embedder):
    history = embedder.history
    scores = [row["dev_pair_accuracy"] for row in history.epochs]
    assert history.monitor == "dev_pair_accuracy" and len(scores) == 4
    assert scores[0] > 0.55  # 0.5 is chance: a true neighbour against a noise word
    assert scores[-1] > scores[0] + 0.03
    assert history.best_epoch > 1
    assert {"train_loss", "dev_loss"} <= set(history.epochs[0])


def test_cbow_on_all_tokens_trains_too(small_corpus, one_thread, tokenizer):
    config = Word2VecConfig(dim=16, epochs=3, architecture="cbow", use="all", subsample=1e-3)
    plugin = Word2VecEmbedder(config)
    plugin.fit(small_corpus, TrainContext(upstream=lambda texts: tokenized(tokenizer, *texts)))
    scores = [row["dev_pair_accuracy"] for row in plugin.history.epochs]
    # CBOW can start below chance (it first learns word frequency), then climbs.
    assert scores[-1] > scores[0] + 0.05 and scores[-1] > 0.55
    assert "이" in plugin.vocab.index  # a particle: kept only because use is "all"
    message = tokenized(tokenizer, "오늘 날씨 어때?")
    assert plugin.sentence_vectors(message).shape == (1, 16)


def test_untrained_plugin_says_so():
    with pytest.raises(NotFittedError):
        Word2VecEmbedder(Word2VecConfig()).process([Message("안녕")])


# -- word vectors --------------------------------------------------------------------------


def test_related_words_are_closer_than_unrelated(embedder):
    for word, related, unrelated in WORD_TRIPLES:
        vectors = embedder.vectors_for([word, related, unrelated])
        assert vectors.abs().sum(dim=1).gt(0).all(), f"{word}/{related}/{unrelated} unknown"
        assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]), word


def test_nearest_neighbours(embedder):
    neighbours = embedder.nearest("커피", k=10)
    words = [word for word, _ in neighbours]
    similarities = [similarity for _, similarity in neighbours]
    assert len(neighbours) == 10 and "커피" not in words
    assert similarities == sorted(similarities, reverse=True) and similarities[0] <= 1.0
    assert "원두" in words
    assert {"공포", "결말", "OST", "SF"} & {word for word, _ in embedder.nearest("영화", k=10)}
    with pytest.raises(ChatbotError, match="no vector"):
        embedder.nearest("없는단어xyz")


def test_vectors_for_gives_zero_rows_for_unknown_tokens(embedder):
    vectors = embedder.vectors_for(["날씨", "없는단어xyz", "<pad>", "영화"])
    assert vectors.shape == (4, DIM) and vectors.dtype == torch.float32
    assert vectors[0].any() and vectors[3].any()
    assert not vectors[1].any() and not vectors[2].any()
    vectors[0] = 0.0  # a copy: the plugin's own table is untouched
    assert embedder.vectors_for(["날씨"]).any()


# -- sentence vectors ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["mean", "sif"])
def test_paraphrases_are_closer_than_unrelated_messages(embedder, saved, tokenizer, mode):
    plugin = with_mode(embedder, saved, mode)
    firsts = plugin.sentence_vectors(tokenized(tokenizer, *(a for a, _ in PARAPHRASES)))
    seconds = plugin.sentence_vectors(tokenized(tokenizer, *(b for _, b in PARAPHRASES)))
    similarity = F.normalize(firsts, dim=1) @ F.normalize(seconds, dim=1).T  # (n, n)
    n = len(PARAPHRASES)
    paraphrase = similarity.diag().mean()
    unrelated = (similarity.sum() - similarity.diag().sum()) / (n * n - n)
    assert paraphrase > unrelated + 0.1, (mode, similarity)


@pytest.mark.parametrize("mode", ["mean", "sif"])
def test_empty_and_unknown_only_messages_get_zero_vectors(embedder, saved, tokenizer, mode):
    plugin = with_mode(embedder, saved, mode)
    messages = tokenized(tokenizer, "", "쀍쀍쀍 qzxv")
    messages.append(Message("토큰 없음"))  # no tokenizer ran: tokens is None
    out = plugin.process(messages)
    assert [m.vector for m in out] == [[0.0] * DIM] * 3
    assert plugin.sentence_vectors([]).shape == (0, DIM)


def test_process_fills_vector(trained):
    message = trained.process_texts(["오늘 날씨 어때?"])[0]
    assert isinstance(message.vector, list) and len(message.vector) == DIM
    assert all(isinstance(value, float) for value in message.vector) and any(message.vector)


def test_batch_equals_one_by_one(trained):
    texts = [text for pair in PARAPHRASES for text in pair] + ["쀍쀍쀍"]
    batched = [m.vector for m in trained.process_texts(texts)]
    single = [trained.process_texts([text])[0].vector for text in texts]
    assert batched == single


# -- persistence ---------------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_vectors(trained, embedder, tmp_path):
    trained.save(tmp_path / "model")
    state = tmp_path / "model" / "steps" / "02-embed.word2vec"
    assert {"vectors.safetensors", "word2vec.json", "history.json"} <= {
        p.name for p in state.iterdir()
    }
    loaded = Pipeline.load(tmp_path / "model")
    texts = [a for a, _ in PARAPHRASES] + ["안녕하세요 반가워요"]
    assert [m.vector for m in loaded.process_texts(texts)] == [
        m.vector for m in trained.process_texts(texts)
    ]
    again = loaded.plugins[-1]
    assert torch.equal(again.vectors, embedder.vectors)
    assert torch.equal(again.sif_component, embedder.sif_component)
    assert again.nearest("영화", 5) == embedder.nearest("영화", 5)
    assert again.history.to_dict()["epochs"] == embedder.history.to_dict()["epochs"]
