"""The shared kernel: the one amount parser, the one permission check, and
work enqueued by task name after a commit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from celery import shared_task
from django.contrib.auth.models import Permission
from django.db import transaction

from accounts.kernel.errors import InvalidAmount, NotAllowed
from accounts.kernel.money import parse_amount, to_amount
from accounts.kernel.permissions import has_permission, require_permission
from accounts.kernel.tasks import enqueue_on_commit


@pytest.mark.parametrize(
    ("text", "grouped", "expected"),
    [
        ("100", False, Decimal("100")),
        ("100.50", False, Decimal("100.50")),
        ("-5", False, Decimal("-5")),
        ("+0.01", False, Decimal("0.01")),
        ("1,234.50", True, Decimal("1234.50")),
        ("-12,345,678", True, Decimal("-12345678")),
    ],
)
def test_plain_amounts_are_read(text, grouped, expected):
    assert parse_amount(text, grouped=grouped) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1e3",
        "1E2",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "１００",  # full-width digits: Decimal() would read them as 100
        "٣",  # Arabic-Indic three
        "²",
        " 10",
        "10 ",
        "10\n",
        "1.",
        ".5",
        "1.2.3",
        "",
        "1,000",  # grouping only where the source writes it
        "0x10",
        "1_000",
    ],
)
def test_anything_else_is_refused_with_a_clear_error(text):
    with pytest.raises(InvalidAmount) as refused:
        parse_amount(text)
    assert refused.value.code == "invalid_amount"
    assert repr(text) in refused.value.message and "plain digits" in refused.value.message


@pytest.mark.parametrize("text", ["1,00", "12,34.5", ",100", "1,000,00", "１,０００"])
def test_grouping_must_be_by_thousands(text):
    with pytest.raises(InvalidAmount):
        parse_amount(text, grouped=True)


@pytest.mark.parametrize("text", ["1e3", "１００", "NaN", " 10"])
def test_to_amount_reads_text_with_the_same_parser(text):
    with pytest.raises(InvalidAmount):
        to_amount(text, "CNY")
    assert to_amount("100.5", "CNY") == Decimal("100.5000")


@pytest.mark.django_db
def test_one_permission_check(django_user_model):
    user = django_user_model.objects.create_user("clerk")
    perm = "withdrawals.review_withdrawal"
    assert not has_permission(None, perm)
    with pytest.raises(NotAllowed) as refused:
        require_permission(user, perm, doing="review")
    assert refused.value.message == f"clerk may not review ({perm})."
    assert refused.value.fields == {"permission": perm} and refused.value.http_status == 403

    user.user_permissions.add(Permission.objects.get(codename="review_withdrawal"))
    user = django_user_model.objects.get(pk=user.pk)  # a fresh permission cache
    require_permission(user, perm)
    user.is_active = False
    assert not has_permission(user, perm)


def test_a_permission_error_of_its_own_keeps_its_message():
    class UploadNotAllowed(NotAllowed):
        default_message = "You may not upload."

    with pytest.raises(UploadNotAllowed) as refused:
        require_permission(None, "reports.import_gl", error=UploadNotAllowed)
    assert refused.value.message == "You may not upload." and refused.value.code == "forbidden"


# ------------------------------------------------ enqueue_on_commit ----

SEEN: list = []


@shared_task(name="tests.accounts.test_kernel.remember")
def remember(value):
    SEEN.append(value)
    return value


@pytest.mark.django_db
def test_a_task_enqueued_by_name_runs_after_the_commit(django_capture_on_commit_callbacks):
    SEEN.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            enqueue_on_commit("tests.accounts.test_kernel.remember", 7)
            assert SEEN == []  # not before the commit
    assert len(callbacks) == 1 and SEEN == [7]  # eager (no broker): run here


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_enqueues_nothing():
    SEEN.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit("tests.accounts.test_kernel.remember", 8)
        raise RuntimeError("refused")
    enqueue_on_commit("tests.accounts.test_kernel.remember", 9)  # outside a transaction: at once
    assert SEEN == [9]
