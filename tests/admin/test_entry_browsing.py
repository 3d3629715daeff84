"""Finding entries, postings and holds: date range, account, serial number,
request number. A search that is not a number must not break the page."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import Account
from postings.models import Entry, Hold, Posting

from .conftest import OLD_DATE, admin_url

pytestmark = pytest.mark.django_db


def shown(client, model, **params) -> set[int]:
    response = client.get(admin_url(model, "changelist"), params)
    assert response.status_code == 200, response
    return {obj.pk for obj in response.context["cl"].result_list}


def entries(**filters) -> set[int]:
    return set(Entry.objects.filter(**filters).values_list("serial_no", flat=True))


@pytest.mark.local_afternoon  # the book's recharge and the filter share "today"
def test_date_range_shows_only_entries_inside_it(admin_client, book):
    march = shown(admin_client, Entry, accounting_date__gte="2024-03-01", accounting_date__lte="2024-03-31")
    assert march == entries(posting=book.old_recharge)

    today = timezone.localdate().isoformat()
    assert shown(admin_client, Entry, accounting_date__gte=today) == entries(accounting_date=timezone.localdate())
    # Both ends are inclusive.
    one_day = OLD_DATE.isoformat()
    assert shown(admin_client, Entry, accounting_date__gte=one_day, accounting_date__lte=one_day) == march
    assert shown(admin_client, Entry, accounting_date__lte="2024-02-29") == set()


def test_date_range_combines_with_the_account_and_ignores_bad_dates(admin_client, book):
    alice_in_march = shown(admin_client, Entry, account__id__exact=book.alice.pk, accounting_date__lte="2024-12-31")
    assert alice_in_march == entries(posting=book.old_recharge, account=book.alice)
    assert shown(admin_client, Entry, accounting_date__gte="not-a-date") == entries()


def test_date_range_filter_form_keeps_the_other_filters(admin_client, book):
    response = admin_client.get(
        admin_url(Entry, "changelist"), {"account__id__exact": book.alice.pk, "accounting_date__gte": "2024-03-01"}
    )
    assert f'<input type="hidden" name="account__id__exact" value="{book.alice.pk}">' in response.text
    assert 'name="accounting_date__gte" value="2024-03-01"' in response.text


def test_search_entries_by_account_number(admin_client, book):
    assert shown(admin_client, Entry, q=book.alice.account_no) == entries(account=book.alice)
    assert shown(admin_client, Entry, q=book.shop.account_no) == entries(account=book.shop)


def test_search_entries_by_serial_number(admin_client, book):
    entry = book.recharge.entries.get(account=book.alice)
    assert shown(admin_client, Entry, q=str(entry.serial_no)) == {entry.serial_no}
    assert shown(admin_client, Entry, q=f"E{entry.serial_no}") == {entry.serial_no}


def test_search_entries_by_request_number(admin_client, book):
    assert shown(admin_client, Entry, q="rc-today") == entries(posting=book.recharge)


@pytest.mark.parametrize("term", ["abc", "E", "12abc", "-5", "99999999999999999999999", "١٢", "' OR 1=1 --"])
def test_search_that_matches_nothing_does_not_break(admin_client, book, term):
    assert shown(admin_client, Entry, q=term) == set()
    assert shown(admin_client, Posting, q=term) == set()
    assert shown(admin_client, Hold, q=term) == set()


def test_search_postings_by_request_serial_and_external_ref(admin_client, book):
    assert shown(admin_client, Posting, q="rv-small") == {book.reversal.pk}
    assert shown(admin_client, Posting, q=str(book.purchase.pk)) == {book.purchase.pk}
    assert shown(admin_client, Posting, q=f"p{book.purchase.pk}") == {book.purchase.pk}


def test_filter_postings_by_date_range_and_business_type(admin_client, book):
    assert shown(admin_client, Posting, accounting_date__lte="2024-12-31") == {book.old_recharge.pk}
    assert shown(admin_client, Posting, business_type__exact="reversal") == {book.reversal.pk}


def test_filter_entries_by_type_entity_business_type_and_direction(admin_client, book):
    credit_type = book.alice_credit.account_type
    assert shown(admin_client, Entry, account__account_type__id__exact=credit_type.pk) == entries(
        account=book.alice_credit
    )
    assert shown(admin_client, Entry, account__entity__id__exact=book.alice.entity_id) == entries()
    assert shown(admin_client, Entry, business_type__exact="withdrawal") == entries(posting=book.settlement)
    assert shown(admin_client, Entry, direction__exact="D", account__id__exact=book.alice.pk) == entries(
        account=book.alice, direction="D"
    )


def test_search_holds_by_account_and_request_number(admin_client, book):
    assert shown(admin_client, Hold, q=book.alice.account_no) == {book.hold.pk}
    assert shown(admin_client, Hold, q="hold-w1") == {book.hold.pk}
    assert shown(admin_client, Hold, account__id__exact=book.shop.pk) == set()


def test_search_accounts_by_number_and_member(admin_client, book):
    assert shown(admin_client, Account, q=book.alice.account_no) == {book.alice.pk}
    assert shown(admin_client, Account, q=book.alice.member.member_no) == {book.alice.pk, book.alice_credit.pk}
    assert shown(admin_client, Account, q="Shop") == {book.shop.pk}
