"""Run a pipeline over the turns of a log, in batches, keeping every message's trace.

A message the pipeline cannot take (empty, too long, binary) or that makes a plugin fail is
kept with its error instead of stopping the run (``Pipeline.process_each``): one bad turn in
ten thousand should cost one row of the report, not the evaluation.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass

from chatbot.capabilities import ScoresReplies
from chatbot.evaluation.logs import EvalTurn, conversation_histories
from chatbot.message import Exchange, Message
from chatbot.pipeline import Failure, Pipeline

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    """One turn after the pipeline ran: its message (None if it could not run) and, when the
    turn has a gold reply and the pipeline a language model, how well that model predicts it.

    Attributes:
        turn: the turn as read.
        message: the processed message with its full trace.
        error: why the turn could not be processed.
        gold_nll: (negative log-likelihood in nats, subword count) of the gold reply.
    """

    turn: EvalTurn
    message: Message | None = None
    error: str | None = None
    gold_nll: tuple[float, int] | None = None


@dataclass
class Run:
    """Every outcome, in the order of the turns, and how long the pipeline took."""

    outcomes: list[Outcome]
    seconds: float
    batch_size: int


def reply_scorer(pipeline: Pipeline) -> ScoresReplies | None:
    """The plugin that can score gold replies (a language model), or None."""
    return next((p for p in pipeline.plugins if isinstance(p, ScoresReplies)), None)


def run_pipeline(pipeline: Pipeline, turns: list[EvalTurn], batch_size: int = 64,
                 progress: bool = False, label: str = "evaluating") -> Run:
    """Process every turn in batches of ``batch_size``.

    Args:
        pipeline: a trained pipeline.
        turns: what to process.
        batch_size: messages per ``pipeline.process`` call; 1 processes one at a time.
        progress: show a progress bar on standard error.
        label: the progress bar's description.
    """
    from tqdm import tqdm

    scorer = reply_scorer(pipeline)
    outcomes = [Outcome(turn) for turn in turns]
    histories = conversation_histories(turns)  # logged conversations are read in turn order
    started = time.perf_counter()
    with tqdm(total=len(turns), desc=label, unit="turn", disable=not progress,
              file=sys.stderr, dynamic_ncols=True) as bar:
        for start in range(0, len(outcomes), batch_size):
            batch = outcomes[start:start + batch_size]
            _process(pipeline, batch, histories[start:start + batch_size])
            if scorer is not None:
                _score_gold_replies(scorer, batch)
            bar.update(len(batch))
    return Run(outcomes, time.perf_counter() - started, batch_size)


def _process(pipeline: Pipeline, batch: list[Outcome], histories: list[list[Exchange]]) -> None:
    results = pipeline.process_each([outcome.turn.text for outcome in batch],
                                    histories=histories)
    for outcome, result in zip(batch, results, strict=True):
        if isinstance(result, Failure):
            outcome.error = result.error
        else:
            outcome.message = result


def _score_gold_replies(scorer: ScoresReplies, batch: list[Outcome]) -> None:
    scored = [o for o in batch if o.message is not None and o.turn.gold_reply]
    if scored:
        nll = scorer.answer_nll([o.message for o in scored], [o.turn.gold_reply for o in scored])
        for outcome, value in zip(scored, nll, strict=True):
            outcome.gold_nll = value
