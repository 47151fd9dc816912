"""Replies of a bot to the probe set, for judging by hand (benchmarks/probes/RUBRIC.md).

    python benchmarks/probes_run.py [--model DIR|default] [--name NAME]

Every probe of ``benchmarks/probes/probes.jsonl`` is sent through the chat service, the way
``chatbot serve`` answers users: one conversation per probe, its turns in order, every turn
logged (to a throw-away log). Writes ``benchmarks/probes/outputs/NAME.jsonl``: one line per
turn with the probe, the turn's text, the reply, the responder and its confidence.

Judging is blind: ``--blind A.jsonl B.jsonl ... --seed N`` writes ``judge.jsonl``, every
reply of every system in one shuffled list under random codes (the key goes to
``judge-key.json``), with the conversation so far as that system had it, and
``judge-labels.csv`` for the judge's labels (sensible, helpful_fallback or nonsense; the
reason; for a follow-up, whether it stays on topic: yes or no). ``--score`` turns the filled
labels into each system's shares: benchmarks/results/probes.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # chatbot, from a checkout

from chatbot.data.logstore import LogStore  # noqa: E402
from chatbot.default_model import DEFAULT_MODEL_NAME, model_directory  # noqa: E402
from chatbot.pipeline import Pipeline  # noqa: E402
from chatbot.serving.service import ChatService, model_version  # noqa: E402

PROBES = Path(__file__).resolve().parent / "probes"
LABELS = ("sensible", "helpful_fallback", "nonsense")


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
            rows = [json.loads(line) for line in lines if line.strip()]
        replies = {(row["id"], row["turn"]): row["reply"] for row in rows}
        for row in rows:
            code = f"r{rng.randrange(16**8):08x}"
            key[code] = {"system": path.stem, "id": row["id"], "turn": row["turn"]}
            # The judge sees the conversation so far: the user's turns and this same
            # system's replies to them.
            earlier = [{"user": text, "bot": replies[(row["id"], turn)]}
                       for turn, text in enumerate(row["context"])]
            items.append({"code": code, "kind": row["kind"], "earlier": earlier,
                          "text": row["text"], "reply": row["reply"]})
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


def score(folder: Path) -> dict:
    """Each system's share of sensible, helpful-fallback and nonsense replies (overall and by
    kind of probe), the reasons for nonsense, and the share of follow-up replies that stay in
    the topic, from the judge's labels and the key."""
    key = json.loads((folder / "judge-key.json").read_text(encoding="utf-8"))
    with open(folder / "judge-labels.csv", encoding="utf-8", newline="") as rows:
        labels = list(csv.DictReader(rows))
    kinds = {probe["id"]: probe["kind"] for probe in read_probes()}
    missing = [row["code"] for row in labels if row["label"] not in LABELS]
    if missing:
        raise SystemExit(f"{len(missing)} replies have no valid label (first: {missing[0]}); "
                         f"a label is one of {', '.join(LABELS)}")
    systems: dict[str, dict] = {}
    for row in labels:
        where = key[row["code"]]
        system = systems.setdefault(where["system"], {"rows": []})
        system["rows"].append({**row, "kind": kinds[where["id"]], "turn": where["turn"]})
    results = {}
    for name, system in sorted(systems.items()):
        rows = system["rows"]
        follow_ups = [row for row in rows if row["turn"] > 0]
        results[name] = {
            "replies": len(rows),
            **{label: _share(rows, label) for label in LABELS},
            "by_kind": {kind: {"replies": len(part), **{label: _share(part, label)
                                                        for label in LABELS}}
                        for kind in sorted({row["kind"] for row in rows})
                        for part in [[row for row in rows if row["kind"] == kind]]},
            "nonsense_reasons": dict(Counter(row["reason"].split(":")[0].strip() or "(none)"
                                             for row in rows if row["label"] == "nonsense")),
            "follow_ups": len(follow_ups),
            "follow_ups_on_topic": round(sum(row["on_topic"] == "yes" for row in follow_ups)
                                         / max(len(follow_ups), 1), 4),
        }
    return results


def _share(rows: list[dict], label: str) -> float:
    return round(sum(row["label"] == label for row in rows) / max(len(rows), 1), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME,
                        help="a trained pipeline directory, or 'default' (the default bot)")
    parser.add_argument("--name", help="the output's name (default: the model folder's)")
    parser.add_argument("--blind", nargs="+", type=Path, metavar="OUTPUT",
                        help="instead of running a bot: shuffle these outputs for judging")
    parser.add_argument("--seed", type=int, default=0, help="the shuffle's seed (--blind)")
    parser.add_argument("--score", action="store_true", help="instead of running a bot: "
                        "score the judged labels (judge-labels.csv with judge-key.json) into "
                        "benchmarks/results/RESULTS.json")
    parser.add_argument("--judging", default="outputs", metavar="FOLDER",
                        help="the folder under benchmarks/probes of a judging round's files "
                        "(--blind, --score), so that a later round keeps an earlier one's")
    parser.add_argument("--results", default="probes", help="--score's results file's name")
    args = parser.parse_args()
    outputs = PROBES / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    judging = PROBES / args.judging
    judging.mkdir(parents=True, exist_ok=True)
    if args.score:
        from common import write_results

        results = score(judging)
        for name, result in results.items():
            print(f"{name}: sensible {result['sensible']:.1%}, helpful fallback "
                  f"{result['helpful_fallback']:.1%}, nonsense {result['nonsense']:.1%}, "
                  f"follow-ups on topic {result['follow_ups_on_topic']:.1%}")
        print(f"wrote {write_results(args.results, {'systems': results})}")
        return
    if args.blind:
        blind(args.blind, args.seed, judging)
        print(f"wrote {judging / 'judge.jsonl'} and judge-labels.csv (key: judge-key.json)")
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
