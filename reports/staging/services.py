"""Staging an upload for confirmation and committing it exactly once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import StagedUpload

# An upload nobody confirmed within this time is dropped (with its file) at the next upload.
STALE_AFTER = timedelta(days=1)


def staged_upload_create(
    *, kind: str, user, file_name: str, content: bytes, target: dict, preview: dict
) -> StagedUpload:
    StagedUpload.objects.filter(committed_id__isnull=True, uploaded_at__lt=timezone.now() - STALE_AFTER).delete()
    return StagedUpload.objects.create(
        kind=kind,
        uploaded_by=user,
        file_name=(file_name or "")[-255:] or "upload",
        file_sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        target=target,
        preview=preview,
    )


def staged_upload_commit(*, staged_id: int, user, commit: Callable[[StagedUpload], int]) -> tuple[int, bool]:
    """(the import's id, whether it was committed before). The staged row is
    locked first, so two confirmations at once import once: the second waits,
    then finds the first's import. ``commit`` writes the import and returns its id."""
    with transaction.atomic():
        staged = StagedUpload.objects.select_for_update(no_key=True).get(pk=staged_id, uploaded_by=user)
        if staged.committed_id is not None:
            return staged.committed_id, True
        staged.content = bytes(staged.content)
        committed_id = commit(staged)
        staged.committed_id, staged.committed_at, staged.content = committed_id, timezone.now(), b""
        staged.save(update_fields=["committed_id", "committed_at", "content"])
    return committed_id, False
