"""Importing channel statements (对账单): both sample layouts, whole file or
nothing, duplicates refused, every bad line named."""

from __future__ import annotations

from datetime import date

import pytest

from reports.channel.exceptions import StatementAlreadyImported, StatementFileInvalid
from reports.channel.importing import statement_import
from reports.channel.models import StatementImport, StatementLine

from .recon_books import D, epay_file, sample_channel, sample_file

pytestmark = pytest.mark.django_db
DAY = date(2026, 11, 20)


def load(channel, content, day=DAY, name="statement.csv"):
    return statement_import(channel=channel, statement_date=day, file_name=name, content=content, imported_by="finance")


def lines_of(statement):
    return [
        (ln.line_no, ln.serial_no, ln.direction, ln.amount, ln.fee, ln.status, ln.counts)
        for ln in statement.lines.order_by("line_no")
    ]


def test_the_bank_sample_gbk_with_debit_and_credit_columns(ledger):
    statement = load(sample_channel("banksim"), sample_file("banksim_20261120.csv"), name="banksim_20261120.csv")
    assert statement.line_count == 4
    assert lines_of(statement) == [
        (3, "BK2026112000000001", "in", D("1000"), D("0"), "", True),
        (4, "BK2026112000000002", "in", D("250.50"), D("0"), "", True),
        (5, "BK2026112000000003", "out", D("300"), D("0"), "", True),
        (6, "BK2026112000000004", "in", D("88"), D("0"), "", True),
    ]
    first = statement.lines.get(line_no=3)
    assert first.raw.startswith("20261120,091502,BK2026112000000001,充值")
    assert (first.txn_time.year, first.txn_time.hour, first.txn_time.minute) == (2026, 1, 15)  # 09:15 Beijing, UTC


def test_the_payment_company_sample_with_header_block_signed_amounts_and_footer(ledger):
    statement = load(sample_channel("epaysim"), sample_file("epaysim_20261120.csv"))
    assert lines_of(statement) == [
        (6, "YF202611200000001", "in", D("100"), D("0.38"), "成功", True),
        (7, "YF202611200000002", "in", D("2000"), D("7.60"), "成功", True),
        (8, "YF202611200000003", "out", D("500"), D("1.00"), "成功", True),
        (9, "YF202611200000004", "in", D("20"), D("0"), "关闭", False),  # closed: kept, moves no money
    ]


def test_the_same_file_twice_is_refused(ledger):
    channel = sample_channel("banksim")
    content = sample_file("banksim_20261120.csv")
    first = load(channel, content)
    with pytest.raises(StatementAlreadyImported) as refused:
        load(channel, content, day=date(2026, 11, 21))  # the same bytes, whatever the day
    assert refused.value.earlier == first
    assert f"#{first.pk}" in refused.value.message
    # Another file for a day that already has one is refused too.
    with pytest.raises(StatementAlreadyImported, match="already has a statement for 2026-11-20"):
        load(channel, content.replace(b"88.00", b"89.00"))
    assert StatementImport.objects.count() == 1
    assert StatementLine.objects.count() == 4


GOOD = [("YF1", "100.00", "0.38"), ("YF2", "-50.00", "1.00"), ("YF3", "20.00", "0.08")]


def epay_good() -> bytes:
    return epay_file("2026-11-20", GOOD)


@pytest.mark.parametrize(
    "name, mangle, expected",
    [
        ("GBK instead of UTF-8", lambda b: b.decode("utf-8").encode("gbk"), "line 1: not UTF-8 text"),
        ("missing fee column", lambda b: b.replace("手续费(元),".encode(), b""), "line 5: missing column 手续费(元)"),
        (
            "too many places",
            lambda b: b.replace(b"-50.00", b"-50.005"),
            "line 7, column 金额(元): '-50.005': CNY allows at most 2 decimal places",
        ),
        (
            "not a number",
            lambda b: b.replace(b"20.00,0.08", b"2O.00,0.08"),
            "line 8, column 金额(元): '2O.00' is not a decimal amount",
        ),
        (
            "zero amount",
            lambda b: b.replace(b"100.00,0.38", b"0.00,0.38"),
            "line 6, column 金额(元): the amount is zero",
        ),
        (
            "bad time",
            lambda b: b.replace(b"YF2,2026-11-20 10:00:00", b"YF2,2026-11-31 10:00:00"),
            "line 7: '2026-11-31 10:00:00' is not a time",
        ),
        ("duplicate serial", lambda b: b.replace(b"YF3,", b"YF1,"), "line 8: serial number YF1 is already on line 6"),
        (
            "truncated: footer gone",
            lambda b: b.rsplit(b"#---", 1)[0],
            "line 9: the summary footer (a line starting with '#') is missing; the file is truncated",
        ),
        (
            "truncated: a line gone",
            lambda b: b.replace("YF3,2026-11-20 10:00:00,ORD-YF3,收款,20.00,0.08,成功\n".encode(), b""),
            "the footer counts 3 lines, the file has 2",
        ),
        (
            "truncated mid-line",
            lambda b: b.split(b"ORD-YF3")[0],
            "line 8: 3 fields, the header has 7 (a truncated or broken line)",
        ),
    ],
)
def test_a_malformed_file_is_refused_whole_naming_the_line(ledger, name, mangle, expected):
    channel = sample_channel("epaysim")
    load(channel, epay_good().replace(b"2026-11-20", b"2026-11-19"), day=date(2026, 11, 19))  # the good file is fine
    with pytest.raises(StatementFileInvalid) as refused:
        load(channel, mangle(epay_good()))
    assert expected in refused.value.message, refused.value.message
    assert StatementImport.objects.count() == 1 and StatementLine.objects.count() == 3


