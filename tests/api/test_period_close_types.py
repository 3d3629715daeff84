"""A period close's business types (损益结转, 年结) are the close's own: a
calling system cannot post them (their vouchers are built by the close only)."""

from __future__ import annotations

import pytest

from postings.models import Posting

from .conftest import error_of, transfer_body

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("business_type", ["pl_carry_forward", "year_end_close"])
def test_a_caller_cannot_post_a_period_close(trade, book, business_type):
    body = transfer_body(book.alice, book.bob, "1", business_type=business_type)
    error_of(trade.post("postings", body), 400, "validation_error")
    assert not Posting.objects.filter(business_type=business_type).exists()
