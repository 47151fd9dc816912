"""Choose respond.retrieval's acceptance settings on the tune probes, from labelled candidates.

    python benchmarks/retrieval_tune.py --model DIR [--penalty 3]

``benchmarks/probes/tune.jsonl`` is a probe set kept apart from the report set
(``probes.jsonl``), and ``tune-labels.csv`` says, for the candidate replies that retrieval finds
for each of its turns, whether the reply fits (a judge's reading of RUBRIC.md's *sensible*).
This script answers every tune conversation with the model (its own replies make the history),
lists every candidate of every turn with what the settings look at (the question's similarity,
whether its intent is the predicted one, its relevance), and replays the acceptance rule of
respond.retrieval for a grid of settings: which candidate each turn would send, and whether it
fits. A setting scores ``fitting − penalty × not fitting``; ``--penalty 3`` says an off-topic
reply costs three times what a fitting one gains. Writes benchmarks/results/retrieval_tune.json.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # chatbot, from a checkout

from chatbot.message import Exchange, Message  # noqa: E402
from chatbot.pipeline import Pipeline  # noqa: E402

PROBES = Path(__file__).resolve().parent / "probes"
RESULTS = Path(__file__).resolve().parent / "results" / "retrieval_tune.json"
GRID = {
    "threshold": [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6],
    "intent_gate": [None, 0.6, 0.7, 0.8, 1.0],
    "min_relevance": [0.0, 0.4, 0.5, 0.6],
    "sure_similarity": [None, 0.55, 0.6, 0.7],
}
# Every candidate through, so that each gets its similarity, intent and relevance.
WIDE = {"threshold": 0.0, "intent_gate": None, "min_relevance": 0.0, "sure_similarity": None}


def labelled_candidates(model: str, probes: list[dict], labels: dict) -> list[list[dict]]:
    """For each tune turn, its labelled candidates with their features."""
    bot, wide = Pipeline.load(model), Pipeline.load(model)
    retrieval = next(p for p in wide.plugins if p.name == "respond.retrieval")
    retrieval.config = retrieval.config.model_copy(update=WIDE)
    turns = []
    for probe in probes:
        history: list[Exchange] = []
        for index, text in enumerate(probe["turns"]):
            turn = f"{probe['id']}.{index}"
            seen = wide.process([Message(text=text, history=list(history))])[0]
            relevance = {check.reply: check.relevance
                         for check in seen.extras.get("relevance", [])}
            match = seen.extras.get("retrieval")
            predicted = seen.intent.label if seen.intent else None
            turns.append([
                {"similarity": c.similarity, "relevance": relevance[c.answer],
                 "same_intent": c.intent is None or c.intent == predicted,
                 "fits": labels[(turn, c.answer)]}
                for c in (match.candidates if match else [])
                if (turn, c.answer) in labels and c.answer in relevance])
            reply = bot.process([Message(text=text, history=list(history))])[0]
            history = [*history, Exchange(text, reply.reply or "")][-3:]
    return turns


def replay(turns: list[list[dict]], threshold: float, intent_gate: float | None,
           min_relevance: float, sure_similarity: float | None) -> tuple[int, int]:
    """How many turns retrieval would answer with these settings, and how many fittingly."""
    sent = fitting = 0
    for candidates in turns:
        usable = [c for c in candidates if c["similarity"] >= threshold and (
            intent_gate is None or c["same_intent"] or c["similarity"] >= intent_gate)]
        passing = [c for c in usable if c["relevance"] >= min_relevance or (
            sure_similarity is not None and c["similarity"] >= sure_similarity)]
        if passing:
            best = max(passing, key=lambda c: c["similarity"] + c["relevance"])
            sent += 1
            fitting += best["fits"]
    return sent, fitting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a trained pipeline's directory")
    parser.add_argument("--penalty", type=float, default=3.0,
                        help="what a reply that does not fit costs, against 1 for one that fits")
    args = parser.parse_args()
    with open(PROBES / "tune.jsonl", encoding="utf-8") as lines:
        probes = [json.loads(line) for line in lines if line.strip()]
    with open(PROBES / "tune-labels.csv", encoding="utf-8", newline="") as rows:
        labels = {(row["turn"], row["reply"]): row["fits"] == "yes" for row in csv.DictReader(rows)}
    turns = labelled_candidates(args.model, probes, labels)
    results = []
    for values in itertools.product(*GRID.values()):
        settings = dict(zip(GRID, values, strict=True))
        sent, fitting = replay(turns, **settings)
        results.append({**settings, "sent": sent, "fitting": fitting,
                        "score": round(fitting - args.penalty * (sent - fitting), 2)})
    results.sort(key=lambda row: (-row["score"], -row["sent"]))
    own = next(p for p in Pipeline.load(args.model).plugins if p.name == "respond.retrieval")
    settings = {name: getattr(own.config, name) for name in GRID}
    settings["min_relevance"] = own.min_relevance()  # "auto": the relevance step's threshold
    sent, fitting = replay(turns, **settings)
    report = {
        "benchmark": "retrieval_tune",
        "machine": {"python": platform.python_version(),
                    "when": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "model": args.model, "penalty": args.penalty, "turns": len(turns),
        "labelled_candidates": sum(len(t) for t in turns),
        "turns_with_a_fitting_candidate": sum(any(c["fits"] for c in t) for t in turns),
        "the_model's_settings": {**settings, "sent": sent, "fitting": fitting},
        "best": results[:10],
    }
    RESULTS.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("turns", "labelled_candidates",
                                             "turns_with_a_fitting_candidate")}))
    print("the model's settings:", report["the_model's_settings"])
    for row in results[:10]:
        print(row)


if __name__ == "__main__":
    main()
