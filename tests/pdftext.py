"""Reading the ledger's PDFs back as a person's PDF reader would, with
poppler's pdftotext (a subprocess: the real tool, not a Python PDF parser
that might read what poppler cannot). ``words`` gives every word with its
box (``-tsv``), so a statement's amounts are read from the column whose
header they sit under, not guessed from their order on the line."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from decimal import Decimal

PDFTOTEXT = shutil.which("pdftotext") or "/usr/bin/pdftotext"
AMOUNT = re.compile(r"^-?[0-9]{1,3}(,[0-9]{3})*\.[0-9]{2}$")


def _run(args: list[str], pdf: bytes) -> str:
    # A missing pdftotext fails (poppler-utils: .ci/test installs it): a PDF test that
    # silently did not read the PDF would prove nothing.
    done = subprocess.run([PDFTOTEXT, *args, "-", "-"], input=pdf, capture_output=True, timeout=60, check=True)
    return done.stdout.decode("utf-8")


def text(pdf: bytes) -> str:
    """The text in reading layout (pdftotext -layout)."""
    return _run(["-layout"], pdf)


def squeezed(pdf: bytes) -> str:
    """The text with every run of white space made one space."""
    return " ".join(text(pdf).split())


@dataclass(frozen=True)
class Word:
    page: int
    line: tuple[int, int]  # (page, rounded top): the words of one printed line
    left: float
    right: float
    text: str


def words(pdf: bytes) -> list[Word]:
    out = []
    for row in _run(["-tsv"], pdf).splitlines()[1:]:
        level, page, _, _, _, _, left, top, width, _, _, word = row.split("\t", 11)
        if level != "5":
            continue
        out.append(Word(int(page), (int(page), round(float(top))), float(left), float(left) + float(width), word))
    return out


def pages(pdf: bytes) -> int:
    return max(w.page for w in words(pdf)) if pdf else 0


def amount(word: str) -> Decimal:
    return Decimal(word.replace(",", ""))


@dataclass
class StatementOnPaper:
    """A statement as printed: the table's opening line, each entry line
    (entry serial, debit, credit, balance), the totals line."""

    opening: Decimal
    lines: list[tuple[int, Decimal | None, Decimal | None, Decimal]]
    debit_total: Decimal
    credit_total: Decimal
    closing: Decimal
    entry_count: int


def statement(pdf: bytes) -> StatementOnPaper:
    """Parse a statement PDF (postings.documents.statement_pdf) by columns:
    an amount belongs to the Debit, Credit or Balance column whose
    right-aligned header it ends under."""
    all_words = words(pdf)
    headers = {}
    for w in all_words:
        if w.text in ("借方", "贷方", "余额") and w.page == 1 and w.text not in headers:
            headers[w.text] = w.right
    assert set(headers) == {"借方", "贷方", "余额"}, headers

    def column(w: Word) -> str | None:
        for name, right in headers.items():
            if abs(w.right - right) < 2.5:
                return name
        return None

    by_line: dict[tuple[int, int], list[Word]] = {}
    for w in all_words:
        by_line.setdefault(w.line, []).append(w)
    opening = totals = None
    lines = []
    for key in sorted(by_line):
        ws = sorted(by_line[key], key=lambda w: w.left)
        figures = {column(w): amount(w.text) for w in ws if AMOUNT.match(w.text) and column(w)}
        texts = [w.text for w in ws]
        if not figures:
            continue
        if "合计" in texts:
            count = int(texts[texts.index("合计") + 1])  # "Totals 合计", "3 entries 笔"
            totals = (figures.get("借方"), figures.get("贷方"), figures["余额"], count)
        elif "期初余额" in texts:
            opening = figures["余额"]
        else:
            serial = next(t for t in texts if re.fullmatch(r"E[0-9]+", t))
            lines.append((int(serial[1:]), figures.get("借方"), figures.get("贷方"), figures["余额"]))
    assert opening is not None and totals is not None, "no opening or totals line found"
    return StatementOnPaper(opening, lines, totals[0], totals[1], totals[2], totals[3])
