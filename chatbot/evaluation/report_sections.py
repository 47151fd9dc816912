"""What the evaluation report says, built once as plain data for both renderers.

:func:`header_facts`, :func:`build_cards` and :func:`build_sections` turn ``metrics.json``, the
worst turns and an optional A/B comparison into sections of tables, notes, headings and figure
slots. Every string in them is plain text, data included as it came:
:mod:`chatbot.evaluation.report_html` escapes all of it for HTML and
:mod:`chatbot.evaluation.report_md` for Markdown. A section without the data it needs
holds one note saying which column or plugin would fill it, never an empty table.
"""

from __future__ import annotations

import datetime
from typing import Any

from chatbot.evaluation.report_format import (
    DASH,
    Card,
    Cell,
    Figure,
    Heading,
    Note,
    Section,
    Table,
    cell,
    fmt_count,
    fmt_delta,
    fmt_interval,
    fmt_metric,
    fmt_ms,
    fmt_number,
    fmt_percent,
    fmt_score,
    get,
    metric_label,
    missing,
    verdict_tone,
)


def report_title(metrics: dict) -> str:
    """What the report is about: the model's version, else its path."""
    return str(get(metrics, "model", "version") or get(metrics, "model", "path") or "model")


def header_facts(metrics: dict, comparison: dict | None = None) -> list[tuple[str, str]]:
    """What was evaluated: (label, plain text) pairs for the top of the report."""
    model = metrics.get("model") or {}
    facts = [("Model", model.get("version") or DASH), ("Model path", model.get("path") or DASH),
             ("Logs", ", ".join(str(path) for path in metrics.get("logs") or []) or DASH),
             ("Turns", fmt_count(metrics.get("turns")))]
    if get(metrics, "failed", "count"):
        facts.append(("Failed turns", fmt_count(get(metrics, "failed", "count"))))
    if comparison:
        facts.append(("Compared with (B)", get(comparison, "b", "version") or DASH))
    created = metrics.get("created") or datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    facts.append(("Date", str(created)))
    return facts


_CARDS = (  # label, metric key (its path in metrics and in comparison["metrics"]), why missing
    ("Intent accuracy", "intent.accuracy", "no gold intent labels"),
    ("Intent macro-F1", "intent.macro_f1", "no gold intent labels"),
    ("Spam F1", "spam.f1", "no gold spam labels"),
    ("BLEU-4", "reply.bleu4", "no gold replies"),
    ("chrF", "reply.chrf", "no gold replies"),
    ("Fallback rate", "fallback.rate", "no replies"),
    ("LM perplexity", "lm.perplexity", "no LM or no gold replies"),
    ("Latency p50", "latency_ms.p50", "no timings"),
    ("Latency p95", "latency_ms.p95", "no timings"),
)


def build_cards(metrics: dict, comparison: dict | None = None) -> list[Card]:
    """The headline numbers; with a comparison, each says what B scored and the verdict."""
    cards = []
    for label, key, why in _CARDS:
        value = get(metrics, *key.split("."))
        row = get(comparison, "metrics", key)
        change = tone = None
        if row and not missing(row.get("b")):
            change = f"B {fmt_metric(key, row['b'])} · Δ {fmt_delta(key, row.get('delta'))}"
            tone = verdict_tone(row.get("verdict"))
        cards.append(Card(label, fmt_metric(key, value), why if missing(value) else None,
                          change, tone))
    return cards


# -- sections ---------------------------------------------------------------------------------


def _facts(rows: list[tuple[str, str]]) -> Table:
    return Table(["metric", "value"], [[cell(label), cell(value)] for label, value in rows], "lr")


