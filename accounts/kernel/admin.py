"""Admin helpers every app's admin shares: money columns, links between
admin pages, read-only history, and domain refusals shown as messages.

Amounts in the admin are written as on the staff pages (``money.amount_html``):
``money_column`` for list and read-only columns, and ``install_amount_display``
for the amount fields the admin shows read-only by itself (a view-only user's
change page, read-only inlines), which Django would print as ``16760.4700``."""

from __future__ import annotations

from decimal import Decimal
from operator import attrgetter
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import FieldDoesNotExist
from django.db.models import DecimalField, Model
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path as url_path
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from .errors import LedgerError
from .governance import (
    APPROVE,
    governed,
    setting_change_approve,
    setting_change_propose,
    setting_change_reject,
    setting_change_rows,
)
from .models import SettingChange, SettingChangeStatus
from .money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS, amount_html
from .permissions import has_permission

# Where the admin finds the currency of a row whose amount field it shows.
CURRENCY_PATHS = ("currency", "account.currency", "hold.account.currency", "difference.currency", "channel.currency")


def plural(name: str) -> str:
    """English plural of a verbose name whose Chinese term follows in
    brackets: "account (账户)" -> "accounts (账户)", not Django's
    "account (账户)s"."""
    english, bracket, rest = name.partition(" (")
    head, _, last = english.rpartition(" ")
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        last = last[:-1] + "ies"
    elif last.endswith(("s", "x", "ch", "sh")):
        last += "es"
    else:
        last += "s"
    return f"{head} {last}".lstrip() + (f"{bracket}{rest}" if bracket else "")


def install_plural_names(models) -> None:
    """Every model named "word (中文)" without a plural of its own gets
    ``plural`` of it (at start-up, KernelConfig.ready). Set on the models'
    options at run time, not in each Meta: Meta options are part of the
    migration state, and a name is not a schema change."""
    for model in models:
        opts = model._meta
        if "(" in str(opts.verbose_name) and "verbose_name_plural" not in opts.original_attrs:
            opts.verbose_name_plural = plural(str(opts.verbose_name))


def money(amount: Decimal | None, currency: str):
    """An amount standing alone, with its currency code (CNY 1,234.50)."""
    return amount_html(amount, currency, code=True)


def money_column(field: str, description: str, *, currency: str = "currency", sortable: bool = True):
    """A list or read-only column showing ``obj.<field>`` in the currency at
    ``obj.<currency>`` (a dotted path such as ``"account.currency"``): the
    number only, right-aligned, red if negative, the code in the heading's
    row when the admin says it lists the currency (``lists_currency = True``),
    else with the code in front."""
    amount_of, currency_of = attrgetter(field), attrgetter(currency)

    @admin.display(description=description, ordering=field if sortable else None)
    def column(model_admin, obj):
        return amount_html(amount_of(obj), currency_of(obj), code=not getattr(model_admin, "lists_currency", False))

    return column


def _currency_of(obj) -> str | None:
    for path in CURRENCY_PATHS:
        try:
            value = attrgetter(path)(obj)
        except (AttributeError, Model.DoesNotExist):
            continue
        if isinstance(value, str) and value:
            return value
    return None


def _is_amount(field) -> bool:
    return (
        isinstance(field, DecimalField)
        and field.decimal_places == AMOUNT_DECIMAL_PLACES
        and field.max_digits == AMOUNT_MAX_DIGITS
    )


def install_amount_display() -> None:
    """Read-only amount fields on admin forms are written with their row's
    currency, as ``money`` writes them. Django has no hook for how a read-only
    model field is shown, so its one method that shows them is wrapped once,
    at start-up (KernelConfig.ready)."""
    shown_by_django = helpers.AdminReadonlyField.contents
    if getattr(shown_by_django, "ledger_amounts", False):
        return

    def contents(self):
        name, obj = self.field["field"], self.form.instance
        if isinstance(name, str):
            try:
                field = obj._meta.get_field(name)
            except FieldDoesNotExist:
                field = None
            currency = _is_amount(field) and _currency_of(obj)
            if currency:
                return money(getattr(obj, name), currency)
        return shown_by_django(self)

    contents.ledger_amounts = True
    helpers.AdminReadonlyField.contents = contents


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


# ------------------------------------------------- governed settings ----


