"""``--compare``: two pipelines on the same turns, with paired bootstrap confidence intervals.

The paired bootstrap resamples turns with replacement and scores both pipelines on the same
resample, so the interval is that of the difference B - A on logs like these: turns both
pipelines find easy or hard move both scores together and cancel out.
"""

from __future__ import annotations

import numpy as np

from chatbot.evaluation import metrics
from chatbot.evaluation.runner import Outcome
from chatbot.evaluation.schema import HEADLINE, Answer, ComparisonRow, DifferingTurn
from chatbot.evaluation.scoring import TurnTable, build_table, headline

DIFFERING_TURNS = 20


def common_tables(a: list[Outcome], b: list[Outcome]) -> tuple[TurnTable, TurnTable]:
    """Tables of the turns both pipelines processed, row i the same turn in both."""
    both = [i for i, (x, y) in enumerate(zip(a, b, strict=True))
            if x.message is not None and y.message is not None]
    return build_table([a[i] for i in both]), build_table([b[i] for i in both])


def paired_bootstrap(a: TurnTable, b: TurnTable, resamples: int = 1000, seed: int = 0,
                     confidence: float = 0.95) -> dict[str, ComparisonRow]:
    """Each headline metric of A and B, their difference B - A and its confidence interval.

    The verdict is "better" or "worse" when the interval excludes 0 (in the metric's good
    direction or not), else "unclear".
    """
    random = np.random.default_rng(seed)
    deltas: dict[str, list[float]] = {key: [] for key in HEADLINE}
    for _ in range(resamples):
        rows = random.integers(0, a.size, a.size)
        on_a, on_b = headline(a, rows), headline(b, rows)
        for key in HEADLINE:
            if on_a[key] is not None and on_b[key] is not None:
                deltas[key].append(on_b[key] - on_a[key])
    full_a, full_b = headline(a), headline(b)
    tail = (1 - confidence) / 2 * 100
    result = {}
    for key, higher_is_better in HEADLINE.items():
        row = ComparisonRow(a=full_a[key], b=full_b[key], delta=None, low=None, high=None,
                            higher_is_better=higher_is_better, verdict="unclear")
        values = np.array(deltas[key])
        values = values[~np.isnan(values)]
        if full_a[key] is not None and full_b[key] is not None and len(values):
            low, high = np.percentile(values, [tail, 100 - tail])
            row.delta, row.low, row.high = full_b[key] - full_a[key], float(low), float(high)
            if low > 0 or high < 0:
                row.verdict = "better" if (low > 0) == higher_is_better else "worse"
        result[key] = row
    return result


def differing_turns(a: TurnTable, b: TurnTable,
                    limit: int = DIFFERING_TURNS) -> list[DifferingTurn]:
    """The turns where the two pipelines differ most: first those where only one got the
    intent right, then by how far apart the replies are (chrF points against the gold
    reply, or between the two replies when there is none)."""
    rows = []
    for i in range(a.size):
        x, y = a.outcomes[i].message, b.outcomes[i].message
        turn = a.outcomes[i].turn
        if turn.gold_reply:
            chrf_a = metrics.chrf_score(a.chrf_eojeol[i])
            chrf_b = metrics.chrf_score(b.chrf_eojeol[i])
            apart = abs(chrf_b - chrf_a)
        else:
            chrf_a = chrf_b = None
            apart = 100.0 - metrics.chrf_score(
                metrics.chrf_statistics([y.reply or ""], [x.reply or ""])[0])
        intent_a = x.intent.label if x.intent else None
        intent_b = y.intent.label if y.intent else None
        one_right = turn.gold_intent is not None and (
            (intent_a == turn.gold_intent) != (intent_b == turn.gold_intent))
        if apart == 0 and not one_right and intent_a == intent_b:
            continue
        rows.append(DifferingTurn(
            source=turn.source, text=turn.text, gold_reply=turn.gold_reply,
            gold_intent=turn.gold_intent,
            a=Answer(reply=x.reply, responder=x.responder, intent=intent_a, chrf=chrf_a),
            b=Answer(reply=y.reply, responder=y.responder, intent=intent_b, chrf=chrf_b),
            difference=apart + (100.0 if one_right else 0.0)))
    rows.sort(key=lambda row: -row.difference)
    return rows[:limit]
