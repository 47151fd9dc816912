"""The datasets the toolkit knows by name: the bundled corpus, and the public Korean datasets
with where they live, their format and licence.

``chatbot data download NAME`` fetches the files listed here into ``$CHATBOT_DATA_DIR/NAME/``.
A dataset folder may also hold a copy placed by hand (``chatbot data add``) or a pre-split
portion of the same format: the reader takes every file matching ``pattern`` in the folder.
Row counts are the upstream figures; a download is verified by parsing every row and finding at
least ``min_rows`` of them.
"""

from __future__ import annotations

from dataclasses import dataclass

RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset at its public address."""

    url: str
    filename: str


@dataclass(frozen=True)
class DatasetInfo:
    """A known public dataset."""

    name: str
    description: str
    source: str
    files: tuple[RemoteFile, ...]
    format: str  # a reader in chatbot.data.formats
    pattern: str  # the files of the folder the reader takes
    licence: str
    tasks: tuple[str, ...]
    upstream_rows: str
    min_rows: int


@dataclass(frozen=True)
class BundledInfo:
    """The corpus installed with the toolkit (``corpora/demo``): what ``chatbot data list``
    says of it. Its rows are what ``chatbot data stats demo`` counts (a test keeps them so)."""

    source: str
    licence: str
    tasks: tuple[str, ...]
    rows: str


BUNDLED_INFO = BundledInfo(
    source="bundled with the toolkit (its datasheet: corpora/demo/README.md)",
    licence="Apache-2.0",
    tasks=("intent classification", "out-of-domain detection", "spam filter",
           "response generation", "language model", "spacing correction"),
    rows="11,278 dialog pairs, 690 of them follow-ups, 46 intents, 703 spam, 711 ham, "
    "445 out-of-domain, 3,663 sentences",
)

CATALOG: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="chatbotdata",
            description="Korean chit-chat question/answer pairs labelled everyday (0), "
            "breakup/sad (1) and love/happy (2)",
            source="github.com/songys/Chatbot_data",
            files=(RemoteFile(f"{RAW}/songys/Chatbot_data/master/ChatbotData.csv",
                              "ChatbotData.csv"),),
            format="chatbotdata",
            pattern="*.csv",
            licence="MIT",
            tasks=("response generation", "3-way classification", "language model"),
            upstream_rows="11,823 pairs (7,779 distinct answers)",
            min_rows=10_000,
        ),
        DatasetInfo(
            name="kochat_intent",
            description="intent questions (dust, weather, travel, restaurant) and "
            "out-of-domain questions (OOD)",
            source="github.com/hyunwoongko/kochat",
            files=(
                RemoteFile(f"{RAW}/hyunwoongko/kochat/master/demo/data/intent_data.csv",
                           "intent_data.csv"),
                RemoteFile(f"{RAW}/hyunwoongko/kochat/master/demo/data/ood/ood_data.csv",
                           "ood_data.csv"),
            ),
            format="kochat_intent",
            pattern="*.csv",
            licence="Apache-2.0",
            tasks=("intent classification", "out-of-domain detection"),
            upstream_rows="about 30,000 questions over 4 intents and OOD",
            min_rows=25_000,
        ),
        DatasetInfo(
            name="curse",
            description="Korean comments labelled abusive (1) or clean (0)",
            source="github.com/2runo/Curse-detection-data",
            files=(RemoteFile(f"{RAW}/2runo/Curse-detection-data/master/dataset.txt",
                              "dataset.txt"),),
            format="curse",
            pattern="*.txt",
            licence="MIT",
            tasks=("abuse filter",),
            upstream_rows="about 5,800 comments",
            min_rows=5_000,
        ),
        DatasetInfo(
            name="korsts",
            description="KorSTS sentence pairs: well-spaced, well-written Korean sentences",
            source="github.com/kakaobrain/KorNLUDatasets",
            files=tuple(
                RemoteFile(f"{RAW}/kakaobrain/KorNLUDatasets/master/KorSTS/{name}", name)
                for name in ("sts-train.tsv", "sts-dev.tsv", "sts-test.tsv")
            ),
            format="korsts",
            pattern="*.tsv",
            licence="CC BY-SA 4.0",
            tasks=("spacing correction", "language model"),
            upstream_rows="5,749 + 1,500 + 1,379 sentence pairs",
            min_rows=7_000,
        ),
        DatasetInfo(
            name="nsmc",
            description="Naver movie-review sentences (NSMC), used as informal Korean text",
            source="github.com/e9t/nsmc",
            files=tuple(
                RemoteFile(f"{RAW}/e9t/nsmc/master/{name}", name)
                for name in ("ratings_train.txt", "ratings_test.txt")
            ),
            format="nsmc",
            pattern="ratings*.txt",
            licence="CC0 1.0",
            tasks=("language model",),
            upstream_rows="150,000 + 50,000 reviews",
            min_rows=190_000,
        ),
    )
}
