"""The evaluation report as GitHub-flavoured Markdown, for a pull request or a wiki.

Same content as the HTML page (:mod:`chatbot.evaluation.report_sections`), figures linked as
files. Text from the data is escaped for table cells: ``|`` would end the cell, a newline the
row, and ``<`` could open raw HTML that a Markdown viewer renders.
"""

from __future__ import annotations

from chatbot.evaluation.report_advice import PipelineFacts
from chatbot.evaluation.report_format import (
    DASH,
    Cell,
    Figure,
    Heading,
    Note,
    Section,
    Table,
)
from chatbot.evaluation.report_sections import (
    build_cards,
    build_sections,
    header_facts,
    report_title,
)
from chatbot.evaluation.schema import Comparison, Metrics

CELL_CHARS = 80


def escape_text(text: str) -> str:
    """Text for one line of Markdown: whitespace runs (newlines too) as one space; backslashes
    doubled, ``<`` as ``&lt;`` and ``](`` as ``\\](``, so that text from the logs opens no raw
    HTML, inline link or image (a remote image in a rendered report would call its host)."""
    flat = " ".join(str(text).split())
    return flat.replace("\\", "\\\\").replace("<", "&lt;").replace("](", "\\](")


def escape_cell(text: str, limit: int = CELL_CHARS) -> str:
    """Text for a Markdown table cell: as :func:`escape_text`, at most ``limit`` characters (cut
    with "…"), and ``|`` escaped as ``\\|``."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[:limit - 1].rstrip() + "…"
    return escape_text(flat).replace("|", "\\|")


def _cell_md(value: Cell) -> str:
    text = " · ".join(escape_cell(line) for line in value.lines)
    return f"**{text}**" if value.pill and value.tone in ("good", "bad") else text


def _table_md(table: Table) -> list[str]:
    aligns = [table.align[i] if i < len(table.align) else "l"
              for i in range(len(table.headers))]
    lines = ["| " + " | ".join(escape_cell(header) for header in table.headers) + " |",
             "|" + "|".join("---:" if align == "r" else "---" for align in aligns) + "|"]
    lines += ["| " + " | ".join(_cell_md(value) for value in row) + " |" for row in table.rows]
    return lines


def _section_md(section: Section, figure_files: dict[str, str]) -> list[str]:
    lines = [f"## {section.title}", ""]
    for block in section.blocks:
        if isinstance(block, Figure):
            if figure_files.get(block.key):
                lines += [f"![{block.alt}]({figure_files[block.key]})", ""]
        elif isinstance(block, Table):
            lines += [*_table_md(block), ""]
        elif isinstance(block, Note):
            text = escape_text(block.text)
            lines += [f"*{text}*" if block.tone == "muted" else text, ""]
        elif isinstance(block, Heading):
            lines += [f"### {escape_text(block.text)}", ""]
    return lines


def render_markdown(metrics: Metrics, worst: dict[str, list[dict]],
                    figure_files: dict[str, str], comparison: Comparison | None = None,
                    facts: PipelineFacts | None = None) -> str:
    """The whole report as GitHub-flavoured Markdown.

    Args:
        metrics: the evaluation's metrics (model A's when comparing).
        worst: category (e.g. "worst_replies") → the turn records to show for it.
        figure_files: figure key (as for :func:`~chatbot.evaluation.report_html.render_html`)
            → its path relative to the Markdown file, e.g. "figures/confusion.png"; missing
            keys are skipped.
        comparison: the A/B comparison; given, a Comparison section follows the headline.
        facts: what the pipeline can produce, for the advice where data is missing.

    Returns:
        The document, ending with a newline. Table cells hold at most 80 characters each line.
    """
    version = report_title(metrics)
    lines = [f"# Evaluation report: {escape_text(version)}", ""]
    lines += [f"- **{label}:** {escape_text(value)}"
              for label, value in header_facts(metrics, comparison)]
    cards = build_cards(metrics, comparison, facts)
    changes = any(card.change for card in cards)
    lines += ["", "## Headline", "",
              "| metric | value |" + (" B · Δ |" if changes else ""),
              "|---|---:|" + ("---:|" if changes else "")]
    for card in cards:
        value = f"{DASH} ({card.note})" if card.note else card.value
        change = f" {escape_cell(card.change or '')} |" if changes else ""
        lines.append(f"| {card.label} | {escape_cell(value)} |{change}")
    lines.append("")
    for section in build_sections(metrics, worst, comparison, facts):
        lines += _section_md(section, figure_files)
    return "\n".join(lines).rstrip("\n") + "\n"
