"""Demo staff and a day's withdrawals to work on: one login per role, a
paying bank per channel clearing account, and requests from demo members in
every state (in review, approved, paid, failed, rejected, stuck), made through
the services with the sandbox bank, as production would.

Logins (password = username): finance, finance2, reviewer, reviewer2, cashier, auditor,
ledgeradmin. Runs once; a second run changes nothing."""

from __future__ import annotations

import random
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

from accounts.kernel.errors import LedgerError
from accounts.models import Account, Category
from withdrawals import services
from withdrawals.models import PayingBank, Status, Withdrawal

STAFF = [
    ("finance", "Finance staff"),
    ("finance2", "Finance staff"),  # the checker of finance's reconciliation proposals
    ("reviewer", "Reviewer"),
    ("reviewer2", "Reviewer"),
    ("cashier", "Cashier"),
    ("auditor", "Auditor"),
    ("ledgeradmin", "Ledger admin"),
]

# Card tails the sandbox bank answers by (withdrawals/gateways.py).
PAID, CLOSED, BUSY_ONCE, STUCK = "4242", "0000", "3333", "7777"


def card(tail: str, n: int) -> str:
    for d in range(10):
        number = f"62220210{n % 10000:04d}{d}{tail}"
        if services.luhn_valid(number):
            return number
    raise AssertionError("unreachable")


class Command(BaseCommand):
    help = "Demo staff logins, paying banks and today's withdrawals (after seed_demo)."

    def handle(self, *args, **options):
        for username, group in STAFF:
            if not User.objects.filter(username=username).exists():
                user = User.objects.create_user(username, password=username, is_staff=True)
                user.groups.add(Group.objects.get(name=group))
        self.stdout.write("Staff logins (password = username): " + ", ".join(f"{u} ({g})" for u, g in STAFF))

        for account in Account.objects.filter(account_type__code="CHANNEL_CLEARING").exclude(status="closed"):
            code = f"{account.entity.code.lower()}-{account.id}"
            PayingBank.objects.get_or_create(
                clearing_account=account, defaults={"code": code, "name": account.name or code}
            )

        if Withdrawal.objects.filter(source_system="demo").exists():
            self.stdout.write("Demo withdrawals already there; not adding more.")
            return
        rng = random.Random(7)
        wallets = list(
            Account.objects.filter(
                category=Category.LIABILITY,
                member__isnull=False,
                status="active",
                balance__gte=Decimal("3000"),
                currency="CNY",
            ).order_by("id")[:24]
        )
        if not wallets:
            self.stdout.write("No funded demo wallets; run seed_demo first.")
            return
        reviewer, reviewer2, cashier = (User.objects.get(username=u) for u in ("reviewer", "reviewer2", "cashier"))
        bank = PayingBank.objects.filter(
            clearing_account__entity__code="MAIN", clearing_account__currency="CNY"
        ).first()
        made = []
        for n, wallet in enumerate(wallets):
            amount = Decimal(rng.choice([120, 300, 880, 1500, 2600])) + Decimal(rng.randrange(100)) / 100
            if n % 6 == 5:
                amount = Decimal("6200.00")  # above the large-amount rule
            tail = {3: CLOSED, 7: BUSY_ONCE, 11: STUCK}.get(n, PAID)
            try:
                made.append(
                    services.withdrawal_request(
                        account_no=wallet.account_no,
                        amount=amount,
                        card_holder=wallet.member.name,
                        card_bank=rng.choice(["ICBC", "CMB", "BOC", "CCB"]),
                        card_number=card(tail, n),
                        request_no=f"demo-{n:03d}",
                        source_system="demo",
                    )
                )
            except LedgerError as exc:
                self.stdout.write(f"  request {n} refused: {exc.message}")
        # Work part of the queue, leave the rest for the visitor.
        for n, w in enumerate(made):
            w.refresh_from_db()
            if w.status == Status.IN_REVIEW and n % 4 == 0:
                services.withdrawal_reject(withdrawal_id=w.id, user=reviewer, reason="card holder differs from member")
            elif w.status == Status.IN_REVIEW and n % 2 == 1:
                services.withdrawal_approve(withdrawal_id=w.id, user=reviewer)
                if w.approvals_required > 1:
                    services.withdrawal_approve(withdrawal_id=w.id, user=reviewer2)
        payable = [w.id for w in Withdrawal.objects.filter(source_system="demo", status=Status.APPROVED)]
        if bank is not None:
            services.payout_send_batch(withdrawal_ids=payable[: len(payable) * 2 // 3], bank=bank, user=cashier)
        counts = {}
        for status in Withdrawal.objects.filter(source_system="demo").values_list("status", flat=True):
            counts[status] = counts.get(status, 0) + 1
        self.stdout.write("Today's withdrawals: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
