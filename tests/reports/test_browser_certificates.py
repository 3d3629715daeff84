"""In a real browser: one finance clerk signs Nov 2's close certificate, a
second co-signs it; the auditor verifies Nov 2 - 3 (everything matches),
then, after an entry is altered behind the ledger's back, verifies again
and is shown the entry. Screenshots: test-output/screenshots/certificates-*.png."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from reports.certificates.models import CertificateStatus, CloseCertificate
from tests.browser import chromium, expect, log_in, screenshot

from .eod_books import forge
from .reporting import ensure_report_roles, staff_user
from .test_certificates import NOV2, books  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def tamper_elsewhere(sql: str, params) -> None:
    """The intruder's write, from its own connection (the browser's loop
    owns this thread, where Django refuses to query)."""

    def write():
        try:
            with transaction.atomic():
                forge(sql, params)
        finally:
            connection.close()

    intruder = threading.Thread(target=write)
    intruder.start()
    intruder.join(timeout=30)


@pytest.fixture
def people(transactional_db):
    ensure_report_roles()
    return staff_user("maker", "Finance staff"), staff_user("checker", "Finance staff"), staff_user("audit", "Auditor")


def test_two_clerks_sign_off_and_the_auditor_verifies(live_server, books, people):  # noqa: F811
    entity, alice, bob, channel, p1, p3, p4 = books
    nov2 = CloseCertificate.objects.get(entity=entity, accounting_date=NOV2)
    bad = p3.entries.get(account=bob)
    base = live_server.url
    with chromium() as browser:
        maker = browser.new_page(viewport={"width": 1440, "height": 900})
        log_in(maker, base, "maker")
        maker.goto(f"{base}/reports/certificates/")
        row = maker.locator(f"#certificate-{nov2.pk}")
        expect(row).to_contain_text(nov2.certificate_hash[:16])
        row.get_by_role("button", name="Sign").click()
        expect(maker.locator("ul.messages")).to_contain_text("2026-11-02 signed; a second person co-signs it")
        expect(maker.locator(f"#certificate-{nov2.pk}")).to_contain_text("awaiting another person's co-signature")
        screenshot(maker, "certificates-01-signed")

        checker = browser.new_context().new_page()
        log_in(checker, base, "checker")
        checker.goto(f"{base}/reports/certificates/")
        checker.locator(f"#certificate-{nov2.pk}").get_by_role("button", name="Co-sign").click()
        expect(checker.locator("ul.messages")).to_contain_text("2026-11-02 co-signed")
        expect(checker.locator(f"#certificate-{nov2.pk}")).to_contain_text("co-signed (已复核)")
        checker.get_by_role("link", name="2026-11-02").click()
        expect(checker.locator("#hashes")).to_contain_text(nov2.entries_root)
        screenshot(checker, "certificates-02-detail")

        auditor = browser.new_context().new_page()
        log_in(auditor, base, "audit")
        auditor.goto(f"{base}/reports/certificates/")
        expect(auditor.get_by_role("button", name="Sign")).to_have_count(0)
        auditor.fill("#verify #id_date_from", "2026-11-02")
        auditor.fill("#verify #id_date_to", "2026-11-03")
        auditor.get_by_role("button", name="Verify").click()
        expect(auditor.locator("#verification")).to_contain_text("everything matches")
        expect(auditor.locator("#verification")).to_contain_text("8 entries, 2 certificates")
        screenshot(auditor, "certificates-03-verified")

        tamper_elsewhere("UPDATE postings_entry SET amount = 121 WHERE serial_no = %s", [bad.serial_no])
        auditor.reload()
        expect(auditor.locator("#first-mismatch")).to_contain_text(
            f"entry {bad.serial_no} (account {bob.account_no}, seq 2, 2026-11-02)"
        )
        screenshot(auditor, "certificates-04-tampered")
    assert CloseCertificate.objects.get(pk=nov2.pk).status == CertificateStatus.COSIGNED
