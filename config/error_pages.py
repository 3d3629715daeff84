"""What a person sees when a staff page cannot be shown: the staff layout
with what happened, in words, and the way back, instead of a bare
"403 Forbidden" or a blank "HTTP ERROR 405".

The handlers are Django's handler400/403/404/500 (config/urls.py) and its
CSRF failure view (settings.CSRF_FAILURE_VIEW); a 405 is answered by the
``require_POST`` family with an empty body, so ``NotAllowedPageMiddleware``
fills it in. The API keeps its own JSON errors (config/api/errors.py): a
path under /api/ gets Django's plain answer here, as before.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"

PAGES = {
    400: ("Bad request", "The page could not read what was sent. Nothing was changed."),
    403: (
        "Not allowed",
        "Your role does not let you open this page or do this. Nothing was changed. "
        "If you need it, ask a ledger administrator for the permission.",
    ),
    404: ("Not found", "There is no page at this address: the link may be old, or the record may not exist."),
    405: (
        "This address only takes a form",
        "This address is where a form is sent, not a page to open (this happens after logging in again "
        "to a form that had expired). Nothing was done. Go back to the page and send the form again if "
        "it is still needed.",
    ),
    500: (
        "Something went wrong",
        "The server failed while answering, and what you asked for may not have been done. "
        "Reload the page to see the current state before trying again; the error has been logged.",
    ),
}

CSRF_EXPIRED = (
    "The form had expired",
    "The form was older than your current login (you logged in again, or in another tab), so it "
    "was not accepted and nothing was done. Go back, reload the page, and send the form again.",
)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def back_url(request: HttpRequest) -> str | None:
    """The page the person came from, if it is one of ours."""
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}):
        return referer
    return None


def error_page(request: HttpRequest, status: int, *, title: str | None = None, message: str | None = None):
    default_title, default_message = PAGES[status]
    context = {
        "status": status,
        "title": title or default_title,
        "message": message or default_message,
        "back": back_url(request),
        "path": request.path,
    }
    try:
        html = render_to_string("errors/error.html", context, request=request)
    except Exception:  # the layout itself failed (the database is down, say): plain words still help
        logger.exception("the error page could not be rendered in the staff layout")
        html = f"<!doctype html><title>{context['title']}</title><h1>{context['title']}</h1><p>{context['message']}</p>"
    return HttpResponse(html, status=status)


def bad_request(request, exception):
    if _is_api(request):
        return defaults.bad_request(request, exception)
    return error_page(request, 400)


def permission_denied(request, exception):
    if _is_api(request):
        return defaults.permission_denied(request, exception)
    return error_page(request, 403)


def page_not_found(request, exception):
    if _is_api(request):
        return defaults.page_not_found(request, exception)
    return error_page(request, 404)


def server_error(request):
    if _is_api(request):
        return defaults.server_error(request)
    return error_page(request, 500)


def csrf_failure(request, reason=""):
    if _is_api(request):
        return django_csrf_failure(request, reason)
    title, message = CSRF_EXPIRED
    return error_page(request, 403, title=title, message=message)


class NotAllowedPageMiddleware:
    """A 405 from a staff page (a POST-only address opened with GET) gets
    the friendly page; the Allow header stays."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 405 and not _is_api(request) and not response.content:
            page = error_page(request, 405)
            if response.has_header("Allow"):
                page["Allow"] = response["Allow"]
            return page
        return response
