"""Plumbing shared by the staff pages of every app (withdrawals, reports):
the login-and-permission decorator, pagination, and query strings that keep
the filters in force across pages. Here, on the ground floor, because the
apps' pages use it and the apps sit below ``config``."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator

from .permissions import has_permission


def staff_page(*perms: str):
    """Logged in (else to the login page), then every one of ``perms`` (else
    403), checked as the services check them (``has_permission``)."""

    def decorate(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            if not all(has_permission(request.user, perm) for perm in perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(guarded)

    return decorate


def paginate(request, queryset, per_page: int, param: str = "page"):
    return Paginator(queryset, per_page).get_page(request.GET.get(param))


def querystring_without(request, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()
