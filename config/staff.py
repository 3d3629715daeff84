"""Plumbing shared by the staff pages of every app (withdrawals, reports):
the login-and-permission decorator, pagination, and query strings that keep
the filters in force across pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator


def staff_page(*perms: str):
    """Logged in (else to the login page), then every one of ``perms`` (else 403)."""

    def decorate(view):
        return login_required(permission_required(perms, raise_exception=True)(view))

    return decorate


def paginate(request, queryset, per_page: int, param: str = "page"):
    return Paginator(queryset, per_page).get_page(request.GET.get(param))


def querystring_without(request, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()
