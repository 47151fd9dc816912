"""Training and decoding speed of the generators, recurrent against Transformer, same run.

    python benchmarks/generator_speed.py [--train N] [--epochs N] [--questions N] [--threads N]

Each generator of benchmarks/generators.py (its settings, not pretrained: pretraining changes
the weights, not the speed) trains for ``--epochs`` on the first ``--train`` pairs of the train
side of ChatbotData (benchmarks/dialog.py's split), then answers ``--questions`` dev questions:

- training: examples per second through the shared training loop (dev split excluded);
- respond.seq2seq: replies per second, greedy and beam 4, one question at a time (batch 1,
  as a chat turn) and 32 at a time (as ``chatbot eval``), and the mean reply length of each,
  since a model that writes longer replies decodes fewer per second (a model trained briefly
  may write greedy replies to the length limit, which beam search's n-gram blocking stops);
- fallback.lm: sampled replies per second at batch 1 and 32.

Shared machines are noisy: the run times benchmarks/training_speed.py's fixed MLP workload
before and after, and reports every speed also as a ratio to it. Results:
benchmarks/results/generator_speed.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # chatbot, from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import write_results  # noqa: E402
from dialog import chatbotdata_splits, decoding_speed  # noqa: E402
from generators import LM, SEQ2SEQ, train, with_epochs  # noqa: E402
from training_speed import reference_speed  # noqa: E402

from chatbot.message import Message  # noqa: E402
from chatbot.training.threads import apply_thread_policy  # noqa: E402
from chatbot_plugins.respond.base import text_of  # noqa: E402

SYSTEMS = {
    "seq2seq_gru": ("respond.seq2seq", SEQ2SEQ["seq2seq_gru"]),
    "seq2seq_transformer": ("respond.seq2seq", SEQ2SEQ["seq2seq_transformer"]),
    "lm_lstm": ("fallback.lm", LM["lm_lstm"]),
    "lm_transformer": ("fallback.lm", LM["lm_transformer"]),
}


def sampling_speed(lm, messages: list[Message]) -> dict[str, float]:
    """Sampled replies per second of fallback.lm at batch 1 and 32."""
    speeds = {}
    for batch in (1, 32):
        started = time.perf_counter()
        for start in range(0, len(messages), batch):
            lm.generate(messages[start:start + batch])
        speeds[f"sample_batch_{batch}"] = round(len(messages) / (time.perf_counter() - started), 1)
    return speeds


def mean_reply_subwords(generator, messages: list[Message]) -> dict[str, float]:
    """The mean length, in subwords, of the replies the generator writes: for the seq2seq
    model with each decoding of :func:`decoding_speed`, for the language model as sampled."""
    if generator.name != "respond.seq2seq":
        tokens = [generator.subwords.encode([a.text])[0] for a in generator.generate(messages)]
        return {"sample": round(sum(map(len, tokens)) / len(tokens), 2)}
    original, lengths = generator.config, {}
    for decoding, beam in (("greedy", 1), ("beam", 4)):
        generator.config = original.model_copy(update={"decoding": decoding, "beam": beam})
        tokens = generator.decode([text_of(m) for m in messages]).tokens
        lengths[f"{decoding}_{beam}"] = round(sum(map(len, tokens)) / len(tokens), 2)
    generator.config = original
    return lengths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=4000, help="training pairs")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of every system")
    parser.add_argument("--questions", type=int, default=128, help="dev questions decoded")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--only", nargs="*", choices=list(SYSTEMS), help="these systems only")
    args = parser.parse_args()
    if args.threads:
        os.environ["CHATBOT_THREADS"] = str(args.threads)
        apply_thread_policy()
    train_side, _, dev = chatbotdata_splits()
    cpu = torch.device("cpu")
    reference_before = reference_speed(cpu)
    systems: dict[str, dict] = {}
    for name, (generator, settings) in SYSTEMS.items():
        if args.only and name not in args.only:
            continue
        pipeline, _ = train(generator, settings, args.epochs, train_side[:args.train])
        normalize, trained = pipeline.plugins
        messages = normalize.process([Message(e.text) for e in dev[:args.questions]])
        speeds = (decoding_speed(trained, [text_of(m) for m in messages])
                  if generator == "respond.seq2seq" else sampling_speed(trained, messages))
        systems[name] = {
            "settings": with_epochs(settings, args.epochs).strip().replace("\n    ", "; "),
            "train_examples_per_second": round(trained.history.examples_per_second, 1),
            "replies_per_second": speeds,
            "mean_reply_subwords": mean_reply_subwords(trained, messages),
        }
        print(name, systems[name], file=sys.stderr, flush=True)
    # The yardstick before and after: a large change means the machine's load changed.
    reference_after = reference_speed(cpu)
    reference = (reference_before + reference_after) / 2
    for result in systems.values():
        result["train_ratio_to_reference"] = round(
            result["train_examples_per_second"] / reference, 4)
    path = write_results("generator_speed", {
        "device": f"CPU, {torch.get_num_threads()} torch threads",
        "train": min(args.train, len(train_side)), "epochs": args.epochs,
        "questions": min(args.questions, len(dev)),
        "reference_examples_per_second": {"before": round(reference_before, 1),
                                          "after": round(reference_after, 1)},
        "systems": systems})
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
