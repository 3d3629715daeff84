"""Admin helpers every app's admin shares: money columns, links between
admin pages, read-only history, and domain refusals shown as messages."""

from __future__ import annotations

from decimal import Decimal
from operator import attrgetter
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db.models import Model
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from .errors import LedgerError
from .money import as_money


def money(amount: Decimal | None, currency: str) -> str:
    """An amount with its currency, as finance reads it (CN¥1,234.50)."""
    if amount is None:
        return "-"
    return str(as_money(amount, currency))


def money_column(field: str, description: str, *, currency: str = "currency", sortable: bool = True):
    """A list or read-only column showing ``obj.<field>`` in the currency at
    ``obj.<currency>`` (a dotted path such as ``"account.currency"``)."""
    amount_of, currency_of = attrgetter(field), attrgetter(currency)

    @admin.display(description=description, ordering=field if sortable else None)
    def column(model_admin, obj):
        return money(amount_of(obj), currency_of(obj))

    return column


def admin_link(obj: Model | None, text=None) -> str:
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj if text is None else text)


def changelist_url(model: type[Model], **params) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


class ReadOnlyAdminMixin:
    """View only, for ModelAdmins and inlines alike: these rows are the
    ledger's history, corrected by new postings (冲正), never by editing."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerErrorMessagesMixin:
    """A domain refusal while saving (a ``LedgerError`` from a service) comes
    back to the user as an error message on the form, never as a 500.

    ModelAdmin saves inside one transaction, so whatever the request wrote
    before the refusal is rolled back with it. An add form is refilled from
    the query string (the admin's own initial-data mechanism); a change form
    reloads the stored object, which is what the refusal left in place.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except LedgerError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            if object_id is not None:
                return HttpResponseRedirect(request.get_full_path())
            entered = {
                key: value
                for key, value in request.POST.items()
                if key != "csrfmiddlewaretoken" and not key.startswith("_")
            }
            return HttpResponseRedirect(f"{request.path}?{urlencode(entered)}")