def _comparison(comparison: dict) -> Section:
    a, b = comparison.get("a") or {}, comparison.get("b") or {}
    bootstrap = comparison.get("bootstrap") or {}
    confidence = bootstrap.get("confidence")
    interval = f"{100 * confidence:.0f}% CI" if confidence else "CI"
    blocks: list[Any] = [
        Note(f"A: {a.get('version') or DASH} ({a.get('path') or DASH}) · "
             f"B: {b.get('version') or DASH} ({b.get('path') or DASH})"),
        Note(f"Paired bootstrap over the same turns ({bootstrap.get('resamples', DASH)} "
             f"resamples, seed {bootstrap.get('seed', DASH)}): a change is better or worse only "
             "when its interval excludes 0.", "muted")]
    rows = []
    for key, row in (comparison.get("metrics") or {}).items():
        row = row or {}
        arrow = {True: " ↑", False: " ↓"}.get(row.get("higher_is_better"), "")
        rows.append([cell(metric_label(key) + arrow), cell(fmt_metric(key, row.get("a"))),
                     cell(fmt_metric(key, row.get("b"))), cell(fmt_delta(key, row.get("delta"))),
                     cell(fmt_interval(key, row.get("low"), row.get("high"))),
                     cell(row.get("verdict"), tone=verdict_tone(row.get("verdict")), pill=True)])
    if rows:
        blocks.append(Table(["metric", "A", "B", "Δ (B − A)", interval, "verdict"], rows,
                            "lrrrrl"))
    blocks += [Figure("comparison", "B − A per metric with confidence intervals"),
               Heading("Turns where A and B differ most")]
    differing = comparison.get("differing_turns") or []
    if not differing:
        blocks.append(Note("A and B gave the same intent and reply on every turn."))
        return Section("comparison", "Comparison", blocks)

    def side(values: dict) -> Cell:
        return cell(values.get("reply") or "(no reply)",
                    " · ".join(part for part in (
                        values.get("responder"),
                        f"intent {values['intent']}" if values.get("intent") else None,
                        f"chrF {fmt_score(values['chrf'])}" if not missing(values.get("chrf"))
                        else None) if part))

    blocks.append(Table(["source", "text", "gold", "A", "B", "difference"], [
        [cell(turn.get("source"), tone="muted"), cell(turn.get("text")),
         cell(f"intent: {turn['gold_intent']}" if turn.get("gold_intent") else None,
              f"reply: {turn['gold_reply']}" if turn.get("gold_reply") else None),
         side(turn.get("a") or {}), side(turn.get("b") or {}),
         cell(fmt_number(turn.get("difference"), 1))] for turn in differing], "lllllr"))
    blocks.append(Note("Difference: how far apart the replies are in chrF points (against the "
                       "gold reply, or between the two without one), +100 when only one got the "
                       "intent right.", "muted"))
    return Section("comparison", "Comparison", blocks)


def _weak(f1: float | None) -> str | None:
    """F1 below 0.5 is drawn red: the intents worth a look first (as in the F1 figure)."""
    return "bad" if not missing(f1) and f1 < 0.5 else None


def _intent(metrics: dict) -> Section:
    intent = metrics.get("intent") or {}
    if not intent.get("turns"):
        return Section("intent", "Intent", [Note(
            "No turn has a gold intent label; add a gold_intent column "
            "(or map one with --columns gold_intent=COLUMN).")])
    blocks: list[Any] = [_facts([
        ("labelled turns", fmt_count(intent["turns"])),
        ("accuracy", fmt_percent(intent.get("accuracy"))),
        ("macro precision / recall / F1", " / ".join(
            fmt_percent(intent.get(f"macro_{name}")) for name in ("precision", "recall", "f1"))),
        ("weighted precision / recall / F1", " / ".join(
            fmt_percent(intent.get(f"weighted_{name}"))
            for name in ("precision", "recall", "f1"))),
        ("out-of-domain recall", fmt_percent(intent.get("ood_recall")))])]
    per_intent = intent.get("per_intent") or {}
    if per_intent:
        ordered = sorted(per_intent.items(), key=lambda item: (-(item[1].get("support") or 0),
                                                               item[0]))
        blocks += [Heading("Per intent"), Table(
            ["intent", "precision", "recall", "F1", "support"],
            [[cell(label), cell(fmt_percent(s.get("precision"))),
              cell(fmt_percent(s.get("recall"))),
              cell(fmt_percent(s.get("f1")), bar=s.get("f1"), tone=_weak(s.get("f1"))),
              cell(fmt_count(s.get("support")))]
             for label, s in ordered], "lrrrr")]
    blocks += [Figure("per_intent_f1", "F1 per intent"), Figure("confusion", "confusion matrix"),
               Heading("Most confused pairs")]
    pairs = intent.get("confused_pairs") or []
    blocks.append(Table(["gold", "predicted", "turns"], [
        [cell(pair.get("gold")), cell(pair.get("predicted")), cell(fmt_count(pair.get("count")))]
        for pair in pairs], "llr") if pairs else Note("No confusions: every labelled turn got "
                                                      "its gold intent."))
    return Section("intent", "Intent", blocks)


