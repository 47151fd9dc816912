"""Reply quality on chatbotdata: the chain of responders against TF-IDF retrieval and the LM.

    python benchmarks/dialog.py [--config chatbotdata] [--dev-limit N] [--threads N]

One deterministic split of chatbotdata (a tenth for dev, repeated questions kept on one side).
On the train side, the config's pipeline is trained once (its responders, its language model).
On the dev side, in the same run, three systems answer every question:
  - chain: the pipeline as configured (retrieval → seq2seq → LM fallback);
  - tfidf_retrieval: the answer of the nearest training question by character 1-3-gram
    TF-IDF cosine (scikit-learn), always answering;
  - lm_alone: the pipeline's fallback.lm answering everything.
Scores: BLEU-4 and chrF (sacrebleu) on eojeol (whitespace words) and on morphemes (mecab),
distinct-1/2 of the replies, mean reply length, the share answered by each responder, and the
LM's perplexity of the gold answers. Then decoding speed of respond.seq2seq: replies/second,
greedy and beam 4, batch 1 and 32. Results: benchmarks/results/dialog.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any

import torch
from common import write_results
from sacrebleu.metrics import BLEU, CHRF
from sklearn.feature_extraction.text import TfidfVectorizer

from chatbot.config import load_config
from chatbot.data.corpus import Corpus
from chatbot.data.datasets import load_dataset
from chatbot.data.splits import split_examples
from chatbot.pipeline import Pipeline

SPEED_QUESTIONS = 64


def morphemes(texts: list[str]) -> list[str]:
    import mecab

    tagger = mecab.MeCab()
    return [" ".join(tagger.morphs(text)) for text in texts]


def distinct(replies: list[str], n: int) -> float:
    grams = Counter()
    for reply in replies:
        words = reply.split()
        grams.update(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return round(len(grams) / max(sum(grams.values()), 1), 4)


def score(replies: list[str], references: list[str],
          reference_morphemes: list[str]) -> dict[str, Any]:
    bleu, chrf = BLEU(tokenize="none"), CHRF()
    hypothesis_morphemes = morphemes(replies)
    return {
        "bleu4_eojeol": round(bleu.corpus_score(replies, [references]).score, 2),
        "chrf_eojeol": round(chrf.corpus_score(replies, [references]).score, 2),
        "bleu4_morpheme": round(
            BLEU(tokenize="none").corpus_score(hypothesis_morphemes,
                                               [reference_morphemes]).score, 2),
        "chrf_morpheme": round(CHRF().corpus_score(hypothesis_morphemes,
                                                   [reference_morphemes]).score, 2),
        "distinct1": distinct(replies, 1),
        "distinct2": distinct(replies, 2),
        "mean_words": round(sum(len(r.split()) for r in replies) / max(len(replies), 1), 2),
    }


def tfidf_retrieval(train, dev) -> list[str]:
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
    questions = vectorizer.fit_transform([e.text for e in train])
    similarity = vectorizer.transform([e.text for e in dev]) @ questions.T  # (dev, train)
    nearest = similarity.argmax(axis=1).A1
    return [train[i].answer for i in nearest]


def threshold_sweep(pipeline: Pipeline, messages, references, reference_morphemes) -> dict:
    """The chain's scores had retrieval used other thresholds (the rest unchanged): every
    responder's answer is computed once for every question, then combined per threshold.

    A diagnostic on dev, not a tuned result: the headline is the config's own threshold.
    """
    retrieval = next(p for p in pipeline.plugins if p.name == "respond.retrieval")
    seq2seq = next(p for p in pipeline.plugins if p.name == "respond.seq2seq")
    lm = next(p for p in pipeline.plugins if p.name == "fallback.lm")
    nearest = retrieval.answer(messages)
    written = seq2seq.answer(messages)
    sampled = lm.generate(messages)
    sweep = {}
    for threshold in (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        replies = []
        for near, write, (sample, confidence) in zip(nearest, written, sampled, strict=True):
            if near.confidence >= threshold:
                replies.append(near.text)
            elif not isinstance(write, str) and write.confidence >= seq2seq.config.threshold:
                replies.append(write.text)
            else:
                replies.append(sample if confidence >= lm.config.threshold
                               else lm.config.canned_reply)
        result = score(replies, references, reference_morphemes)
        sweep[str(threshold)] = {key: result[key] for key in ("bleu4_eojeol", "chrf_eojeol")}
    return sweep


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
                        metavar="KEY=VALUE", help="config override, as for chatbot train")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    examples = [e for e in load_dataset("chatbotdata").examples if e.answer]
    split = split_examples(examples, dev=0.1, test=0.0, seed=2026)
    dev = split.dev[: args.dev_limit] if args.dev_limit else split.dev
    references = [e.answer for e in dev]
    reference_morphemes = morphemes(references)

    pipeline = Pipeline.from_config(load_config(args.config, args.overrides))
    started = time.perf_counter()
    pipeline.fit(Corpus(examples=list(split.train), name="chatbotdata train"), progress=True)
    train_seconds = time.perf_counter() - started
    print(f"trained in {train_seconds:.0f} s", file=sys.stderr, flush=True)

    messages = pipeline.process_texts([e.text for e in dev])
    chain = [m.reply for m in messages]
    responders = Counter(m.responder for m in messages)
    lm = next(p for p in pipeline.plugins if p.name == "fallback.lm")
    lm_alone = [reply for reply, _ in lm.generate(messages)]  # it reads the normalized text
    systems = {
        "chain": score(chain, references, reference_morphemes),
        "tfidf_retrieval": score(tfidf_retrieval(split.train, dev), references,
                                 reference_morphemes),
        "lm_alone": score(lm_alone, references, reference_morphemes),
    }
    systems["chain"]["answered_by"] = {name: round(count / len(messages), 4)
                                       for name, count in responders.most_common()}
    systems["chain"]["retrieval_threshold_sweep"] = threshold_sweep(
        pipeline, messages, references, reference_morphemes)
    for name, result in systems.items():
        print(f"{name}: {result}", file=sys.stderr, flush=True)
    seq2seq = next(p for p in pipeline.plugins if p.name == "respond.seq2seq")
    speed = decoding_speed(seq2seq, [e.text for e in dev[:SPEED_QUESTIONS]])
    print(f"decoding replies/s: {speed}", file=sys.stderr)
    path = write_results("dialog", {
        "config": args.config, "overrides": args.overrides, "train": len(split.train),
        "dev": len(dev), "train_seconds": round(train_seconds, 1),
        "lm_dev_perplexity": round(lm.dev_perplexity, 2),
        "seq2seq_dev_perplexity": seq2seq.history.epochs[seq2seq.history.best_epoch - 1][
            "dev_perplexity"],
        "systems": systems, "decoding_replies_per_second": speed,
        "torch_threads": torch.get_num_threads(),
        "examples": [{"question": e.text, "gold": e.answer, "chain": m.reply,
                      "responder": m.responder} for e, m in zip(dev[:20], messages[:20],
                                                                 strict=True)],
    })
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
