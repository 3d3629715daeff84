"""PDF documents for people: account statements, electronic receipts (电子回单),
and the bills that credit lines will send. One look for all of them: a title,
a block of labelled fields, tables whose header repeats on every page, and a
footer with the page number ("Page 2 of 5 · 第 2/5 页").

Built on ReportLab because it is a pure Python wheel (``pip install`` is
all a fresh machine needs: no Pango or Cairo from the system) and because it
can set Chinese without a font file: by default the text is in the CID font
STSong-Light (Adobe-GB1), which PDF readers carry or substitute and which
poppler extracts back to Unicode (``pdftotext``, with poppler-data). With
``PDF_CJK_FONT`` pointing at a TrueType font (``.ttf``, or ``.ttc`` with
``#index``, e.g. /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc#0) the used
glyphs of that font are embedded instead, so the document looks the same in
every reader.

Every string goes into the PDF as text (never as drawn outlines), so what a
person reads is what a program extracts. Amounts are formatted by the caller
with ``accounts.kernel.money`` and placed right-aligned.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from xml.sax.saxutils import escape

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

CID_FONT = "STSong-Light"
INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#616e7c")
LINE = colors.HexColor("#bcccdc")
HEAD = colors.HexColor("#eef2f7")
# A table of many rows is laid out in slices of this many: ReportLab splits
# one long table across pages in time that grows with its length.
ROWS_PER_SLICE = 400


@cache
def _registered(spec: str) -> str:
    if not spec:
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
        return CID_FONT
    path, _, index = spec.partition("#")
    name = f"LedgerCJK{zlib.crc32(spec.encode()):08x}"
    pdfmetrics.registerFont(TTFont(name, path, subfontIndex=int(index or 0)))
    return name


def font_name() -> str:
    """The font every document is set in: the TrueType ``PDF_CJK_FONT``
    (embedded, subset) when configured, else the built-in STSong-Light."""
    return _registered(getattr(settings, "PDF_CJK_FONT", "") or "")


@dataclass(frozen=True)
class Column:
    """A table column: its title, its share of the width, whether it holds
    amounts (right-aligned), and whether long text wraps in it (memos,
    names). A cell that never wraps is drawn as a plain string, several
    times faster to lay out than a paragraph: a statement of thousands of
    lines depends on it."""

    title: str
    width: float = 1.0
    numeric: bool = False
    wrap: bool = False


class _NumberedCanvas(canvas.Canvas):
    """Writes each page's footer once the number of pages is known."""

    footer = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []

    def showPage(self):  # noqa: N802 - ReportLab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._footer(number, total)
            super().showPage()
        super().save()

    def _footer(self, number: int, total: int) -> None:
        width, _ = self._pagesize
        self.setFont(font_name(), 8)
        self.setFillColor(MUTED)
        self.setStrokeColor(LINE)
        self.line(15 * mm, 12 * mm, width - 15 * mm, 12 * mm)
        self.drawString(15 * mm, 8 * mm, self.footer)
        self.drawRightString(width - 15 * mm, 8 * mm, f"Page {number} of {total} · 第 {number}/{total} 页")