def _spam(metrics: dict) -> Section:
    spam = metrics.get("spam") or {}
    if not spam.get("turns"):
        return Section("spam", "Spam", [Note(
            "No turn has a gold spam label and a spam score; add a gold_spam column (spam/ham) "
            "and a spam classifier to the pipeline.")])
    share = (f" ({fmt_percent(spam['spam'] / spam['turns'])})"
             if spam.get("spam") is not None else "")
    return Section("spam", "Spam", [_facts([
        ("turns with a gold label", fmt_count(spam["turns"])),
        ("gold spam", fmt_count(spam.get("spam")) + share),
        ("precision", fmt_percent(spam.get("precision"))),
        ("recall", fmt_percent(spam.get("recall"))), ("F1", fmt_percent(spam.get("f1"))),
        ("ROC AUC", fmt_number(spam.get("roc_auc"), 3))]),
        Figure("spam_scores", "spam score by gold label")])


def _replies(metrics: dict, comparison: dict | None) -> Section:
    reply = metrics.get("reply") or {}
    if not reply.get("turns"):
        return Section("replies", "Replies", [Note("No turn was answered; nothing to score.")])
    blocks: list[Any] = []
    if reply.get("with_gold"):
        blocks += [
            Note(f"Against the gold reply of {fmt_count(reply['with_gold'])} turns; the "
                 "headline BLEU-4 is on morphemes, the headline chrF on eojeol.", "muted"),
            Table(["", "morphemes", "eojeol (words)"], [
                [cell("BLEU-4"), cell(fmt_score(reply.get("bleu4_morpheme"))),
                 cell(fmt_score(reply.get("bleu4_eojeol")))],
                [cell("chrF"), cell(fmt_score(reply.get("chrf_morpheme"))),
                 cell(fmt_score(reply.get("chrf_eojeol")))]], "lrr")]
    else:
        blocks.append(Note("No turn has a gold reply; add a gold_reply column to score BLEU-4 "
                           "and chrF."))
    fallback = metrics.get("fallback") or {}
    blocks.append(_facts([
        ("replies", fmt_count(reply["turns"])),
        ("distinct-1 / distinct-2", f"{fmt_number(reply.get('distinct1'), 3)} / "
                                    f"{fmt_number(reply.get('distinct2'), 3)}"),
        ("mean words: bot / gold", f"{fmt_number(reply.get('mean_words'))} / "
                                   f"{fmt_number(reply.get('gold_mean_words'))}"),
        ("mean characters (bot)", fmt_number(reply.get("mean_chars"), 1)),
        ("fallback rate", f"{fmt_percent(fallback.get('rate'))} "
                          f"({fmt_count(fallback.get('count'))} turns)")]))
    shares = metrics.get("responders") or {}
    other = get(comparison, "b_metrics", "responders") if comparison else None
    if shares:
        names = list(shares) + [name for name in other or {} if name not in shares]
        blocks += [Heading("Who answered"), Table(
            ["responder", "A" if other is not None else "share"]
            + (["B"] if other is not None else []),
            [[cell(name), cell(fmt_percent(shares.get(name, 0.0)), bar=shares.get(name, 0.0))]
             + ([cell(fmt_percent(other.get(name, 0.0)), bar=other.get(name, 0.0))]
                if other is not None else []) for name in names], "lrr")]
    blocks += [Figure("responders", "share of turns per responder"),
               Figure("lengths", "reply length in characters")]
    return Section("replies", "Replies", blocks)


