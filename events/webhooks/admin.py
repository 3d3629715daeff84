"""Webhook endpoints in the admin: a Ledger admin registers one for an API
client (the secret is shown on a page of its own, once), changes its URL,
event types, description or switch, and rotates secrets; attempts are
read-only. Nothing is deleted here: an endpoint's history stays (the API's
DELETE hides it from its client)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse

from accounts.kernel.errors import LedgerError
from events.models import EVENT_TYPES

from . import services
from .addresses import url_check
from .models import Attempt, Endpoint


class EndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every type.",
    )

    class Meta:
        model = Endpoint
        fields = ["client", "url", "event_types", "description", "active"]

    def clean(self):
        data = super().clean()
        url = data.get("url")
        client = data.get("client") or (self.instance.client if self.instance.pk else None)
        if url and (self.instance.pk is None or url != self.instance.url):
            try:
                url_check(url)
            except LedgerError as exc:
                self.add_error("url", exc.message)
            if client and Endpoint.objects.filter(client=client, url=url, deleted_at__isnull=True).exists():
                self.add_error("url", "The client has an endpoint with this URL already.")
        if client and self.instance.pk is None:
            live = Endpoint.objects.filter(client=client, deleted_at__isnull=True).count()
            if live >= settings.WEBHOOKS_MAX_ENDPOINTS_PER_CLIENT:
                self.add_error("client", f"The client has {live} endpoints, the most it may have.")
        return data


def _show_secrets(request, issued):
    return TemplateResponse(
        request,
        "webhooks/secret_issued.html",
        {**admin.site.each_context(request), "title": "Webhook secret", "issued": issued},
    )


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["__str__", "client", "state", "consecutive_failures", "last_success_at", "created_at"]
    list_filter = ["active", ("disabled_at", admin.EmptyFieldListFilter), ("paused_at", admin.EmptyFieldListFilter)]
    search_fields = ["url", "client__name", "client__source_system"]
    list_select_related = ["client"]
    actions = ["rotate_secret"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_readonly_fields(self, request, obj=None):
        return ["client"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        actor = f"staff:{request.user.get_username()}"
        if change:
            services.endpoint_update(
                endpoint=obj,
                actor=actor,
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                active=data["active"],
            )
            return
        endpoint, secret = services.endpoint_register(
            client=data["client"],
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
            active=data["active"],
            actor=actor,
        )
        obj.pk = endpoint.pk
        request._webhook_secrets = [(endpoint, secret)]

    def save_related(self, request, form, formsets, change):
        pass  # no relations; and the form's instance was saved by the service

    def response_add(self, request, obj, post_url_continue=None):
        issued = getattr(request, "_webhook_secrets", None)
        if issued:
            return _show_secrets(request, issued)
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description="Rotate the secret (the old one signs for the overlap; the new one is shown once)")
    def rotate_secret(self, request, queryset):
        issued = [
            services.endpoint_rotate_secret(endpoint=e, actor=f"staff:{request.user.get_username()}") for e in queryset
        ]
        return _show_secrets(request, issued)

    def has_rotate_secret_permission(self, request):
        return request.user.has_perm("webhooks.change_endpoint")

    rotate_secret.allowed_permissions = ["rotate_secret"]


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    list_display = ["at", "endpoint", "number", "status_code", "ok", "latency_ms", "outcome", "error"]
    list_filter = ["ok", "outcome"]
    search_fields = ["url", "error"]
    list_select_related = ["endpoint"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
