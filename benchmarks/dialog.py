"""Reply quality on chatbotdata: the chain of responders against TF-IDF retrieval and the LM.

    python benchmarks/dialog.py [--config chatbotdata] [--dev-limit N] [--threads N]
                                [--save DIR | --model DIR]

One deterministic split of chatbotdata (a tenth for dev, repeated questions kept on one side);
a tenth of the train side is held out again ("tune") for choosing the chain's thresholds.
On the rest, the config's pipeline is trained once (its responders, its language model).
On dev, in the same run, four systems answer every question:
  - chain: the pipeline as configured (retrieval → seq2seq → LM fallback);
  - chain_tuned: the same models, with retrieval's intent_weight and threshold and seq2seq's
    rerank bonus chosen on "tune" (the grid is in the results);
  - tfidf_retrieval: the answer of the nearest training question by character 1-3-gram
    TF-IDF cosine (scikit-learn), always answering, on the same training questions;
  - lm_alone: the pipeline's fallback.lm answering everything.
Scores: BLEU-4 and chrF (sacrebleu) on eojeol (whitespace words) and on morphemes (mecab),
distinct-1/2 of the replies, mean reply length, the share answered by each responder, and the
perplexity of the gold answers under the LM and the seq2seq model; the chain's difference from
TF-IDF retrieval in BLEU-4 and chrF with a 95% paired bootstrap interval. Then decoding speed of
respond.seq2seq: replies/second, greedy and beam 4, batch 1 and 32.
Results: benchmarks/results/dialog.json.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import yaml
from common import write_results
from sklearn.feature_extraction.text import TfidfVectorizer

from chatbot.config import load_config
from chatbot.contract import RetrievalCandidate
from chatbot.data.corpus import Corpus
from chatbot.data.datasets import load_dataset
from chatbot.data.splits import split_examples
from chatbot.evaluation import metrics
from chatbot.message import Message
from chatbot.pipeline import Pipeline
from chatbot.training.threads import apply_thread_policy
from chatbot_plugins.respond.base import Answer, text_of
from chatbot_plugins.respond.seq2seq_rerank import rerank

SPEED_QUESTIONS = 64
# 1.01: retrieval never answers alone
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.01)
BONUSES = (None, 0.0, 0.5, 1.0, 2.0, 4.0)  # None: no reranking
INTENT_WEIGHTS = (0.0, 0.1, 0.2, 0.3)  # retrieval's bonus for the predicted intent


def plugin(pipeline: Pipeline, name: str):
    return next(p for p in pipeline.plugins if p.name == name)


def corpus_bleu(replies: list[str], references: list[str]) -> float:
    return round(metrics.bleu_score(metrics.bleu_statistics(replies, references)), 2)


def corpus_chrf(replies: list[str], references: list[str]) -> float:
    return round(metrics.chrf_score(metrics.chrf_statistics(replies, references)), 2)


def score(replies: list[str], references: list[str],
          reference_morphemes: list[str]) -> dict[str, Any]:
    """The reply metrics of chatbot eval (chatbot/evaluation/metrics.py)."""
    hypothesis_morphemes = metrics.morphemes(replies)
    return {
        "bleu4_eojeol": corpus_bleu(replies, references),
        "chrf_eojeol": corpus_chrf(replies, references),
        "bleu4_morpheme": corpus_bleu(hypothesis_morphemes, reference_morphemes),
        "chrf_morpheme": corpus_chrf(hypothesis_morphemes, reference_morphemes),
        "distinct1": round(metrics.distinct(replies, 1), 4),
        "distinct2": round(metrics.distinct(replies, 2), 4),
        "mean_words": round(sum(len(r.split()) for r in replies) / max(len(replies), 1), 2),
    }


def tfidf_retrieval(train, dev) -> list[str]:
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
    questions = vectorizer.fit_transform([e.text for e in train])
    similarity = vectorizer.transform([e.text for e in dev]) @ questions.T  # (dev, train)
    nearest = similarity.argmax(axis=1).A1
    return [train[i].answer for i in nearest]


@dataclass
class Written:
    """seq2seq's and the LM's reply to every question, computed once: they do not depend on
    retrieval's settings."""

    replies: list[Answer | str]  # seq2seq's (a string: it wrote nothing)
    log_probs: list[float]  # their mean token log-probability
    sampled: list[Answer]  # the LM's


@dataclass
class Retrieved:
    """Retrieval's answer to every question under one setting of its ranking, and its
    candidates scored by seq2seq, so that the chain's choices (retrieval's threshold,
    reranking) can be replayed without running the models again."""

    nearest: list[Answer]
    candidates: list[list[tuple[RetrievalCandidate, float]]]  # with their log-likelihood


def set_retrieval(pipeline: Pipeline, **settings: float) -> None:
    retrieval = plugin(pipeline, "respond.retrieval")
    retrieval.config = retrieval.config.model_copy(update=settings)


