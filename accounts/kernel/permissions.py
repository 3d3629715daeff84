"""The one permission check of the services.

Pages check permissions to decide what to offer; the services check them
again because they are the rule (a task, a command or the API may call them
too). Every service asks here, so "who may" means one thing everywhere.
"""

from __future__ import annotations

from .errors import NotAllowed


def has_permission(user, perm: str) -> bool:
    """An active user holding ``perm`` (``app_label.codename``)."""
    return user is not None and user.is_active and user.has_perm(perm)


def require_permission(user, perm: str, *, doing: str = "do this", error: type[NotAllowed] = NotAllowed) -> None:
    """Raise ``error`` (a ``NotAllowed``) unless ``user`` may ``perm``.

    ``doing`` completes the message "<user> may not <doing> (<perm>)."; an
    ``error`` class with its own default message (e.g. the GL import's) keeps
    that message.
    """
    if has_permission(user, perm):
        return
    if error is NotAllowed:
        raise NotAllowed(f"{getattr(user, 'username', 'anonymous')} may not {doing} ({perm}).", permission=perm)
    raise error(permission=perm)