class PdfDocument:
    """A document built block by block, then ``render()``-ed to bytes.

    doc = PdfDocument(title="Account statement 账户对账单", footer="Ledger core")
    doc.heading("Account statement 账户对账单", "2026-11-01 – 2026-11-30")
    doc.fields([("Member 会员", "Alice (M00000001)"), ...])
    doc.table([Column("Date"), Column("Amount", numeric=True)], rows, totals=[...])
    pdf = doc.render()
    """

    def __init__(self, *, title: str, footer: str = "", author: str = "Ledger core", wide: bool = False):
        self.title = title
        self.footer = footer
        self.author = author
        self.pagesize = landscape(A4) if wide else A4
        self.blocks: list = []
        font = font_name()
        self.styles = {
            "title": ParagraphStyle("title", fontName=font, fontSize=16, leading=20, textColor=INK, spaceAfter=2),
            "subtitle": ParagraphStyle("subtitle", fontName=font, fontSize=10, leading=13, textColor=MUTED),
            "label": ParagraphStyle("label", fontName=font, fontSize=8.5, leading=11, textColor=MUTED),
            "value": ParagraphStyle("value", fontName=font, fontSize=9.5, leading=12, textColor=INK, wordWrap="CJK"),
            "cell": ParagraphStyle("cell", fontName=font, fontSize=8, leading=10, textColor=INK, wordWrap="CJK"),
            "num": ParagraphStyle("num", fontName=font, fontSize=8, leading=10, textColor=INK, alignment=TA_RIGHT),
            "th": ParagraphStyle("th", fontName=font, fontSize=8, leading=10, textColor=MUTED, alignment=TA_LEFT),
            "thnum": ParagraphStyle(
                "thnum", fontName=font, fontSize=8, leading=10, textColor=MUTED, alignment=TA_RIGHT
            ),
            "text": ParagraphStyle("text", fontName=font, fontSize=9, leading=12, textColor=INK, wordWrap="CJK"),
            "small": ParagraphStyle("small", fontName=font, fontSize=7.5, leading=10, textColor=MUTED, wordWrap="CJK"),
        }

    @property
    def width(self) -> float:
        return self.pagesize[0] - 30 * mm

    def _p(self, text, style: str) -> Paragraph:
        return Paragraph(escape(str(text)).replace("\n", "<br/>"), self.styles[style])

    def heading(self, title: str, subtitle: str = "") -> None:
        self.blocks.append(self._p(title, "title"))
        if subtitle:
            self.blocks.append(self._p(subtitle, "subtitle"))
        self.blocks.append(Spacer(1, 4 * mm))

    def fields(self, pairs: Sequence[tuple[str, str]], *, columns: int = 2) -> None:
        """Labelled values, ``columns`` pairs a line."""
        rows, line = [], []
        for label, value in pairs:
            line += [self._p(label, "label"), self._p(value, "value")]
            if len(line) == 2 * columns:
                rows.append(line)
                line = []
        if line:
            rows.append(line + [""] * (2 * columns - len(line)))
        share = self.width / columns
        # The labels' column as wide as the longest label, so none wraps (up to half the pair).
        style = self.styles["label"]
        label = min(max(stringWidth(k, style.fontName, style.fontSize) for k, _ in pairs) + 8, share / 2)
        table = Table(rows, colWidths=[label, share - label] * columns, hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ]
            )
        )
        self.blocks += [table, Spacer(1, 4 * mm)]

    def text(self, text: str, *, small: bool = False) -> None:
        self.blocks += [self._p(text, "small" if small else "text"), Spacer(1, 2 * mm)]

    def table(
        self,
        columns: Sequence[Column],
        rows: Iterable[Sequence[str]],
        *,
        totals: Sequence[str] | None = None,
    ) -> None:
        """Rows of text under ``columns``; the header repeats on every page,
        ``totals`` (one value per column, "" for none) closes the table."""
        total_width = sum(c.width for c in columns)
        widths = [self.width * c.width / total_width for c in columns]
        header = [self._p(c.title, "thnum" if c.numeric else "th") for c in columns]

        def cells(values):
            return [self._p(v, "cell") if c.wrap else str(v) for c, v in zip(columns, values)]

        batch: list = []
        sliced = False
        for row in rows:
            batch.append(cells(row))
            if len(batch) == ROWS_PER_SLICE:
                self.blocks.append(self._slice(header, batch, columns, widths, bold_last=False))
                batch, sliced = [], True
        if totals is not None:
            batch.append(cells(totals))
        if batch or not sliced:
            self.blocks.append(self._slice(header, batch, columns, widths, bold_last=totals is not None))
        self.blocks.append(Spacer(1, 4 * mm))

    def _slice(self, header, rows, columns, widths, *, bold_last: bool) -> Table:
        table = Table([header, *rows], colWidths=widths, repeatRows=1, hAlign="LEFT")
        cell = self.styles["cell"]
        style = [
            ("FONTNAME", (0, 1), (-1, -1), cell.fontName),
            ("FONTSIZE", (0, 1), (-1, -1), cell.fontSize),
            ("LEADING", (0, 1), (-1, -1), cell.leading),
            ("TEXTCOLOR", (0, 1), (-1, -1), INK),
            *[("ALIGN", (i, 1), (i, -1), "RIGHT") for i, c in enumerate(columns) if c.numeric],
            ("BACKGROUND", (0, 0), (-1, 0), HEAD),
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, LINE),
            ("BOX", (0, 0), (-1, -1), 0.5, LINE),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]
        if bold_last and rows:
            style += [("LINEABOVE", (0, -1), (-1, -1), 0.8, INK), ("BACKGROUND", (0, -1), (-1, -1), HEAD)]
        table.setStyle(TableStyle(style))
        return table

    def render(self) -> bytes:
        out = io.BytesIO()
        doc = SimpleDocTemplate(
            out,
            pagesize=self.pagesize,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=15 * mm,
            bottomMargin=18 * mm,
            title=self.title,
            author=self.author,
            creator="Ledger core (账务系统)",
            # The same content renders to the same bytes (no creation-time
            # stamp or random file id), so a document's checksum means something.
            invariant=1,
        )
        footer = self.footer

        class _Canvas(_NumberedCanvas):
            pass

        _Canvas.footer = footer
        doc.build(list(self.blocks) or [Spacer(1, 1)], canvasmaker=_Canvas)
        return out.getvalue()
