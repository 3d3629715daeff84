"""API clients, their keys and the call log in the admin.

Adding a client issues its first key, and the action "Issue a new API key"
issues another; either shows the key on a page of its own, once (it is
stored only as a hash, and never passes through the messages cookie).
Keys are revoked, not deleted; clients are deactivated, not deleted. The
call log is read-only. By default only superusers see any of this: no role
group is granted these permissions.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from accounts.kernel.errors import LedgerValidationError

from .models import ApiCallLog, ApiClient, ApiKey, Scope
from .services import api_key_issue, api_key_revoke, clean_scopes, clean_source_system
from .throttling import client_limit


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiClient
        fields = ["name", "source_system", "scopes", "active", "rate_limit_per_minute", "description"]

    def clean_source_system(self):
        value = self.cleaned_data["source_system"]
        if self.instance.pk and value == self.instance.source_system:
            return value
        try:
            return clean_source_system(value)
        except LedgerValidationError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_scopes(self):
        try:
            return clean_scopes(self.cleaned_data["scopes"])
        except LedgerValidationError as exc:
            raise forms.ValidationError(exc.message) from None


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    fields = ["prefix", "label", "created_by", "created_at", "last_used_at", "revoked_at", "revoked_by"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


def _show_keys(request, issued: list[tuple[ApiClient, str]]):
    return TemplateResponse(
        request,
        "api/key_issued.html",
        {
            **admin.site.each_context(request),
            "title": "API key issued",
            "issued": issued,
        },
    )


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    form = ApiClientForm
    list_display = ["name", "source_system", "scope_list", "active", "rate_limit", "active_keys", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "source_system"]
    inlines = [ApiKeyInline]
    actions = ["issue_key"]

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    @admin.display(description="calls a minute")
    def rate_limit(self, obj):
        limit = client_limit(obj)
        text = f"{limit:,}" if limit else "no limit"
        return text if obj.rate_limit_per_minute is not None else f"{text} (default)"

    @admin.display(description="active keys")
    def active_keys(self, obj):
        return obj.keys.filter(revoked_at__isnull=True).count()

    def get_readonly_fields(self, request, obj=None):
        # Request numbers already posted under the code would change owner.
        return ["source_system", "created_at", "updated_at"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            _, raw = api_key_issue(client=obj, actor=request.user.get_username(), label="first key")
            request._api_issued = [(obj, raw)]

    def response_add(self, request, obj, post_url_continue=None):
        issued = getattr(request, "_api_issued", None)
        if issued:
            return _show_keys(request, issued)
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description="Issue a new API key (shown once)")
    def issue_key(self, request, queryset):
        issued = []
        for client in queryset:
            _, raw = api_key_issue(client=client, actor=request.user.get_username(), label="issued in the admin")
            issued.append((client, raw))
        return _show_keys(request, issued)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "client", "label", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "client"]
    search_fields = ["prefix", "client__name", "label"]
    readonly_fields = [
        "client",
        "prefix",
        "label",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]
    fields = readonly_fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected keys (at once, for good)")
    def revoke(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            api_key_revoke(key=key, actor=request.user.get_username())
        self.message_user(request, f"Revoked {len(keys)} key(s).", messages.SUCCESS)


@admin.register(ApiCallLog)
class ApiCallLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "client", "method", "path", "request_no", "status_code", "outcome", "latency_ms"]
    list_filter = ["client", "status_code", "method"]
    search_fields = ["request_no", "path", "key_prefix"]
    date_hierarchy = "created_at"
    list_select_related = ["client"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