class GovernedAdminMixin(LedgerErrorMessagesMixin):
    """The admin of a control setting (``accounts.kernel.governance``): a
    save makes a proposal, which another ledger admin approves before it
    takes effect. Validation errors stay on the form; the setting's History
    is its changes with their values."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Declared on the form class the admin builds from, so the field
        # lists the admin derives from the form can name it.
        base = kwargs.get("form", self.form)
        reason = forms.CharField(
            label="reason for the change",
            max_length=255,
            required=False,
            help_text="Shown to the approver and kept in the setting's history.",
            widget=forms.TextInput(attrs={"size": 60}),
        )
        effective_from = forms.DateTimeField(
            label="effective from",
            required=False,
            help_text="Empty: as soon as another ledger admin approves it. A later time: the version in force "
            "stays until then, and postings booked before it keep using it.",
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        )
        fields = {"change_reason": reason, "change_effective_from": effective_from}
        kwargs["form"] = type(base.__name__, (base,), fields)
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        may_propose = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        if self.fieldsets and may_propose:
            # Declared fieldsets name only model fields: the proposal's own go last.
            fieldsets = [*fieldsets, ("The change", {"fields": ("change_reason", "change_effective_from")})]
        return fieldsets

    def proposed_values(self, request, form, formsets) -> dict:
        return governed(self.model).values(form.instance)

    def save_model(self, request, obj, form, change):
        pass  # proposed in save_related, once the inlines are known too

    def save_related(self, request, form, formsets, change):
        request.setting_change = setting_change_propose(
            acting_user=request.user,
            model=self.model,
            object_id=form.instance.pk if change else None,
            values=self.proposed_values(request, form, formsets),
            reason=form.cleaned_data.get("change_reason", ""),
            effective_from=form.cleaned_data.get("change_effective_from"),
        )

    def construct_change_message(self, request, form, formsets, add=False):
        return ""  # the inlines were not saved, and the SettingChange is the record

    def log_addition(self, request, obj, message):
        return None

    def log_change(self, request, obj, message):
        return None

    def _proposed(self, request):
        change = request.setting_change
        when = (
            f" (at {timezone.localtime(change.effective_from):%Y-%m-%d %H:%M} if that is later)"
            if change.effective_from
            else ""
        )
        self.message_user(
            request,
            f"Change C{change.pk} of {change.object_repr} proposed; it takes effect when another ledger admin "
            f"approves it{when}.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:kernel_settingchange_change", args=[change.pk]))

    def response_add(self, request, obj, post_url_continue=None):
        return self._proposed(request)

    def response_change(self, request, obj):
        return self._proposed(request)

    def history_view(self, request, object_id, extra_context=None):
        return HttpResponseRedirect(
            f"{changelist_url(SettingChange)}?{urlencode({'model': self.model._meta.label_lower, 'object_id': object_id})}"
        )

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate through a proposal instead

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(SettingChange)
class SettingChangeAdmin(admin.ModelAdmin):
    """Open proposals to approve or reject, and every setting's history with
    its values, for the ledger admins and the auditor."""

    list_display = (
        "change_no",
        "object_repr",
        "kind",
        "status",
        "changes",
        "proposed_by",
        "proposed_at",
        "decided_by",
        "decided_at",
        "in_force_from",
        "version",
    )
    list_filter = ("status", "model")
    search_fields = ("object_repr", "reason", "proposed_by__username", "decided_by__username")
    fields = (
        "change_no",
        "kind",
        "object_repr",
        "status",
        "values_table",
        "reason",
        "proposed_by",
        "proposed_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "effective_from",
        "applied_at",
        "version",
    )
    readonly_fields = fields

    @admin.display(description="in force from", ordering="effective_from")
    def in_force_from(self, obj):
        # A proposal's time is a wish until approved; a scheduled one says it is still to come.
        if obj.effective_from is None:
            return "at approval" if obj.status == SettingChangeStatus.PROPOSED else "—"
        when = timezone.localtime(obj.effective_from).strftime("%Y-%m-%d %H:%M")
        if obj.status == SettingChangeStatus.SCHEDULED:
            return f"{when} (scheduled)"
        if obj.status == SettingChangeStatus.PROPOSED:
            return f"{when} (asked)"
        return when

    @admin.display(description="change", ordering="id")
    def change_no(self, obj):
        return f"C{obj.pk}"

    @admin.display(description="kind of setting", ordering="model")
    def kind(self, obj):
        try:
            return governed(obj.model).model._meta.verbose_name
        except KeyError:
            return obj.model

    @admin.display(description="old → new")
    def changes(self, obj):
        rows = [(name, old, new) for name, old, new, changed in setting_change_rows(obj) if changed]
        return format_html_join(mark_safe("<br>"), "{}: {} → {}", rows)

    @admin.display(description="values")
    def values_table(self, obj):
        rows = format_html_join(
            "",
            '<tr class="{}"><th>{}</th><td>{}</td><td>{}</td></tr>',
            (("changed" if changed else "", name, old, new) for name, old, new, changed in setting_change_rows(obj)),
        )
        return format_html(
            '<table class="setting-change-values"><thead><tr><th>field</th><th>before</th><th>proposed</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        change = SettingChange.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        decision = None
        if change is not None and change.status == SettingChangeStatus.PROPOSED:
            may_decide = has_permission(request.user, APPROVE) and change.proposed_by_id != request.user.pk
            decision = {
                "may_decide": may_decide,
                "approve_url": reverse("admin:kernel_settingchange_approve", args=[change.pk]),
                "reject_url": reverse("admin:kernel_settingchange_reject", args=[change.pk]),
            }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "decision": decision})

    def get_urls(self):
        def decide(service, verb):
            def view(request, object_id):
                if request.method != "POST":
                    return HttpResponseNotAllowed(["POST"])
                try:
                    change = service(
                        acting_user=request.user, change_id=int(object_id), note=request.POST.get("decision_note", "")
                    )
                except SettingChange.DoesNotExist:
                    raise Http404 from None
                except LedgerError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    done = verb
                    if change.status == SettingChangeStatus.SCHEDULED:
                        done = (
                            f"{verb}; it takes effect at {timezone.localtime(change.effective_from):%Y-%m-%d %H:%M}, "
                            "until then the version in force stays"
                        )
                    self.message_user(request, f"Change C{change.pk} of {change.object_repr} {done}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:kernel_settingchange_change", args=[object_id]))

            return self.admin_site.admin_view(view)

        return [
            url_path(
                "<int:object_id>/approve/",
                decide(setting_change_approve, "approved"),
                name="kernel_settingchange_approve",
            ),
            url_path(
                "<int:object_id>/reject/", decide(setting_change_reject, "rejected"), name="kernel_settingchange_reject"
            ),
            *super().get_urls(),
        ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # decided through approve and reject, never edited

    def has_delete_permission(self, request, obj=None):
        return False
