"""mask.profanity: the plugin contract, what it masks, and its use from a config."""

import pytest
from chatbot_mask_profanity import ProfanityMask

from chatbot.config import parse_config
from chatbot.message import Message
from chatbot.pipeline import Pipeline
from chatbot.registry import default_registry
from chatbot.testing import check_plugin


def test_it_keeps_the_plugin_contract():
    check_plugin(ProfanityMask)
    check_plugin(ProfanityMask, {"words": ["멍청이"], "mask": "#", "max_gap": 0})


@pytest.mark.parametrize("text, masked", [
    ("이 바보야", "이 **야"),
    ("바 보 같은 소리", "* * 같은 소리"),
    ("시1발 진짜", "*** 진짜"),
    ("ㅅㅂ 왜 안 돼", "** 왜 안 돼"),
    ("개새끼", "***"),
    ("바다 보러 가자", "바다 보러 가자"),  # 바 and 보 too far apart: not a word
    ("안녕하세요", "안녕하세요"),
])
def test_it_masks_disguised_words_and_leaves_the_rest(text, masked):
    [message] = ProfanityMask(ProfanityMask.Config()).process([Message(text)])
    assert message.normalized == masked


def test_it_is_found_through_its_entry_point_and_runs_from_a_config():
    assert default_registry().get("mask.profanity") is ProfanityMask
    spec = parse_config("pipeline:\n  - plugin: normalize.soynlp\n  - plugin: mask.profanity\n"
                        "    mask: '#'\n  - plugin: tokenize.kiwi\n")
    [message] = Pipeline.from_config(spec).process_texts(["ㅋㅋㅋㅋ 바보같이 굴지마"])
    assert message.normalized == "ㅋㅋ ##같이 굴지마"
    assert "바보" not in " ".join(t.surface for t in message.tokens)