def _language_model(metrics: dict) -> Section:
    lm = metrics.get("lm") or {}
    if missing(lm.get("perplexity")):
        return Section("lm", "Language model", [Note(
            "No perplexity: it needs gold replies and a pipeline whose language model can score "
            "them.")])
    return Section("lm", "Language model", [
        _facts([("perplexity of the gold replies", fmt_number(lm["perplexity"])),
                ("gold replies scored", fmt_count(lm.get("replies"))),
                ("subword tokens", fmt_count(lm.get("tokens")))]),
        Note("Lower is better: the model finds the right answers likelier.", "muted")])


def _latency(metrics: dict) -> Section:
    latency = metrics.get("latency_ms") or {}
    per_plugin = latency.get("per_plugin") or {}
    if missing(latency.get("p50")) and not per_plugin:
        return Section("latency", "Latency", [Note("No timings were recorded.")])
    quantiles = ("p50", "p95", "p99", "mean")
    rows = [[cell("this run")] + [cell(fmt_ms(latency.get(q))) for q in quantiles]]
    logged = latency.get("logged")
    if logged:
        rows.append([cell("logged")] + [cell(fmt_ms(logged.get(q))) for q in quantiles])
    blocks: list[Any] = []
    if latency.get("measured"):
        blocks.append(Note(f"Measured: {latency['measured']}.", "muted"))
    throughput = metrics.get("throughput") or {}
    if not missing(throughput.get("turns_per_second")):
        blocks.append(Note(f"Throughput: {fmt_number(throughput['turns_per_second'], 1)} turns/s "
                           f"over {fmt_number(throughput.get('seconds'))} s, batch size "
                           f"{fmt_count(throughput.get('batch_size'))}.", "muted"))
    blocks.append(Table(["per turn", *quantiles], rows, "lrrrr"))
    if per_plugin:
        blocks += [Heading("Per plugin (pipeline order)"), Table(
            ["plugin", *quantiles],
            [[cell(name)] + [cell(fmt_ms(values.get(q))) for q in quantiles]
             for name, values in per_plugin.items()], "lrrrr"),
            Figure("latency", "latency per plugin")]
    return Section("latency", "Latency", blocks)


def _feedback(metrics: dict) -> Section:
    likes = get(metrics, "feedback", "likes") or 0
    dislikes = get(metrics, "feedback", "dislikes") or 0
    if not likes and not dislikes:
        return Section("feedback", "Feedback", [Note(
            "No logged feedback; dialog logs with a feedback column (1 like, -1 dislike) fill "
            "this section.")])
    return Section("feedback", "Feedback", [_facts([
        ("likes", fmt_count(likes)), ("dislikes", fmt_count(dislikes)),
        ("liked share", fmt_percent(likes / (likes + dislikes)))])])


_WORST = {  # category: (title, note when empty although the data allows it)
    "worst_replies": ("Lowest chrF against the gold reply", "No reply was scored."),
    "confident_intent_errors": ("Confident intent errors", "No intent errors."),
    "spam_errors": ("Spam errors", "No spam errors."),
    "disliked": ("Disliked replies", "No reply was disliked in the logs."),
    "slowest": ("Slowest turns", "No timings."),
}  # "failed" has a section of its own
_WORST_NEEDS = {  # category: (the count that must be non-zero, the note when it is zero)
    "worst_replies": (("reply", "with_gold"), "No turn has a gold reply; add a gold_reply "
                                              "column."),
    "confident_intent_errors": (("intent", "turns"), "No turn has a gold intent label; add a "
                                                     "gold_intent column."),
    "spam_errors": (("spam", "turns"), "No turn has a gold spam label; add a gold_spam column."),
}


_TURN_HEADERS = ["source", "text", "gold", "reply", "responder", "scores"]


def _mark(correct: bool | None) -> str:
    return "" if correct is None else " ✓" if correct else " ✗"