def apply_settings(pipeline: Pipeline, overrides: list[str]) -> None:
    """``plugin.setting=value`` overrides on a loaded pipeline (run-time settings only)."""
    for override in overrides:
        key, _, value = override.partition("=")
        *name, setting = key.split(".")
        target = plugin(pipeline, ".".join(name))
        target.config = target.config.model_copy(update={setting: yaml.safe_load(value)})


def written(pipeline: Pipeline, messages: list[Message]) -> Written:
    seq2seq, lm = plugin(pipeline, "respond.seq2seq"), plugin(pipeline, "fallback.lm")
    decoded = seq2seq.decode([text_of(m) for m in messages])
    return Written(seq2seq.replies(decoded), decoded.mean_log_probs, lm.generate(messages))


def retrieved(pipeline: Pipeline, messages: list[Message]) -> Retrieved:
    retrieval, seq2seq = plugin(pipeline, "respond.retrieval"), plugin(pipeline,
                                                                        "respond.seq2seq")
    for message in messages:  # retrieval leaves its candidates here; take this run's
        message.extras.pop("retrieval", None)
    nearest = retrieval.answer(messages)
    return Retrieved(nearest, seq2seq.score_candidates(messages, [text_of(m) for m in messages]))


def replay_chain(pipeline: Pipeline, found: Retrieved, wrote: Written, threshold: float,
                 bonus: float | None) -> list[str]:
    """The chain's replies had retrieval used ``threshold`` and seq2seq reranked with
    ``bonus`` (None: no reranking), the rest as configured. Reranking is seq2seq's own
    (``rerank``), on the scores computed once."""
    seq2seq, lm = plugin(pipeline, "respond.seq2seq"), plugin(pipeline, "fallback.lm")
    replies = []
    for index, near in enumerate(found.nearest):
        if near.confidence >= threshold:
            replies.append(near.text)
            continue
        write = wrote.replies[index]
        if bonus is not None:
            write, _ = rerank(write, wrote.log_probs[index], found.candidates[index], bonus)
        if isinstance(write, Answer) and write.confidence >= seq2seq.config.threshold:
            replies.append(write.text)
        else:
            sample = wrote.sampled[index]
            replies.append(sample.text if sample.confidence >= lm.config.threshold
                           and sample.text.strip() else lm.config.canned_reply)
    return replies


def tune_chain(pipeline: Pipeline, messages: list[Message], references: list[str]) -> dict:
    """Every combination of retrieval's intent_weight, its threshold and seq2seq's rerank
    bonus scored on the train side's held-out part (never on dev); the best by the mean of
    BLEU-4 and chrF. Retrieval's answer_weight stays as configured."""
    grid = {}
    wrote = written(pipeline, messages)
    for intent_weight in INTENT_WEIGHTS:
        set_retrieval(pipeline, intent_weight=intent_weight)
        found = retrieved(pipeline, messages)
        for threshold, bonus in itertools.product(THRESHOLDS, BONUSES):
            replies = replay_chain(pipeline, found, wrote, threshold, bonus)
            grid[f"intent_weight={intent_weight} threshold={threshold} bonus={bonus}"] = {
                "intent_weight": intent_weight, "threshold": threshold, "bonus": bonus,
                "bleu4_eojeol": corpus_bleu(replies, references),
                "chrf_eojeol": corpus_chrf(replies, references)}
    best = max(grid.values(), key=lambda r: r["bleu4_eojeol"] + r["chrf_eojeol"])
    return {"best": best, "grid": grid}


def bootstrap_difference(baseline: list[str], system: list[str], references: list[str],
                         resamples: int = 1000, seed: int = 0,
                         unit: str = "eojeol") -> dict[str, dict]:
    """system − baseline in BLEU-4 and chrF with a 95% paired bootstrap interval: the same
    resampled questions score both. ``unit`` names what the texts are split into (eojeol, or
    morpheme for texts given as space-joined morphemes)."""
    random = np.random.default_rng(seed)
    result = {}
    for name, statistics, to_score in ((f"bleu4_{unit}", metrics.bleu_statistics,
                                        metrics.bleu_score),
                                       (f"chrf_{unit}", metrics.chrf_statistics,
                                        metrics.chrf_score)):
        a, b = statistics(baseline, references), statistics(system, references)
        deltas = []
        for _ in range(resamples):
            rows = random.integers(0, len(references), len(references))
            deltas.append(to_score(b[rows]) - to_score(a[rows]))
        low, high = np.percentile(deltas, [2.5, 97.5])
        result[name] = {"delta": round(to_score(b) - to_score(a), 2),
                        "low": round(float(low), 2), "high": round(float(high), 2)}
    return result


def chatbotdata_splits(dev_limit: int | None = None) -> tuple[list, list, list]:
    """chatbotdata's dialog pairs as train, tune and dev: a tenth for dev (repeated questions
    kept on one side), and a tenth of the train side held out again for choosing settings
    (never dev); ``dev_limit`` keeps only the first dev questions."""
    examples = [e for e in load_dataset("chatbotdata").examples if e.answer]
    split = split_examples(examples, dev=0.1, test=0.0, seed=2026)
    train_side = split_examples(split.train, dev=0.1, test=0.0, seed=2027)
    dev = split.dev[:dev_limit] if dev_limit else split.dev
    return train_side.train, train_side.dev, dev


