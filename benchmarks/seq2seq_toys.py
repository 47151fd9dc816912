"""The two toy seq2seq tables of "Deep Learning from Scratch 2" (ch. 7 and 8), redone with the
respond plugin's own network, decoding and training loop.

    python benchmarks/seq2seq_toys.py [--tasks addition addition_uniform date] [--epochs N]
                                      [--threads 1] [--quick] [--progress]

The network is chatbot_plugins.respond.seq2seq_model.Seq2Seq, decoded by
chatbot_plugins.generation.decoding.greedy and trained by chatbot.training.loop.fit: the same
code as the plugin, not a copy. As in the book, every epoch ends with greedy decoding of the
whole test set and the score is whole-answer exact match; there is no dev set and no model
selection (the test set is what fit's evaluate callback scores; its patience is the number of
epochs, so it never stops early), and the numbers reported are those after the last epoch. Adam
(AdamW with weight decay 0) at 1e-3, batch 128, gradient norm clipped at 5, no dropout, teacher
forcing.

  - addition (ch. 7): "a+b", space-padded to 7 characters -> "_" + the sum, padded with spaces
    to 5 characters, which the model writes too (4 decoding steps after "_"). a and b have 1-3
    random digits each, as in the book's addition.txt (one in three is a single digit); each
    unordered pair occurs once. 50,000 examples from a fixed seed, 10% test. LSTM seq2seq
    without attention, one direction, embed 16, hidden 128, 25 epochs, in four variants: plain,
    reversed input, peeky, reversed + peeky.
  - addition_uniform: the same with a and b uniform in 0-999 (nine in ten have 3 digits).
  - date (ch. 8): random dates 1900-2099 written in 12 styles with mixed case ("september 27,
    1994", "9/27/94", "TUESDAY, SEP 27, 1994", "1994.09.27", "27-Sep-1994", ...) -> "1994-09-27".
    50,000 examples, 10% test. LSTM with Luong dot attention (the book's attention: the current
    decoder output scores the encoder outputs), one direction, reversed input as in the book,
    embed 16, hidden 256, 10 epochs. One attention matrix is drawn. (The book's date.txt has
    five styles and years of about 1970-2017: ours is the harder task.)

Input reversal reverses the source ids before padding (padding is never read: it is packed).
--quick: 5,000 examples and 2 epochs per task, to try the script. Results:
benchmarks/results/seq2seq_toys.json and .md, benchmarks/results/seq2seq_date_attention.png.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from common import RESULTS, write_results
from torch import nn
from torch.nn import functional as F

from chatbot.plugin import TrainContext
from chatbot.training.loop import TrainSettings, fit
from chatbot.training.threads import apply_thread_policy
from chatbot_plugins.generation.decoding import greedy
from chatbot_plugins.respond.seq2seq_model import Seq2Seq

SEED = 1984  # the data; the book shuffles its files with this seed
PAD = 0
BATCH = 128
EVAL_BATCH = 1000
PNG = "seq2seq_date_attention.png"
TASKS = ["addition", "addition_uniform", "date"]

# Test accuracy in the book: addition after 25 epochs; date after 3 and from 8 epochs on.
PUBLISHED_ADDITION = {"plain": 0.086, "reversed": 0.543, "peeky": 0.816,
                      "reversed + peeky": 0.993}
PUBLISHED_DATE = {3: 0.999, 8: 1.0}
ADDITION_VARIANTS = {  # name: (reverse the input, peeky)
    "plain": (False, False), "reversed": (True, False), "peeky": (False, True),
    "reversed + peeky": (True, True),
}


# ------------------------------------------------------------------------------------- data


def book_number(rng: random.Random) -> int:
    """1 to 3 random digits, as the book's addition.txt (and Keras' addition_rnn) draws them."""
    return int("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 3))))


def uniform_number(rng: random.Random) -> int:
    return rng.randint(0, 999)


def addition_pairs(count: int, rng: random.Random, number: Callable[[random.Random], int],
                   ) -> list[tuple[str, str]]:
    """Questions and answers in the shape of the book's addition.txt: ("16+75  ", "_91  ").

    Each unordered pair {a, b} occurs once, as in the book's file, so no test question was seen
    in training.
    """
    pairs, seen = [], set()
    while len(pairs) < count:
        a, b = number(rng), number(rng)
        if (min(a, b), max(a, b)) in seen:
            continue
        seen.add((min(a, b), max(a, b)))
        pairs.append((f"{a}+{b}".ljust(7), f"_{a + b}".ljust(5)))
    return pairs


MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _month(d: datetime.date) -> str:
    return MONTHS[d.month - 1]


def _weekday(d: datetime.date) -> str:
    return WEEKDAYS[d.weekday()]


# Each style: (format, uses a two-digit year). Day/month order is never ambiguous: the only
# all-number styles with the day first have a four-digit year at the end ("27/09/1994"), the
# only one with the month first has a two-digit year ("9/27/94").
DATE_STYLES: list[tuple[Callable[[datetime.date], str], bool]] = [
    (lambda d: f"{_month(d)} {d.day}, {d.year}", False),  # september 27, 1994
    (lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}", True),  # 9/27/94
    (lambda d: f"{_weekday(d)}, {_month(d)[:3]} {d.day}, {d.year}", False),  # tuesday, sep 27, 1994
    (lambda d: f"{_weekday(d)}, {_month(d)} {d.day}, {d.year}", False),  # tuesday, september 27..
    (lambda d: f"{d.day} {_month(d)} {d.year}", False),  # 27 september 1994
    (lambda d: f"{d.year}.{d.month:02d}.{d.day:02d}", False),  # 1994.09.27
    (lambda d: f"{_month(d)[:3]} {d.day} {d.year}", False),  # sep 27 1994
    (lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}", False),  # 27/09/1994
    (lambda d: f"{d.day}-{_month(d)[:3]}-{d.year}", False),  # 27-sep-1994
    (lambda d: f"{_month(d)[:3]}. {d.day}, {d.year}", False),  # sep. 27, 1994
    (lambda d: f"{d.year}/{d.month}/{d.day}", False),  # 1994/9/27
    (lambda d: f"{_weekday(d)[:3]} {d.day} {_month(d)[:3]} {d.year}", False),  # tue 27 sep 1994
]
CASES = (str.lower, str.title, str.upper)


def date_pairs(count: int, rng: random.Random) -> list[tuple[str, str]]:
    """Random dates 1900-2099 in random styles and cases → ("...", "_1994-09-27").

    A two-digit year is read as POSIX strptime does (69-99 → 19xx, 00-68 → 20xx), so that style
    is only drawn for years 1969-2068.
    """
    first = datetime.date(1900, 1, 1).toordinal()
    last = datetime.date(2099, 12, 31).toordinal()
    pairs = []
    for _ in range(count):
        day = datetime.date.fromordinal(rng.randint(first, last))
        while True:
            style, two_digit_year = rng.choice(DATE_STYLES)
            if not two_digit_year or 1969 <= day.year <= 2068:
                break
        pairs.append((rng.choice(CASES)(style(day)), f"_{day.isoformat()}"))
    return pairs


@dataclass
class Task:
    """Encoded examples of one task: (source ids, target ids with "_" first)."""

    chars: list[str]  # id → character; id 0 is padding
    train: list[tuple[list[int], list[int]]]
    test: list[tuple[list[int], list[int]]]

    @property
    def bos(self) -> int:
        return self.chars.index("_")


def encode_task(pairs: list[tuple[str, str]], reverse: bool) -> Task:
    """Character ids over both sides (like the book's vocabulary); the last 10% is the test."""
    chars = ["<pad>", *sorted({c for pair in pairs for text in pair for c in text})]
    index = {c: i for i, c in enumerate(chars)}
    encoded = []
    for question, answer in pairs:
        # The addition questions' space padding is the book's; ours is id 0 and packed away.
        source = [index[c] for c in question.rstrip(" ")]
        encoded.append((source[::-1] if reverse else source, [index[c] for c in answer]))
    split = len(encoded) - len(encoded) // 10
    return Task(chars=chars, train=encoded[:split], test=encoded[split:])


def pad(rows: Sequence[list[int]]) -> torch.Tensor:
    """Id lists → (rows, longest) with 0 after each row's end."""
    out = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)  # (batch, longest)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row)
    return out


