"""Opening balances (期初建账): a company moving to the ledger brings its
members, accounts, balances, credit limits and frozen amounts, and the GL's
opening figure of each subject, in one file (layout: docs/opening.md).

The file is checked whole before anything is written; any problem refuses
it whole, naming the row and column of each one found (``OpeningFileInvalid``).
Then, in one transaction: the members and accounts are opened, each entity
and currency gets one opening posting (business type ``opening``) on the
accounting date, and a hold is placed for each frozen amount. The same
file again (its SHA-256) is refused naming the earlier import; an entity and
currency is opened once, ever (the database's unique key on OpeningPosting).

The opening posting. Balances are on each account's normal side, so an
asset balance is a debit leg, a liability or internal balance a credit leg
(a negative one, on an internal account that may go negative, a leg on the
other side). The posting's debits equal its credits exactly when the
identity holds, sum(asset) = sum(liability) + sum(internal), which the file
must satisfy per entity and currency. The posting is made against the
entity's opening-balance account (OPENING_BALANCE, subject 3999, opened by
the import if missing): it takes the difference of the two sides, which the
identity makes zero, so it stays at zero and, on the balance sheet and in
the GL reconciliation, shows the transit subject cleared.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.kernel.errors import LedgerValidationError, NotAllowed
from accounts.kernel.money import currency_places, format_money
from accounts.kernel.permissions import require_permission
from accounts.models import Account, AccountStatus, AccountType, Category, Customer, Entity, Member, PostingMode
from accounts.services import DEFAULT_ID_TYPES, account_open, customer_create, member_create
from postings.models import BusinessType
from postings.services import Leg, hold_place, posting_create

from ..gl_recon.services import Cell, _amount, _letter, _text
from ..refusals import FileRefused, Problems
from ..tables import read_table
from .models import OpeningAccount, OpeningImport, OpeningPosting

PERM_IMPORT_OPENING = "reports.import_opening"
OPENING_TYPE = "OPENING_BALANCE"
SOURCE = "opening"
MAX_ROWS = 1_000_000
DEFAULT_HOLD_REASON = "opening balance frozen (期初冻结)"

COLUMNS = {
    "record": ("record", "记录类型"),
    "entity": ("entity", "会计主体"),
    "currency": ("currency", "币种"),
    "account_ref": ("account_ref", "原账号"),
    "account_type": ("account_type", "账户类型"),
    "member_no": ("member_no", "会员号"),
    "member_name": ("member_name", "会员名称"),
    "customer_kind": ("customer_kind", "客户类型"),
    "customer_name": ("customer_name", "客户名称"),
    "id_type": ("id_type", "证件类型"),
    "id_no": ("id_no", "证件号码"),
    "subject_code": ("subject_code", "科目代码"),
    "balance": ("balance", "余额"),
    "credit_limit": ("credit_limit", "授信额度"),
    "frozen": ("frozen", "冻结金额"),
    "hold_reason": ("hold_reason", "冻结原因"),
}
REQUIRED = ("record", "entity", "currency", "balance")
RECORDS = {"account": "account", "账户": "account", "gl": "gl", "总账": "gl"}
_HEADER_NAMES = {alias.lower(): name for name, aliases in COLUMNS.items() for alias in aliases}


class OpeningFileInvalid(FileRefused):
    """The file is refused whole; ``problems`` lists each "row N, column C: why"."""

    code = "opening_file_invalid"
    subject = "opening-balance file"


class OpeningFileAlreadyImported(LedgerValidationError):
    code = "opening_file_already_imported"

    def __init__(self, earlier: OpeningImport):
        self.earlier = earlier
        when = timezone.localtime(earlier.imported_at).strftime("%Y-%m-%d %H:%M")
        super().__init__(
            f"This file was already imported as opening import #{earlier.pk} ({earlier.file_name}, "
            f"{earlier.accounting_date:%Y-%m-%d}, by {earlier.imported_by.get_username()} at {when}).",
            earlier_import=earlier.pk,
        )


class OpeningImportNotAllowed(NotAllowed):
    default_message = "You do not have the permission to import opening balances."


@dataclass
class AccountRow:
    line: int
    entity: Entity
    currency: str
    account_ref: str
    account_type: AccountType
    balance: Decimal
    credit_limit: Decimal
    frozen: Decimal
    hold_reason: str
    member_no: str = ""
    member: dict = field(default_factory=dict)


@dataclass
class OpeningFile:
    accounts: list[AccountRow]
    # (entity code, currency, subject) -> (line, the GL's opening figure)
    gl: dict[tuple[str, str, str], tuple[int, Decimal]]
    entities: dict[str, Entity]

    def summary(self) -> list[dict]:
        totals: dict[tuple[str, str], dict] = {}
        for row in self.accounts:
            key = (row.entity.code, row.currency)
            total = totals.setdefault(
                key,
                {
                    "entity": key[0],
                    "currency": key[1],
                    "accounts": 0,
                    "asset": Decimal(0),
                    "liability": Decimal(0),
                    "internal": Decimal(0),
                    "frozen": Decimal(0),
                    "holds": 0,
                },
            )
            total["accounts"] += 1
            total[row.account_type.category] += row.balance
            total["frozen"] += row.frozen
            total["holds"] += 1 if row.frozen else 0
        return [totals[key] for key in sorted(totals)]

    def subjects(self) -> list[dict]:
        ledger: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        for row in self.accounts:
            ledger[row.entity.code, row.currency, row.account_type.subject_code] += row.balance
        keys = sorted(set(ledger) | set(self.gl))
        return [
            {
                "entity": k[0],
                "currency": k[1],
                "subject_code": k[2],
                "ledger": ledger.get(k, Decimal(0)),
                "gl": self.gl[k][1] if k in self.gl else None,
                "gl_line": self.gl[k][0] if k in self.gl else None,
            }
            for k in keys
        ]


def _earlier(sha256: str) -> OpeningImport | None:
    return OpeningImport.objects.select_related("imported_by").filter(file_sha256=sha256).first()


def opening_preview(*, file_name: str, content: bytes, user) -> dict:
    """What ``opening_import`` would write, refused as it would be, with
    nothing written (JSON, kept with the staged upload)."""
    require_permission(user, PERM_IMPORT_OPENING, error=OpeningImportNotAllowed)
    earlier = _earlier(hashlib.sha256(content).hexdigest())
    if earlier is not None:
        raise OpeningFileAlreadyImported(earlier)
    parsed = _parse(content)

    return {
        "account_count": len(parsed.accounts),
        "member_count": len({r.member_no for r in parsed.accounts if r.member_no}),
        "hold_count": sum(1 for r in parsed.accounts if r.frozen),
        "totals": [_shown_row(t) for t in parsed.summary()],
        "subjects": [_shown_row(s) for s in parsed.subjects()],
    }


def opening_import(*, accounting_date: date, file_name: str, content: bytes, user) -> OpeningImport:
    """Check the whole file, then open, post and hold in one transaction."""
    require_permission(user, PERM_IMPORT_OPENING, error=OpeningImportNotAllowed)
    sha256 = hashlib.sha256(content).hexdigest()
    earlier = _earlier(sha256)
    if earlier is not None:
        raise OpeningFileAlreadyImported(earlier)
    parsed = _parse(content)
    actor = user.get_username()
    try:
        with transaction.atomic():
            record = OpeningImport.objects.create(
                file_name=(file_name or "")[-255:] or "upload",
                file_sha256=sha256,
                accounting_date=accounting_date,
                imported_by=user,
                account_count=len(parsed.accounts),
                hold_count=sum(1 for r in parsed.accounts if r.frozen),
                summary=[_shown_row(t) for t in parsed.summary()],
            )
            opened = _open_accounts(record, parsed, accounting_date)
            _post_openings(record, parsed, opened, accounting_date, actor, sha256)
            for row in parsed.accounts:
                if row.frozen:
                    hold_place(
                        account_no=opened[row.line].account_no,
                        amount=row.frozen,
                        reason=row.hold_reason or DEFAULT_HOLD_REASON,
                        request_no=f"opening-{sha256[:32]}-{row.line}",
                        source_system=SOURCE,
                        actor=actor,
                    )
    except IntegrityError:
        # The same file confirmed twice at once: the unique key decided.
        earlier = _earlier(sha256)
        if earlier is None:
            raise
        raise OpeningFileAlreadyImported(earlier) from None
    return record


def _open_accounts(record: OpeningImport, parsed: OpeningFile, day: date) -> dict[int, Account]:
    members: dict[str, Member] = {}
    opened: dict[int, Account] = {}
    for row in parsed.accounts:
        member = None
        if row.member_no:
            member = members.get(row.member_no)
            if member is None:
                m = row.member
                customer = customer_create(
                    kind=m["customer_kind"], name=m["customer_name"], id_type=m["id_type"], id_no=m["id_no"]
                )
                member = members[row.member_no] = member_create(
                    member_no=row.member_no, customer=customer, name=m["member_name"]
                )
        opened[row.line] = account_open(
            entity=row.entity,
            account_type=row.account_type,
            currency=row.currency,
            member=member,
            credit_limit=row.credit_limit,
            opened_on=day,
        )
        OpeningAccount.objects.create(
            opening_import=record, line=row.line, account_ref=row.account_ref, account=opened[row.line]
        )
    return opened


def _opening_account(entity: Entity, currency: str, day: date) -> Account:
    account_type = AccountType.objects.get(code=OPENING_TYPE)
    existing = (
        Account.objects.filter(entity=entity, account_type=account_type, currency=currency)
        .exclude(status=AccountStatus.CLOSED)
        .first()
    )
    return existing or account_open(entity=entity, account_type=account_type, currency=currency, opened_on=day)


def _post_openings(
    record: OpeningImport, parsed: OpeningFile, opened: dict[int, Account], day: date, actor: str, sha256: str
) -> None:
    by_book: dict[tuple[str, str], list[AccountRow]] = defaultdict(list)
    for row in parsed.accounts:
        by_book[row.entity.code, row.currency].append(row)
    for (entity_code, currency), rows in sorted(by_book.items()):
        entity = parsed.entities[entity_code]
        legs = []
        for row in rows:
            if not row.balance:
                continue
            normal = "D" if row.account_type.category == Category.ASSET else "C"
            side = normal if row.balance > 0 else ("C" if normal == "D" else "D")
            legs.append(Leg(opened[row.line].account_no, side, abs(row.balance)))
        debits = sum((Decimal(leg.amount) for leg in legs if leg.direction == "D"), Decimal(0))
        credits = sum((Decimal(leg.amount) for leg in legs if leg.direction == "C"), Decimal(0))
        transit = _opening_account(entity, currency, day)
        if debits != credits:  # never, once _parse has checked the identity; the posting service would refuse it
            side = "D" if credits > debits else "C"
            legs.append(Leg(transit.account_no, side, abs(credits - debits)))
        if not legs:
            continue
        posting = posting_create(
            request_no=f"opening-{sha256[:32]}-{entity_code}-{currency}"[:64],
            business_type=BusinessType.OPENING,
            legs=legs,
            posted_by=actor,
            source_system=SOURCE,
            currency=currency,
            accounting_date=day,
            memo=f"opening balances (期初建账) import #{record.pk}",
        )
        OpeningPosting.objects.create(opening_import=record, entity=entity, currency=currency, posting=posting)


# ------------------------------------------------------------- reading ----


def _parse(content: bytes) -> OpeningFile:
    problems = Problems(OpeningFileInvalid)
    table = read_table(content, OpeningFileInvalid)
    header_row, header = next(table, (None, None))
    if header is None:
        raise OpeningFileInvalid(["the file is empty (row 1: no header row)"])
    columns = _columns(header_row, header, problems)
    problems.raise_if_any()

    entities = {e.code: e for e in Entity.objects.all()}
    types = {t.code: t for t in AccountType.objects.all()}
    subjects = {t.subject_code for t in types.values()}
    accounts: list[AccountRow] = []
    gl: dict[tuple[str, str, str], tuple[int, Decimal]] = {}
    refs: dict[str, int] = {}
    members: dict[str, tuple[int, dict]] = {}
    found_by_type: dict[tuple[str, str, str], int] = {}
    rows = 0
    for row_no, values in table:
        rows += 1
        if rows > MAX_ROWS:
            problems.add(f"row {row_no}: more than {MAX_ROWS} rows")
            break
        cells = {
            name: Cell(row_no, text, _letter(index, row_no, values), values[index] if index < len(values) else None)
            for name, (index, text) in columns.items()
        }

        cells_of = _Cells(row_no, cells, problems)
        text, need = cells_of.text, cells_of.need
        before = problems.count
        kind = cells_of.kind = RECORDS.get(text("record").lower())
        if kind is None:
            problems.add(f"{cells['record'].where()}: {_shown(text('record'))} is not a record type (account or gl)")
            continue
        entity_code = need("entity")
        entity = entities.get(entity_code)
        if entity_code and entity is None:
            problems.add(f"{cells['entity'].where()}: {entity_code} is not an entity of the ledger")
        currency = need("currency").upper()
        if currency and currency not in settings.CURRENCIES:
            problems.add(f"{cells['currency'].where()}: {currency} is not a currency of the ledger")
        balance, why = _amount(cells["balance"].value, currency if currency in settings.CURRENCIES else "CNY")
        if why:
            problems.add(f"{cells['balance'].where()}: {why}")

        if kind == "gl":
            subject = need("subject_code")
            if subject and subject not in subjects:
                problems.add(f"{cells['subject_code'].where()}: {subject} is not the subject code of any account type")
            if problems.count > before:
                continue
            key = (entity_code, currency, subject)
            if key in gl:
                problems.add(f"{cells['subject_code'].where()}: {' '.join(key)} is already on row {gl[key][0]}")
                continue
            gl[key] = (row_no, balance)
            continue

        ref = need("account_ref")
        if ref in refs:
            problems.add(f"{cells['account_ref'].where()}: account {ref} is already on row {refs[ref]}")
        elif ref:
            refs[ref] = row_no
        type_code = need("account_type")
        account_type = types.get(type_code)
        if type_code and account_type is None:
            problems.add(f"{cells['account_type'].where()}: {type_code} is not an account type of the chart")
        if type_code == OPENING_TYPE:
            problems.add(f"{cells['account_type'].where()}: the import opens {OPENING_TYPE} itself")
        amounts = {}
        for name in ("credit_limit", "frozen"):
            amounts[name] = Decimal(0)
            if name in cells and text(name):
                value, why = _amount(cells[name].value, currency if currency in settings.CURRENCIES else "CNY")
                if why:
                    problems.add(f"{cells[name].where()}: {why}")
                elif value < 0:
                    problems.add(f"{cells[name].where()}: {_shown(text(name))} is negative")
                else:
                    amounts[name] = value
        member_no, member = "", {}
        if account_type is not None:
            if account_type.category == Category.INTERNAL:
                for name in ("member_no", "credit_limit"):
                    if text(name) and (name != "credit_limit" or amounts[name]):
                        problems.add(f"{cells[name].where()}: an internal account (内部户) has no {name}")
                if entity is not None and currency:
                    _internal_once(account_type, entity, currency, cells, found_by_type, problems)
            else:
                member_no = need("member_no")
                customer_kind = need("customer_kind").lower()
                if customer_kind and customer_kind not in Customer.Kind.values:
                    problems.add(f"{cells['customer_kind'].where()}: {customer_kind} is not person or company")
                member = {
                    "member_name": need("member_name"),
                    "customer_kind": customer_kind,
                    "customer_name": need("customer_name"),
                    "id_type": text("id_type") or DEFAULT_ID_TYPES.get(customer_kind, "business_license"),
                    "id_no": need("id_no"),
                }
                if member["id_type"] not in Customer.IdType.values:
                    problems.add(f"{cells['id_type'].where()}: {member['id_type']} is not an ID document type")
                if member_no:
                    _member_once(member_no, member, cells, members, problems)
                if account_type.category != Category.ASSET and amounts["credit_limit"]:
                    problems.add(f"{cells['credit_limit'].where()}: only asset (credit) accounts have a credit limit")
            if amounts["frozen"] and account_type.posting_mode == PostingMode.BUFFERED:
                problems.add(
                    f"{cells['frozen'].where()}: {account_type.code} accounts open buffered (hot accounts); nothing "
                    "can be frozen on them"
                )
            if balance is not None and problems.count == before:
                _sign_rule(account_type, balance, amounts, cells, problems, currency)
        if problems.count > before:
            continue
        accounts.append(
            AccountRow(
                line=row_no,
                entity=entity,
                currency=currency,
                account_ref=ref,
                account_type=account_type,
                balance=balance,
                credit_limit=amounts["credit_limit"],
                frozen=amounts["frozen"],
                hold_reason=text("hold_reason")[:255],
                member_no=member_no,
                member=member,
            )
        )
    parsed = OpeningFile(accounts=accounts, gl=gl, entities=entities)
    _check_ledger(parsed, refs, members, problems)
    problems.raise_if_any()
    if not accounts:
        raise OpeningFileInvalid([f"row {header_row + 1}: the file has no account rows"])
    _check_identity(parsed, problems)
    _check_subjects(parsed, problems)
    problems.raise_if_any()
    return parsed


@dataclass
class _Cells:
    """One row's cells, read by column name."""

    row_no: int
    cells: dict[str, Cell]
    problems: Problems
    kind: str | None = None

    def text(self, name: str) -> str:
        return _text(self.cells[name].value) if name in self.cells else ""

    def need(self, name: str) -> str:
        """The cell's text, a problem when the row's kind needs it and it is empty or missing."""
        value = self.text(name)
        if name not in self.cells:
            self.problems.add(f"row {self.row_no}: no {name} column, which a {self.kind} row needs")
        elif not value:
            self.problems.add(f"{self.cells[name].where()}: empty")
        return value


