"""The typed corpus model shared by training and evaluation.

An :class:`Example` is one labelled or unlabelled text; a :class:`Corpus` is what ``fit`` gets:
examples (dialog pairs, spam/ham, out-of-domain messages) plus plain well-formed sentences.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from chatbot.message import Exchange


@dataclass(frozen=True)
class Example:
    """One example. Fields a dataset does not provide stay None.

    Attributes:
        text: the user's message (a question, an SMS...).
        answer: the reply to it, for dialog data.
        intent: the intent label ("greeting", ..., "ood" for out-of-domain).
        spam: "spam" or "ham".
        history: for a turn of a multi-turn dialog, the turns before it (oldest first); a
            follow-up such as "왜?" means something only after them.
        source: "file:line" it came from, for error messages and inspection.
    """

    text: str
    answer: str | None = None
    intent: str | None = None
    spam: str | None = None
    history: tuple[Exchange, ...] = ()
    source: str = ""


@dataclass
class Corpus:
    """Examples plus plain sentences (for spacing, subword and language-model training)."""

    examples: list[Example] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)
    name: str = "corpus"
    skipped: list[str] = field(default_factory=list)  # "file:line: why" of rows left out

    @classmethod
    def from_texts(cls, texts: list[str], name: str = "texts") -> Corpus:
        """A corpus of plain sentences only."""
        return cls(sentences=list(texts), name=name)

    def texts(self) -> Iterator[str]:
        """Every text in the corpus, for unsupervised learning: sentences, questions, answers."""
        yield from self.sentences
        for example in self.examples:
            yield example.text
            if example.answer:
                yield example.answer

    def merged(self, other: Corpus) -> Corpus:
        return Corpus(
            examples=self.examples + other.examples,
            sentences=self.sentences + other.sentences,
            name=f"{self.name}+{other.name}",
        )

    def __len__(self) -> int:
        return len(self.examples) + len(self.sentences)
