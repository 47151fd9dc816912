"""The evaluation report as one self-contained HTML page.

The content comes from :mod:`chatbot.evaluation.report_sections` as plain text; this module only
lays it out, and escapes every string on the way, so nothing from the logs (user text, replies,
labels, paths, error messages) reaches the page as markup. Figures are inline data URIs; the
page needs no script, font file or network.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from chatbot.evaluation.report_advice import PipelineFacts
from chatbot.evaluation.report_format import (
    Card,
    Cell,
    Figure,
    Heading,
    Note,
    Section,
    Table,
    missing,
)
from chatbot.evaluation.report_sections import (
    build_cards,
    build_sections,
    header_facts,
    report_title,
)
from chatbot.evaluation.schema import Comparison, Metrics

SHORT_CHARS = 24  # cells whose lines are all this short never wrap


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _cell_html(value: Cell, align: str, header: bool = False) -> str:
    # Long free text (a traceback, a pasted article) is cut so one turn cannot swamp the page.
    text = "<br>".join(_e(line if len(line) <= 600 else line[:599] + "…")
                       for line in value.lines)
    classes = ["num"] if align == "r" else []
    if header or value.pill or max(len(line) for line in value.lines) <= SHORT_CHARS:
        classes.append("short")
    else:  # free text wraps within bounds: neither a squeezed column nor a page-wide one
        text = f"<div class='long'>{text}</div>"
    if value.pill:
        text = f"<span class='pill {_e(value.tone or 'muted')}'>{text}</span>"
    elif value.tone:
        classes.append(value.tone)
    if not missing(value.bar):
        width = 100 * min(max(value.bar, 0.0), 1.0)
        low = " low" if value.tone == "bad" else ""
        text += f"<span class='bar{low}'><span style='width:{width:.1f}%'></span></span>"
    tag = "th" if header else "td"
    attributes = f" class='{' '.join(classes)}'" if classes else ""
    return f"<{tag}{attributes}>{text}</{tag}>"


def _table_html(table: Table) -> str:
    aligns = [table.align[i] if i < len(table.align) else "l"
              for i in range(len(table.headers))]
    head = "".join(_cell_html(Cell((header,)), align, header=True)
                   for header, align in zip(table.headers, aligns, strict=True))
    body = "".join("<tr>" + "".join(_cell_html(value, align)
                                    for value, align in zip(row, aligns, strict=False)) + "</tr>"
                   for row in table.rows)
    return (f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def _figures_html(slots: list[Figure], figures: dict[str, bytes]) -> str:
    images = "".join(
        f"<figure><img alt='{_e(slot.alt)}' src='data:image/png;base64,"
        f"{base64.b64encode(figures[slot.key]).decode('ascii')}'></figure>" for slot in slots)
    return f"<div class='figures'>{images}</div>"


def _section_html(section: Section, figures: dict[str, bytes]) -> str:
    parts = [f"<section id='{_e(section.anchor)}'><h2>{_e(section.title)}</h2>"]
    slots: list[Figure] = []  # consecutive figures share a row when they fit side by side
    heading = ""  # a heading waits for its table: the two make one panel
    for block in [*section.blocks, None]:
        if heading and not isinstance(block, Table):
            parts.append(heading)
            heading = ""
        if isinstance(block, Figure):
            if figures.get(block.key):
                slots.append(block)
            continue
        if slots:
            parts.append(_figures_html(slots, figures))
            slots = []
        if isinstance(block, Table):
            # Panels are inline blocks: short tables sit side by side instead of leaving the
            # right half of the page empty.
            parts.append(f"<div class='panel'>{heading}{_table_html(block)}</div>")
            heading = ""
        elif isinstance(block, Note):
            parts.append(f"<p class='note {_e(block.tone or '')}'>{_e(block.text)}</p>")
        elif isinstance(block, Heading):
            heading = f"<h3>{_e(block.text)}</h3>"
    return "".join(parts) + "</section>"


def _card_html(card: Card) -> str:
    dim = " missing" if card.note else ""
    lines = [f"<div class='card{dim}'><div class='label'>{_e(card.label)}</div>",
             f"<div class='value'>{_e(card.value)}</div>"]
    if card.note:
        lines.append(f"<div class='sub muted'>{_e(card.note)}</div>")
    if card.change:
        lines.append(f"<div class='sub {_e(card.tone or 'muted')}'>{_e(card.change)}</div>")
    return "".join(lines) + "</div>"


def render_html(metrics: Metrics, worst: dict[str, list[dict]], figures: dict[str, bytes],
                comparison: Comparison | None = None,
                facts: PipelineFacts | None = None) -> str:
    """The whole report as one HTML5 page that needs no other file, script or network.

    Args:
        metrics: the evaluation's metrics (model A's when comparing).
        worst: category (e.g. "worst_replies") → the turn records to show for it.
        figures: figure key ("confusion", "per_intent_f1", "responders", "latency",
            "lengths", "spam_scores", "comparison") → PNG bytes; missing keys are skipped.
        comparison: the A/B comparison; given, a Comparison section follows the cards.
        facts: what the pipeline can produce, for the advice where data is missing.

    Returns:
        The page, with the figures inline as base64 data URIs and every string taken from the
        data HTML-escaped.
    """
    header = header_facts(metrics, comparison)
    sections = build_sections(metrics, worst, comparison, facts)
    version = report_title(metrics)
    facts_html = "".join(f"<div><dt>{_e(label)}</dt><dd>{_e(value)}</dd></div>"
                         for label, value in header)
    nav = "".join(f"<a href='#{_e(s.anchor)}'>{_e(s.title)}</a>" for s in sections)
    cards = "".join(_card_html(card) for card in build_cards(metrics, comparison, facts))
    body = "".join(_section_html(section, figures) for section in sections)
    return (
        "<!DOCTYPE html>\n<html lang='ko'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Evaluation · {_e(version)}</title><style>{CSS}</style></head><body>"
        f"<header class='top'><div class='wrap'><p class='eyebrow'>chatbot eval</p>"
        f"<h1>{_e(version)}</h1><dl class='facts'>{facts_html}</dl></div></header>"
        f"<nav><div class='wrap'>{nav}</div></nav>"
        f"<main class='wrap'><div class='cards'>{cards}</div>{body}</main>"
        "<footer class='wrap'>Generated by <code>chatbot eval</code>.</footer>"
        "</body></html>\n")


CSS = """
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--blue:#2563eb;
--good:#15803d;--good-bg:#dcfce7;--bad:#b91c1c;--bad-bg:#fee2e2;--grey-bg:#f1f5f9}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);line-height:1.5;font-size:15px;
font-family:"Noto Sans KR","NanumGothic","Apple SD Gothic Neo","Malgun Gothic",sans-serif}
.wrap{max-width:1180px;margin:0 auto;padding:0 24px}
header.top{background:linear-gradient(135deg,#1e3a8a,#2563eb 60%,#3b82f6);color:#fff;
padding:28px 0 22px}
.eyebrow{margin:0;text-transform:uppercase;letter-spacing:.12em;font-size:12px;opacity:.8}
h1{margin:4px 0 14px;font-size:28px;font-weight:700;word-break:break-all}
.facts{display:flex;flex-wrap:wrap;gap:8px 28px;margin:0}
.facts div{min-width:0}.facts dt{font-size:11px;text-transform:uppercase;opacity:.75}
.facts dd{margin:0;font-size:14px;word-break:break-all}
nav{position:sticky;top:0;z-index:2;background:rgba(255,255,255,.92);
border-bottom:1px solid var(--line);backdrop-filter:blur(6px)}
nav .wrap{display:flex;flex-wrap:wrap;gap:4px 18px;padding-top:10px;padding-bottom:10px}
nav a{color:var(--muted);text-decoration:none;font-size:14px}nav a:hover{color:var(--blue)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:14px;
margin:24px 0 8px}
.card{background:#fff;border:1px solid var(--line);border-radius:12px;padding:14px 16px;
box-shadow:0 1px 2px rgba(15,23,42,.05)}
.card .label{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:28px;font-weight:700;margin-top:2px;font-variant-numeric:tabular-nums}
.card.missing .value{color:#cbd5e1}.card .sub{font-size:12px;margin-top:2px}
section{background:#fff;border:1px solid var(--line);border-radius:14px;padding:6px 24px 20px;
margin:22px 0;box-shadow:0 1px 2px rgba(15,23,42,.04);scroll-margin-top:56px}
h2{font-size:20px;margin:16px 0 10px}h3{font-size:15px;margin:20px 0 6px;color:#334155}
.note{margin:8px 0;color:#334155}
.muted,.note.muted{color:var(--muted)}.good{color:var(--good)}.bad{color:var(--bad)}
.panel{display:inline-block;vertical-align:top;max-width:100%;margin-right:36px}
.table-wrap{overflow-x:auto;margin:8px 0 14px}
table{border-collapse:collapse;font-size:14px;min-width:40%}
th,td{padding:7px 12px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);
background:var(--grey-bg);border-bottom:1px solid #cbd5e1;white-space:nowrap}
tbody tr:nth-child(even){background:#fbfdff}tbody tr:hover{background:#eff6ff}
.short{white-space:nowrap}
.long{min-width:10rem;max-width:26rem;overflow-wrap:anywhere;word-break:keep-all;
white-space:pre-line}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bar{display:inline-block;width:80px;height:8px;margin-left:8px;background:var(--grey-bg);
border-radius:4px;vertical-align:middle;overflow:hidden}
.bar span{display:block;height:100%;background:var(--blue);border-radius:4px}
.bar.low span{background:#f87171}
.pill{display:inline-block;padding:1px 10px;border-radius:999px;font-size:12px;font-weight:600}
.pill.good{background:var(--good-bg);color:var(--good)}
.pill.bad{background:var(--bad-bg);color:var(--bad)}
.pill.muted{background:var(--grey-bg);color:var(--muted)}
.figures{display:flex;flex-wrap:wrap;gap:16px 28px;margin:12px 0;align-items:flex-start}
figure{margin:0;flex:0 1 auto;max-width:100%}figure img{display:block;max-width:100%;height:auto}
footer{color:var(--muted);font-size:12px;padding-bottom:32px}
"""
