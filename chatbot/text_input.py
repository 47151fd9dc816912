"""The one policy for message text entering the toolkit, from any front end.

Every entry point passes a user's text through :func:`prepare_text` before a plugin sees it:
``Pipeline.process_each`` (behind ``chatbot process``, the chat service's batcher and ``chatbot
eval``), ``Pipeline.process_texts``, and the chat service itself, which checks first to answer
a refused message with a notice in Korean:

- unpaired UTF-16 surrogates (a half emoji from a broken client, undecodable bytes in a
  command-line argument) become U+FFFD, so the rest of the message is still answered and no
  tokenizer or database encoder meets a string it cannot encode;
- empty, oversized and binary-looking text is refused with an :class:`InputError` saying why.
"""

from __future__ import annotations

import re
import unicodedata

from chatbot.errors import InputError

MAX_MESSAGE_CHARS = 2000
REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def prepare_text(text: str, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """The text as plugins may see it, or an InputError for what no plugin should process."""
    if not isinstance(text, str):
        raise InputError(f"a message must be text, not {type(text).__name__}")
    if len(text) > max_chars:  # checked first: nothing below walks an oversized text
        raise InputError(
            f"the message is {len(text):,} characters long; the limit is {max_chars:,}",
            hint="split it into shorter messages",
        )
    text = _SURROGATE.sub(REPLACEMENT, text)
    if not text.strip():
        raise InputError("the message is empty", hint="type some text")
    junk = sum(
        1 for char in text
        if char == REPLACEMENT or (unicodedata.category(char) in ("Cc", "Co", "Cn")
                                   and char not in "\t\n\r")
    )
    if "\x00" in text or junk > max(2, len(text) // 10):
        raise InputError(
            "the message looks like binary data, not text",
            hint="send UTF-8 text; control characters and undecodable bytes are not accepted",
        )
    return text
