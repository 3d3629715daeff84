"""Seed a demo ledger: two entities, members with wallets and credit lines,
channel and other internal accounts, and a month of business ending today.

Everything goes through the services (``accounts.services``,
``postings.services``), exactly as a calling system would post it: nothing
here writes a balance, an entry or a hold. Activity is drawn from a seeded
``random.Random``, so the same ``--seed`` gives the same ledger, and is posted
day by day with the accounting date (会计日期) passed explicitly. Requests the
ledger refuses (a transfer beyond the available balance, a credit purchase
beyond the line, a debit on a blocked account) are counted by error code, not
treated as failures of the demo: they are what a real ledger refuses every day.

Demo members are numbered ``DEMO<run><seq>``; a second run on a ledger that
already has them is refused unless ``--force``, which adds another run.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.kernel.errors import LedgerError
from accounts.models import Account, AccountStatus, AccountType, Entity, Member
from accounts.selectors import internal_account_for
from accounts.services import (
    account_change_status,
    account_open,
    account_set_credit_limit,
    customer_create,
    member_create,
)
from postings.agreements.services import agreement_debit, agreement_sign
from postings.chart import install_defaults
from postings.credit.models import CreditProduct
from postings.credit.services import bills_issue_due
from postings.models import Entry, GuaranteeOrder, Hold, Posting
from postings.selectors import identity_totals
from postings.services import (
    Leg,
    hold_place,
    hold_release,
    hold_settle,
    order_confirm,
    order_open,
    order_refund,
    posting_create,
    posting_create_by_rule,
    posting_reverse,
)
from postings.services.calendar import calendar_for

DEMO_PREFIX = "DEMO"

SECOND_ENTITY = {"code": "HK", "name": "Hong Kong payments", "base_currency": "HKD"}

# entity code -> (short code, account name) of its channel clearing accounts
CHANNELS = {
    "MAIN": [
        ("ICBC", "ICBC clearing (工商银行备付金)"),
        ("CMB", "CMB clearing (招商银行备付金)"),
        ("TPP", "Third-party pay clearing (第三方支付)"),
    ],
    "HK": [
        ("HSBC", "HSBC HK clearing"),
        ("FPS", "FPS clearing (轉數快)"),
    ],
}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红文斌鹏辉晨宇浩然子轩欣怡梓涵雨萱"
HK_SURNAMES = ["Chan", "Wong", "Lee", "Cheung", "Lau", "Ng", "Ho", "Leung", "Lam", "Tsang", "Yip", "Kwok"]
HK_GIVEN = ["Tai Man", "Siu Ming", "Ka Yan", "Wing Sze", "Chi Keung", "Mei Ling", "Ho Yin", "Hoi Ting"]
CITIES = ["杭州", "上海", "深圳", "北京", "成都", "广州", "南京", "苏州", "武汉", "西安"]
TRADES = ["数码科技", "餐饮管理", "服饰贸易", "文化传媒", "生鲜超市", "旅游服务", "家居用品", "教育咨询"]
HK_TRADES = ["Trading", "Catering", "Electronics", "Travel", "Florist", "Bakery"]
CREDIT_LIMITS = [500, 1000, 2000, 3000, 5000, 8000, 10000, 20000, 50000]
COUPONS = [(5, "新人红包"), (10, "满减券"), (20, "周末红包"), (50, "会员日红包"), (88, "邀请奖励")]

# Per member and day, how many of each event to draw (the day's activity mix).
RATES = {
    "recharge": 0.09,
    "transfer": 0.10,
    "credit_purchase": 0.09,
    "credit_repayment": 0.025,
    "coupon": 0.02,
    "fee": 0.01,
    "guarantee": 0.055,
    "withdrawal": 0.04,
}


def cents_str(cents: int) -> str:
    """Cents as a two-decimal string: money is never a float here."""
    return f"{cents // 100}.{cents % 100:02d}"


def to_cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def demo_member_count() -> int:
    return Member.objects.filter(member_no__startswith=DEMO_PREFIX).count()


def next_run_number() -> int:
    runs = [
        int(no[len(DEMO_PREFIX) : len(DEMO_PREFIX) + 2])
        for no in Member.objects.filter(member_no__startswith=DEMO_PREFIX).values_list("member_no", flat=True)
        if no[len(DEMO_PREFIX) : len(DEMO_PREFIX) + 2].isdigit()
    ]
    return max(runs, default=0) + 1


@dataclass
class Book:
    """The demo's own view of an entity: its internal accounts and its members' accounts."""

    entity: Entity
    currency: str
    channels: list[Account] = field(default_factory=list)
    fee_income: Account | None = None
    escrow: Account | None = None
    coupon: Account | None = None
    persons: list[str] = field(default_factory=list)  # cash account numbers
    merchants: list[str] = field(default_factory=list)  # cash account numbers
    credit_of: dict[str, str] = field(default_factory=dict)  # cash account no -> credit account no


class Seeder:
    def __init__(self, *, members: int, days: int, seed: int, run: int, out: Callable[[str], None], verbosity: int):
        self.n_members, self.n_days, self.run = members, days, run
        self.rng = random.Random(seed if run == 1 else f"{seed}/{run}")
        self.out, self.verbosity = out, verbosity
        self.prefix = f"demo{run:02d}"
        self.today = timezone.localdate()
        self.start = self.today - timedelta(days=days - 1)
        self.types = {t.code: t for t in AccountType.objects.all()}
        self.books: dict[str, Book] = {}
        self.book_of: dict[str, Book] = {}  # any demo account no -> its book
        # The demo's running picture of each account, refreshed from every entry it posts.
        self.balance: dict[str, Decimal] = defaultdict(Decimal)
        self.frozen: dict[str, Decimal] = defaultdict(Decimal)
        self.limit: dict[str, Decimal] = {}
        self.due: dict[date, list[Callable[[], None]]] = defaultdict(list)
        self.reversible: list[int] = []  # transfers of the day, candidates for a dispute reversal
        self.seq = 0
        self.agreements: dict[tuple[str, str], int] = {}
        self.posted: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.hold_outcomes: Counter[str] = Counter()
        self.blocked_cash: str | None = None

    # ---------------------------------------------------------- helpers ----

    def request_no(self, kind: str, day: date) -> str:
        self.seq += 1
        return f"{self.prefix}-{kind}-{day:%Y%m%d}-{self.seq:06d}"

    def amount(self, lo: int, hi: int, *, whole: float = 0.5) -> int:
        """Cents between lo and hi yuan; round amounts half of the time, as people pay."""
        if self.rng.random() < whole:
            return self.rng.randint(lo, hi) * 100
        return self.rng.randint(lo * 100, hi * 100)

    def available(self, account_no: str) -> int:
        if account_no in self.limit:
            return to_cents(self.limit[account_no] - self.balance[account_no] - self.frozen[account_no])
        return to_cents(self.balance[account_no] - self.frozen[account_no])

    def attempt(self, fn: Callable[[], object]) -> object | None:
        """Run one service call; a refusal is counted by its code and rolled back."""
        try:
            with transaction.atomic():
                return fn()
        except LedgerError as exc:
            self.refused[exc.code] += 1
            return None

    def track(self, posting: Posting | None, business_type: str) -> Posting | None:
        if posting is None:
            return None
        self.posted[business_type] += 1
        for account_no, balance, frozen in (
            Entry.objects.filter(posting=posting)
            .order_by("serial_no")
            .values_list("account__account_no", "balance_after", "frozen_after")
        ):
            self.balance[account_no], self.frozen[account_no] = balance, frozen
        return posting

    def by_rule(self, business_type: str, day: date, source: str, params: dict, memo: str = "") -> Posting | None:
        posting = self.attempt(
            lambda: posting_create_by_rule(
                business_type=business_type,
                request_no=self.request_no(business_type, day),
                params=params,
                posted_by=f"demo:{source}",
                source_system=source,
                memo=memo,
                accounting_date=day,
            )
        )
        return self.track(posting, business_type)

    def by_legs(self, business_type: str, day: date, source: str, legs: list[Leg], memo: str) -> Posting | None:
        posting = self.attempt(
            lambda: posting_create(
                request_no=self.request_no(business_type, day),
                business_type=business_type,
                legs=legs,
                posted_by=f"demo:{source}",
                source_system=source,
                memo=memo,
                accounting_date=day,
            )
        )
        return self.track(posting, business_type)

    def reverse(self, serial_no: int, day: date, memo: str) -> Posting | None:
        posting = self.attempt(
            lambda: posting_reverse(
                serial_no=serial_no,
                request_no=self.request_no("reversal", day),
                posted_by="demo:ops",
                source_system="ops",
                memo=memo,
                accounting_date=day,
            )
        )
        return self.track(posting, "reversal")

    def place_hold(
        self, account_no: str, cents: int, reason: str, source: str, day: date, expires_at: datetime | None = None
    ) -> Hold | None:
        hold = self.attempt(
            lambda: hold_place(
                account_no=account_no,
                amount=cents_str(cents),
                reason=reason,
                request_no=self.request_no("hold", day),
                actor=f"demo:{source}",
                source_system=source,
                expires_at=expires_at,
            )
        )
        if hold is not None:
            self.frozen[account_no] += hold.amount
        return hold

    def settle_hold(
        self,
        hold: Hold,
        cents: int,
        business_type: str,
        day: date,
        *,
        memo: str,
        counter_account_no: str | None = None,
        counter_legs: list[Leg] | None = None,
        external_ref: str = "",
    ) -> Posting | None:
        posting = self.attempt(
            lambda: hold_settle(
                hold_id=hold.id,
                request_no=self.request_no("settle", day),
                amount=cents_str(cents),
                business_type=business_type,
                actor=f"demo:{hold.source_system}",
                counter_account_no=counter_account_no,
                counter_legs=counter_legs,
                source_system=hold.source_system,
                memo=memo,
                external_ref=external_ref,
                accounting_date=day,
            )
        )
        return self.track(posting, business_type)

    def release_hold(self, hold: Hold, day: date) -> Hold | None:
        released = self.attempt(
            lambda: hold_release(
                hold_id=hold.id,
                request_no=self.request_no("release", day),
                actor=f"demo:{hold.source_system}",
                source_system=hold.source_system,
            )
        )
        if released is not None:
            account_no = hold.account.account_no
            self.frozen[account_no] = Account.objects.values_list("frozen", flat=True).get(account_no=account_no)
        return released

    # ------------------------------------------------------------ setup ----

    def setup(self) -> None:
        main = Entity.objects.get(code="MAIN")
        hk, _ = Entity.objects.get_or_create(code=SECOND_ENTITY["code"], defaults=SECOND_ENTITY)
        for entity in (main, hk):
            book = Book(entity=entity, currency=entity.base_currency)
            self.books[entity.code] = book
            for _code, name in CHANNELS.get(entity.code, CHANNELS["MAIN"][:2]):
                account = Account.objects.filter(
                    entity=entity, account_type=self.types["CHANNEL_CLEARING"], currency=book.currency, name=name
                ).first() or account_open(
                    entity=entity,
                    account_type=self.types["CHANNEL_CLEARING"],
                    currency=book.currency,
                    name=name,
                    opened_on=self.start,
                )
                book.channels.append(account)
            book.fee_income = self.single_internal(book, "FEE_INCOME", "Fee income (手续费收入)")
            book.escrow = self.single_internal(book, "ESCROW", "Guarantee escrow (担保中间户)")
            book.coupon = self.single_internal(book, "COUPON", "Marketing coupons (营销红包)")
            for account in (*book.channels, book.fee_income, book.escrow, book.coupon):
                self.book_of[account.account_no] = book
                self.balance[account.account_no] = account.balance
        self.open_members()

    def single_internal(self, book: Book, type_code: str, name: str) -> Account:
        """Posting rules resolve FEE_INCOME and COUPON as the entity's single
        internal account of that type and currency: reuse it, or open it."""
        account_type = self.types[type_code]
        account = internal_account_for(entity=book.entity, account_type=account_type, currency=book.currency)
        if account is not None:
            return account
        if Account.objects.filter(entity=book.entity, account_type=account_type, currency=book.currency).exists():
            raise CommandError(
                f"Entity {book.entity.code} has more than one {type_code} account in {book.currency}; "
                "the posting rules cannot choose between them."
            )
        return account_open(
            entity=book.entity, account_type=account_type, currency=book.currency, name=name, opened_on=self.start
        )

    def open_members(self) -> None:
        n = self.n_members
        n_hk = max(3, round(n * 0.15))
        plan = []
        for code, count in (("MAIN", n - n_hk), ("HK", n_hk)):
            merchants = max(1, round(count * 0.1))
            plan += [(code, "company")] * merchants + [(code, "person")] * (count - merchants)
        self.rng.shuffle(plan)
        first_person = set()
        customers_by_entity: dict[str, list] = defaultdict(list)
        for i, (code, kind) in enumerate(plan, start=1):
            book = self.books[code]
            name, customer = self.new_customer(code, kind)
            platform = "merchant" if kind == "company" else "wallet"
            earlier = customers_by_entity[code]
            if kind == "person" and earlier and self.rng.random() < 0.04:
                # One customer, two members: the same person registers again on the mall.
                customer = self.rng.choice(earlier)
                name, platform = customer.name, "mall"
            elif kind == "person":
                earlier.append(customer)
            member = member_create(
                member_no=f"{DEMO_PREFIX}{self.run:02d}{i:06d}", customer=customer, name=name, platform=platform
            )
            cash = account_open(
                entity=book.entity,
                account_type=self.types["USER_CASH"],
                member=member,
                currency=book.currency,
                name=f"{name} · cash (余额)",
                opened_on=self.start,
            )
            self.book_of[cash.account_no] = book
            if kind == "company":
                book.merchants.append(cash.account_no)
                continue
            book.persons.append(cash.account_no)
            if code not in first_person or self.rng.random() < 0.8:
                first_person.add(code)
                limit = self.rng.choice(CREDIT_LIMITS if code == "MAIN" else CREDIT_LIMITS[2:])
                credit = account_open(
                    entity=book.entity,
                    account_type=self.types["USER_CREDIT"],
                    member=member,
                    currency=book.currency,
                    name=f"{name} · credit line (授信)",
                    credit_limit=str(limit),
                    opened_on=self.start,
                )
                book.credit_of[cash.account_no] = credit.account_no
                self.book_of[credit.account_no] = book
                self.limit[credit.account_no] = credit.credit_limit

    def new_customer(self, code: str, kind: str):
        rng = self.rng
        if kind == "company":
            if code == "HK":
                name = f"{rng.choice(HK_SURNAMES)} {rng.choice(HK_TRADES)} Limited"
            else:
                name = f"{rng.choice(CITIES)}{rng.choice(SURNAMES)}{rng.choice(GIVEN)}{rng.choice(TRADES)}有限公司"
            id_type, id_no = "business_license", f"91{rng.randint(10**15, 10**16 - 1)}"
        elif code == "HK":
            name = f"{rng.choice(HK_SURNAMES)} {rng.choice(HK_GIVEN)}"
            id_type, id_no = "other", f"HKID-{rng.choice('ACDEGKPRZ')}{rng.randint(100000, 999999)}"
        else:
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
            id_type = "resident_id"
            id_no = (
                f"{rng.randint(110000, 659999)}{rng.randint(1960, 2004)}{rng.randint(1, 12):02d}"
                f"{rng.randint(1, 28):02d}{rng.randint(1000, 9999)}"
            )
        return name, customer_create(kind=kind, name=name, id_type=id_type, id_no=id_no)

    # --------------------------------------------------------- activity ----

    def simulate(self) -> None:
        for offset in range(self.n_days):
            day = self.start + timedelta(days=offset)
            before = sum(self.posted.values())
            self.reversible = []
            if offset == 0:
                self.opening_recharges(day)
            self.ops_events(day, offset)
            events = []
            for kind, rate in RATES.items():
                mean = rate * self.n_members
                events += [kind] * max(1, int(mean) + (self.rng.random() < mean - int(mean)))
            self.rng.shuffle(events)
            for kind in events:
                getattr(self, f"event_{kind}")(day)
            self.corrections(day)
            # The day's pending work, due today: settlements, reviews, confirmations.
            for action in self.due.pop(day, []):
                action()
            if day.day in (10, 25) or (self.n_days < 10 and offset == self.n_days - 1):
                self.agreement_debits(day)
            if self.verbosity >= 2:
                self.out(f"  {day}: {sum(self.posted.values()) - before} postings")

    def person(self, book: Book | None = None) -> tuple[Book, str]:
        book = book or self.rng.choices(list(self.books.values()), weights=[0.85, 0.15])[0]
        return book, self.rng.choice(book.persons)

    def channel_serial(self, channel: Account, day: date) -> str:
        return f"{channel.name.split()[0][:4].upper()}{day:%Y%m%d}{self.rng.randint(10**9, 10**10 - 1)}"

    def recharge(self, day: date, book: Book, cash: str, cents: int, memo: str = "") -> Posting | None:
        channel = self.rng.choice(book.channels)
        return self.by_rule(
            "recharge",
            day,
            "cashier",
            {
                "member_account": cash,
                "channel_account": channel.account_no,
                "amount": cents_str(cents),
                "channel_serial_no": self.channel_serial(channel, day),
            },
            memo or f"recharge via {channel.name}",
        )

    def opening_recharges(self, day: date) -> None:
        for book in self.books.values():
            for cash in book.persons:
                self.recharge(
                    day, book, cash, self.amount(200, self.rng.choice([2000, 5000, 20000])), "first recharge (首充)"
                )

    def event_recharge(self, day: date) -> None:
        book, cash = self.person()
        self.recharge(day, book, cash, self.amount(50, self.rng.choice([500, 2000, 8000])))

    def event_transfer(self, day: date) -> None:
        book, payer = self.person()
        payee = self.rng.choice([p for p in book.persons + book.merchants if p != payer])
        available = self.available(payer)
        if self.rng.random() < 0.05 or available < 100:
            cents = self.amount(100, 5000)  # more than there is, now and then: the ledger says no
        else:
            cents = self.rng.randint(100, max(100, int(available * 0.6)))
        posting = self.by_rule(
            "transfer",
            day,
            "wallet",
            {
                "payer_account": payer,
                "payee_account": payee,
                "amount": cents_str(cents),
            },
            "transfer to a friend (转账)" if payee in book.persons else "pay a merchant (付款)",
        )
        if posting is None:
            return
        self.reversible.append(posting.serial_no)
        if cents >= 200000:
            fee = max(100, cents // 1000)
            self.by_rule(
                "fee",
                day,
                "wallet",
                {"member_account": payer, "amount": cents_str(fee)},
                f"large transfer fee 0.1% on posting {posting.serial_no}",
            )

    def event_credit_purchase(self, day: date) -> None:
        book, cash = self.person()
        if cash not in book.credit_of:
            return
        merchant = self.rng.choice(book.merchants)
        self.by_rule(
            "credit_purchase",
            day,
            "credit",
            {
                "credit_account": book.credit_of[cash],
                "merchant_account": merchant,
                "amount": cents_str(self.amount(20, self.rng.choice([300, 1500, 6000]))),
            },
            "buy now, pay later (信用消费)",
        )

    def event_credit_repayment(self, day: date) -> None:
        book, cash = self.person()
        credit = book.credit_of.get(cash)
        if credit is None:
            return
        owed, available = to_cents(self.balance[credit]), self.available(cash)
        if owed <= 0 or available <= 0:
            return
        cents = min(owed, available) if self.rng.random() < 0.5 else self.rng.randint(1, min(owed, available))
        self.by_rule(
            "credit_repayment",
            day,
            "credit",
            {
                "cash_account": cash,
                "credit_account": credit,
                "amount": cents_str(cents),
            },
            "repayment (还款)",
        )

    def agreement_debits(self, day: date) -> None:
        """Statement day: automatic repayment under the signed agreement (代扣),
        signed with the lender (``credit``) the first time it is needed."""
        for book in self.books.values():
            for cash, credit in book.credit_of.items():
                owed, available = to_cents(self.balance[credit]), self.available(cash)
                if owed <= 0 or available <= 0 or self.rng.random() < 0.4:
                    continue
                agreement_id = self.agreement_of(cash, credit, day)
                if agreement_id is None:
                    continue
                debit = dict(
                    agreement_id=agreement_id,
                    amount=cents_str(min(owed, available)),
                    purpose="credit_repayment",
                    request_no=self.request_no("agreement_debit", day),
                    actor="demo:credit",
                    source_system="credit",
                    accounting_date=day,
                )
                attempt = self.attempt(lambda debit=debit: agreement_debit(**debit))
                self.track(attempt.posting if attempt is not None else None, "agreement_debit")

    def credit_bills(self) -> None:
        """The credit product of the main entity, billing on the open day, so
        each line used in the seeded days before it gets an issued bill (its
        period through yesterday, cut: before the open day) due in
        ``due_days``; a few of them under a repayment agreement that takes
        the bill (or its minimum) on the due date."""
        book = self.books["MAIN"]
        billing_date = calendar_for(entity=book.entity).open_date
        if billing_date - timedelta(days=1) < self.start:
            return  # a one-day demo: nothing before the open day to bill
        for code, name in (
            ("INTEREST_INCOME", "Interest income (利息收入)"),
            ("PENALTY_INCOME", "Penalty income (罚息收入)"),
        ):
            self.single_internal(book, code, name)
        product = CreditProduct.objects.filter(entity=book.entity, currency=book.currency).first()
        if product is None:
            product = CreditProduct.objects.create(
                entity=book.entity, currency=book.currency, billing_day=billing_date.day, due_days=9
            )
        bills = bills_issue_due(issued_by="demo:credit")
        for i, bill in enumerate(b for b in bills if b.amount_due > 0 and b.account.account_no in self.book_of):
            if i >= 3:
                break
            cash = next((c for c, line in book.credit_of.items() if line == bill.account.account_no), None)
            if cash is not None and (cash, bill.account.account_no) not in self.agreements:
                self.agreement_of(cash, bill.account.account_no, billing_date, repay="minimum" if i % 2 else "full")
        self.out(f"Credit: {len(bills)} bills issued on {billing_date}, due {billing_date + timedelta(days=9)}.")

    def agreement_of(self, cash: str, credit: str, day: date, repay: str | None = None) -> int | None:
        if (cash, credit) not in self.agreements:
            agreement = self.attempt(
                lambda: agreement_sign(
                    agreement_no=f"{self.prefix}-AG-{cash}",
                    payer_account_no=cash,
                    payee_account_no=credit,
                    purpose="credit_repayment",
                    # Room for the line's limit raised (ops events double it) and two statement days a month.
                    max_per_debit=cents_str(4 * to_cents(self.limit[credit])),
                    max_per_period=cents_str(8 * to_cents(self.limit[credit])),
                    request_no=self.request_no("agreement_sign", day),
                    actor="demo:credit",
                    source_system="credit",
                    valid_from=self.start,
                    repay=repay,
                )
            )
            if agreement is None:
                return None
            self.agreements[cash, credit] = agreement.pk
        return self.agreements[cash, credit]

    def event_coupon(self, day: date) -> None:
        _, cash = self.person()
        yuan, label = self.rng.choice(COUPONS)
        self.by_rule("coupon", day, "marketing", {"member_account": cash, "amount": cents_str(yuan * 100)}, label)

    def event_fee(self, day: date) -> None:
        _, cash = self.person()
        self.by_rule(
            "fee",
            day,
            "wallet",
            {"member_account": cash, "amount": "3.00"},
            "SMS notification service fee (短信服务费)",
        )

    def event_guarantee(self, day: date) -> None:
        """Escrow purchase (担保交易): freeze the buyer's money, then settle or release."""
        book, buyer = self.person()
        merchant = self.rng.choice(book.merchants)
        available = self.available(buyer)
        cents = (
            self.amount(10, 3000)
            if self.rng.random() < 0.1 or available < 1000
            else self.rng.randint(1000, max(1000, int(available * 0.7)))
        )
        # Unshipped orders are released automatically after 15 days (the hold-expiry job).
        expires = timezone.make_aware(datetime.combine(day + timedelta(days=15), datetime.min.time()))
        # The seed books past days at today's clock, and a settle or release
        # past a hold's expiry is refused (hold_expired): an order whose 15
        # days are over by now was settled or released in time, so its hold
        # gets no expiry rather than one that would refuse that settlement.
        if expires <= timezone.now():
            expires = None
        hold = self.place_hold(buyer, cents, "escrow purchase (担保交易)", "mall", day, expires)
        if hold is None:
            return
        settle_on = day + timedelta(days=self.rng.choice([0, 0, 1, 1, 2, 3]))
        roll = self.rng.random()
        if roll < 0.12:
            self.due[settle_on].append(lambda: self.guarantee_cancel(hold, settle_on))
        elif roll < 0.25:
            self.due[settle_on].append(lambda: self.guarantee_capture(hold, merchant, cents, settle_on))
        else:
            self.due[settle_on].append(lambda: self.guarantee_pay(hold, book, merchant, cents, settle_on))

    def guarantee_cancel(self, hold: Hold, day: date) -> None:
        if self.release_hold(hold, day) is not None:
            self.hold_outcomes["guarantee released (order cancelled)"] += 1

    def guarantee_capture(self, hold: Hold, merchant: str, cents: int, day: date) -> None:
        """A deposit (押金): capture part straight to the merchant, release the rest."""
        part = max(1, cents * self.rng.choice([100, 80, 50]) // 100)
        if (
            self.settle_hold(
                hold,
                part,
                "guarantee_settlement",
                day,
                counter_account_no=merchant,
                memo="deposit captured by the merchant (扣除押金)",
            )
            is None
        ):
            return
        self.hold_outcomes["deposit captured to merchant"] += 1
        if part < cents and self.release_hold(hold, day) is not None:
            self.hold_outcomes["deposit remainder released"] += 1

    def guarantee_pay(self, hold: Hold, book: Book, merchant: str, cents: int, day: date) -> None:
        """The buyer pays the order: the hold is released and the money goes
        into escrow as a guarantee order (担保交易) with its own balance."""
        buyer = hold.account.account_no
        if self.release_hold(hold, day) is None:
            return
        request_no = self.request_no("order", day)
        order = self.attempt(
            lambda: order_open(
                order_no=request_no,
                buyer_account_no=buyer,
                merchant_account_no=merchant,
                amount=cents_str(cents),
                commission=cents_str(cents // 100),
                request_no=request_no,
                created_by="demo:mall",
                source_system="mall",
                accounting_date=day,
            )
        )
        if order is None:
            return
        self.track(order.pay_posting, "guarantee_settlement")
        self.hold_outcomes["guarantee order paid into escrow"] += 1
        when = day + timedelta(days=self.rng.choice([1, 2, 3, 5]))
        if self.rng.random() < 0.1:
            self.due[when].append(lambda: self.escrow_refund(order, when))
        else:
            self.due[when].append(lambda: self.escrow_release(order, when))

    def escrow_release(self, order: GuaranteeOrder, day: date) -> None:
        """The buyer confirms receipt (确认收货): escrow to the merchant, 1 % commission."""
        event = self.attempt(
            lambda: order_confirm(
                order_id=order.pk,
                request_no=self.request_no("confirm", day),
                actor="demo:mall",
                source_system="mall",
                accounting_date=day,
            )
        )
        if event is not None:
            self.track(event.posting, "guarantee_settlement")

    def escrow_refund(self, order: GuaranteeOrder, day: date) -> None:
        """A dispute won by the buyer: everything in escrow back (退款)."""
        event = self.attempt(
            lambda: order_refund(
                order_id=order.pk,
                amount=GuaranteeOrder.objects.get(pk=order.pk).balance,
                reason="dispute won by the buyer",
                request_no=self.request_no("refund", day),
                actor="demo:mall",
                source_system="mall",
                accounting_date=day,
            )
        )
        if event is not None:
            self.track(event.posting, "refund")

    def event_withdrawal(self, day: date) -> None:
        """Withdrawal (提现): freeze amount + fee, review, pay out, settle with three legs."""
        book = self.rng.choices(list(self.books.values()), weights=[0.85, 0.15])[0]
        pool = book.merchants if self.rng.random() < 0.3 else book.persons
        cash = self.rng.choice(pool)
        available = self.available(cash)
        if available < 1000:
            return
        cents = self.rng.randint(500, max(500, int(available * 0.8)))
        fee = 0 if cents < 100000 and self.rng.random() < 0.5 else max(100, cents // 1000)
        channel = self.rng.choice(book.channels)
        if self.rng.random() < 0.2:
            # Instant payout: the real-time withdrawal rule, no hold.
            self.by_rule(
                "withdrawal",
                day,
                "payout",
                {
                    "member_account": cash,
                    "channel_account": channel.account_no,
                    "amount": cents_str(cents),
                    "fee": cents_str(fee),
                    "channel_serial_no": self.channel_serial(channel, day),
                },
                f"instant withdrawal via {channel.name}",
            )
            return
        hold = self.place_hold(cash, cents + fee, "withdrawal request (提现申请)", "payout", day)
        if hold is None:
            return
        when = day + timedelta(days=self.rng.choice([0, 0, 0, 1]))
        if self.rng.random() < 0.08:
            self.due[when].append(lambda: self.withdrawal_reject(hold, when))
        else:
            self.due[when].append(lambda: self.withdrawal_pay(hold, book, channel, cents, fee, when))

    def withdrawal_reject(self, hold: Hold, day: date) -> None:
        if self.release_hold(hold, day) is not None:
            self.hold_outcomes["withdrawal rejected in review (released)"] += 1

    def withdrawal_pay(self, hold: Hold, book: Book, channel: Account, cents: int, fee: int, day: date) -> None:
        legs = [Leg.credit(channel.account_no, cents_str(cents))]
        if fee:
            legs.append(Leg.credit(book.fee_income.account_no, cents_str(fee)))
        posting = self.settle_hold(
            hold,
            cents + fee,
            "withdrawal",
            day,
            counter_legs=legs,
            memo=f"payout via {channel.name} (付款成功)",
            external_ref=self.channel_serial(channel, day),
        )
        if posting is None:
            return
        self.hold_outcomes["withdrawal paid out (settled)"] += 1
        if self.rng.random() < 0.03:
            # The bank returns the payment days later (退票): reverse the settlement.
            when = day + timedelta(days=2)
            self.due[when].append(
                lambda: self.reverse(posting.serial_no, when, "bank returned the payout (退票): wrong beneficiary name")
            )

    def ops_events(self, day: date, offset: int) -> None:
        """Operations: provision moves between banks, risk blocks, credit line reviews."""
        main = self.books["MAIN"]
        if offset % 7 == 3 and len(main.channels) > 1:
            cents = self.rng.randint(50, 200) * 1000_00
            self.by_legs(
                "adjustment",
                day,
                "ops",
                [
                    Leg.debit(main.channels[1].account_no, cents_str(cents)),
                    Leg.credit(main.channels[0].account_no, cents_str(cents)),
                ],
                f"provision transfer {main.channels[0].name} → {main.channels[1].name} (头寸调拨)",
            )
        if offset == self.n_days // 2 and self.n_days >= 3:
            self.blocked_cash = self.rng.choice(main.persons)
            self.set_status(
                self.blocked_cash, AccountStatus.DEBIT_BLOCKED, "risk control: suspected account takeover (风控止付)"
            )
        if offset == self.n_days // 2 + 3 and self.blocked_cash:
            self.set_status(self.blocked_cash, AccountStatus.ACTIVE, "risk review cleared (解除止付)")
        if offset % 10 == 5:
            for credit in self.rng.sample(list(main.credit_of.values()), k=min(2, len(main.credit_of))):
                new_limit = self.limit[credit] * 2
                change = self.attempt(
                    lambda credit=credit, new_limit=new_limit: account_set_credit_limit(
                        account=Account.objects.get(account_no=credit),
                        credit_limit=new_limit,
                        reason="periodic credit review (提额)",
                        actor="demo:credit-ops",
                    )
                )
                if change is not None:
                    self.limit[credit] = change.new_limit

    def set_status(self, account_no: str, status: str, reason: str) -> None:
        self.attempt(
            lambda: account_change_status(
                account=Account.objects.get(account_no=account_no), to_status=status, reason=reason, actor="demo:risk"
            )
        )

    def corrections(self, day: date) -> None:
        """Reversals (冲正): a recharge booked with the wrong amount is reversed
        and booked again (红冲蓝补); now and then a disputed transfer is reversed."""
        for _ in range(max(1, self.n_members // 100)):
            book, cash = self.person()
            cents = self.amount(10, 500)
            wrong = self.recharge(day, book, cash, cents * 10, "recharge keyed with an extra zero")
            if wrong is not None and self.reverse(wrong.serial_no, day, "wrong amount, reversed (红冲)"):
                self.recharge(day, book, cash, cents, f"correct amount after reversal of posting {wrong.serial_no}")
        if self.reversible and self.rng.random() < 0.3:
            # The payee may have spent it already; then the ledger refuses and ops must ask for it back.
            self.reverse(self.rng.choice(self.reversible), day, "transfer disputed, reversed by operations")


class Command(BaseCommand):
    help = "Seed a demo ledger (two entities, members, a month of postings) through the services."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=200, help="Number of demo members (default 200).")
        parser.add_argument("--days", type=int, default=30, help="Days of activity ending today (default 30).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed; the same seed gives the same demo.")
        parser.add_argument("--force", action="store_true", help="Add another demo run to a non-empty ledger.")

    def handle(self, *args, members: int, days: int, seed: int, force: bool, verbosity: int, **options):
        if members < 10:
            raise CommandError("--members must be at least 10.")
        if days < 1:
            raise CommandError("--days must be at least 1.")
        install_defaults()  # the chart and rules, in case a test truncated them
        existing, postings = demo_member_count(), Posting.objects.count()
        if (existing or postings) and not force:
            raise CommandError(
                f"The ledger is not empty ({existing} demo members, {postings} postings); "
                "seed_demo runs once. Use --force to add another demo run."
            )
        run = next_run_number()
        started = time.monotonic()
        seeder = Seeder(members=members, days=days, seed=seed, run=run, out=self.stdout.write, verbosity=verbosity)
        # Each service call commits on its own, as in production, so the
        # deferred balance triggers check every posting.
        seeder.setup()
        seeder.simulate()
        seeder.credit_bills()
        elapsed = time.monotonic() - started
        self.summary(seeder, run=run, seed=seed, elapsed=elapsed)

    def summary(self, seeder: Seeder, *, run: int, seed: int, elapsed: float) -> None:
        w = self.stdout.write
        demo_members = Member.objects.filter(member_no__startswith=f"{DEMO_PREFIX}{run:02d}")
        w(
            self.style.SUCCESS(
                f"Demo run {run} seeded in {elapsed:.1f} s (seed {seed}, {seeder.n_days} days "
                f"{seeder.start} .. {seeder.today})."
            )
        )
        w("Entities: " + ", ".join(f"{b.entity.code} · {b.entity.name} ({b.currency})" for b in seeder.books.values()))
        kinds = Counter(demo_members.values_list("customer__kind", flat=True))
        customers = demo_members.values("customer").distinct().count()
        w(
            f"Members: {demo_members.count()} ({kinds.get('person', 0)} persons, {kinds.get('company', 0)} merchants) "
            f"of {customers} customers"
        )
        by_type = dict(Account.objects.values_list("account_type__code").annotate(n=Count("id")))
        w("Accounts: " + ", ".join(f"{code} {by_type.get(code, 0)}" for code in self.chart_order()))
        w("Postings of this run by business type:")
        for business_type, n in sorted(seeder.posted.items(), key=lambda kv: -kv[1]):
            w(f"  {business_type:<22}{n:>7,}")
        w(f"  {'total':<22}{sum(seeder.posted.values()):>7,}")
        w("Holds: " + ", ".join(f"{k} {v}" for k, v in sorted(seeder.hold_outcomes.items())))
        active = Hold.objects.filter(status__in=["held", "partially_settled"]).count()
        w(f"  still frozen (pending review or payout): {active}")
        refused = ", ".join(f"{code} {n}" for code, n in seeder.refused.most_common()) or "none"
        w(f"Requests the ledger refused (domain errors, counted): {refused}")
        w("Identity sum(asset) = sum(liability) + sum(internal), per entity and currency:")
        broken = []
        for row in identity_totals():
            mark = "ok" if row.holds else f"BROKEN by {row.difference}"
            w(
                f"  {row.entity:<5} {row.currency}  asset {row.asset:,.2f} = liability {row.liability:,.2f} "
                f"+ internal {row.internal:,.2f}  {mark}"
            )
            if not row.holds:
                broken.append(row)
        if broken:
            raise CommandError(f"The balance identity does not hold for {len(broken)} entity/currency rows.")

    @staticmethod
    def chart_order() -> list[str]:
        from accounts.chart import DEFAULT_ACCOUNT_TYPES

        return [code for code, *_ in DEFAULT_ACCOUNT_TYPES]