def collate(examples: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
    return {"source": pad([s for s, _ in examples]),  # (batch, src_len)
            "target": pad([t for _, t in examples])}  # (batch, 1 + answer)


def loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy of every answer character, the model fed the gold previous one."""
    target = batch["target"]  # (batch, 1 + answer)
    logits = model(batch["source"], target[:, :-1])  # (batch, answer, vocab)
    return F.cross_entropy(logits.float().transpose(1, 2), target[:, 1:], ignore_index=PAD)


def exact_match(model: Seq2Seq, examples: Sequence[tuple[list[int], list[int]]],
                device: torch.device, bos: int) -> float:
    """Share of examples whose whole answer greedy decoding gets right."""
    right = 0
    for start in range(0, len(examples), EVAL_BATCH):
        chunk = examples[start:start + EVAL_BATCH]
        answers = [t[1:] for _, t in chunk]
        # Answers have a fixed width and no EOS: decode exactly that many characters.
        result = greedy(model, pad([s for s, _ in chunk]).to(device), bos, eos=-1,
                        max_len=len(answers[0]))
        right += sum(out == gold for out, gold in zip(result.tokens, answers, strict=True))
    return right / max(len(examples), 1)


# ---------------------------------------------------------------------------------- training


def train(label: str, model: Seq2Seq, task: Task, epochs: int, args: argparse.Namespace,
          ) -> dict[str, Any]:
    """Train with the shared loop; test accuracy after every epoch (the book's protocol)."""
    started, per_epoch = time.perf_counter(), []

    def evaluate(model: nn.Module, test: Sequence[Any], device: torch.device) -> dict[str, float]:
        accuracy = exact_match(model, test, device, task.bos)
        per_epoch.append({"epoch": len(per_epoch) + 1, "test_accuracy": round(accuracy, 4),
                          "minutes": round((time.perf_counter() - started) / 60, 2)})
        print(f"{label}: epoch {len(per_epoch)}/{epochs} test accuracy {accuracy:.4f} "
              f"({per_epoch[-1]['minutes']:.1f} min)", file=sys.stderr, flush=True)
        return {"dev_accuracy": accuracy}

    settings = TrainSettings(epochs=epochs, batch_size=BATCH, learning_rate=1e-3,
                             weight_decay=0.0, grad_clip=5.0, patience=epochs, dev_share=0.1)
    context = TrainContext(seed=args.seed, device="cpu", progress=args.progress)
    history = fit(model, task.train, task.test, collate, loss, evaluate, settings, context,
                  name=label, monitor="dev_accuracy")
    return {
        "test_accuracy": per_epoch[-1]["test_accuracy"],
        "epochs": len(per_epoch),
        "per_epoch": per_epoch,
        "train_loss": [row["train_loss"] for row in history.epochs],
        "minutes": round((time.perf_counter() - started) / 60, 2),
        "examples_per_second": round(history.examples_per_second, 1),
    }


NUMBERS = {  # task: (how a and b are drawn, in words)
    "addition": (book_number, "as in the book's addition.txt: 1-3 random digits each"),
    "addition_uniform": (uniform_number, "uniform in 0-999 each (harder: 90% have 3 digits)"),
}


def run_addition(task_name: str, args: argparse.Namespace, count: int, epochs: int,
                 ) -> dict[str, Any]:
    number, numbers = NUMBERS[task_name]
    pairs = addition_pairs(count, random.Random(SEED), number)
    variants = {}
    for name, (reverse, peeky) in ADDITION_VARIANTS.items():
        task = encode_task(pairs, reverse)
        torch.manual_seed(args.seed)
        model = Seq2Seq(len(task.chars), len(task.chars), embed_dim=16, hidden=128, cell="lstm",
                        bidirectional=False, attention="none", peeky=peeky, dropout=0.0)
        result = train(f"{task_name} {name}", model, task, epochs, args)
        variants[name] = {"reversed": reverse, "peeky": peeky, **result,
                          "published_test_accuracy": PUBLISHED_ADDITION[name]}
    return {"numbers": numbers, "examples": count, "train": len(task.train),
            "test": len(task.test), "examples_of_questions": [q for q, _ in pairs[:8]],
            "epochs": epochs, "published_epochs": 25,
            "model": "LSTM seq2seq, no attention, one direction, embed 16, hidden 128",
            "variants": variants}


def run_date(args: argparse.Namespace, count: int, epochs: int) -> dict[str, Any]:
    pairs = date_pairs(count, random.Random(SEED))
    task = encode_task(pairs, reverse=True)
    torch.manual_seed(args.seed)
    model = Seq2Seq(len(task.chars), len(task.chars), embed_dim=16, hidden=256, cell="lstm",
                    bidirectional=False, attention="luong_dot", peeky=False, dropout=0.0)
    result = train("date", model, task, epochs, args)
    example = draw_attention(model, task, datetime.date(1994, 9, 27))
    return {"examples": count, "train": len(task.train), "test": len(task.test),
            "styles": len(DATE_STYLES), "examples_of_styles": [q for q, _ in pairs[:8]],
            "model": "LSTM, Luong dot attention, one direction, reversed input, embed 16, "
                     "hidden 256",
            **result, "published_test_accuracy": {str(k): v for k, v in PUBLISHED_DATE.items()},
            "attention_example": example}


def draw_attention(model: Seq2Seq, task: Task, day: datetime.date) -> dict[str, str]:
    """Decode one date and save its attention matrix, source characters in reading order."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    question = f"{_weekday(day)}, {_month(day)} {day.day}, {day.year}".title()
    index = {c: i for i, c in enumerate(task.chars)}
    source = [index[c] for c in question][::-1]  # reversed, as trained
    result = greedy(model, torch.tensor([source]), task.bos, eos=-1, max_len=10)
    answer = "".join(task.chars[i] for i in result.tokens[0])
    weights = result.attention[0].flip(1).numpy()  # (10, src_len), columns in reading order
    figure, axis = plt.subplots(figsize=(9, 4.5), dpi=100)
    axis.imshow(weights, cmap="gray", vmin=0.0, vmax=1.0, aspect="auto")
    axis.set_xticks(range(len(question)), list(question))
    axis.set_yticks(range(len(answer)), list(answer))
    axis.set_xlabel("input (read reversed by the encoder; shown in reading order)")
    axis.set_ylabel("output")
    axis.set_title(f"Luong dot attention: {question!r} → {answer!r}")
    figure.tight_layout()
    figure.savefig(RESULTS / PNG)
    plt.close(figure)
    return {"input": question, "output": answer, "png": f"benchmarks/results/{PNG}"}


# ---------------------------------------------------------------------------------- report


def markdown(results: dict[str, Any]) -> str:
    lines = ["# Toy seq2seq tasks of \"Deep Learning from Scratch 2\"", "",
             "Written by `benchmarks/seq2seq_toys.py` (one seed); test accuracy is "
             "whole-answer exact match with greedy decoding after the last epoch. The addition "
             "curves still move by a few points from epoch to epoch, so the mean of the last "
             "five epochs is given too; every epoch is in `seq2seq_toys.json`.", ""]
    for task in NUMBERS:
        if task not in results:
            continue
        add = results[task]
        lines += [f"## Addition (ch. 7), `{task}`: a and b {add['numbers']}; "
                  f"{add['train']:,} train / {add['test']:,} test; {add['model']}", ""]
        if task != "addition":
            lines += ["The published numbers are on the book's data (the table above), shown "
                      "for reference.", ""]
        lines += [f"| variant | ours, {add['epochs']} epochs | ours, mean of the last 5 epochs "
                  "| published, 25 epochs | minutes |", "|---|---:|---:|---:|---:|"]
        for variant, row in add["variants"].items():
            last = [r["test_accuracy"] for r in row["per_epoch"][-5:]]
            lines.append(f"| {variant} | {row['test_accuracy']:.1%} | "
                         f"{sum(last) / len(last):.1%} | "
                         f"{row['published_test_accuracy']:.1%} | {row['minutes']:.1f} |")
        lines.append("")
    if "date" in results:
        date = results["date"]
        lines += [f"## Date format (ch. 8): {date['train']:,} train / {date['test']:,} test, "
                  f"{date['styles']} input styles, {date['model']}", "",
                  "| epoch | ours | published | minutes |", "|---:|---:|---:|---:|"]
        for row in date["per_epoch"]:
            epoch = row["epoch"]
            # The book gives 99.9% after epoch 3 and 100% from epoch 8 on.
            published = 1.0 if epoch >= 8 else PUBLISHED_DATE.get(epoch)
            lines.append(f"| {epoch} | {row['test_accuracy']:.2%} | "
                         f"{'' if published is None else f'{published:.1%}'} | "
                         f"{row['minutes']:.1f} |")
        example = date["attention_example"]
        lines += ["", f"Attention of {example['input']!r} → {example['output']!r}: "
                  f"![attention]({PNG})", ""]
    lines.append(f"Total: {results['minutes']:.1f} minutes with {results['torch_threads']} "
                 "torch thread(s).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="*", default=TASKS, choices=TASKS)
    parser.add_argument("--epochs", type=int, help="epochs of every task (addition 25, date 10)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the machine is shared)")
    parser.add_argument("--quick", action="store_true", help="5,000 examples and 2 epochs")
    parser.add_argument("--seed", type=int, default=42, help="seed of the models and batches")
    parser.add_argument("--progress", action="store_true", help="progress bars")
    args = parser.parse_args(argv)
    os.environ["CHATBOT_THREADS"] = str(args.threads)  # what training.threads: auto uses
    apply_thread_policy()
    count = 5_000 if args.quick else 50_000
    started, results = time.perf_counter(), {}
    for name in NUMBERS:
        if name in args.tasks:
            results[name] = run_addition(name, args, count,
                                         args.epochs or (2 if args.quick else 25))
    if "date" in args.tasks:
        results["date"] = run_date(args, count, args.epochs or (2 if args.quick else 10))
    results.update(minutes=round((time.perf_counter() - started) / 60, 1),
                   torch_threads=torch.get_num_threads(), quick=args.quick, seed=args.seed)
    path = write_results("seq2seq_toys", results)
    (RESULTS / "seq2seq_toys.md").write_text(markdown(results), encoding="utf-8")
    print(f"wrote {path} and {RESULTS / 'seq2seq_toys.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
