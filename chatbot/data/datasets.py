"""Datasets by name. For now the bundled ``demo`` corpus, written by this project.

The demo dataset is a folder of parts, each read whole (every file of its format):

    dialog/*.tsv     question, answer, intent
    spam/*.tsv       text, label (spam | ham)
    ood/*.txt        out-of-domain messages, one per line (intent "ood")
    sentences/*.txt  well-spaced sentences, one per line
"""

from __future__ import annotations

from pathlib import Path

from chatbot.data.corpus import Corpus, Example
from chatbot.data.readers import ReadReport, read_lines, read_table
from chatbot.errors import DatasetError
from chatbot_corpora import DEMO_DIR

KNOWN_DATASETS = ("demo",)
OOD_LABEL = "ood"


def load_corpus(names: list[str], skip_bad: bool = False) -> Corpus:
    """Load and merge the named datasets."""
    corpus = Corpus(name="+".join(names))
    for name in names:
        part = load_dataset(name, skip_bad=skip_bad)
        corpus.examples.extend(part.examples)
        corpus.sentences.extend(part.sentences)
        corpus.skipped.extend(part.skipped)
    return corpus


def load_dataset(name: str, skip_bad: bool = False) -> Corpus:
    """One dataset by name."""
    if name == "demo":
        return read_demo_folder(DEMO_DIR, skip_bad=skip_bad)
    raise DatasetError(
        f"unknown dataset {name!r}; known datasets: {', '.join(KNOWN_DATASETS)}",
        hint="name one of the known datasets in training.datasets",
    )


def read_demo_folder(folder: Path, skip_bad: bool = False) -> Corpus:
    """Read a folder laid out like the bundled corpus."""
    report = ReadReport()
    examples: list[Example] = []
    for path in sorted(folder.glob("dialog/*.tsv")):
        for line, row in read_table(path, ("question", "answer", "intent"), "\t", skip_bad, report):
            examples.append(
                Example(row["question"], answer=row["answer"], intent=row["intent"],
                        source=f"{path}:{line}")
            )
    for path in sorted(folder.glob("spam/*.tsv")):
        for line, row in read_table(path, ("text", "label"), "\t", skip_bad, report):
            if row["label"] not in ("spam", "ham"):
                raise DatasetError(
                    f"{path}:{line}: label must be spam or ham, not {row['label']!r}"
                )
            examples.append(Example(row["text"], spam=row["label"], source=f"{path}:{line}"))
    for path in sorted(folder.glob("ood/*.txt")):
        examples.extend(
            Example(text, intent=OOD_LABEL, source=f"{path}:{line}")
            for line, text in read_lines(path)
        )
    sentences = [text for path in sorted(folder.glob("sentences/*.txt"))
                 for _, text in read_lines(path)]
    return Corpus(examples=examples, sentences=sentences, name=folder.name,
                  skipped=report.skipped)
