"""The PDF module every document is made with (accounts/kernel/pdf.py): the
Chinese and the figures come back out of the PDF as text (pdftotext), in
the built-in CID font that needs nothing installed and in an embedded
TrueType font; a long table runs over pages with its header on each and the
pages numbered; the same content makes the same bytes."""

from __future__ import annotations

import subprocess

import pytest
from django.test import override_settings

from accounts.kernel.pdf import Column, PdfDocument, font_name
from tests import pdftext

WQY = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


def _document(rows: int = 3) -> bytes:
    doc = PdfDocument(title="对账单 test", footer="Ledger core · 账务系统")
    doc.heading("账户对账单 Account statement", "2026-11-01 – 2026-11-30")
    doc.fields([("会员 Member", "张三 (M00000001)"), ("币种 Currency", "CNY")])
    doc.table(
        [Column("日期 Date"), Column("摘要 Memo", 3, wrap=True), Column("金额 Amount", numeric=True)],
        [[f"2026-11-{i % 28 + 1:02d}", f"充值 第{i}笔", f"{i},000.00"] for i in range(1, rows + 1)],
        totals=["合计 Totals", "", "6,000.00"],
    )
    return doc.render()


def _fonts(pdf: bytes) -> str:
    return subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def test_chinese_and_figures_come_back_as_text_with_the_built_in_font():
    pdf = _document()
    assert pdf.startswith(b"%PDF-")
    text = pdftext.squeezed(pdf)
    for shown in ["账户对账单 Account statement", "张三 (M00000001)", "充值 第2笔", "2,000.00", "合计 Totals"]:
        assert shown in text
    assert "第 1/1 页" in text and "Page 1 of 1" in text
    assert "STSong-Light" in _fonts(pdf)  # nothing embedded: no font file needed


def test_a_configured_truetype_font_is_embedded(settings):
    with override_settings(PDF_CJK_FONT=f"{WQY}#0"):
        assert font_name() != "STSong-Light"
        pdf = _document()
    fonts = _fonts(pdf)
    embedded = [line for line in fonts.splitlines() if "WenQuanYi" in line]
    assert embedded and all(" yes yes yes " in f" {' '.join(line.split())} " for line in embedded), fonts
    assert "张三 (M00000001)" in pdftext.squeezed(pdf)


def test_a_long_table_runs_over_numbered_pages_with_its_header_on_each():
    pdf = _document(rows=130)
    pages = pdftext.pages(pdf)
    assert pages >= 3
    text = pdftext.text(pdf)
    assert [f"Page {n} of {pages}" in text for n in range(1, pages + 1)] == [True] * pages
    headers = [w for w in pdftext.words(pdf) if w.text == "摘要"]
    assert sorted({w.page for w in headers}) == list(range(1, pages + 1))
    assert "充值 第130笔" in pdftext.squeezed(pdf)


def test_the_same_content_makes_the_same_bytes():
    assert _document() == _document()


@pytest.mark.parametrize("rows", [0])
def test_an_empty_table_still_has_its_header(rows):
    text = pdftext.squeezed(_document(rows=rows))
    assert "摘要 Memo" in text and "6,000.00" in text
