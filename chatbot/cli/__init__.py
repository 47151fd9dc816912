"""The ``chatbot`` command line: the only place in the toolkit that prints.

This module holds the parser and the pipeline verbs; ``chatbot.cli.data`` the ``data`` verbs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

from chatbot import __version__
from chatbot.cli.arguments import int_in
from chatbot.errors import ChatbotError

EXAMPLES = """\
examples:
  chatbot plugins
  chatbot validate configs/default.yaml
  chatbot process "아버지가방에들어가신다 오늘날씨정말좋네요ㅋㅋㅋㅋ"
  printf '안녕하세요\\n반가워요\\n' | chatbot process --json -
  chatbot process --model default "오늘 너무 우울해"
  chatbot train default --out models/mine
  chatbot serve --model models/mine
  chatbot chat --model default
  chatbot eval logs/dialog.sqlite --model default --out reports/today
  chatbot pretrain pretrain_seq2seq --out models/pretrained-seq2seq
"""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 some input failed, 2 error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args)
    except ChatbotError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbot",
        description="Korean chatbot toolkit: build, train, run and evaluate pipelines of plugins.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each step does")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plugins = commands.add_parser(
        "plugins", help="list plugins, what they do, their settings and defaults"
    )
    plugins.add_argument("--json", action="store_true", help="print JSON instead of text")
    plugins.set_defaults(run=cmd_plugins)

    validate = commands.add_parser("validate", help="check a config without running it")
    validate.add_argument("config", help="a YAML config file, or a bundled config name")
    _add_set_option(validate)
    validate.set_defaults(run=cmd_validate)

    process = commands.add_parser(
        "process",
        help="run messages through a pipeline and print the trace",
        description="Run messages through a pipeline and print what every plugin did. "
        "Texts come as arguments, or one per line on standard input with '-'.",
    )
    source = process.add_mutually_exclusive_group()
    source.add_argument(
        "--config",
        help="a config of untrained plugins only: a file or a bundled name, e.g. 'text' (the "
        "text plugins of the default bot); a config with trainable plugins needs --model",
    )
    source.add_argument(
        "--model", help="a trained pipeline directory (from chatbot train), or 'default': the "
        "default bot, trained on the bundled corpus on first use and cached (also what runs "
        "with neither --model nor --config)",
    )
    process.add_argument("--json", action="store_true", help="one JSON object per message (JSONL)")
    process.add_argument(
        "--batch-size", type=int_in(1, 4096), default=64,
        help="messages per batch for '-' (default: 64)",
    )
    _add_set_option(process)
    process.add_argument("texts", nargs="+", metavar="TEXT", help="messages, or '-' for stdin")
    process.set_defaults(run=cmd_process)

    train = commands.add_parser(
        "train", help="fit every plugin of a config on its datasets and save the pipeline"
    )
    train.add_argument("config", help="a YAML config file, or a bundled config name")
    train.add_argument("--out", required=True, help="directory to save the trained pipeline in")
    train.add_argument("--device", help="cpu | cuda | cuda:N | mps | auto (overrides "
                       "training.device)")
    train.add_argument("--resume", action="store_true",
                       help="continue an interrupted run from its checkpoints (OUT.checkpoints)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.add_argument("--skip-bad", action="store_true",
                       help="skip malformed data rows (and say how many) instead of stopping")
    _add_set_option(train)
    train.set_defaults(run=cmd_train)

    new_plugin = commands.add_parser(
        "new-plugin", help="write an installable plugin package skeleton (passes its tests)",
        description="Write the package of a new plugin: pyproject with the chatbot.plugins "
        "entry point, the plugin module, its tests (the contract kit of chatbot.testing) and a "
        "README. It installs with pip and passes its own tests as generated.")
    new_plugin.add_argument("name", metavar="NAME", help="the plugin's name, stage.name "
                            "(e.g. style.polite, mask.profanity)")
    new_plugin.add_argument("--dir", default=".", help="where to create the package folder "
                            "(default: here)")
    new_plugin.add_argument("--summary", help="one line on what it does")
    new_plugin.set_defaults(run=cmd_new_plugin)

    from chatbot.cli.data import add_data_commands
    from chatbot.cli.evaluate import add_eval_command
    from chatbot.cli.pretrain import add_pretrain_command
    from chatbot.cli.serve import add_serving_commands

    add_serving_commands(commands)
    add_eval_command(commands)
    add_data_commands(commands)
    add_pretrain_command(commands)
    return parser


def _add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="override a setting: training.seed=7, pipeline.0.max_repeats=3 or "
        "normalize.soynlp.max_repeats=3 (repeatable)",
    )


# -- commands ------------------------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace) -> int:
    from chatbot.registry import default_registry

    registry = default_registry().load_all()
    described = [_describe_plugin(registry.get(name), registry.origins[name])
                 for name in registry.names()]
    if args.json:
        print(json.dumps({"plugins": described, "failed": registry.failures},
                         ensure_ascii=False, indent=2))
        return 0
    for item in described:
        trainable = "  (trainable)" if item["trainable"] else ""
        print(f"{item['name']}{trainable}\n    {item['summary']}")
        print(f"    reads: {', '.join(item['requires'])}   writes: {', '.join(item['assigns'])}"
              + ("" if item["origin"] == "built-in" else f"   from: {item['origin']}"))
        for setting in item["settings"]:
            print(f"    - {setting['name']} = {json.dumps(setting['default'], ensure_ascii=False)}"
                  f": {setting['description']}")
        for problem in item["problems"]:
            print(f"    ! {problem}")
    for name, reason in registry.failures.items():
        print(f"{name}  (FAILED TO LOAD)\n    {reason}")
    return 0


def _describe_plugin(cls: Any, origin: str) -> dict[str, Any]:
    settings = [
        {"name": name, "default": field.get_default(call_default_factory=True),
         "description": field.description or ""}
        for name, field in cls.Config.model_fields.items()
    ]
    return {
        "name": cls.name, "version": cls.version, "summary": cls.summary(), "origin": origin,
        "requires": list(cls.requires), "assigns": list(cls.assigns),
        "trainable": cls.trainable, "settings": settings,
        "problems": [error.message for error in cls.check_environment()],
    }


def cmd_validate(args: argparse.Namespace) -> int:
    from chatbot.config import load_config

    spec = load_config(args.config, args.overrides)
    steps = " → ".join(step.plugin.name for step in spec.steps)
    print(f"ok: {spec.source}: {len(spec.steps)} steps: {steps}")
    return 0


def cmd_process(args: argparse.Namespace) -> int:
    from chatbot.pipeline import Failure

    # No warm-up: a one-shot command loads each model on its first message, once either way.
    pipeline = _open_pipeline(args)
    failures = 0
    for where, result in _process_stream(pipeline, _inputs(args.texts), args.batch_size):
        if isinstance(result, Failure):
            failures += 1
            if args.json:
                print(json.dumps({**where, "error": result.error}, ensure_ascii=False),
                      flush=True)
            else:
                print(f"error: {_describe(where)}: {result.error}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps({**where, **result.to_dict()}, ensure_ascii=False), flush=True)
        else:
            from chatbot.trace import format_trace

            print(format_trace(result) + "\n", flush=True)
    return 1 if failures else 0


def cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from chatbot.config import load_config
    from chatbot.data.datasets import load_corpus
    from chatbot.pipeline import Pipeline
    from chatbot.training import distributed
    from chatbot.training.orchestrate import train_and_save

    overrides = list(args.overrides) + ([f"training.device={args.device}"] if args.device else [])
    spec = load_config(args.config, overrides)
    corpus = load_corpus(spec.training.datasets, skip_bad=args.skip_bad)
    if distributed.is_main_process_from_env():
        skipped = f", {len(corpus.skipped):,} bad rows skipped" if corpus.skipped else ""
        print(f"datasets {', '.join(spec.training.datasets)}: {len(corpus.examples):,} examples,"
              f" {len(corpus.sentences):,} sentences{skipped}", file=sys.stderr)
    trained = train_and_save(Pipeline.from_config(spec), corpus, Path(args.out),
                             resume=args.resume, progress=not args.quiet)
    if trained.directory is not None:
        print(f"trained and saved {trained.directory} in {trained.took}", file=sys.stderr)
    return 0


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from pathlib import Path

    from chatbot.scaffold import scaffold

    root = scaffold(args.name, Path(args.dir), args.summary)
    print(f"wrote {root}\nnext, in the toolkit's virtual environment (source .venv/bin/activate):"
          f"\n  cd {root}\n  pip install -e '.[test]'\n  pytest\n"
          f"  chatbot plugins    # lists {args.name}")
    return 0


# -- helpers -------------------------------------------------------------------------------


def _open_pipeline(args: argparse.Namespace) -> Any:
    from chatbot.config import load_config
    from chatbot.pipeline import Pipeline

    if args.model or not args.config:
        from chatbot.default_model import DEFAULT_MODEL_NAME, model_directory

        if args.overrides:
            raise ChatbotError("--set applies to --config, not to a trained model")
        return Pipeline.load(model_directory(args.model or DEFAULT_MODEL_NAME,
                                             progress=sys.stderr.isatty(), notify=_note))
    spec = load_config(args.config, args.overrides)
    untrained = [step.plugin.name for step in spec.steps if step.plugin.trainable]
    if untrained:
        raise ChatbotError(
            f"config {spec.source} has plugins that must be trained first: {', '.join(untrained)}",
            hint=f"chatbot train {args.config} --out models/NAME, then chatbot process "
            f"--model models/NAME ...",
        )
    return Pipeline.from_config(spec)


def _note(line: str) -> None:
    """A line for the person at the terminal, on standard error."""
    print(line, file=sys.stderr)


def _inputs(texts: list[str]) -> Iterator[tuple[dict[str, int], bytes | str]]:
    """(where, text) pairs, one per argument and one per line of standard input for '-'.

    ``where`` is ``{"argument": N}`` or ``{"line": N}``: every input gets exactly one output
    that carries it, blank lines included, so a caller can align outputs with inputs.
    """
    for index, text in enumerate(texts, start=1):
        if text != "-":
            yield {"argument": index}, text
            continue
        # Split on b"\n" only: a lone \r, \x0b or \x0c inside a line belongs to that line.
        for line_number, raw in enumerate(sys.stdin.buffer, start=1):
            yield {"line": line_number}, raw.removesuffix(b"\n").removesuffix(b"\r")


def _describe(where: dict[str, int]) -> str:
    kind, number = next(iter(where.items()))
    return f"stdin line {number}" if kind == "line" else f"argument {number}"


def _process_stream(pipeline: Any, inputs: Iterator[tuple[dict[str, int], bytes | str]],
                    batch_size: int) -> Iterator[tuple[dict[str, int], Any]]:
    """(where, Message or Failure) in input order, processed in batches of ``batch_size`` by
    :meth:`Pipeline.process_each`, so one bad input fails alone."""
    batch: list[tuple[dict[str, int], bytes | str]] = []

    def flush() -> Iterator[tuple[dict[str, int], Any]]:
        results = pipeline.process_each([raw for _, raw in batch])
        yield from zip([where for where, _ in batch], results, strict=True)
        batch.clear()

    for item in inputs:
        batch.append(item)
        if len(batch) >= batch_size:
            yield from flush()
    yield from flush()
