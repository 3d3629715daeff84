"""After a mistake, a page that says what happened inside the staff layout
and links back (issue 19 §4): 403, 404, 405, 500 and a stale form's CSRF
refusal; and a form sent after the session expired is not done, and the
login returns to the page it was on with a message saying so."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.urls import reverse

from tests.reports.reporting import staff_user
from tests.withdrawals.conftest import desk  # noqa: F401  (a fixture)
from withdrawals.models import Status
from withdrawals.services import withdrawal_auto_review

pytestmark = pytest.mark.django_db

LAYOUT = "Ledger core · 账务系统"


def logged_in(role: str, username: str | None = None) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(staff_user(username or role.lower().replace(" ", "_"), role))
    return client


def test_404_is_a_page_of_the_staff_layout_with_a_way_back():
    response = logged_in("Finance staff").get("/reports/no-such-page/", HTTP_REFERER="http://testserver/reports/")
    html = response.content.decode()
    assert response.status_code == 404
    assert LAYOUT in html and "Not found" in html
    assert 'id="error-back" href="http://testserver/reports/"' in html
    assert "Staff home" in html


def test_404_for_a_visitor_offers_the_login():
    html = Client().get("/withdrawals/no-such-page/").content.decode()
    assert LAYOUT in html and "Log in" in html and ">Log out</button>" not in html


def test_403_says_the_role_does_not_allow_it():
    response = logged_in("Reviewer").get(reverse("reports:balance_sheet"))
    html = response.content.decode()
    assert response.status_code == 403
    assert LAYOUT in html and "Not allowed" in html and "Your role does not let you" in html


def test_a_form_address_opened_as_a_page_is_explained_not_blank(desk):
    w = desk.request("800.00")  # first withdrawal to the card: in review
    response = logged_in("Reviewer").get(reverse("withdrawals:approve", args=[w.pk]))
    html = response.content.decode()
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert LAYOUT in html and "Nothing was done" in html


def test_a_stale_form_is_refused_in_words():
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user("finance", "Finance staff"))
    response = client.post(reverse("withdrawals:new"), {"account_no": "x", "csrfmiddlewaretoken": "stale" * 8})
    html = response.content.decode()
    assert response.status_code == 403
    assert LAYOUT in html and "The form had expired" in html and "nothing was done" in html


@override_settings(ROOT_URLCONF="tests.shell.urls")
def test_500_is_a_page_of_the_staff_layout():
    response = logged_in("Finance staff").get("/boom/")
    html = response.content.decode()
    assert response.status_code == 500
    assert LAYOUT in html and "Something went wrong" in html


def test_the_api_keeps_its_own_errors():
    response = Client().get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404
    assert LAYOUT not in response.content.decode()


def test_an_action_sent_after_the_session_expired_is_not_done_and_login_returns_to_the_page(desk):
    w = desk.request("800.00")  # the first to this card: the new-card rule sends it to review
    withdrawal_auto_review(withdrawal_id=w.id)
    assert desk.fresh(w).status == Status.IN_REVIEW
    reviewer = staff_user("reviewer", "Reviewer")
    client = Client()
    client.force_login(reviewer)
    detail = reverse("withdrawals:detail", args=[w.pk])
    assert client.get(detail).status_code == 200
    Session.objects.all().delete()  # the session expires while the page is open

    sent = client.post(
        reverse("withdrawals:approve", args=[w.pk]), {"reason": "ok"}, HTTP_REFERER=f"http://testserver{detail}"
    )
    assert sent.status_code == 302
    assert sent["Location"] == f"{reverse('admin:login')}?next={detail}"
    login_page = client.get(sent["Location"])
    assert "Your session had expired" in login_page.content.decode()

    back = client.post(sent["Location"], {"username": "reviewer", "password": "password", "next": detail}, follow=True)
    assert back.redirect_chain[-1] == (detail, 302)
    assert back.status_code == 200
    assert "what you sent was not done" in back.content.decode()
    assert desk.fresh(w).status == Status.IN_REVIEW  # nothing was approved
    # The message is said once.
    assert "what you sent was not done" not in client.get(detail).content.decode()