def _plain(amount: Decimal, currency: str) -> str:
    """An amount as the file would write it: the currency's places, no grouping."""
    return str(amount.quantize(Decimal(1).scaleb(-currency_places(currency))))


def _shown_row(row: dict) -> dict:
    return {k: (_plain(v, row["currency"]) if isinstance(v, Decimal) else v) for k, v in row.items()}


def _shown(value: str) -> str:
    return repr(value) if value else "an empty cell"


def _columns(row_no: int, header, problems: Problems) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for index, raw in enumerate(header):
        text = "" if raw is None else str(raw).strip()
        name = _HEADER_NAMES.get(text.lower())
        if name is None:
            continue
        if name in found:
            problems.add(f"row {row_no}, column {text}: the column appears twice (also column {found[name][0] + 1})")
        else:
            found[name] = (index, text)
    missing = [name for name in REQUIRED if name not in found]
    if missing:
        problems.add(f"row {row_no}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return found


def _member_once(member_no: str, member: dict, cells: dict, members: dict, problems: Problems) -> None:
    """One member's accounts must say the same about the member on every row."""
    if member_no not in members:
        members[member_no] = (cells["member_no"].row, member)
        return
    first_row, first = members[member_no]
    for name, value in member.items():
        if value != first[name] and name in cells:
            problems.add(f"{cells[name].where()}: member {member_no} has {first[name]!r} on row {first_row}")


def _internal_once(account_type, entity, currency, cells, found_by_type, problems) -> None:
    """Internal accounts are found by type, one per entity and currency."""
    key = (account_type.code, entity.code, currency)
    if key in found_by_type:
        problems.add(
            f"{cells['account_type'].where()}: {entity.code} {currency} {account_type.code} is already on row "
            f"{found_by_type[key]} (one internal account of a type per entity and currency)"
        )
        return
    found_by_type[key] = cells["account_type"].row
    existing = (
        Account.objects.filter(entity=entity, account_type=account_type, currency=currency)
        .exclude(status=AccountStatus.CLOSED)
        .values_list("account_no", flat=True)
        .first()
    )
    if existing:
        problems.add(
            f"{cells['account_type'].where()}: {entity.code} already has an open {account_type.code} account "
            f"in {currency} ({existing})"
        )


def _sign_rule(account_type, balance, amounts, cells, problems, currency) -> None:
    """The accounts' CHECK constraint, told as a cell: what may be used."""
    where = cells["balance"].where()
    balance_shown, frozen, limit = (_plain(a, currency) for a in (balance, amounts["frozen"], amounts["credit_limit"]))
    if balance < 0 and not account_type.allow_negative:
        problems.add(f"{where}: {balance_shown} is negative; {account_type.code} accounts may not go negative")
    elif account_type.category == Category.ASSET:
        if balance + amounts["frozen"] > amounts["credit_limit"]:
            problems.add(f"{where}: used {balance_shown} plus frozen {frozen} is more than the credit limit {limit}")
    elif amounts["frozen"] > balance and not account_type.allow_negative:
        problems.add(f"{cells['frozen'].where()}: frozen {frozen} is more than the balance {balance_shown}")


def _check_ledger(parsed: OpeningFile, refs: dict, members: dict, problems: Problems) -> None:
    """What the ledger already holds: an account reference or member number
    imported before, a customer registered under another name, an entity and
    currency opened before."""
    for ref in OpeningAccount.objects.filter(account_ref__in=refs).values_list("account_ref", flat=True):
        problems.add(f"row {refs[ref]}, column account_ref: account {ref} was imported before")
    for member_no in Member.objects.filter(member_no__in=members).values_list("member_no", flat=True):
        problems.add(f"row {members[member_no][0]}, column member_no: member {member_no} is already in the ledger")
    for row, m in members.values():
        customer = Customer.objects.filter(id_type=m["id_type"], id_no=m["id_no"]).first()
        if customer is not None and (customer.kind != m["customer_kind"] or customer.name != m["customer_name"]):
            problems.add(f"row {row}, column id_no: the ID document is registered to another customer")
    books: dict[tuple[str, str], int] = {}
    for r in parsed.accounts:
        books.setdefault((r.entity.code, r.currency), r.line)
    for entity_code, currency in OpeningPosting.objects.values_list("entity__code", "currency"):
        if (entity_code, currency) in books:
            problems.add(
                f"row {books[entity_code, currency]}, column entity: {entity_code} {currency} has had its "
                "opening balances imported before"
            )


def _check_identity(parsed: OpeningFile, problems: Problems) -> None:
    rows: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row in parsed.accounts:
        rows[row.entity.code, row.currency].append(row.line)
    for total in parsed.summary():
        asset, liability, internal = total["asset"], total["liability"], total["internal"]
        if asset != liability + internal:
            lines = rows[total["entity"], total["currency"]]
            c = total["currency"]
            problems.add(
                f"rows {min(lines)}-{max(lines)}, column balance: {total['entity']} {c} does not balance: assets "
                f"{format_money(asset, c)} != liabilities {format_money(liability, c)} + internal "
                f"{format_money(internal, c)} (difference {format_money(asset - liability - internal, c)})"
            )


def _check_subjects(parsed: OpeningFile, problems: Problems) -> None:
    first_line: dict[tuple[str, str, str], int] = {}
    for row in parsed.accounts:
        first_line.setdefault((row.entity.code, row.currency, row.account_type.subject_code), row.line)
    for s in parsed.subjects():
        key = (s["entity"], s["currency"], s["subject_code"])
        name = " ".join(key)
        if s["gl"] is None:
            problems.add(f"row {first_line[key]}, column subject_code: {name} has no gl row giving the GL's figure")
        elif s["gl"] != s["ledger"]:
            gl_figure, ledger = _plain(s["gl"], s["currency"]), _plain(s["ledger"], s["currency"])
            problems.add(
                f"row {s['gl_line']}, column balance: the GL says {gl_figure} for {name}; the accounts add up to "
                f"{ledger}"
            )
