"""``Authorization: Api-Key <key>`` and the scopes a view asks for.

No key, an unknown or revoked key, or a deactivated client: 401
``unauthenticated``. A valid key whose client lacks the view's scope: 403
``forbidden``.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from .models import ApiClient
from .selectors import api_key_find
from .services import KEY_LENGTH, KEY_RE, api_key_touch

KEYWORD = "Api-Key"
# Keys the ledger issues are 55 characters (KEY_RE). A longer one is refused
# before it is parsed or hashed; gunicorn lets headers up to 32 KB through
# (gunicorn.conf.py) so that this answer, not a bare 431, reaches the caller.
MAX_KEY_LENGTH = 128


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        raw = raw.strip()
        if scheme.lower() != KEYWORD.lower() or not raw:
            raise exceptions.AuthenticationFailed(f"Send the key as 'Authorization: {KEYWORD} <key>'.")
        if len(raw) > MAX_KEY_LENGTH:
            raise exceptions.AuthenticationFailed(
                f"The API key is {len(raw):,} characters long; keys the ledger issues are "
                f"{KEY_LENGTH} (lk_<8 hex>.<43 characters>)."
            )
        match = KEY_RE.match(raw)
        # Kept on the Django request for the call log, whatever happens next.
        request._request.api_key_prefix = match.group(1) if match else ""
        key = api_key_find(raw=raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown API key.")
        if not key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if not key.client.active:
            raise exceptions.AuthenticationFailed("This API client has been deactivated.")
        api_key_touch(key=key)
        request._request.api_key = key
        return key.client, key

    def authenticate_header(self, request):
        return f'{KEYWORD} realm="ledger"'


class HasScope(BasePermission):
    """The view's ``scopes`` maps an HTTP method to the scopes that allow it
    (any one of them). A method the view does not list is allowed to no one."""

    message = "This API key may not do this."

    def has_permission(self, request, view) -> bool:
        method = "GET" if request.method == "HEAD" else request.method
        if method not in view.allowed_methods:
            return True  # the view answers 405, key or no key
        client = request.user
        if not isinstance(client, ApiClient):
            return False  # DRF answers 401: no authenticator succeeded
        allowed = getattr(view, "scopes", {}).get(method, ())
        if any(client.has_scope(scope) for scope in allowed):
            return True
        self.message = f"Client {client.name} lacks the scope this endpoint needs: {' or '.join(allowed) or 'none'}."
        return False


class ApiKeySchema(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"`{KEYWORD} <key>`: the key issued with the client (admin or `manage.py "
            "create_api_client`). Keys look like `lk_1a2b3c4d.…`.",
        }
