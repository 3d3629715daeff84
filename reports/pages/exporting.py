"""The balance sheet (余额表) as a spreadsheet: its columns at each grouping,
shared by the downloads written in the request (CSV always, a small XLSX)
and the export a worker writes for a large XLSX (``BALANCE_SHEET``, an
``ExportKind`` of ``reports.exporting.services``). Its criteria are the
filter's (``selectors.balance_sheet_rows_where``) plus the grouping, so the
worker's file holds the rows the page would show when the worker reads them."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from ..exporting.services import ExportKind
from ..exports import Column
from . import selectors

_NAMED = {
    "entity__code": Column("entity", lambda r: r["entity__code"]),
    "account__account_no": Column("account_no", lambda r: r["account__account_no"]),
    "account__name": Column("account_name", lambda r: r["account__name"], "text"),
    "account_type_code": Column("account_type", lambda r: r["account_type_code"]),
    "subject_code": Column("subject_code", lambda r: r["subject_code"]),
    "category": Column("category", lambda r: r["category"]),
    "currency": Column("currency", lambda r: r["currency"]),
}


def balance_sheet_columns(group_by: str, date_from: date | None, date_to: date | None) -> list[Column]:
    return [
        Column("date_from", lambda r: date_from, "date"),
        Column("date_to", lambda r: date_to, "date"),
        *(_NAMED[c] for c in selectors.GROUPINGS[group_by]),
        Column("opening", lambda r: r["opening_total"], "amount"),
        Column("debit", lambda r: r["debit_total"], "amount"),
        Column("credit", lambda r: r["credit_total"], "amount"),
        Column("closing", lambda r: r["closing_total"], "amount"),
        Column("entry_count", lambda r: r["entries"]),
        Column("accounts", lambda r: r["accounts"]),
    ]


def _dates(criteria: dict) -> tuple[date, date]:
    return date.fromisoformat(criteria["date_from"]), date.fromisoformat(criteria["date_to"])


def _rows(criteria: dict) -> QuerySet:
    where = {name: value for name, value in criteria.items() if name != "group_by"}
    date_from, date_to = _dates(criteria)
    return selectors.balance_sheet(
        rows=selectors.balance_sheet_rows_where(**where),
        group_by=criteria["group_by"],
        date_from=date_from,
        date_to=date_to,
    )


def _columns(criteria: dict) -> list[Column]:
    return balance_sheet_columns(criteria["group_by"], *_dates(criteria))


BALANCE_SHEET = ExportKind(
    name="balance_sheet",
    title="Balance sheet as XLSX · 导出余额表",
    sheet="Balance sheet",
    noun="row",
    permission="reports.view_dailybalance",
    page="reports:balance_sheet",
    page_label="the balance sheet",
    rows=_rows,
    columns=_columns,
    currency_of=lambda r: r["currency"],
)
