"""Every built-in text plugin on real Korean text, messy input included."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.errors import ChatbotError
from chatbot.message import Message, Token
from chatbot.plugin import PluginConfig, TrainContext
from chatbot_plugins.normalize.soynlp import (
    NormalizeConfig,
    SoynlpNormalizer,
    collapse_repeats,
    split_emoticon_jamo,
)
from chatbot_plugins.spacing.kiwi import KiwiSpacing, KiwiSpacingConfig
from chatbot_plugins.spacing.soyspacing import SoySpacing, SoySpacingConfig
from chatbot_plugins.split.kiwi import KiwiSplitter
from chatbot_plugins.split.kss import KssConfig, KssSplitter
from chatbot_plugins.stopwords.pos import StopwordConfig, StopwordFilter
from chatbot_plugins.tokenize.kiwi import KiwiTokenizer, KiwiTokenizerConfig
from chatbot_plugins.tokenize.konlpy import KonlpyConfig, KonlpyTokenizer
from chatbot_plugins.tokenize.mecab import MecabTokenizer
from chatbot_plugins.tokenize.sentencepiece import SentencePieceConfig, SentencePieceTokenizer
from chatbot_plugins.tokenize.soynlp import SoynlpConfig, SoynlpTokenizer
from chatbot_plugins.tokenize.tagsets import COARSE_TAGS
from tests.conftest import MESSY_TEXTS


def messages(*texts: str) -> list[Message]:
    return [Message(text) for text in texts]


# -- normalize ------------------------------------------------------------------------------


def test_normalizer_repeats_whitespace_control_and_nfc():
    plugin = SoynlpNormalizer(NormalizeConfig())
    decomposed = "\u1112\u1161\u11ab\u1100\u1173\u11af"  # 한글 as separate conjoining jamo
    texts = ("좋네요ㅋㅋㅋㅋㅋ", "  와\t\t진짜\u200b  ", decomposed, "아니욬ㅋㅋ")
    out = plugin.process(messages(*texts))
    # soynlp shortens runs of four or more; three stay.
    assert [m.normalized for m in out] == ["좋네요ㅋㅋ", "와 진짜", "한글", "아니요ㅋㅋㅋ"]


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="ㅋㅎㅠ하가a1 !\t\n.", max_size=40), keep=st.integers(1, 5))
def test_repeats_are_shortened_exactly_as_soynlp_does(text, keep):
    from soynlp.normalizer import repeat_normalize

    assert collapse_repeats(text, keep) == repeat_normalize(text, num_repeats=keep)


def test_emoticon_split_keeps_the_syllable_before_a_jamo_run():
    # soynlp's emoticon_normalize turns these into 좋네ㅋㅋ and ㅋㅋ 대박.
    assert split_emoticon_jamo("좋네요ㅋㅋ") == "좋네요ㅋㅋ"
    assert split_emoticon_jamo("헐ㅋㅋㅋ 대박") == "헐ㅋㅋㅋ 대박"
    assert split_emoticon_jamo("ㅋㅋ쿠ㅜㅜ") == "ㅋㅋㅋㅜㅜㅜ"
    assert split_emoticon_jamo("ㅋㅋ카톡 봤어?") == "ㅋㅋ카톡 봤어?"


def test_normalizer_settings_switch_steps_off():
    plugin = SoynlpNormalizer(NormalizeConfig(max_repeats=0, collapse_whitespace=False))
    assert plugin.normalize("ㅋㅋㅋㅋ  ㅋ") == "ㅋㅋㅋㅋ  ㅋ"


# -- split ---------------------------------------------------------------------------------


@pytest.mark.slow  # kss is imported for it: about 5 s, and each backend loads its own model
@pytest.mark.parametrize("backend", ["fast", "mecab", "pecab"])
def test_kss_backends_split_real_korean(backend):
    plugin = KssSplitter(KssConfig(backend=backend))
    out = plugin.process(messages("오늘 날씨 좋네요. 산책 갈까요?", "", "안녕"))
    assert out[0].sentences == ["오늘 날씨 좋네요.", "산책 갈까요?"]
    assert out[1].sentences == []
    assert out[2].sentences == ["안녕"]


@pytest.mark.slow  # imports kss
def test_kss_mecab_splits_without_punctuation():
    out = KssSplitter(KssConfig(backend="mecab")).process(messages("내일은 비가 온대요 우산 챙겨"))
    assert out[0].sentences == ["내일은 비가 온대요", "우산 챙겨"]


def test_kiwi_splitter_splits_unspaced_unpunctuated_text():
    splitter = KiwiSplitter(PluginConfig())
    out = splitter.process(messages("아버지가방에들어가신다 오늘날씨좋네요", ""))
    assert out[0].sentences == ["아버지가방에들어가신다", "오늘날씨좋네요"]
    assert out[1].sentences == []


# -- spacing -------------------------------------------------------------------------------


def test_kiwi_spacing_inserts_missing_spaces():
    out = KiwiSpacing(KiwiSpacingConfig()).process(messages("아버지가방에들어가신다", ""))
    assert out[0].spaced == "아버지가 방에 들어가신다"
    assert out[1].spaced == ""


def test_kiwi_spacing_works_per_sentence():
    message = Message("x", sentences=["오늘날씨정말좋네요", "내일봐요"])
    KiwiSpacing(KiwiSpacingConfig()).process([message])
    assert message.spaced == "오늘 날씨 정말 좋네요 내일 봐요"


def test_soyspacing_learns_from_the_corpus_and_round_trips(small_corpus, tmp_path):
    plugin = SoySpacing(SoySpacingConfig())
    plugin.fit(small_corpus, TrainContext())
    before = [m.spaced for m in plugin.process(messages(*MESSY_TEXTS))]
    assert before[-2:] == ["", ""]
    # Trained on well-spaced text, it must restore at least one space that was removed.
    spaced = plugin.process(messages("오늘날씨정말좋네요"))[0].spaced
    assert " " in spaced and spaced.replace(" ", "") == "오늘날씨정말좋네요"
    plugin.save(tmp_path)
    again = SoySpacing.load(tmp_path, plugin.config)
    assert [m.spaced for m in again.process(messages(*MESSY_TEXTS))] == before


# -- tokenize ------------------------------------------------------------------------------


def _assert_tokens(tokens: list[Token], text: str) -> None:
    assert all(isinstance(t, Token) and t.surface and t.tag in COARSE_TAGS for t in tokens)
    if not text.strip():
        assert tokens == []


@pytest.fixture(scope="module")
def konlpy_okt():
    return KonlpyTokenizer(KonlpyConfig(tagger="okt"))


@pytest.mark.parametrize(
    "make",
    [
        lambda: KiwiTokenizer(KiwiTokenizerConfig()),
        lambda: KiwiTokenizer(KiwiTokenizerConfig(typos="basic")),
        lambda: MecabTokenizer(PluginConfig()),
        # konlpy's taggers start a JVM and load their dictionaries: seconds each.
        pytest.param(lambda: KonlpyTokenizer(KonlpyConfig(tagger="okt")), marks=pytest.mark.slow),
        pytest.param(lambda: KonlpyTokenizer(KonlpyConfig(tagger="komoran")),
                     marks=pytest.mark.slow),
        pytest.param(lambda: KonlpyTokenizer(KonlpyConfig(tagger="kkma")),
                     marks=pytest.mark.slow),
        pytest.param(lambda: KonlpyTokenizer(KonlpyConfig(tagger="hannanum")),
                     marks=pytest.mark.slow),
    ],
    ids=["kiwi", "kiwi-typos", "mecab", "okt", "komoran", "kkma", "hannanum"],
)
def test_morpheme_tokenizers_on_messy_korean(make):
    plugin = make()
    out = plugin.process(messages(*MESSY_TEXTS))
    assert len(out) == len(MESSY_TEXTS)
    for message in out:
        _assert_tokens(message.tokens, message.text)
    father = plugin.process(messages("아버지가 방에 들어가신다"))[0].tokens
    assert father[0].surface == "아버지" and father[0].tag == "NOUN"
    # Hannanum reads 들어가다 as 들다 + auxiliary 가다.
    assert any(t.tag == "VERB" and t.lemma in ("들어가다", "들다") for t in father)
    # Emoji, Latin and digits survive as tokens of their own.
    surfaces = {t.surface for t in out[2].tokens + out[3].tokens}
    assert "KTX" in surfaces
    assert any("😊" in s for s in surfaces)


def test_kiwi_tags_particles_and_endings():
    tokens = KiwiTokenizer(KiwiTokenizerConfig()).process(messages("아버지가 방에 들어가신다"))[0]
    tags = [(t.surface, t.tag) for t in tokens.tokens]
    assert ("가", "PARTICLE") in tags and ("에", "PARTICLE") in tags
    assert any(tag == "ENDING" for _, tag in tags)


def test_okt_gives_dictionary_forms(konlpy_okt):
    tokens = konlpy_okt.process(messages("좋았어요"))[0].tokens
    assert tokens[0].surface == "좋았어요" and tokens[0].lemma == "좋다"


def test_soynlp_tokenizer_learns_words_and_round_trips(small_corpus, tmp_path):
    plugin = SoynlpTokenizer(SoynlpConfig())
    plugin.fit(small_corpus, TrainContext())
    assert len(plugin.scores) > 100
    out = plugin.process(messages(*MESSY_TEXTS))
    for message in out:
        _assert_tokens(message.tokens, message.text)
    hello = [t.surface for t in out[5].tokens]
    assert hello[0] == "Hello" and "!" in hello
    plugin.save(tmp_path)
    again = SoynlpTokenizer.load(tmp_path, plugin.config)
    assert [m.tokens for m in again.process(messages(*MESSY_TEXTS))] == [m.tokens for m in out]


def test_sentencepiece_trains_in_memory_and_round_trips(small_corpus, tmp_path):
    plugin = SentencePieceTokenizer(SentencePieceConfig(vocab_size=2000))
    plugin.fit(small_corpus, TrainContext())
    out = plugin.process(messages(*MESSY_TEXTS))
    for message in out:
        _assert_tokens(message.tokens, message.text)
    # Pieces spell the text back (spaces aside).
    assert "".join(t.surface for t in out[0].tokens) == "아버지가방에들어가신다"
    plugin.save(tmp_path)
    again = SentencePieceTokenizer.load(tmp_path, plugin.config)
    assert [m.tokens for m in again.process(messages(*MESSY_TEXTS))] == [m.tokens for m in out]


def test_sentencepiece_explains_a_vocabulary_too_small(small_corpus):
    plugin = SentencePieceTokenizer(SentencePieceConfig(vocab_size=100))
    with pytest.raises(ChatbotError, match="raise vocab_size"):
        plugin.fit(small_corpus, TrainContext())


@pytest.mark.slow  # a JVM
def test_konlpy_survives_inputs_that_break_the_java_taggers():
    # Komoran and Kkma throw on emoji and whitespace-only text; Hannanum hangs on the latter.
    for tagger in ("komoran", "kkma", "hannanum"):
        plugin = KonlpyTokenizer(KonlpyConfig(tagger=tagger))
        out = plugin.process(messages("😊", "  \n ", "좋아요😊ㅋㅋ"))
        assert [t.surface for t in out[0].tokens] == ["😊"]
        assert out[1].tokens == []
        assert out[2].tokens[-1].surface.startswith("ㅋ") or out[2].tokens[-2].surface == "😊"


# -- stopwords -----------------------------------------------------------------------------


def test_stopwords_drop_by_tag_and_by_list(tmp_path):
    tokenizer = KiwiTokenizer(KiwiTokenizerConfig())
    plugin = StopwordFilter(StopwordConfig(extra_stopwords=["방"]))
    out = plugin.process(tokenizer.process(messages("아버지가 방에 들어가신다. 그냥 좋네요")))
    kept = [t.lemma for t in out[0].kept_tokens()]
    assert kept[:2] == ["아버지", "들어가다"]
    assert "가" not in kept and "." not in kept and "방" not in kept
    assert "그냥" not in kept  # from the bundled list


def test_stopwords_file_and_tags_are_validated(tmp_path):
    with pytest.raises(ValueError, match="unknown tags"):
        StopwordConfig(drop_tags=["JOSA"])
    with pytest.raises(ChatbotError, match="missing.txt: no such file"):
        StopwordFilter(StopwordConfig(stopwords_file=str(tmp_path / "missing.txt")))
    words = tmp_path / "words.txt"
    words.write_text("\ufeff# comment\n날씨  # inline comment\n\n", encoding="utf-8")
    config = StopwordConfig(stopwords_file=str(words), drop_tags=[])
    plugin = StopwordFilter(config)
    assert plugin.words == {"날씨"}
    # A saved model keeps its copy: it loads after the file is gone.
    plugin.save(tmp_path)
    words.unlink()
    assert StopwordFilter.load(tmp_path, config).words == {"날씨"}
