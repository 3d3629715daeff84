"""Plumbing shared by the staff pages of every app (withdrawals, reports):
the login-and-permission decorator, pagination, and query strings that keep
the filters in force across pages. Here, on the ground floor, because the
apps' pages use it and the apps sit below ``config``.

A form sent after the session expired is not done. Logging in then returns
to the page the form was on (not to the form's POST-only address, which
would answer 405), and that page says the action was not done."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import wraps
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.utils.http import url_has_allowed_host_and_scheme

from .hooks import Hook
from .permissions import has_permission

# The session key under which "what you sent was not done" waits for the login.
NOT_DONE = "staff_page_not_done"


def staff_page(*perms: str):
    """Logged in (else to the login page, and back), then every one of
    ``perms`` (else 403), checked as the services check them
    (``has_permission``)."""

    def decorate(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return _log_in_first(request)
            if not all(has_permission(request.user, perm) for perm in perms):
                raise PermissionDenied
            not_done = request.session.pop(NOT_DONE, None)
            if not_done:
                messages.warning(request, not_done)
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def _log_in_first(request):
    if request.method != "POST":
        return redirect_to_login(request.get_full_path())
    back = _page_of_the_form(request)
    request.session[NOT_DONE] = (
        "Your session had expired, so what you sent was not done. This is the page you were on: "
        "check it and send the form again if it is still needed."
    )
    messages.info(request, "Your session had expired. Log in again to go back to the page you were on.")
    return redirect_to_login(back)


def _page_of_the_form(request) -> str:
    """Where a form sent without a session came from: its ``next`` field,
    else the page that showed it (Referer), else the staff home."""
    for candidate in (request.POST.get("next", ""), request.META.get("HTTP_REFERER", "")):
        if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}):
            parts = urlsplit(candidate)
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return "/"


def paginate(request, queryset, per_page: int, param: str = "page"):
    return Paginator(queryset, per_page).get_page(request.GET.get(param))


def querystring_without(request, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


@dataclass
class DashboardTile:
    """A tile another app adds to the staff dashboard (withdrawals' page)."""

    id: str
    label: str
    value: str
    url: str
    alert: bool = False
    lines: list[str] = field(default_factory=list)


# The dashboard lives in withdrawals, which may not import the apps beside
# it: each app answers with its tiles for the user, [] when it has none.
dashboard_tiles = Hook("Which tiles does an app add to the staff dashboard? (user) -> [DashboardTile]")