def decoding_speed(seq2seq, questions: list[str]) -> dict[str, float]:
    """Replies per second of respond.seq2seq for each decoding and batch size."""
    original = seq2seq.config
    speeds = {}
    for decoding, beam in (("greedy", 1), ("beam", 4)):
        for batch in (1, 32):
            seq2seq.config = original.model_copy(update={"decoding": decoding, "beam": beam})
            started = time.perf_counter()
            for start in range(0, len(questions), batch):
                seq2seq.decode(questions[start:start + batch])
            speeds[f"{decoding}_{beam}_batch_{batch}"] = round(
                len(questions) / (time.perf_counter() - started), 1)
    seq2seq.config = original
    return speeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="chatbotdata", help="config to train and score")
    parser.add_argument("--dev-limit", type=int, help="score only the first N dev questions")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="config override, as for chatbot train; with "
                        "--model, plugin.setting=value of run-time settings "
                        "(respond.retrieval.threshold=0.3)")
    parser.add_argument("--save", metavar="DIR", help="also save the trained pipeline here")
    parser.add_argument("--model", metavar="DIR",
                        help="score a pipeline saved by an earlier --save instead of training "
                        "(it must come from this benchmark: same split)")
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["CHATBOT_THREADS"] = str(args.threads)  # what training.threads: auto uses
        apply_thread_policy()
    train, tune, dev = chatbotdata_splits(args.dev_limit)
    references = [e.answer for e in dev]
    reference_morphemes = metrics.morphemes(references)

    started = time.perf_counter()
    if args.model:
        pipeline = Pipeline.load(args.model)
        apply_settings(pipeline, args.overrides)
    else:
        pipeline = Pipeline.from_config(load_config(args.config, args.overrides))
        pipeline.fit(Corpus(examples=list(train), name="chatbotdata train"),
                     progress=True)
        if args.save:
            pipeline.save(args.save)
    train_seconds = time.perf_counter() - started
    print(f"trained or loaded in {train_seconds:.0f} s", file=sys.stderr, flush=True)

    messages = pipeline.process_texts([e.text for e in dev])
    chain = [m.reply for m in messages]
    responders = Counter(m.responder for m in messages)
    lm = plugin(pipeline, "fallback.lm")
    lm_alone = [answer.text for answer in lm.generate(messages)]  # it reads the normalized text
    baseline = tfidf_retrieval(train, dev)
    retrieval = plugin(pipeline, "respond.retrieval")
    configured = retrieval.config
    tuning = tune_chain(pipeline, pipeline.process_texts([e.text for e in tune]),
                        [e.answer for e in tune])
    best = tuning["best"]
    set_retrieval(pipeline, intent_weight=best["intent_weight"])
    chain_tuned = replay_chain(pipeline, retrieved(pipeline, messages),
                               written(pipeline, messages), best["threshold"], best["bonus"])
    retrieval.config = configured
    systems = {
        "chain": score(chain, references, reference_morphemes),
        "chain_tuned": score(chain_tuned, references, reference_morphemes),
        "tfidf_retrieval": score(baseline, references, reference_morphemes),
        "lm_alone": score(lm_alone, references, reference_morphemes),
    }
    systems["chain"]["answered_by"] = {name: round(count / len(messages), 4)
                                       for name, count in responders.most_common()}
    systems["chain_tuned"]["chosen_on_tune"] = best
    versus_tfidf = {"chain": bootstrap_difference(baseline, chain, references),
                    "chain_tuned": bootstrap_difference(baseline, chain_tuned, references)}
    for name, result in systems.items():
        print(f"{name}: {result}", file=sys.stderr, flush=True)
    print(f"minus tfidf_retrieval (95% interval): {versus_tfidf}", file=sys.stderr, flush=True)
    seq2seq = plugin(pipeline, "respond.seq2seq")
    speed = decoding_speed(seq2seq, [e.text for e in dev[:SPEED_QUESTIONS]])
    print(f"decoding replies/s: {speed}", file=sys.stderr)
    path = write_results("dialog", {
        "config": args.model or args.config, "overrides": args.overrides,
        "train": len(train), "tune": len(tune),
        "dev": len(dev), "train_seconds": None if args.model else round(train_seconds, 1),
        "lm_dev_perplexity": round(lm.dev_perplexity, 2),
        "seq2seq_dev_perplexity": seq2seq.history.epochs[seq2seq.history.best_epoch - 1][
            "dev_perplexity"],
        "systems": systems, "versus_tfidf_retrieval": versus_tfidf,
        "tuning_on_train_side": tuning["grid"],
        "decoding_replies_per_second": speed,
        "torch_threads": torch.get_num_threads(),
        "examples": [{"question": e.text, "gold": e.answer, "chain": m.reply,
                      "responder": m.responder} for e, m in zip(dev[:20], messages[:20],
                                                                 strict=True)],
    })
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