def test_every_bad_line_is_named_at_once(ledger):
    content = epay_good().replace(b"-50.00", b"-5x").replace(b"20.00,0.08", b"20.00,abc")
    with pytest.raises(StatementFileInvalid) as refused:
        load(sample_channel("epaysim"), content)
    assert refused.value.problems == [
        "line 7, column 金额(元): '-5x' is not a decimal amount",
        "line 8, column 手续费(元): 'abc' is not a decimal amount",
    ]


def test_the_bank_refuses_utf8_and_lines_with_both_or_neither_column(ledger):
    channel = sample_channel("banksim")
    text = sample_file("banksim_20261120.csv").decode("gbk")
    with pytest.raises(StatementFileInvalid, match="line 1: this is UTF-8 text, but banksim statements are GBK"):
        load(channel, text.encode("utf-8"))
    both = text.replace(",充值,,250.50,", ",充值,1.00,250.50,")
    neither = text.replace(",提现,300.00,,", ",提现,,,")
    with pytest.raises(StatementFileInvalid, match=r"line 4: both debit \(1.0000\) and credit"):
        load(channel, both.encode("gbk"))
    with pytest.raises(StatementFileInvalid, match="line 5: neither debit nor credit has an amount"):
        load(channel, neither.encode("gbk"))
    assert StatementImport.objects.count() == 0


def test_the_migration_installed_both_sample_channels_and_the_grants():
    from django.contrib.auth.models import Group

    from reports.channel.models import Channel

    assert {c.code: (c.encoding, c.amount_mode) for c in Channel.objects.all()} == {
        "banksim": ("gbk", "debit_credit"),
        "epaysim": ("utf-8", "signed"),
    }
    finance = set(Group.objects.get(name="Finance staff").permissions.values_list("codename", flat=True))
    assert {"import_statement", "work_difference", "view_difference", "view_reconrun"} <= finance


@pytest.mark.parametrize("encoding", ["utf-8", "gbk", "gb18030"])
def test_a_file_is_read_line_by_line_into_the_lines_the_whole_text_splits_into(encoding):
    """The import decodes and splits a line at a time (a large file is never
    decoded whole): the lines are those of ``str.splitlines()`` of the whole
    decoded text, whatever the line breaks (CRLF, LF, CR, and the form feed
    and separators splitlines also breaks at)."""
    import random

    from reports.channel.models import Channel
    from reports.channel.parsing import _decoded_lines

    channel = Channel(code="x", encoding=encoding)
    pieces = ["", "a", "中文,交易", "x,y", "\x0c", "\x1c", " \x1e ", "\x0b"]
    if encoding != "gbk":
        pieces += ["\u2028", "\x85", "\u2029z"]
    rnd = random.Random(11)
    for _ in range(400):
        text = "".join(rnd.choice(pieces) + rnd.choice(["\n", "\r\n", "\r", ""]) for _ in range(rnd.randint(0, 9)))
        content = text.encode(encoding)
        if encoding == "utf-8" and rnd.random() < 0.3:
            content = "\ufeff".encode() + content
        whole = content.decode("utf-8-sig" if encoding == "utf-8" else encoding)
        assert list(_decoded_lines(channel, content)) == whole.splitlines(), repr(content)


