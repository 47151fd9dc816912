"""Replies of a bot to the probe set, for judging by hand (benchmarks/probes/RUBRIC.md).

    python benchmarks/probes_run.py [--model DIR|default] [--name NAME]

Every probe of ``benchmarks/probes/probes.jsonl`` is sent through the chat service, the way
``chatbot serve`` answers users: one conversation per probe, its turns in order, every turn
logged (to a throw-away log). Writes ``benchmarks/probes/outputs/NAME.jsonl``: one line per
turn with the probe, the turn's text, the reply, the responder and its confidence.

Judging is blind: ``--blind A.jsonl B.jsonl ... --seed N`` writes ``judge.jsonl``, every
reply of every system in one shuffled list under random codes (the key goes to
``judge-key.json``), and ``judge-labels.csv`` for the judge's labels.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # chatbot, from a checkout

from chatbot.data.logstore import LogStore  # noqa: E402
from chatbot.default_model import DEFAULT_MODEL_NAME, model_directory  # noqa: E402
from chatbot.pipeline import Pipeline  # noqa: E402
from chatbot.serving.service import ChatService, model_version  # noqa: E402

PROBES = Path(__file__).resolve().parent / "probes"


def read_probes(path: Path = PROBES / "probes.jsonl") -> list[dict]:
    """The probes, in file order."""
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def answer_probes(service: ChatService, probes: list[dict]) -> list[dict]:
    """One row per turn: the probe's conversation, in order, through ``service``."""
    rows = []
    for probe in probes:
        conversation = service.new_conversation()
        for index, text in enumerate(probe["turns"]):
            reply = service.respond(text, conversation)
            message = reply.message
            rows.append({
                "id": probe["id"], "kind": probe["kind"], "topic": probe["topic"],
                "turn": index, "follow_up": index > 0, "context": probe["turns"][:index],
                "text": text, "reply": reply.text,
                "responder": message.responder if message else None,
                "confidence": (round(message.reply_confidence, 4)
                               if message and message.reply_confidence is not None else None),
            })
    return rows


def blind(outputs: list[Path], seed: int, folder: Path) -> None:
    """Every reply of every system, shuffled, under codes that hide the system."""
    rng = random.Random(seed)
    items, key = [], {}
    for path in outputs:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                row = json.loads(line)
                code = f"r{rng.randrange(16**8):08x}"
                key[code] = {"system": path.stem, "id": row["id"], "turn": row["turn"]}
                items.append({"code": code, "context": row["context"], "text": row["text"],
                              "reply": row["reply"]})
    rng.shuffle(items)
    (folder / "judge.jsonl").write_text(
        "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items),
        encoding="utf-8")
    (folder / "judge-key.json").write_text(json.dumps(key, ensure_ascii=False, indent=1),
                                           encoding="utf-8")
    with open(folder / "judge-labels.csv", "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["code", "label", "reason", "on_topic"])
        for item in items:
            writer.writerow([item["code"], "", "", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME,
                        help="a trained pipeline directory, or 'default' (the default bot)")
    parser.add_argument("--name", help="the output's name (default: the model folder's)")
    parser.add_argument("--blind", nargs="+", type=Path, metavar="OUTPUT",
                        help="instead of running a bot: shuffle these outputs for judging")
    parser.add_argument("--seed", type=int, default=0, help="the shuffle's seed (--blind)")
    args = parser.parse_args()
    outputs = PROBES / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    if args.blind:
        blind(args.blind, args.seed, outputs)
        print(f"wrote {outputs / 'judge.jsonl'} and judge-labels.csv (key: judge-key.json)")
        return

    directory = model_directory(args.model, progress=sys.stderr.isatty(),
                                notify=lambda line: print(line, file=sys.stderr))
    pipeline = Pipeline.load(directory)
    pipeline.warm_up()
    with tempfile.TemporaryDirectory() as scratch:
        service = ChatService(pipeline, LogStore(Path(scratch) / "log.sqlite"),
                              model_version(directory))
        try:
            rows = answer_probes(service, read_probes())
        finally:
            service.close()
    path = outputs / f"{args.name or directory.name}.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
                    encoding="utf-8")
    responders: dict[str, int] = {}
    for row in rows:
        responders[row["responder"]] = responders.get(row["responder"], 0) + 1
    print(f"wrote {path}: {len(rows)} replies; responders {responders}")


if __name__ == "__main__":
    main()
