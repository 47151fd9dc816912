"""``chatbot pretrain``: pretrain a Transformer generator on plain text, to fine-tune later."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Pretrain a Transformer generator on the text of some datasets (their sentences and both sides
of their dialog pairs), then fine-tune it: set `pretrained: OUT` (and the same sizes) on
respond.seq2seq or fallback.lm with `architecture: transformer` in a pipeline config.

The config is a YAML file whose `pretrain:` mapping holds the settings (bundled:
pretrain_seq2seq, pretrain_lm). `model: seq2seq` learns to write back sentences whose spans
were masked (BART's text infilling); `model: lm` learns to continue text. Add your own text
first with `chatbot data add NAME FILE.txt` (one sentence or paragraph a line) and list NAME
under `datasets`."""


def add_pretrain_command(commands: argparse._SubParsersAction) -> None:
    pretrain = commands.add_parser(
        "pretrain", help="pretrain a Transformer generator on plain text, to fine-tune later",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    pretrain.add_argument("config", help="a YAML file with a pretrain: mapping, or a bundled "
                          "one: pretrain_seq2seq, pretrain_lm")
    pretrain.add_argument("--out", required=True, help="folder to write the pretrained model to")
    pretrain.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          dest="overrides", help="override a setting: epochs=1, "
                          "datasets=[demo,korsts] (repeatable)")
    pretrain.add_argument("--quiet", action="store_true", help="no progress bars")
    pretrain.add_argument("--skip-bad", action="store_true",
                          help="skip malformed data rows instead of stopping")
    pretrain.set_defaults(run=cmd_pretrain)


def cmd_pretrain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from chatbot.data.datasets import load_corpus
    from chatbot_plugins.generation.pretraining import pretrain, read_pretrain_config

    config = read_pretrain_config(args.config, args.overrides)
    corpus = load_corpus(config.datasets, skip_bad=args.skip_bad)
    history = pretrain(config, corpus, Path(args.out), progress=not args.quiet)
    best = history.epochs[history.best_epoch - 1] if history.best_epoch else {}
    print(f"pretrained {config.model} on {', '.join(config.datasets)} and saved {args.out} "
          f"(dev perplexity {best.get('dev_perplexity', float('nan')):.1f}, "
          f"{history.seconds:.0f} s)", file=sys.stderr)
    return 0
