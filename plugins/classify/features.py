"""What the classifier reads of a message: token ids and hashed character n-grams."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch

from chatbot.message import Message
from chatbot.training.vocab import Vocab

MAX_TOKENS = 64
MAX_NGRAMS = 512


@dataclass
class Encoded:
    """One message as the network sees it, with its label id (-1 when unknown)."""

    tokens: list[int]
    ngrams: list[int]
    label: int = -1


def token_strings(message: Message) -> list[str]:
    """Token surfaces from the pipeline's tokenizer, or whitespace words without one."""
    if message.tokens is not None:
        return [token.surface for token in message.tokens]
    return message.current_text.split()


def char_ngrams(text: str, buckets: int, sizes: tuple[int, ...] = (1, 2, 3)) -> list[int]:
    """Character n-grams of each word (with word edges marked), hashed into 1..buckets-1."""
    ids = []
    for word in text.split():
        padded = f"<{word}>"
        for n in sizes:
            for start in range(max(1, len(padded) - n + 1)):
                gram = padded[start:start + n]
                ids.append(zlib.crc32(gram.encode("utf-8")) % (buckets - 1) + 1)
    return ids[:MAX_NGRAMS] or [0]


def encode(message: Message, vocab: Vocab, buckets: int, label: int = -1) -> Encoded:
    text = message.normalized if message.normalized is not None else message.text
    return Encoded(vocab.encode(token_strings(message)[:MAX_TOKENS]) or [0],
                   char_ngrams(text, buckets), label)


def collate(batch: list[Encoded]) -> dict[str, torch.Tensor]:
    """Pad a list of encoded messages into tensors."""
    tokens = torch.zeros(len(batch), max(len(e.tokens) for e in batch), dtype=torch.long)
    ngrams = torch.zeros(len(batch), max(len(e.ngrams) for e in batch), dtype=torch.long)
    for row, example in enumerate(batch):
        tokens[row, : len(example.tokens)] = torch.tensor(example.tokens)
        ngrams[row, : len(example.ngrams)] = torch.tensor(example.ngrams)
    labels = torch.tensor([e.label for e in batch], dtype=torch.long)
    return {"tokens": tokens, "ngrams": ngrams, "labels": labels}
