"""Faster queue work (issue 19 §5), through the test client: the dashboard's
tiles open the list of what they count, "payout failed" counts requests
still failed, the queues say how many wait and name banks by name, the
phone-request form's account lookup answers only those who take requests
and tells them nothing beyond the member's name, the available balance and
the cards used before, and a refused page logs one line, no traceback.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from withdrawals.models import PayoutInstruction, Status, Withdrawal

from .conftest import CARD_OK, ROLES
from .test_pages import as_role, flow, text  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

LOOKUP = reverse("withdrawals:new_lookup")


def rows_listed(client, href: str) -> set[int]:
    body = text(client.get(href.replace("&amp;", "&")))
    return {int(n) for n in re.findall(r'<tr id="w-(\d+)">', body)}


def tile(body: str, tile_id: str) -> tuple[str, int]:
    """The list a dashboard tile links to, and the figure it shows."""
    m = re.search(rf'id="{tile_id}">\s*<a class="go" href="([^"]+)">.*?<div class="n">(\d+)</div>', body, re.S)
    assert m, f"no linked tile {tile_id}"
    return m.group(1), int(m.group(2))


@pytest.mark.real_clock  # "paid today" reads the settlement's created_at, PostgreSQL's now()
def test_each_tile_opens_the_list_of_what_it_counts(as_role, flow, settings):
    expected = {
        "tile-in-review": {flow.in_review("100.00").id, flow.in_review("250.50").id},
        "tile-to-pay": {flow.approved("40.00").id},
        "tile-paid-today": {flow.paid("12.00").id},
        "tile-in-flight": {flow.stuck().id},
    }
    failed = flow.failed("30.00")
    expected["tile-to-pay"].add(failed.id)
    expected["tile-failed"] = {failed.id}
    stuck_w, flagged = Withdrawal.objects.get(pk=next(iter(expected["tile-in-flight"]))), flow.flagged()[0]
    expected["tile-to-pay"].add(flagged.id)
    expected["tile-failed"].add(flagged.id)
    expected["tile-needs-attention"] = {flagged.id}
    PayoutInstruction.objects.filter(withdrawal=stuck_w).update(
        sent_at=timezone.now() - timedelta(minutes=settings.PAYOUT_STUCK_AFTER_MINUTES + 1)
    )
    expected["tile-stuck"] = {stuck_w.id}

    client = as_role("Auditor")
    body = text(client.get(reverse("withdrawals:dashboard")))
    for tile_id, ids in expected.items():
        href, figure = tile(body, tile_id)
        assert href.startswith(reverse("withdrawals:list") + "?")
        assert rows_listed(client, href) == ids, tile_id
        assert figure == len(ids), tile_id


def test_payout_failed_counts_requests_still_failed_not_refusals(
    as_role, flow, desk, django_capture_on_commit_callbacks
):
    from withdrawals import services

    refused_twice = flow.failed()
    with django_capture_on_commit_callbacks(execute=True):
        services.payout_send(withdrawal_id=refused_twice.id, bank=desk.bank_b, user=desk.user("Cashier"))
    assert PayoutInstruction.objects.filter(withdrawal=refused_twice, status="failed").count() == 2
    cancelled = flow.failed()
    services.payout_cancel(withdrawal_id=cancelled.id, user=desk.user("Cashier"), reason="member asked")

    client = as_role("Finance staff")
    href, figure = tile(text(client.get(reverse("withdrawals:dashboard"))), "tile-failed")
    # Three refusals by the banks today; one request still failed.
    assert figure == 1
    assert rows_listed(client, href) == {refused_twice.id}


def test_queues_say_how_many_wait_and_name_the_bank(as_role, flow, desk):
    for _ in range(3):
        flow.in_review()
    failed = flow.failed()
    assert failed.instructions.get().bank == desk.bank_a
    review = text(as_role("Reviewer").get(reverse("withdrawals:review")))
    assert re.search(r'id="queue-count">3 waiting<', review)
    desk_page = text(as_role("Cashier").get(reverse("withdrawals:payout")))
    assert re.search(r'id="queue-count">1<', desk_page)
    assert f"via {desk.bank_a.name}," in desk_page
    assert f"via {desk.bank_a.code}," not in desk_page


def test_the_count_follows_an_approval(as_role, flow):
    first, second = flow.in_review(), flow.in_review()
    reviewer = as_role("Reviewer")
    page = reverse("withdrawals:review")
    assert 'id="queue-count">2 waiting<' in text(reviewer.get(page))
    after = reviewer.post(reverse("withdrawals:approve", args=[first.id]), {"next": page}, follow=True)
    body = text(after)
    assert 'id="queue-count">1 waiting<' in body
    assert f'id="w-{first.id}"' not in body and f'id="w-{second.id}"' in body


# ------------------------------------------- the phone-request lookup ----


@pytest.mark.parametrize("role", [*ROLES, None])
def test_lookup_answers_only_those_who_take_requests(as_role, desk, role):
    response = as_role(role).get(LOOKUP, {"account_no": desk.member_account.account_no})
    if role is None:
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    elif role == "Finance staff":
        assert response.status_code == 200 and "Alice" in text(response)
    else:
        assert response.status_code == 403
        assert "Alice" not in text(response)


def test_lookup_shows_holder_available_and_past_cards_masked(as_role, flow, desk):
    paid = flow.paid("12.00")
    flow.in_review("50.00", card_number=CARD_OK)
    account = desk.ledger.fresh(desk.member_account)
    body = text(as_role("Finance staff").get(LOOKUP, {"account_no": f" {account.account_no} "}))
    assert desk.member_account.member.name in body
    assert str(account.available_money) in body
    assert paid.card_masked in body and "paid before" in body
    assert CARD_OK not in body and paid.card_number not in body
    # The ledger balance and the frozen amount (the in-review request) are not told.
    assert account.frozen > 0 and str(account.balance_money) not in body and str(account.frozen_money) not in body
    assert "Frozen" not in body and "W" + str(paid.id) not in body


def test_lookup_of_anything_but_a_member_cash_account_reveals_nothing(as_role, desk):
    finance = as_role("Finance staff")
    fee = desk.fee_income
    for account_no in ("NO-SUCH-ACCOUNT", fee.account_no, desk.bank_a.clearing_account.account_no, ""):
        response = finance.get(LOOKUP, {"account_no": account_no})
        assert response.status_code == 404
        body = text(response)
        assert "No member cash account" in body
        assert "Available" not in body


def test_lookup_is_get_only(as_role, desk):
    assert as_role("Finance staff").post(LOOKUP, {"account_no": desk.member_account.account_no}).status_code == 405


# -------------------------------------------------------------- console ----


def test_a_refused_page_logs_one_line_without_a_traceback(as_role, caplog):
    formatter = logging.Formatter()
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert as_role("Auditor").get(reverse("withdrawals:review")).status_code == 403
    refused = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in refused] == [f"Forbidden (Permission denied): {reverse('withdrawals:review')}"]
    assert "Traceback" not in formatter.format(refused[0])
