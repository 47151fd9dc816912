"""The generators alone on ChatbotData: recurrent against Transformer, same data, same run.

    python benchmarks/generators.py [--dev-limit N] [--threads N] [--only NAME ...]

Each system is a pipeline of ``normalize.soynlp`` and one generator, trained on the train side
of benchmarks/dialog.py's split (settings below; nothing tuned on dev) and scored on its dev
questions with no retrieval:

- respond.seq2seq, ``architecture: recurrent`` (GRU, bidirectional, Bahdanau; as in
  configs/chatbotdata.yaml) against ``architecture: transformer`` from scratch, and the same
  Transformer first pretrained by ``chatbot pretrain`` (denoising) on ``--pretrain-datasets``
  (the bundled corpus by default): BLEU-4 and chrF on
  morphemes, distinct-2, and the perplexity of the gold answers (per subword, from the mean
  log-probability of each answer); replies decoded as configured (beam 4);
- fallback.lm, ``architecture: lstm`` against ``transformer`` from scratch and first
  pretrained (causal LM) on ``--pretrain-datasets``: the perplexity of the gold answers given
  their questions.

It also records each system's training time, examples/s and epochs, and the paired bootstrap
of each Transformer against the GRU. Writes benchmarks/results/generators.json (``--results``
names the file of a partial run).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # chatbot, from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_results  # noqa: E402
from dialog import bootstrap_difference, chatbotdata_splits, score  # noqa: E402

from chatbot.config import parse_config  # noqa: E402
from chatbot.data.corpus import Corpus  # noqa: E402
from chatbot.data.datasets import load_corpus  # noqa: E402
from chatbot.evaluation import metrics  # noqa: E402
from chatbot.message import Message  # noqa: E402
from chatbot.pipeline import Pipeline  # noqa: E402
from chatbot.training.threads import apply_thread_policy  # noqa: E402
from chatbot_plugins.generation.pretraining import PretrainConfig, pretrain  # noqa: E402
from chatbot_plugins.respond.base import text_of  # noqa: E402

# The epochs give each pair about the same training time on two cores (a Transformer epoch
# costs about one and a half recurrent ones).
TRANSFORMER = (
    "    architecture: transformer\n    epochs: 8\n    hidden: 256\n    heads: 4\n"
    "    layers: 2\n    ff_dim: 512\n    dropout: 0.1\n    label_smoothing: 0.1\n"
    "    learning_rate: 0.001\n    schedule: cosine\n    warmup_steps: 300\n")
SEQ2SEQ = {
    "seq2seq_gru": "    architecture: recurrent\n    epochs: 12\n",
    "seq2seq_transformer": TRANSFORMER,
    # The same Transformer, started from `chatbot pretrain` on --pretrain-datasets (denoising).
    "seq2seq_transformer_pretrained": TRANSFORMER + "    pretrained: {pretrained}\n",
}
PRETRAIN = {"vocab_size": 4000, "hidden": 256, "heads": 4, "layers": 2,
            "ff_dim": 512, "dropout": 0.1, "epochs": 2, "learning_rate": 0.001,
            "schedule": "cosine", "warmup_steps": 300, "seed": 7}
LM = {
    "lm_lstm": "    architecture: lstm\n    epochs: 12\n    hidden: 256\n    layers: 1\n",
    "lm_transformer": (
        "    architecture: transformer\n    epochs: 8\n    hidden: 256\n    heads: 4\n"
        "    layers: 2\n    ff_dim: 512\n    dropout: 0.1\n    learning_rate: 0.001\n"
        "    schedule: cosine\n    warmup_steps: 300\n"),
}
# The same Transformer LM, started from `chatbot pretrain` (causal LM) on --pretrain-datasets.
LM["lm_transformer_pretrained"] = LM["lm_transformer"] + "    pretrained: {pretrained}\n"


def with_epochs(settings: str, epochs: int | None) -> str:
    """The system's settings, its epochs replaced by ``epochs`` (for a quick trial run)."""
    return settings if epochs is None else re.sub(r"epochs: \d+", f"epochs: {epochs}", settings)


def config(generator: str, settings: str, epochs: int | None) -> str:
    """The system's pipeline; ``epochs`` overrides its own. Its seed is not the split's (2026):
    the plugin's own dev split, by the same hash, would be empty."""
    settings = with_epochs(settings, epochs)
    return (f"pipeline:\n  - plugin: normalize.soynlp\n  - plugin: {generator}\n"
            f"    patience: 100\n{settings}training:\n  seed: 7\n")


def train(generator: str, settings: str, epochs: int | None,
          examples: list) -> tuple[Pipeline, float]:
    pipeline = Pipeline.from_config(parse_config(config(generator, settings, epochs)))
    started = time.perf_counter()
    pipeline.fit(Corpus(examples=examples, name="chatbotdata train"), progress=True)
    return pipeline, time.perf_counter() - started


