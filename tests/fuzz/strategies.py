"""Hypothesis strategies for what comes from outside: hostile message text, YAML-like data."""

from __future__ import annotations

from hypothesis import strategies as st

# Every code point, lone surrogates and control characters included.
ANY_CHAR = st.characters(exclude_categories=())
# What chat really brings, weighted in: Hangul syllables and jamo, emoji, spaces, newlines.
KOREAN_CHAR = st.one_of(
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(min_codepoint=0x3131, max_codepoint=0x318E),
    st.sampled_from(list(" \n\t.!?ㅋㅎㅠ😊👍")),
)
ODD_CHAR = st.sampled_from(list("\x00\x0b\x0c\r\x1c\u2028\u2029\u0085\ufeff\ufffd\u200b")
                           + ["\ud800", "\udfff", "\udc80"])


@st.composite
def message_texts(draw: st.DrawFn) -> str:
    """Text of 0 to 100,000 characters: any Unicode, mostly Korean chat, odd characters mixed
    in; long texts are a drawn piece repeated (drawing 100k characters one by one is slow)."""
    piece = draw(st.text(st.one_of(KOREAN_CHAR, ANY_CHAR, ODD_CHAR), max_size=300))
    repeat = draw(st.one_of(st.just(1), st.integers(1, 100_000 // max(1, len(piece)))))
    return piece * repeat


# Values a YAML or JSON document may hold, nested.
YAML_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(ANY_CHAR.filter(lambda c: not "\ud800" <= c <= "\udfff"), max_size=20),
)
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=30,
)
