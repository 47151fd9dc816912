"""Datasets by name: the bundled ``demo`` corpus, the public ones in the catalog, and the
user's own registered with ``chatbot data add``.

Files live under the data directory (``$CHATBOT_DATA_DIR``, else the user's cache), one folder
per dataset; a reader takes every file of the dataset's format in its folder. The bundled corpus
is a folder of parts, each read whole:

    dialog/*.tsv     question, answer, intent
    spam/*.tsv       text, label (spam | ham)
    ood/*.txt        out-of-domain messages, one per line (intent "ood")
    sentences/*.txt  well-spaced sentences, one per line
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from chatbot.data.catalog import CATALOG
from chatbot.data.corpus import Corpus, Example
from chatbot.data.formats import OOD_LABEL, READERS
from chatbot.data.readers import ReadReport, read_lines, read_table
from chatbot.errors import DatasetError, shown
from chatbot.message import MAX_HISTORY, Exchange
from chatbot_corpora import DEMO_DIR

BUNDLED = "demo"
LOCAL_INFO = "dataset.json"  # written by `chatbot data add` for a user's own dataset
NAME_MAX_CHARS = 64
_NAME_HINT = (
    f"a dataset name is a plain name of up to {NAME_MAX_CHARS} letters (Korean too), digits, "
    "'_', '-' and '.', starting with a letter, a digit or '_', e.g. my-labels_2026.11"
)


def data_dir() -> Path:
    """``$CHATBOT_DATA_DIR``, else ``$XDG_CACHE_HOME`` (or ~/.cache)/korean-chatbot/data."""
    if os.environ.get("CHATBOT_DATA_DIR"):
        return Path(os.environ["CHATBOT_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "korean-chatbot" / "data"


def check_dataset_name(name: str) -> str:
    """Return ``name`` if it is a plain dataset name; otherwise raise.

    A dataset lives in the folder of its name directly in the data directory: a separator, a
    leading "." (".", "..", hidden folders) or an absolute path would put it elsewhere.

    Raises:
        DatasetError: the name is not plain; the message says what a valid name looks like.
    """
    problem = _name_problem(name)
    if problem:
        raise DatasetError(f"invalid dataset name {shown(name, 80)}: {problem}",
                           hint=_NAME_HINT)
    return name


def _name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain dataset name, or None."""
    if not name:
        return "it is empty"
    if len(name) > NAME_MAX_CHARS:
        return f"it is longer than {NAME_MAX_CHARS} characters"
    if not (name[0].isalnum() or name[0] == "_"):
        return f"it starts with {name[0]!r}"
    bad = next((char for char in name if not (char.isalnum() or char in "_-.")), None)
    if bad is not None:
        return f"it contains {bad!r}"
    if ".." in name:
        return "it contains '..'"
    if len(name.encode("utf-8")) > 255:  # most file systems' limit on a folder's name
        return "it is too long for a folder name (over 255 bytes in UTF-8)"
    return None


def dataset_folder(name: str) -> Path:
    """The folder of dataset ``name`` (checked with :func:`check_dataset_name`)."""
    return DEMO_DIR if name == BUNDLED else data_dir() / check_dataset_name(name)


def known_names() -> list[str]:
    """The bundled corpus, the catalog, and datasets the user added."""
    added = []
    if data_dir().is_dir():
        # A folder that no valid name can reach (made by hand) is not a dataset.
        added = sorted(p.parent.name for p in data_dir().glob(f"*/{LOCAL_INFO}")
                       if _name_problem(p.parent.name) is None)
    return [BUNDLED, *CATALOG, *[n for n in added if n not in CATALOG]]


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
    """One dataset by name, read from its folder."""
    if name == BUNDLED:
        return read_demo_folder(DEMO_DIR, skip_bad=skip_bad)
    folder = dataset_folder(name)
    fmt, pattern = _format_of(name, folder)
    files = sorted(p for p in folder.glob(pattern) if p.is_file() and p.name != LOCAL_INFO)
    if not files:
        raise DatasetError(
            f"dataset {name!r} has no {pattern} files in {folder}",
            hint=f"chatbot data download {name}, or chatbot data add {name} PATH"
            if name in CATALOG else f"chatbot data add {name} PATH",
        )
    return read_files(files, fmt, skip_bad=skip_bad, name=name)


def read_files(files: list[Path], fmt: str, skip_bad: bool = False, name: str = "") -> Corpus:
    """Read files of one format into one corpus."""
    report = ReadReport()
    corpus = Corpus(name=name or files[0].parent.name)
    for path in files:
        part = READERS[fmt](path, skip_bad, report)
        corpus.examples.extend(part.examples)
        corpus.sentences.extend(part.sentences)
    corpus.skipped = report.skipped
    return corpus


def _format_of(name: str, folder: Path) -> tuple[str, str]:
    if name in CATALOG:
        return CATALOG[name].format, CATALOG[name].pattern
    info_path = folder / LOCAL_INFO
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            fmt, pattern = info["format"], info["pattern"]
        except (ValueError, KeyError, TypeError):  # UnicodeDecodeError is a ValueError
            fmt = pattern = None
        # The pattern is globbed in the folder: it must not reach outside it.
        valid = (isinstance(fmt, str) and fmt in READERS and isinstance(pattern, str)
                 and "/" not in pattern and ".." not in pattern)
        if not valid:
            raise DatasetError(
                f"{info_path}:1: not a dataset description (a JSON object with a known "
                f"\"format\" and a file \"pattern\" such as \"*.csv\")",
                hint=f"register the dataset again: chatbot data add {name} PATH",
            )
        return fmt, pattern
    raise DatasetError(
        f"unknown dataset {name!r}; known datasets: {', '.join(known_names())}",
        hint="register your own with: chatbot data add NAME PATH",
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
    for path in sorted(folder.glob("conversations/*.tsv")):
        examples += conversation_turns(path, skip_bad, report)
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


def conversation_turns(path: Path, skip_bad: bool, report: ReadReport) -> list[Example]:
    """The turns of a multi-turn dialog file (TSV ``conversation, user, bot, intent``; a
    conversation's rows are consecutive, in turn order), each with the turns before it."""
    examples: list[Example] = []
    current, history = None, []
    for line, row in read_table(path, ("conversation", "user", "bot", "intent"), "\t",
                                skip_bad, report):
        if row["conversation"] != current:
            current, history = row["conversation"], []
        examples.append(Example(row["user"], answer=row["bot"], intent=row["intent"],
                                history=tuple(history[-MAX_HISTORY:]),
                                source=f"{path}:{line}"))
        history.append(Exchange(row["user"], row["bot"]))
    return examples


def corpus_stats(corpus: Corpus) -> dict[str, Any]:
    """Counts of what a corpus holds; keys are stable (0 where the corpus has none)."""
    intents = Counter(e.intent for e in corpus.examples if e.intent)
    spam = Counter(e.spam for e in corpus.examples if e.spam)
    return {
        "examples": len(corpus.examples),
        "dialog_pairs": sum(1 for e in corpus.examples if e.answer),
        "follow_up_turns": sum(1 for e in corpus.examples if e.history),
        "intents": len([label for label in intents if label != OOD_LABEL]),
        "intent_counts": dict(sorted(intents.items())),
        "spam": spam.get("spam", 0),
        "ham": spam.get("ham", 0),
        "abuse": spam.get("abuse", 0),
        "ood": intents.get(OOD_LABEL, 0),
        "sentences": len(corpus.sentences),
        "skipped_rows": len(corpus.skipped),
    }
