"""The account and account-type admin pages with the ledger's parts: an
account's entries, recent holds and pending (buffered) entries, and the
hot-account switches (缓冲记账) of accounts and their types.

``accounts.admin`` registers the pages of the ground floor; this module
re-registers Account and AccountType with what postings adds, so accounts/
never imports postings/.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts import admin as accounts_admin
from accounts.kernel.admin import admin_link, changelist_url, money
from accounts.kernel.errors import LedgerError
from accounts.kernel.governance import governed, setting_change_propose
from accounts.kernel.money import amount_html
from accounts.models import Account, AccountType, PostingMode

from .models import Entry, Hold
from .selectors import account_balance
from .services.buffers import buffers_flush, posting_mode_set

RECENT_HOLDS = 10


def set_posting_mode(model_admin, request, queryset, mode: str, *, kind: str) -> None:
    """Through the service, one row at a time; one refusal does not stop the others."""
    changed = 0
    for obj in queryset.order_by("pk"):
        try:
            changed += posting_mode_set(mode=mode, actor=request.user.get_username(), **{kind: obj})
        except LedgerError as exc:
            model_admin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
    model_admin.message_user(request, f"{changed} account(s) now {PostingMode(mode).label}.", messages.SUCCESS)


def propose_posting_mode(model_admin, request, queryset, mode: str) -> None:
    """A type's posting mode moves all its accounts' postings: a proposal per
    type, in force when another ledger admin approves it (maker-checker)."""
    setting = governed(AccountType)
    for account_type in queryset.order_by("pk"):
        if account_type.posting_mode == mode:
            model_admin.message_user(request, f"{account_type} is already {PostingMode(mode).label}.", messages.INFO)
            continue
        try:
            change = setting_change_propose(
                acting_user=request.user,
                model=AccountType,
                object_id=account_type.pk,
                values={**setting.values(account_type), "posting_mode": mode},
                reason=f"make {PostingMode(mode).label}",
            )
        except LedgerError as exc:
            model_admin.message_user(request, f"{account_type}: {exc.message}", messages.ERROR)
            continue
        model_admin.message_user(
            request,
            format_html(
                "Change {} of {} proposed: {}, with every account of the type, when another ledger admin approves it.",
                admin_link(change, f"C{change.pk}"),
                account_type,
                PostingMode(mode).label,
            ),
            messages.SUCCESS,
        )


class AccountTypeAdmin(accounts_admin.AccountTypeAdmin):
    actions = ("make_buffered", "make_realtime")

    @admin.action(
        description="Propose buffered (hot account, 缓冲记账), with every account of the type", permissions=["change"]
    )
    def make_buffered(self, request, queryset):
        propose_posting_mode(self, request, queryset, PostingMode.BUFFERED)

    @admin.action(description="Propose real-time (实时记账), with every account of the type", permissions=["change"])
    def make_realtime(self, request, queryset):
        propose_posting_mode(self, request, queryset, PostingMode.REALTIME)


class AccountAdmin(accounts_admin.AccountAdmin):
    list_display = (*accounts_admin.AccountAdmin.list_display, "entries_count")
    actions = (*accounts_admin.AccountAdmin.actions, "make_buffered", "make_realtime", "flush_pending")
    more_money_fields = ("pending_display",)
    more_fieldsets = (("Ledger", {"fields": ("entries_link", "recent_holds")}),)

    @admin.display(description="entries", ordering="entry_seq")
    def entries_count(self, obj):
        # entry_seq counts the account's entries without a count(*) per row.
        return format_html('<a href="{}">{}</a>', changelist_url(Entry, account__id__exact=obj.pk), obj.entry_seq)

    @admin.display(description="pending (buffered)")
    def pending_display(self, obj):
        seen = account_balance(account=obj)
        if not seen.pending_count:
            return "none"
        age = (timezone.now() - seen.oldest_pending_at).total_seconds()
        return format_html(
            "{} in {} pending entries (oldest {} s); balance with pending {}",
            money(seen.pending, obj.currency),
            seen.pending_count,
            int(age),
            money(seen.total, obj.currency),
        )

    @admin.action(description="Make buffered (hot account, 缓冲记账)", permissions=["change"])
    def make_buffered(self, request, queryset):
        set_posting_mode(self, request, queryset, PostingMode.BUFFERED, kind="account")

    @admin.action(description="Make real-time (实时记账), applying what is pending", permissions=["change"])
    def make_realtime(self, request, queryset):
        set_posting_mode(self, request, queryset, PostingMode.REALTIME, kind="account")

    @admin.action(description="Apply pending (buffered) entries now", permissions=["change"])
    def flush_pending(self, request, queryset):
        applied = buffers_flush(account_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{applied} pending entries applied.", messages.SUCCESS)

    @admin.display(description="entries")
    def entries_link(self, obj):
        return format_html(
            '<a href="{}">Entries of this account</a> ({})',
            changelist_url(Entry, account__id__exact=obj.pk),
            obj.entry_seq,
        )

    @admin.display(description="recent holds")
    def recent_holds(self, obj):
        holds = list(obj.holds.order_by("-id")[:RECENT_HOLDS])
        all_holds = format_html(
            '<a href="{}">All holds of this account</a>', changelist_url(Hold, account__id__exact=obj.pk)
        )
        if not holds:
            return format_html("None. {}", all_holds)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    admin_link(h, f"H{h.id}"),
                    amount_html(h.amount, obj.currency),
                    amount_html(h.remaining, obj.currency),
                    h.get_status_display(),
                    h.reason,
                    timezone.localtime(h.created_at).strftime("%Y-%m-%d %H:%M"),
                )
                for h in holds
            ),
        )
        return format_html(
            "<table><thead><tr><th>hold</th><th>amount ({})</th><th>remaining</th><th>status</th><th>reason</th>"
            "<th>placed</th></tr></thead><tbody>{}</tbody></table><p>{}</p>",
            obj.currency,
            rows,
            all_holds,
        )


for model, model_admin in ((AccountType, AccountTypeAdmin), (Account, AccountAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
