"""Agreements in the event outbox: signing, suspending, resuming and revoking
each publish agreement.status_changed, and every debit attempt (taken,
partly taken, refused) agreement.debit_attempted, in commit order as
versions of the agreement, each valid against docs/events/."""

from __future__ import annotations

import pytest

from postings.agreements.services import agreement_resume, agreement_revoke, agreement_suspend
from postings.exceptions import AgreementLimitExceeded
from tests.events.scripted import as_published, number_everything, validate

from .books import sign

pytestmark = pytest.mark.django_db(transaction=True)


def test_status_changes_and_attempts_are_published(ledger):
    m = sign(ledger, funds="100.00", allow_partial=True, max_per_debit="300.00", max_per_period="360.00")
    pk = m.agreement.pk
    m.debit("60.00", "d-1")
    m.debit("300.00", "d-2")  # 40.00 in the wallet: partly taken
    with pytest.raises(AgreementLimitExceeded):
        m.debit("300.00", "d-3")
    agreement_suspend(agreement_id=pk, reason="member asked", request_no="s", actor="app")
    agreement_resume(agreement_id=pk, request_no="r", actor="app")
    agreement_revoke(agreement_id=pk, reason="loan closed", request_no="v", actor="app")

    events = [as_published(e) for e in number_everything() if e.aggregate_type == "agreement"]
    for event in events:
        validate(event)
    assert [e["aggregate_version"] for e in events] == list(range(1, 8))
    assert all(e["aggregate_id"] == pk for e in events)
    seen = [
        (e["type"], e["payload"].get("kind") or e["payload"]["outcome"], e["payload"].get("amount_taken"))
        for e in events
    ]
    assert seen == [
        ("agreement.status_changed", "sign", None),
        ("agreement.debit_attempted", "taken", "60.0000"),
        ("agreement.debit_attempted", "partial", "40.0000"),
        ("agreement.debit_attempted", "refused", "0.0000"),
        ("agreement.status_changed", "suspend", None),
        ("agreement.status_changed", "resume", None),
        ("agreement.status_changed", "revoke", None),
    ]
    refused = events[3]["payload"]
    assert (refused["code"], refused["posting"], refused["request_no"]) == ("agreement_limit_exceeded", None, "d-3")
    assert events[6]["payload"]["reason"] == "loan closed"
