"""Template helpers of the report pages: row lookups, query strings for
drill-down links, and check details with links to what breaks."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join

register = template.Library()

ACCOUNT_KEYS = ("account_no", "account")
ENTRY_KEYS = ("entry", "entry_serial", "entry_serial_no", "entry_no", "serial_no")
ENTRY_LIST_KEYS = ("entries",)
SUBJECT_KEYS = ("subject_code", "subject")
POSTING_KEYS = ("posting", "posting_id")
HIDDEN_KEYS = ("account_id",)  # the account number is shown and linked instead


@register.filter
def get(row, key):
    try:
        return row[key]
    except (KeyError, TypeError, IndexError):
        return None


@register.simple_tag
def query(**params) -> str:
    """``?a=1&b=2`` from the non-empty keyword arguments (dates as ISO)."""
    clean = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(clean)


def _serial(value):
    text = str(value).strip()
    if text[:1].upper() == "E":
        text = text[1:]
    return int(text) if text.isdigit() else None


@register.simple_tag
def check_detail(item, accounting_date=None):
    """One line of a check's details: each key and value, with the account
    linked to its entries of the day, an entry to its page (and so to its
    posting and request number), a subject to its accounts."""
    if not isinstance(item, dict):
        return format_html("{}", item)
    parts = []
    for key, value in item.items():
        if value is None or value == "" or key in HIDDEN_KEYS:
            continue
        link = None
        if key in ENTRY_LIST_KEYS and isinstance(value, (list, tuple)):
            links = format_html_join(
                ", ",
                '<a href="{}">E{}</a>',
                ((reverse("reports:entry", args=[s]), s) for s in value if _serial(s) is not None),
            )
            parts.append(format_html('<span class="muted">{}</span> {}', key, links))
            continue
        if key in POSTING_KEYS and _serial(value) is not None:
            link = reverse("admin:postings_posting_change", args=[_serial(value)])
        elif key in ACCOUNT_KEYS and isinstance(value, str):
            link = reverse("reports:account_entries", args=[value]) + query(
                date_from=accounting_date, date_to=accounting_date
            )
        elif key in ENTRY_KEYS and _serial(value) is not None:
            link = reverse("reports:entry", args=[_serial(value)])
        elif key in SUBJECT_KEYS and isinstance(value, str):
            link = reverse("reports:balance_sheet") + query(
                group_by="account", subject_code=value, date_from=accounting_date, date_to=accounting_date
            )
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        if link:
            parts.append(format_html('<span class="muted">{}</span> <a href="{}">{}</a>', key, link, value))
        else:
            parts.append(format_html('<span class="muted">{}</span> {}', key, value))
    return format_html_join(" · ", "{}", ((p,) for p in parts))
