"""What a section puts on the page, as plain values: app.py draws each kind with one Streamlit call.

A section is a function of its settings, its results and the catalogue that returns a tuple of blocks;
it never calls Streamlit, so tests read exactly what a person would see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    """Markdown with inline LaTeX ($…$); never raw HTML."""

    markdown: str


@dataclass(frozen=True)
class Caption:
    text: str


@dataclass(frozen=True)
class Latex:
    tex: str


@dataclass(frozen=True)
class Metric:
    label: str
    value: str
    help: str | None = None


@dataclass(frozen=True)
class Metrics:
    """Metrics side by side, at most per_row in a row (two in a half-width column, so no value is cut)."""

    items: tuple
    per_row: int = 4


@dataclass(frozen=True)
class Chart:
    """A Vega-Lite spec without its data, and its datasets (name -> pandas DataFrame, drawn columns only).

    key: a stable name for the chart (tests and the browser find it by it); note: a sentence shown right
    above the chart when the chart cannot draw everything (a series that is exactly 0, values thinned).
    """

    key: str
    spec: dict
    datasets: dict
    note: str | None = None


@dataclass(frozen=True)
class Notice:
    """kind: "info", "warning" or "error"."""

    kind: str
    text: str


@dataclass(frozen=True)
class Columns:
    """Side-by-side columns, each a tuple of blocks (the vanishing and the exploding case); widths: relative
    widths, or None for equal ones. On a narrow screen the columns stack, each whole."""

    columns: tuple
    widths: tuple | None = None


@dataclass(frozen=True)
class Expander:
    label: str
    blocks: tuple
    expanded: bool = False


@dataclass(frozen=True)
class Download:
    """A CSV download whose text is made only when clicked."""

    label: str
    make: Callable[[], str]
    file_name: str


@dataclass(frozen=True)
class Code:
    text: str
    language: str = "python"


@dataclass(frozen=True, eq=False)
class Checklist:
    """The symptom checklist: the verdict line (Markdown) on its colour, a table of the symptoms that can occur
    (symptom, yes/no; Markdown cells), each answer's evidence shown on demand under evidence_label (Markdown
    lines), and a sentence naming the checks the run could not make (or None)."""

    verdict: str
    verdict_color: str
    table: object
    evidence_label: str
    evidence: tuple
    unchecked: str | None = None


BLOCK_TYPES = (Heading, Text, Caption, Latex, Metric, Metrics, Chart, Notice, Columns, Expander, Download, Code, Checklist)


def walk(blocks):
    """Every block, nested ones included, depth first."""
    for block in blocks:
        yield block
        if isinstance(block, Columns):
            for column in block.columns:
                yield from walk(column)
        elif isinstance(block, Expander):
            yield from walk(block.blocks)
