"""The credit product's endpoints (issue 21): a member's credit line now
(what it owes, the current bill's amount and minimum due, the due date),
its bills and a bill's detail, a repayment allocated to what is owed, and
the limit raised or lowered. Kept beside views.py so the agreements' API
(§1) and this one grow apart."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.kernel.money import ZERO
from accounts.selectors import account_get
from accounts.services import account_set_credit_limit
from postings.credit import selectors as credit
from postings.credit.documents import bill_filename, bill_pdf
from postings.credit.exceptions import NoCreditProduct, UnknownBill
from postings.credit.models import Bill
from postings.credit.services import bill_repay

from .errors import error_responses
from .selectors import BIGINT_MAX
from .serializers import (
    AmountField,
    AmountOut,
    DirectionField,
    PostingOut,
    StrictCharField,
    account_no_field,
    request_no_field,
)
from .views import (
    ACCOUNT_NO_PARAMETER,
    ADMIN,
    ANY_CALL_ERRORS,
    BODY_ERRORS,
    POST,
    READ,
    LedgerView,
    _path_id,
    pdf_response,
    posting_payload,
)

STATUSES = list(credit.BillStatus.LABELS)

# ---------------------------------------------------------- serializers ----


class OwedOut(serializers.Serializer):
    currency = serializers.CharField()
    principal = AmountOut()
    interest = AmountOut()
    penalty = AmountOut()
    total = AmountOut(help_text="principal + interest + penalty: the line's balance.")


class BillOut(serializers.Serializer):
    bill_id = serializers.IntegerField()
    account_no = serializers.CharField()
    member_no = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    billing_date = serializers.DateField(help_text="账单日: the day it was due to be issued.")
    due_date = serializers.DateField(help_text="还款日.")
    opening = AmountOut()
    purchases = AmountOut()
    repayments = AmountOut()
    refunds = AmountOut()
    interest = AmountOut()
    penalties = AmountOut()
    other_debits = AmountOut()
    other_credits = AmountOut()
    amount_due = AmountOut(help_text="应还金额: the closing, what the line owed at the period's end.")
    minimum_due = AmountOut(help_text="最低还款额.")
    product_version = serializers.IntegerField()
    issued_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=STATUSES, help_text="As of `as_of`: not_due, paid, minimum_paid, overdue.")
    as_of = serializers.DateField(help_text="The open accounting day the status is read on.")
    amount_due_left = AmountOut(help_text="The amount due less every credit dated after the period.")
    minimum_due_left = AmountOut()
    days_overdue = serializers.IntegerField(help_text="Days after the due date, while the minimum is not paid.")


class BillMovementOut(serializers.Serializer):
    account_seq = serializers.IntegerField()
    posting_serial_no = serializers.IntegerField()
    accounting_date = serializers.DateField()
    business_type = serializers.CharField()
    direction = DirectionField()
    currency = serializers.CharField()
    amount = AmountOut()


class AccrualOut(serializers.Serializer):
    accrual_date = serializers.DateField(help_text="The day it accrues for (计息日).")
    kind = serializers.ChoiceField(choices=["interest", "penalty"])
    currency = serializers.CharField()
    base = AmountOut(help_text="Overdue principal (interest) or overdue minimum (penalty) at the day's start.")
    rate = serializers.CharField(help_text="The daily rate, e.g. 0.0005.")
    amount = AmountOut(help_text="base x rate, rounded half-up to the cent.")
    posting_serial_no = serializers.IntegerField()
    accounting_date = serializers.DateField(help_text="The posting's accounting date: the bill it is on.")


class AllocationOut(serializers.Serializer):
    posting_serial_no = serializers.IntegerField()
    accounting_date = serializers.DateField()
    kind = serializers.ChoiceField(choices=["repayment", "refund", "other"])
    currency = serializers.CharField()
    amount = AmountOut()
    penalty = AmountOut()
    interest = AmountOut()
    principal = AmountOut()
    allocation_order = serializers.CharField()
    bill_id = serializers.IntegerField(allow_null=True, help_text="The latest bill issued before it.")


class BillDetailOut(BillOut):
    movements = BillMovementOut(many=True, help_text="The line's entries of the period, in chain order.")
    accruals = AccrualOut(many=True, help_text="Each day's interest and penalty booked in the period.")
    paid_by = AllocationOut(many=True, help_text="The credits dated after the period, which pay towards it.")


class BillPageOut(serializers.Serializer):
    results = BillOut(many=True)


class CreditOut(serializers.Serializer):
    account_no = serializers.CharField()
    currency = serializers.CharField()
    as_of = serializers.DateField()
    credit_limit = AmountOut()
    used = AmountOut(help_text="Balance + frozen.")
    available = AmountOut(help_text="Limit - used; negative when the limit was lowered below what is used.")
    over_limit = serializers.BooleanField(help_text="No new purchase until repayments bring the use under the limit.")
    owed = OwedOut(help_text="The current amount owed (当前欠款), by bucket.")
    bill = BillOut(allow_null=True, help_text="The current (latest) bill; null before the first.")
    amount_due = AmountOut(help_text="What the current bill still asks for (0 without a bill).")
    minimum_due = AmountOut(help_text="What is left of the current bill's minimum (0 without a bill).")
    due_date = serializers.DateField(allow_null=True)
    days_overdue = serializers.IntegerField()


class CreditLimitIn(serializers.Serializer):
    credit_limit = AmountField(allow_zero=True, help_text="The new limit; below what is used is allowed.")
    reason = StrictCharField(min_length=1, max_length=255, trim_whitespace=True)


class LimitChangeOut(serializers.Serializer):
    currency = serializers.CharField()
    old_limit = AmountOut()
    new_limit = AmountOut()
    used = AmountOut()
    reason = serializers.CharField()
    changed_by = serializers.CharField()
    changed_at = serializers.DateTimeField()


class CreditLimitOut(serializers.Serializer):
    account_no = serializers.CharField()
    currency = serializers.CharField()
    credit_limit = AmountOut()
    used = AmountOut()
    available = AmountOut()
    over_limit = serializers.BooleanField()
    change = LimitChangeOut(allow_null=True, help_text="The history row written; null: the limit already was that.")


class RepaymentIn(serializers.Serializer):
    request_no = request_no_field()
    cash_account_no = account_no_field(min_length=1, help_text="The member's cash account the repayment is taken from.")
    amount = AmountField()
    memo = StrictCharField(max_length=255, required=False, default="", allow_blank=True)


class RepaymentOut(serializers.Serializer):
    posting = PostingOut()
    allocation = AllocationOut()


# ------------------------------------------------------------- payloads ----


def bill_payload(bill: Bill, position: credit.BillPosition) -> dict:
    currency = bill.currency
    return {
        "bill_id": bill.pk,
        "account_no": bill.account.account_no,
        "member_no": bill.account.member.member_no if bill.account.member_id else None,
        "currency": currency,
        **{
            name: getattr(bill, name)
            for name in (
                "period_start",
                "period_end",
                "billing_date",
                "due_date",
                "opening",
                *credit.SUM_NAMES,
                "amount_due",
                "minimum_due",
                "product_version",
                "issued_at",
            )
        },
        "status": position.status,
        "as_of": position.as_of,
        "amount_due_left": position.amount_due_left,
        "minimum_due_left": position.minimum_due_left,
        "days_overdue": position.days_overdue,
    }


def allocation_payload(a) -> dict:
    return {
        "posting_serial_no": a.posting_id,
        "accounting_date": a.accounting_date,
        "kind": a.kind,
        "currency": a.account.currency,
        "amount": a.amount,
        "penalty": a.penalty,
        "interest": a.interest,
        "principal": a.principal,
        "allocation_order": a.allocation_order,
        "bill_id": a.bill_id,
    }


def _credit_line(account_no: str):
    account = account_get(account_no=account_no)
    product = credit.product_for(account)
    if product is None:
        raise NoCreditProduct(
            f"Account {account.account_no} is not a credit line billed under a credit product.",
            account_no=account.account_no,
        )
    return account, product


# ---------------------------------------------------------------- views ----

TAGS = ["credit lines and bills"]


class CreditView(LedgerView):
    scopes = {"GET": (READ,)}

    @extend_schema(
        operation_id="credit_get",
        tags=TAGS,
        parameters=[ACCOUNT_NO_PARAMETER],
        responses={200: CreditOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A member's credit line now: amount owed, the current bill's amount and minimum due, due date",
        description="404 `no_credit_product` for an account that is not a credit line under a credit product.",
    )
    def get(self, request, account_no: str):
        account, _ = _credit_line(account_no)
        summary = credit.credit_summary(account)
        position = summary.position
        owed = summary.owed
        return Response(
            CreditOut(
                {
                    "account_no": account.account_no,
                    "currency": account.currency,
                    "as_of": summary.as_of,
                    "credit_limit": account.credit_limit,
                    "used": account.balance + account.frozen,
                    "available": account.available,
                    "over_limit": summary.over_limit,
                    "owed": {
                        "currency": account.currency,
                        "principal": owed.principal,
                        "interest": owed.interest,
                        "penalty": owed.penalty,
                        "total": owed.total,
                    },
                    "bill": bill_payload(summary.bill, position) if summary.bill else None,
                    "amount_due": position.amount_due_left if position else ZERO,
                    "minimum_due": position.minimum_due_left if position else ZERO,
                    "due_date": summary.bill.due_date if summary.bill else None,
                    "days_overdue": summary.days_overdue,
                }
            ).data
        )


class CreditLimitView(LedgerView):
    scopes = {"POST": (ADMIN,)}

    @extend_schema(
        operation_id="credit_limit_set",
        tags=TAGS,
        parameters=[ACCOUNT_NO_PARAMETER],
        request=CreditLimitIn,
        responses={200: CreditLimitOut, **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 422)},
        summary="Raise or lower a credit line's limit (授信额度调整)",
        description="Lowering it below what is used is allowed: the line then takes no new purchase or hold "
        "(422 insufficient_funds) until repayments bring the use under it; repayments and accrued interest go on. "
        "Each change writes a history row (old, new, used, who, why) and an account.limit_changed event; the "
        "limit it already has changes nothing (change: null). 400 validation_error for an account that is not "
        "an asset (credit) account; 422 account_closed for a closed one.",
    )
    def post(self, request, account_no: str):
        data = self.validated(CreditLimitIn)
        account = account_get(account_no=account_no)
        change = account_set_credit_limit(
            account=account, credit_limit=data["credit_limit"], reason=data["reason"], actor=self.actor
        )
        if change is None:
            self.outcome = "unchanged"
        account.refresh_from_db()
        payload = {
            "account_no": account.account_no,
            "currency": account.currency,
            "credit_limit": account.credit_limit,
            "used": account.balance + account.frozen,
            "available": account.available,
            "over_limit": account.available < 0,
            "change": None
            if change is None
            else {
                "currency": account.currency,
                "old_limit": change.old_limit,
                "new_limit": change.new_limit,
                "used": change.used,
                "reason": change.reason,
                "changed_by": change.changed_by,
                "changed_at": change.created_at,
            },
        }
        return Response(CreditLimitOut(payload).data)


LIMIT_PARAMETER = OpenApiParameter(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": 120, "default": 24},
    OpenApiParameter.QUERY,
    description="How many bills, newest first.",
)


class BillsQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=120, default=24, required=False)


class AccountBillsView(LedgerView):
    scopes = {"GET": (READ,)}
    query_parameters = frozenset({"limit"})

    @extend_schema(
        operation_id="account_bills",
        tags=TAGS,
        parameters=[ACCOUNT_NO_PARAMETER, LIMIT_PARAMETER],
        responses={200: BillPageOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A credit line's bills (账单), newest first, each with what it still asks for",
    )
    def get(self, request, account_no: str):
        limit = self.query(BillsQuery)["limit"]
        account, product = _credit_line(account_no)
        rows = credit.bills().filter(account=account)[:limit]
        return Response(
            BillPageOut({"results": [bill_payload(b, credit.bill_position(b, product=product)) for b in rows]}).data
        )


class BillDetailView(LedgerView):
    scopes = {"GET": (READ,)}

    @extend_schema(
        operation_id="bill_get",
        tags=TAGS,
        parameters=[_path_id("bill_id", "The bill's id.")],
        responses={200: BillDetailOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A bill with its movements, the accruals of its period and the credits that paid towards it",
    )
    def get(self, request, bill_id: int):
        bill = credit.bills().filter(pk=bill_id).first() if 0 < bill_id <= BIGINT_MAX else None
        if bill is None:
            raise UnknownBill(f"No bill {bill_id}.", bill_id=bill_id)
        currency = bill.currency
        payload = bill_payload(bill, credit.bill_position(bill))
        payload["movements"] = [
            {
                "account_seq": e.account_seq,
                "posting_serial_no": e.posting_id,
                "accounting_date": e.accounting_date,
                "business_type": e.business_type,
                "direction": e.direction,
                "currency": currency,
                "amount": e.amount,
            }
            for e in credit.bill_entries(bill)
        ]
        payload["accruals"] = [
            {
                "accrual_date": a.accrual_date,
                "kind": a.kind,
                "currency": currency,
                "base": a.base,
                "rate": f"{a.rate.normalize():f}",
                "amount": a.amount,
                "posting_serial_no": a.posting_id,
                "accounting_date": a.posting.accounting_date,
            }
            for a in credit.bill_accruals(bill)
        ]
        payload["paid_by"] = [allocation_payload(a) for a in credit.repayments_after(bill).select_related("account")]
        return Response(BillDetailOut(payload).data)


class BillPdfView(LedgerView):
    scopes = {"GET": (READ,)}

    @extend_schema(
        operation_id="bill_pdf",
        tags=TAGS,
        parameters=[_path_id("bill_id", "The bill's id.")],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The bill as the member reads it: header, period, summary, movements, totals, due date.",
            ),
            **error_responses(*ANY_CALL_ERRORS, 404),
        },
        summary="A bill (账单) as PDF",
    )
    def get(self, request, bill_id: int):
        bill = credit.bills().filter(pk=bill_id).first() if 0 < bill_id <= BIGINT_MAX else None
        if bill is None:
            raise UnknownBill(f"No bill {bill_id}.", bill_id=bill_id)
        return pdf_response(bill_pdf(bill=bill), bill_filename(bill))


class RepaymentsView(LedgerView):
    scopes = {"POST": (POST,)}

    @extend_schema(
        operation_id="credit_repay",
        tags=TAGS,
        parameters=[ACCOUNT_NO_PARAMETER],
        request=RepaymentIn,
        responses={
            201: RepaymentOut,
            200: OpenApiResponse(RepaymentOut, description="A replay: the first repayment and its allocation."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422),
        },
        summary="Repay a credit line from a cash account (还款), allocated to penalty, interest, principal",
        description="The product's allocation order (penalty, interest, then principal by default) splits the "
        "amount; the split is recorded with the repayment and answered. More than the line owes is 422 "
        "insufficient_funds. 404 `no_credit_product` for an account that is not a credit line under a product.",
    )
    def post(self, request, account_no: str):
        data = self.validated(RepaymentIn)
        repayment = bill_repay(
            credit_account_no=account_no,
            cash_account_no=data["cash_account_no"],
            amount=data["amount"],
            request_no=data["request_no"],
            posted_by=self.actor,
            source_system=self.client.source_system,
            memo=data["memo"],
        )
        allocation = repayment.allocation
        allocation.account = account_get(account_no=account_no)
        payload = {
            "posting": posting_payload(repayment.posting),  # already the API's shape
            "allocation": AllocationOut(allocation_payload(allocation)).data,
        }
        return self.written(payload, replayed=repayment.replayed)
