"""Opening balances (期初建账): a company brings its books to the ledger.

The worked example: entity MAIN, opening on D.

=======  ================  ======  ========  =======  ======  =============
ref      type              member  balance   limit    frozen  subject
=======  ================  ======  ========  =======  ======  =============
A-001    USER_CASH         M-1     500.00             120.00  2241 (liab.)
A-002    USER_CASH         M-2     300.00                     2241 (liab.)
A-003    USER_CREDIT       M-1     200.00    1000.00   50.00  1221 (asset)
A-004    CHANNEL_CLEARING          -700.00                    1002 (int.)
A-005    FEE_INCOME                 100.00                    6051 (int.)
A-006    USER_CASH  (USD)  M-2       10.00                    2241 (liab.)
A-007    CHANNEL_CLEARING (USD)     -10.00                    1002 (int.)
=======  ================  ======  ========  =======  ======  =============

CNY: assets 200.00 = liabilities 800.00 + internal -600.00. USD: 0 = 10.00 -
10.00. The GL's opening figures: CNY 2241 800.00, 1221 200.00, 1002 -700.00,
6051 100.00; USD 2241 10.00, 1002 -10.00. So the CNY opening posting debits
A-003 200 and A-004 700 (900) and credits A-001 500, A-002 300 and A-005 100
(900); the USD one debits A-007 10 and credits A-006 10.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from accounts.models import Account, Customer, Member
from postings.models import Entry, Hold, Posting
from reports.opening.models import OpeningAccount, OpeningImport, OpeningPosting
from reports.opening.services import (
    OpeningFileAlreadyImported,
    OpeningFileInvalid,
    OpeningImportNotAllowed,
    opening_import,
    opening_preview,
)
from reports.staging.models import StagedUpload
from reports.staging.services import staged_upload_commit, staged_upload_create

from .eod_books import open_books_on
from .reporting import ensure_report_roles, staff_user

pytestmark = pytest.mark.django_db

D = date(2026, 12, 1)
HEADER = [
    "record",
    "entity",
    "currency",
    "account_ref",
    "account_type",
    "member_no",
    "member_name",
    "customer_kind",
    "customer_name",
    "id_no",
    "subject_code",
    "balance",
    "credit_limit",
    "frozen",
    "hold_reason",
]
ALICE = ["M-1", "Alice", "person", "Alice Wang", "110101199001011234"]
ACME = ["M-2", "Acme", "company", "Acme Ltd", "91310000MA1K000001"]
NOBODY = ["", "", "", "", ""]


def account(ref, type_code, who, balance, limit="", frozen="", reason="", currency="CNY"):
    return ["account", "MAIN", currency, ref, type_code, *who, "", balance, limit, frozen, reason]


def gl(subject, balance, currency="CNY"):
    return ["gl", "MAIN", currency, "", "", *NOBODY, subject, balance, "", "", ""]


def good_rows():
    return [
        account("A-001", "USER_CASH", ALICE, "500.00", frozen="120.00", reason="withdrawal in review"),
        account("A-002", "USER_CASH", ACME, "300.00"),
        account("A-003", "USER_CREDIT", ALICE, "200.00", limit="1000.00", frozen="50.00"),
        account("A-004", "CHANNEL_CLEARING", NOBODY, "-700.00"),
        account("A-005", "FEE_INCOME", NOBODY, "100.00"),
        account("A-006", "USER_CASH", ACME, "10.00", currency="USD"),
        account("A-007", "CHANNEL_CLEARING", NOBODY, "-10.00", currency="USD"),
        gl("2241", "800.00"),
        gl("1221", "200.00"),
        gl("1002", "-700.00"),
        gl("6051", "100.00"),
        gl("2241", "10.00", currency="USD"),
        gl("1002", "-10.00", currency="USD"),
    ]


def csv_bytes(rows, header=HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def xlsx_bytes(rows, header=HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@pytest.fixture
def books(ledger):
    open_books_on(ledger.entity, D)
    return ledger


@pytest.fixture
def finance():
    ensure_report_roles()
    return staff_user("finance", "Finance staff")


def ledger_state() -> tuple:
    return (
        Account.objects.count(),
        Member.objects.count(),
        Customer.objects.count(),
        Posting.objects.count(),
        Entry.objects.count(),
        Hold.objects.count(),
        OpeningImport.objects.count(),
        OpeningAccount.objects.count(),
    )


def by_ref() -> dict[str, Account]:
    return {o.account_ref: Account.objects.get(pk=o.account_id) for o in OpeningAccount.objects.all()}


def identity(entity, currency) -> Decimal:
    """assets - liabilities - internal over every account of the book: zero when the identity holds."""
    total = Decimal(0)
    for a in Account.objects.filter(entity=entity, currency=currency):
        total += a.balance if a.category == "asset" else -a.balance
    return total


# --------------------------------------------------------- a good file ----


@pytest.mark.parametrize("as_xlsx", [False, True], ids=["csv", "xlsx"])
def test_a_good_file_opens_posts_and_holds(books, finance, as_xlsx):
    content = (xlsx_bytes if as_xlsx else csv_bytes)(good_rows())
    record = opening_import(accounting_date=D, file_name="opening.x", content=content, user=finance)

    assert (record.account_count, record.hold_count, record.accounting_date) == (7, 2, D)
    accounts = by_ref()
    assert {ref: (a.account_type.code, a.currency, a.balance) for ref, a in accounts.items()} == {
        "A-001": ("USER_CASH", "CNY", Decimal("500.00")),
        "A-002": ("USER_CASH", "CNY", Decimal("300.00")),
        "A-003": ("USER_CREDIT", "CNY", Decimal("200.00")),
        "A-004": ("CHANNEL_CLEARING", "CNY", Decimal("-700.00")),
        "A-005": ("FEE_INCOME", "CNY", Decimal("100.00")),
        "A-006": ("USER_CASH", "USD", Decimal("10.00")),
        "A-007": ("CHANNEL_CLEARING", "USD", Decimal("-10.00")),
    }
    credit = accounts["A-003"]
    assert (credit.credit_limit, credit.frozen, credit.available) == (
        Decimal("1000.00"),
        Decimal("50.00"),
        Decimal("750.00"),
    )
    alice_cash = accounts["A-001"]
    assert (alice_cash.frozen, alice_cash.available) == (Decimal("120.00"), Decimal("380.00"))
    hold = Hold.objects.get(account=alice_cash)
    assert (hold.remaining, hold.reason, hold.status) == (Decimal("120.00"), "withdrawal in review", "held")
    assert Hold.objects.get(account=credit).remaining == Decimal("50.00")
    # One member per member number, with both of Alice's accounts.
    assert alice_cash.member == credit.member and alice_cash.member.customer.id_no == ALICE[4]
    assert accounts["A-002"].member.customer.kind == "company"

    postings = {(o.entity.code, o.currency): o.posting for o in OpeningPosting.objects.all()}
    assert set(postings) == {("MAIN", "CNY"), ("MAIN", "USD")}
    cny = postings["MAIN", "CNY"]
    assert (cny.business_type, cny.accounting_date) == ("opening", D)
    assert sorted((e.account.account_no, e.direction, e.amount) for e in cny.entries.all()) == sorted(
        [
            (accounts["A-001"].account_no, "C", Decimal("500.00")),
            (accounts["A-002"].account_no, "C", Decimal("300.00")),
            (accounts["A-003"].account_no, "D", Decimal("200.00")),
            (accounts["A-004"].account_no, "D", Decimal("700.00")),
            (accounts["A-005"].account_no, "C", Decimal("100.00")),
        ]
    )
    assert identity(books.entity, "CNY") == 0 and identity(books.entity, "USD") == 0
    transit = Account.objects.get(account_type__code="OPENING_BALANCE", entity=books.entity, currency="CNY")
    assert transit.balance == 0


def test_the_preview_writes_nothing_and_shows_the_identity_and_subjects(books, finance):
    before = ledger_state()
    preview = opening_preview(file_name="opening.csv", content=csv_bytes(good_rows()), user=finance)
    assert ledger_state() == before
    assert (preview["account_count"], preview["member_count"], preview["hold_count"]) == (7, 2, 2)
    cny = preview["totals"][0]
    assert (cny["entity"], cny["currency"], cny["asset"], cny["liability"], cny["internal"]) == (
        "MAIN",
        "CNY",
        "200.00",
        "800.00",
        "-600.00",
    )
    assert {(s["currency"], s["subject_code"]): (s["ledger"], s["gl"]) for s in preview["subjects"]} == {
        ("CNY", "1002"): ("-700.00", "-700.00"),
        ("CNY", "1221"): ("200.00", "200.00"),
        ("CNY", "2241"): ("800.00", "800.00"),
        ("CNY", "6051"): ("100.00", "100.00"),
        ("USD", "1002"): ("-10.00", "-10.00"),
        ("USD", "2241"): ("10.00", "10.00"),
    }


# ---------------------------------------------- files refused whole ----


def refused(books, finance, rows) -> list[str]:
    before = ledger_state()
    with pytest.raises(OpeningFileInvalid) as caught:
        opening_import(accounting_date=D, file_name="bad.csv", content=csv_bytes(rows), user=finance)
    assert ledger_state() == before
    return caught.value.problems


def test_identity_broken_is_refused_whole(books, finance):
    rows = good_rows()
    rows[4] = account("A-005", "FEE_INCOME", NOBODY, "150.00")  # 50.00 appears from nowhere
    rows[10] = gl("6051", "150.00")  # and the GL agrees, so only the identity is wrong
    assert refused(books, finance, rows) == [
        "rows 2-6, column balance: MAIN CNY does not balance: assets CNY 200.00 != liabilities CNY 800.00 + "
        "internal CNY -550.00 (difference CNY -50.00)"
    ]


def test_a_subject_that_differs_from_the_gl_is_refused(books, finance):
    rows = good_rows()
    rows[7] = gl("2241", "790.00")
    assert refused(books, finance, rows) == [
        "row 9, column balance: the GL says 790.00 for MAIN CNY 2241; the accounts add up to 800.00"
    ]


def test_unknown_subject_and_unknown_account_type_are_refused(books, finance):
    rows = good_rows()
    rows.append(gl("7777", "0"))
    rows[1] = account("A-002", "USER_WALLET", ACME, "300.00")
    assert refused(books, finance, rows) == [
        "row 3, column account_type: USER_WALLET is not an account type of the chart",
        "row 15, column subject_code: 7777 is not the subject code of any account type",
    ]


def test_a_subject_without_a_gl_row_is_refused(books, finance):
    rows = [r for r in good_rows() if r[:3] != ["gl", "MAIN", "USD"] or r[10] != "1002"]
    assert refused(books, finance, rows) == [
        "row 8, column subject_code: MAIN USD 1002 has no gl row giving the GL's figure"
    ]


def test_duplicate_account_is_refused(books, finance):
    rows = good_rows()
    rows.insert(2, account("A-001", "USER_CASH", ALICE, "0"))
    rows.insert(3, account("A-008", "FEE_INCOME", NOBODY, "0"))
    assert refused(books, finance, rows) == [
        "row 4, column account_ref: account A-001 is already on row 2",
        "row 8, column account_type: MAIN CNY FEE_INCOME is already on row 5 (one internal account of a type "
        "per entity and currency)",
    ]


@pytest.mark.parametrize(
    ("balance", "why"),
    [
        ("5OO.00", "'5OO.00' is not a decimal amount (digits, an optional sign and decimal point)"),
        ("500.001", "'500.001' has more than 2 decimal places for CNY"),
        ("", "empty (write 0 for no amount)"),
        ("1.2E+3", "'1.2E+3' is not a decimal amount (digits, an optional sign and decimal point)"),
    ],
)
def test_bad_amount_is_refused_naming_row_and_column(books, finance, balance, why):
    rows = good_rows()
    rows[0] = account("A-001", "USER_CASH", ALICE, balance, frozen="120.00")
    problems = refused(books, finance, rows)
    assert problems[0] == f"row 2, column balance: {why}"


def test_bad_amount_in_an_xlsx_names_the_cell(books, finance):
    rows = good_rows()
    rows[2] = account("A-003", "USER_CREDIT", ALICE, "200.00", limit="lots")
    before = ledger_state()
    with pytest.raises(OpeningFileInvalid) as caught:
        opening_import(accounting_date=D, file_name="bad.xlsx", content=xlsx_bytes(rows), user=finance)
    assert ledger_state() == before
    assert caught.value.problems == [
        "row 4, column credit_limit (cell M4): 'lots' is not a decimal amount (digits, an optional sign and "
        "decimal point)"
    ]


def test_what_the_accounts_may_not_hold_is_refused(books, finance):
    rows = good_rows()
    rows[0] = account("A-001", "USER_CASH", ALICE, "500.00", frozen="600.00")
    rows[2] = account("A-003", "USER_CREDIT", ALICE, "200.00", limit="100.00")
    rows[1] = account("A-002", "USER_CASH", ACME, "-300.00")
    problems = refused(books, finance, rows)
    assert problems[:3] == [
        "row 2, column frozen: frozen 600.00 is more than the balance 500.00",
        "row 3, column balance: -300.00 is negative; USER_CASH accounts may not go negative",
        "row 4, column balance: used 200.00 plus frozen 0.00 is more than the credit limit 100.00",
    ]


def test_a_frozen_amount_on_a_hot_account_type_is_refused(books, finance):
    from accounts.models import AccountType

    AccountType.objects.filter(code="CHANNEL_CLEARING").update(posting_mode="buffered")
    rows = good_rows()
    rows[3] = account("A-004", "CHANNEL_CLEARING", NOBODY, "-700.00", frozen="1.00")
    assert refused(books, finance, rows) == [
        "row 5, column frozen: CHANNEL_CLEARING accounts open buffered (hot accounts); nothing can be frozen on them"
    ]


# ------------------------------------------------------ a second time ----


def test_the_same_file_again_is_recognised_and_refused(books, finance):
    content = csv_bytes(good_rows())
    first = opening_import(accounting_date=D, file_name="opening.csv", content=content, user=finance)
    before = ledger_state()
    with pytest.raises(OpeningFileAlreadyImported) as caught:
        opening_import(accounting_date=D, file_name="again.csv", content=content, user=finance)
    assert caught.value.code == "opening_file_already_imported"
    assert f"opening import #{first.pk}" in caught.value.message
    with pytest.raises(OpeningFileAlreadyImported):
        opening_preview(file_name="again.csv", content=content, user=finance)
    assert ledger_state() == before


def test_another_file_for_the_same_books_is_refused_naming_what_is_there(books, finance):
    opening_import(accounting_date=D, file_name="opening.csv", content=csv_bytes(good_rows()), user=finance)
    rows = good_rows()
    rows[0] = account("A-001", "USER_CASH", ALICE, "500.00")  # another file: the hold dropped
    problems = refused(books, finance, rows)
    assert "row 5, column account_type: MAIN already has an open CHANNEL_CLEARING account in CNY" in problems[0]
    assert "row 2, column account_ref: account A-001 was imported before" in problems
    assert "row 2, column member_no: member M-1 is already in the ledger" in problems
    assert "row 2, column entity: MAIN CNY has had its opening balances imported before" in problems


def test_a_staged_upload_confirmed_twice_imports_once(books, finance):
    content = csv_bytes(good_rows())
    preview = opening_preview(file_name="opening.csv", content=content, user=finance)
    staged = staged_upload_create(
        kind=StagedUpload.Kind.OPENING,
        user=finance,
        file_name="opening.csv",
        content=content,
        target={"accounting_date": D.isoformat()},
        preview=preview,
    )

    def commit(s):
        return opening_import(accounting_date=D, file_name=s.file_name, content=bytes(s.content), user=finance).pk

    first, replayed_first = staged_upload_commit(staged_id=staged.pk, user=finance, commit=commit)
    again, replayed_again = staged_upload_commit(staged_id=staged.pk, user=finance, commit=commit)
    assert (first, replayed_first, replayed_again) == (again, False, True)
    assert OpeningPosting.objects.count() == 2 and Hold.objects.count() == 2


# ------------------------------------------------------ who may import ----


@pytest.mark.parametrize("role", ["Auditor", "Ledger admin", "Reviewer", "Cashier"])
def test_only_finance_imports_opening_balances(books, role):
    ensure_report_roles()
    user = staff_user("someone", role)
    before = ledger_state()
    with pytest.raises(OpeningImportNotAllowed):
        opening_import(accounting_date=D, file_name="opening.csv", content=csv_bytes(good_rows()), user=user)
    with pytest.raises(OpeningImportNotAllowed):
        opening_preview(file_name="opening.csv", content=csv_bytes(good_rows()), user=user)
    assert ledger_state() == before


# ------------------------------------------------- the management command ----


def test_the_command_checks_then_imports_and_refuses_a_bad_file(books, finance, tmp_path, capsys):
    good = tmp_path / "opening.csv"
    good.write_bytes(csv_bytes(good_rows()))
    before = ledger_state()
    call_command("opening_import", str(good), "--date", D.isoformat(), "--user", "finance", "--check")
    assert ledger_state() == before
    assert "MAIN CNY: 5 accounts, assets 200.00 = liabilities 800.00 + internal -600.00" in capsys.readouterr().out

    bad_rows = good_rows()
    bad_rows[7] = gl("2241", "790.00")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(bad_rows))
    with pytest.raises(CommandError):
        call_command("opening_import", str(bad), "--date", D.isoformat(), "--user", "finance")
    assert "row 9, column balance: the GL says 790.00" in capsys.readouterr().err
    assert ledger_state() == before

    call_command("opening_import", str(good), "--date", D.isoformat(), "--user", "finance")
    assert OpeningImport.objects.get().account_count == 7
    with pytest.raises(CommandError, match="already imported"):
        call_command("opening_import", str(good), "--date", D.isoformat(), "--user", "finance")


# ------------------------------------------- the end of day after it ----


@pytest.mark.django_db(transaction=True)
def test_the_end_of_day_checks_pass_on_the_opening_day_and_the_next(books):
    from reports.eod.services import eod_run

    from .eod_books import failed_checks, sheet

    ensure_report_roles()
    finance = staff_user("finance", "Finance staff")
    opening_import(accounting_date=D, file_name="opening.csv", content=csv_bytes(good_rows()), user=finance)
    accounts = by_ref()

    eod_run(entity=books.entity, accounting_date=D, actor="ops")
    assert failed_checks(books.entity, D) == set()
    day_sheet = sheet(books.entity, D)
    assert day_sheet[accounts["A-004"].account_no][:4] == (0, Decimal("700.00"), 0, Decimal("-700.00"))

    eod_run(entity=books.entity, accounting_date=D + timedelta(days=1), actor="ops")
    assert failed_checks(books.entity, D + timedelta(days=1)) == set()
    assert sheet(books.entity, D + timedelta(days=1))[accounts["A-001"].account_no][3] == Decimal("500.00")


def test_an_opening_posting_is_not_refundable(books, finance):
    from postings.exceptions import RefundNotAllowed
    from postings.services import refund_create

    opening_import(accounting_date=D, file_name="opening.csv", content=csv_bytes(good_rows()), user=finance)
    posting = OpeningPosting.objects.get(currency="CNY").posting
    with pytest.raises(RefundNotAllowed):
        refund_create(serial_no=posting.serial_no, request_no="r-opening", amount="10.00", requested_by="x")


@pytest.mark.django_db(transaction=True)
def test_the_same_file_confirmed_twice_at_once_is_imported_once(books):
    """Two confirmations in two connections at once: the second waits on the
    file's unique key, then finds the first's import."""
    import threading

    from django.db import connection

    ensure_report_roles()
    finance = staff_user("finance", "Finance staff")
    content = csv_bytes(good_rows())
    start = threading.Barrier(2)
    outcomes: list = []

    def confirm():
        try:
            start.wait()
            record = opening_import(accounting_date=D, file_name="opening.csv", content=content, user=finance)
            outcomes.append(("imported", record.pk))
        except OpeningFileAlreadyImported as exc:
            outcomes.append(("refused", exc.earlier.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    record = OpeningImport.objects.get()
    assert sorted(outcomes) == [("imported", record.pk), ("refused", record.pk)]
    assert OpeningPosting.objects.count() == 2 and Hold.objects.count() == 2 and OpeningAccount.objects.count() == 7


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE reports_openingimport SET account_count = account_count + 1",
        "DELETE FROM reports_openingimport",
        "UPDATE reports_openingaccount SET account_ref = account_ref || 'x'",
        "DELETE FROM reports_openingaccount",
        "UPDATE reports_openingposting SET currency = 'EUR'",
        "DELETE FROM reports_openingposting",
    ],
)
def test_the_database_refuses_to_rewrite_an_opening(books, runtime_sql, statement):
    """Bypassing the application (the runtime role's own SQL): what the
    company brought with it stays as imported."""
    import psycopg

    ensure_report_roles()
    finance = staff_user("finance", "Finance staff")
    opening_import(accounting_date=D, file_name="opening.csv", content=csv_bytes(good_rows()), user=finance)
    before = (OpeningImport.objects.get().account_count, OpeningAccount.objects.count(), OpeningPosting.objects.count())
    with pytest.raises(psycopg.errors.RestrictViolation):
        runtime_sql(statement)
    after = (OpeningImport.objects.get().account_count, OpeningAccount.objects.count(), OpeningPosting.objects.count())
    assert after == before