def test_a_file_that_does_not_decode_is_refused_for_that_first(ledger):
    content = epay_good().replace("手续费(元),".encode(), b"")  # a missing column ...
    content = content.replace(
        "YF3,2026-11-20 10:00:00,ORD-YF3,收款".encode(), "YF3,2026-11-20 10:00:00,ORD-YF3,收款".encode("gbk")
    )  # ... and a GBK line further on
    with pytest.raises(StatementFileInvalid) as refused:
        load(sample_channel("epaysim"), content)
    assert refused.value.problems == ["line 8: not UTF-8 text (epaysim statements are UTF-8; was it saved as GBK?)"]


def test_copy_stores_the_lines_as_they_were_read(ledger):
    """The lines go to the database with COPY: tabs, backslashes and
    non-ASCII text come back exactly as the parser read them."""
    from reports.channel.parsing import parse_statement

    rows = [
        ("YF1", "100.00", "0.38"),
        ("YF\\2", "-50.50", "1.00"),
        ("YF\t3", "20.00", "0.08", "关闭"),
        ("YF4", "0.01", "0.00"),
    ]
    channel = sample_channel("epaysim")
    content = epay_file("2026-11-20", rows)
    statement = load(channel, content, day=date(2026, 11, 20))
    fields = ("line_no", "serial_no", "txn_time", "direction", "amount", "fee", "status", "counts", "raw")
    parsed = [tuple(getattr(line, f) for f in fields) for line in parse_statement(channel=channel, content=content)]
    stored = [tuple(getattr(line, f) for f in fields) for line in statement.lines.order_by("line_no")]
    assert len(stored) == 4 and stored == parsed
    assert {line.serial_no for line in statement.lines.all()} == {"YF1", "YF\\2", "YF\t3", "YF4"}
    assert set(statement.lines.values_list("channel_id", "statement_date")) == {(channel.pk, date(2026, 11, 20))}


def test_a_long_file_is_stored_whole_or_not_at_all(ledger):
    """Lines are checked as they are read and kept aside (in batches of 5,000)
    until the whole file is known good: a bad last line stores nothing."""
    rows = [(f"YF{n}", f"{n % 500 + 1}.00", "0.10") for n in range(12_001)]
    channel = sample_channel("epaysim")
    bad = epay_file("2026-11-20", rows).replace(b"YF12000,2026-11-20 10:00:00", b"YF12000,2026-11-31 10:00:00")
    with pytest.raises(StatementFileInvalid, match="line 12006: '2026-11-31 10:00:00' is not a time"):
        load(channel, bad)
    assert StatementImport.objects.count() == 0 and StatementLine.objects.count() == 0
    statement = load(channel, epay_file("2026-11-20", rows))
    assert statement.line_count == 12_001 == statement.lines.count()
    assert statement.lines.order_by("-line_no").values_list("line_no", "serial_no").first() == (12_006, "YF12000")


@pytest.mark.parametrize(
    "header, chosen, refused",
    [
        ("#账单日期:2026-11-20", date(2026, 11, 21), "line 3: the header says 2026-11-20, not 2026-11-21"),
        ("#账单日期:2026年11月20日", date(2026, 11, 21), "line 3: the header says 2026-11-20"),
        ("#起止日期:[2026-11-20 00:00:00 至 2026-11-21 00:00:00]", date(2026, 11, 20), None),
        ("#生成时间:2026-11-21 02:00:05", date(2026, 11, 20), None),
        ("#商户号:888820261119", date(2026, 11, 20), None),  # digits of a longer number are no date
    ],
)
def test_the_header_block_must_be_for_the_statement_day(ledger, header, chosen, refused):
    from reports.channel.exceptions import StatementWrongDay

    content = epay_good().replace("#账单日期:2026-11-20".encode(), header.encode())
    content = content.replace(b"2026-11-20 10:00", f"{chosen:%Y-%m-%d} 10:00".encode())
    channel = sample_channel("epaysim")
    if refused is None:
        assert load(channel, content, day=chosen).line_count == 3
        return
    with pytest.raises(StatementWrongDay) as wrong:
        load(channel, content, day=chosen)
    assert refused in wrong.value.message
    assert StatementImport.objects.count() == 0


def test_lines_of_another_day_are_refused_naming_each_date_and_how_many(ledger):
    from reports.channel.exceptions import StatementWrongDay

    content = epay_good().replace(b"YF3,2026-11-20", b"YF3,2026-11-21")  # the header says the 20th
    with pytest.raises(StatementWrongDay) as wrong:
        load(sample_channel("epaysim"), content)
    assert wrong.value.problems == [
        "the file is dated 2026-11-20, 2026-11-21; the statement day chosen is 2026-11-20",
        "the lines are dated 2026-11-20 (2 lines), 2026-11-21 (1 line), not only 2026-11-20",
    ]