def pretrain_generator(model: str, datasets: list[str], out: Path,
                       epochs: int | None) -> dict:
    """Pretrain the Transformer seq2seq (denoising) or LM (causal) as ``chatbot pretrain``
    does."""
    settings = {**PRETRAIN, "model": model, "datasets": datasets}
    if epochs is not None:
        settings["epochs"] = epochs
    config = PretrainConfig(**settings)
    started = time.perf_counter()
    history = pretrain(config, load_corpus(datasets), out, progress=True)
    return {**settings, "seconds": round(time.perf_counter() - started, 1),
            "epochs_run": history.epochs}


def seq2seq_scores(pipeline: Pipeline, dev: list, references: list[str],
                   reference_morphemes: list[str]) -> dict:
    seq2seq = pipeline.plugins[1]
    messages = pipeline.plugins[0].process([Message(e.text) for e in dev])
    texts = [text_of(m) for m in messages]
    decoded = seq2seq.decode(texts)
    replies = [seq2seq.subwords.decode(ids) for ids in decoded.tokens]
    # Per-answer mean log-probability, averaged over answers, as a perplexity per subword.
    log_probs = seq2seq.likelihood(texts, references)
    return {**score(replies, references, reference_morphemes),
            "gold_perplexity": round(math.exp(-sum(log_probs) / len(log_probs)), 2),
            "examples": [{"question": e.text, "gold": e.answer, "reply": r}
                         for e, r in zip(dev[:10], replies[:10], strict=True)],
            "replies": replies}


def lm_scores(pipeline: Pipeline, dev: list, references: list[str]) -> dict:
    lm = pipeline.plugins[1]
    messages = pipeline.plugins[0].process([Message(e.text) for e in dev])
    scored = lm.answer_nll(messages, references)
    nll, count = sum(s for s, _ in scored), sum(c for _, c in scored)
    return {"gold_perplexity": round(math.exp(nll / max(count, 1)), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, help="epochs of every system, instead of each "
                        "one's own (a quick trial run)")
    parser.add_argument("--dev-limit", type=int, help="score only the first N dev questions")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--only", nargs="*", help="train only these systems")
    parser.add_argument("--pretrain-datasets", nargs="+", default=["demo"],
                        help="what seq2seq_transformer_pretrained is pretrained on (never "
                        "chatbotdata: its dev answers would leak)")
    parser.add_argument("--results", default="generators",
                        help="the results file's name (a run of some systems only: another "
                        "name, so that the full run's file stays)")
    args = parser.parse_args()
    if args.threads:
        os.environ["CHATBOT_THREADS"] = str(args.threads)
        apply_thread_policy()
    train_side, _, dev = chatbotdata_splits(args.dev_limit)
    references = [e.answer for e in dev]
    reference_morphemes = metrics.morphemes(references)
    systems: dict[str, dict] = {}
    replies: dict[str, list[str]] = {}
    folder = tempfile.TemporaryDirectory()
    pretrained_on = {}
    for name, settings in {**SEQ2SEQ, **LM}.items():
        if args.only and name not in args.only:
            continue
        kind = "seq2seq" if name in SEQ2SEQ else "lm"
        if "{pretrained}" in settings:
            out = Path(folder.name) / kind
            pretrained_on[name] = pretrain_generator(kind, args.pretrain_datasets, out,
                                                     args.epochs)
            settings = settings.replace("{pretrained}", str(out))
        generator = "respond.seq2seq" if name in SEQ2SEQ else "fallback.lm"
        pipeline, seconds = train(generator, settings, args.epochs, train_side)
        history = pipeline.plugins[1].history
        result = (seq2seq_scores(pipeline, dev, references, reference_morphemes)
                  if name in SEQ2SEQ else lm_scores(pipeline, dev, references))
        replies[name] = result.pop("replies", [])
        systems[name] = {"settings": with_epochs(settings, args.epochs).strip().replace(
                             "\n    ", "; "),
                         "train_seconds": round(seconds, 1),
                         "train_examples_per_second": round(history.examples_per_second, 1),
                         "best_epoch": history.best_epoch, **result,
                         "epochs": history.epochs}
        print(name, {k: v for k, v in systems[name].items() if k not in ("examples", "epochs")},
              file=sys.stderr, flush=True)
    versus = {}
    for name in ("seq2seq_transformer", "seq2seq_transformer_pretrained"):
        if replies.get("seq2seq_gru") and replies.get(name):
            # minus the GRU, the same resampled questions scoring both (95% intervals)
            versus[f"{name}_minus_gru"] = {
                **bootstrap_difference(replies["seq2seq_gru"], replies[name], references),
                **bootstrap_difference(metrics.morphemes(replies["seq2seq_gru"]),
                                       metrics.morphemes(replies[name]), reference_morphemes,
                                       unit="morpheme")}
            print(f"{name} - gru:", versus[f"{name}_minus_gru"], file=sys.stderr)
    path = write_results(args.results, {
        "epochs": args.epochs, "train": len(train_side), "dev": len(dev),
        "pretrained_on": pretrained_on or None, "systems": systems, **versus})
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
