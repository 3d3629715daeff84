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


def holders_of(perm: str, *, users: int = 5) -> tuple[list[str], list[str]]:
    """Who may ``perm``, by name: the roles (groups) that grant it and up to
    ``users`` active people holding it (superusers aside), so a page can tell
    someone who cannot do a thing whom to ask."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    app_label, codename = perm.split(".")
    roles = Group.objects.filter(
        permissions__content_type__app_label=app_label, permissions__codename=codename
    ).order_by("name")
    people = (
        get_user_model().objects.with_perm(perm, is_active=True, include_superusers=False).order_by("username")[:users]
    )
    return list(roles.values_list("name", flat=True)), [u.get_full_name() or u.get_username() for u in people]