def _turn_row(record: dict) -> list[Cell]:
    gold, predicted = record.get("gold") or {}, record.get("predicted") or {}
    scores, logged = record.get("scores") or {}, record.get("logged") or {}
    place = None
    if record.get("conversation_id") is not None:
        place = f"conversation {record['conversation_id']}"
        if record.get("turn_index") is not None:
            place += f" · turn {record['turn_index']}"
    reply, logged_reply = predicted.get("reply"), logged.get("reply")
    intent = spam = None
    if predicted.get("intent") is not None:
        confidence = predicted.get("intent_confidence")
        intent = (f"intent {predicted['intent']}"
                  + ("" if confidence is None else f" ({confidence:.2f})")
                  + _mark(scores.get("intent_correct")))
    if predicted.get("spam_score") is not None or predicted.get("spam"):
        score = predicted.get("spam_score")
        spam = (f"spam {predicted.get('spam') or 'score'}"
                + ("" if score is None else f" ({score:.2f})") + _mark(scores.get("spam_correct")))
    error = record.get("error")
    confidence = predicted.get("reply_confidence")
    return [
        cell(record.get("source"), place, tone="muted"),
        cell(record.get("text")),
        cell(*(f"{key}: {gold[key]}" for key in ("intent", "reply", "spam") if gold.get(key))),
        cell(reply, f"logged: {logged_reply}" if logged_reply and logged_reply != reply
             else None),
        cell(predicted.get("responder"),
             None if confidence is None else f"confidence {confidence:.2f}"),
        cell(None if missing(scores.get("chrf")) else f"chrF {fmt_score(scores['chrf'])}",
             intent, spam,
             None if missing(scores.get("lm_perplexity"))
             else f"perplexity {fmt_number(scores['lm_perplexity'])}",
             "fallback" if scores.get("fallback") else None,
             None if missing(record.get("latency_ms")) else fmt_ms(record["latency_ms"]),
             {1: "liked", -1: "disliked"}.get(logged.get("feedback")),
             f"error: {error}" if error else None, tone="bad" if error else None),
    ]


def _worst(metrics: dict, worst: dict[str, list[dict]]) -> Section:
    categories = [*(name for name in _WORST if name in worst),
                  *(name for name in worst if name not in _WORST and name != "failed")]
    if not categories:
        return Section("worst", "Worst turns", [Note("No turn records were given.")])
    blocks: list[Any] = []
    for category in categories:
        title, none_found = _WORST.get(category, (category.replace("_", " ").capitalize(),
                                                  "None."))
        blocks.append(Heading(title))
        records = worst[category] or []
        if records:
            blocks.append(Table(_TURN_HEADERS, [_turn_row(record) for record in records]))
            continue
        path, no_data = _WORST_NEEDS.get(category, ((), ""))
        blocks.append(Note(no_data if path and not get(metrics, *path) else none_found))
    return Section("worst", "Worst turns", blocks)


def _failed(metrics: dict, records: list[dict]) -> Section:
    failed = metrics.get("failed") or {}
    count = failed.get("count") or len(records)
    if not count:
        return Section("failed", "Failed turns", [Note("No turn failed.")])
    # The turn records say more (the text too); the bare examples stand in without them.
    shown = records or failed.get("examples") or []
    first = f"; the first {len(shown)}:" if 0 < len(shown) < count else ":" if shown else "."
    noun = "turn" if count == 1 else "turns"
    blocks: list[Any] = [Note(f"{fmt_count(count)} {noun} failed{first}", "bad")]
    if records:
        blocks.append(Table(_TURN_HEADERS, [_turn_row(record) for record in records]))
    elif shown:
        blocks.append(Table(["source", "error"], [
            [cell(example.get("source"), tone="muted"), cell(example.get("error"), tone="bad")]
            for example in shown]))
    return Section("failed", "Failed turns", blocks)


def build_sections(metrics: dict, worst: dict[str, list[dict]],
                   comparison: dict | None = None) -> list[Section]:
    """Every section of the report, in order: Comparison (only with ``comparison``), Intent,
    Spam, Replies, Language model, Latency, Feedback, Worst turns, Failed turns.

    Args:
        metrics: the evaluation's metrics (model A's when comparing).
        worst: category → turn records (see ``records.worst_turns``).
        comparison: the A/B comparison, or None.

    Returns:
        The sections; strings in them are plain text, unescaped.
    """
    sections = [_comparison(comparison)] if comparison else []
    return sections + [_intent(metrics), _spam(metrics), _replies(metrics, comparison),
                       _language_model(metrics), _latency(metrics), _feedback(metrics),
                       _worst(metrics, worst), _failed(metrics, worst.get("failed") or [])]
