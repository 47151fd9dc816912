"""``chatbot data``: list, download, add, validate and count datasets."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from chatbot.data.catalog import BUNDLED_INFO, CATALOG
from chatbot.data.datasets import (
    BUNDLED,
    LOCAL_INFO,
    check_dataset_name,
    corpus_stats,
    data_dir,
    dataset_folder,
    known_names,
    load_dataset,
    read_files,
)
from chatbot.data.formats import READERS, guess_format
from chatbot.errors import ChatbotError, DatasetError

DATA_HELP = """\
Datasets are known by name. The bundled corpus `demo` needs nothing; public ones are fetched
with `download` into the data directory ($CHATBOT_DATA_DIR, else ~/.cache/korean-chatbot/data),
one folder per dataset. `add` registers a file you already have.
"""


def add_data_commands(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser(
        "data", help="list, download, add, validate and count datasets", description=DATA_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = data.add_subparsers(dest="data_command", required=True, metavar="VERB")

    listing = verbs.add_parser("list", help="known datasets, their tasks, licence, presence")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=cmd_list)

    download = verbs.add_parser("download", help="fetch a public dataset, verify it, print "
                                "its licence (resumes a broken download)")
    download.add_argument("name", choices=sorted(CATALOG), metavar="NAME",
                          help=f"one of {', '.join(CATALOG)}")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    download.set_defaults(run=cmd_download)

    add = verbs.add_parser("add", help="register a local file (or folder) as dataset NAME")
    add.add_argument("name", metavar="NAME")
    add.add_argument("path", type=Path, metavar="PATH")
    add.add_argument("--format", choices=sorted(READERS), help="default: from NAME, or guessed")
    add.set_defaults(run=cmd_add)

    validate = verbs.add_parser("validate", help="check a file: every bad row with its line")
    validate.add_argument("path", type=Path, metavar="PATH")
    validate.add_argument("--format", choices=sorted(READERS), help="default: guessed")
    validate.set_defaults(run=cmd_validate)

    stats = verbs.add_parser("stats", help="counts: dialog pairs, intents, spam, ham, OOD, "
                             "sentences")
    stats.add_argument("name", metavar="NAME")
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--skip-bad", action="store_true", help="skip malformed rows, count them")
    stats.set_defaults(run=cmd_stats)


def cmd_list(args: argparse.Namespace) -> int:
    rows = [_listing(name) for name in known_names()]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(f"data directory: {data_dir()}")
    for row in rows:
        mark = "✓" if row["present"] else " "
        print(f" {mark} {row['name']:<14} {row['licence']:<13} {', '.join(row['tasks'])}")
        print(f"   {'':<14} {row['source']}  {row['rows']}")
    print("✓ = present; fetch the others with `chatbot data download NAME`")
    return 0


def _listing(name: str) -> dict:
    """What ``data list`` says of dataset ``name``: bundled, public (the catalog) or added."""
    folder = dataset_folder(name)
    row = {"name": name, "present": folder.is_dir() and any(folder.iterdir()),
           "folder": str(folder)}
    if name == BUNDLED:
        info = BUNDLED_INFO
        return {**row, "present": True, "tasks": list(info.tasks), "licence": info.licence,
                "rows": info.rows, "source": info.source}
    if name in CATALOG:
        info = CATALOG[name]
        return {**row, "tasks": list(info.tasks), "licence": info.licence,
                "rows": info.upstream_rows, "source": info.source}
    return {**row, "tasks": [], "licence": "yours", "rows": "", "source": "added"}


def cmd_download(args: argparse.Namespace) -> int:
    from chatbot.data.download import download_dataset

    info = CATALOG[args.name]
    folder = dataset_folder(args.name)
    print(f"{info.name}: {info.description}\n  from {info.source} into {folder}", file=sys.stderr)
    paths = download_dataset(info, folder, progress=not args.quiet)
    stats = corpus_stats(read_files(paths, info.format, name=info.name))
    print(f"downloaded and verified {len(paths)} file(s): {_summary(stats)}")
    print(f"licence: {info.licence} (source: {info.source}); keep its terms when you use or "
          f"share the data")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    source: Path = args.path
    # The name becomes a folder in the data directory: checked before anything is read.
    check_dataset_name(args.name)
    if args.name == BUNDLED:
        raise ChatbotError(f"{BUNDLED!r} is the bundled corpus; choose another name")
    if not source.exists():
        raise ChatbotError(f"{source} does not exist", hint="check PATH: a file or a folder")
    files = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else [source]
    if not files:
        raise ChatbotError(f"{source} holds no files",
                           hint="PATH is a dataset file, or a folder of files of one format")
    if args.name in CATALOG:
        fmt = CATALOG[args.name].format
    else:
        fmt = args.format or guess_format(files[0])
    corpus = read_files(files, fmt, name=args.name)  # refuse a file that does not parse
    folder = dataset_folder(args.name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path in files:
            target = folder / path.name
            if not (target.exists() and target.samefile(path)):  # adding a dataset's own files
                shutil.copy2(path, target)
        if args.name not in CATALOG:
            pattern = "*" + files[0].suffix if len({p.suffix for p in files}) == 1 else "*"
            (folder / LOCAL_INFO).write_text(
                json.dumps({"format": fmt, "pattern": pattern}, indent=2) + "\n",
                encoding="utf-8",
            )
    except OSError as error:
        raise ChatbotError(f"cannot write the dataset into {folder}: {error}",
                           hint="check that the data directory ($CHATBOT_DATA_DIR) is "
                           "writable and has space") from None
    print(f"added {len(files)} file(s) to {folder} as {args.name!r} ({fmt}): "
          f"{_summary(corpus_stats(corpus))}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    path: Path = args.path
    if not path.is_file():
        raise ChatbotError(f"{path} is not a file", hint="check PATH")
    try:
        fmt = args.format or guess_format(path)
        corpus = read_files([path], fmt, skip_bad=True)
    except DatasetError as error:  # a problem no row-skipping can pass (header, encoding)
        print(error)
        return 1
    for problem in corpus.skipped:
        print(problem)
    rows = len(corpus.examples) + len(corpus.sentences)
    verdict = "ok" if not corpus.skipped else f"{len(corpus.skipped)} bad row(s)"
    print(f"{path}: {fmt}, {rows:,} good rows, {verdict}", file=sys.stderr)
    return 1 if corpus.skipped else 0


def cmd_stats(args: argparse.Namespace) -> int:
    stats = corpus_stats(load_dataset(args.name, skip_bad=args.skip_bad))
    if args.json:
        print(json.dumps({"dataset": args.name, **stats}, ensure_ascii=False))
    else:
        print(f"{args.name}: {_summary(stats)}")
        for label, count in stats["intent_counts"].items():
            print(f"  {label:<16} {count:>7,}")
    return 0


def _summary(stats: dict) -> str:
    return ", ".join(
        f"{stats[key]:,} {label}" for key, label in (
            ("dialog_pairs", "dialog pairs"), ("follow_up_turns", "of them follow-ups"),
            ("intents", "intents"), ("spam", "spam"),
            ("ham", "ham"), ("abuse", "abusive"), ("ood", "out-of-domain"),
            ("sentences", "sentences"), ("skipped_rows", "skipped rows"),
        ) if stats[key]
    ) or "empty"
