"""The ledger API's endpoints. Each view checks the key's scope, validates
the body's shape, calls one service (or selector) and shapes the answer;
every ledger rule lives in the services.

The calling client's source-system code is the ``source_system`` of what it
writes, so its request numbers are its own: the same number from two
clients is two requests. A replayed request (same number, same content) is
answered 200 with the original result, a first one 201; the same number
with other content is 409 ``idempotency_conflict``. Holds and postings of
another source system cannot be settled, released or reversed (403).
"""

from __future__ import annotations

import csv
import logging
import re
import time
from copy import copy
from datetime import date, timedelta
from decimal import Decimal

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.kernel.errors import LedgerValidationError
from accounts.kernel.metadata import KEY_PATTERN, MAX_KEYS, MAX_VALUE_CHARS, clean_metadata
from accounts.selectors import account_get
from accounts.services import account_change_status, account_open, account_open_once, member_register
from events import selectors as event_selectors
from events.services import event_message
from postings import services as posting_services
from postings.agreements import selectors as agreement_selectors
from postings.agreements.services import (
    agreement_debit,
    agreement_resume,
    agreement_revoke,
    agreement_sign,
    agreement_suspend,
)
from postings.documents import receipt_pdf, receipt_verify, statement_pdf
from postings.exceptions import DayClosed
from postings.models import RefundStatus
from postings.selectors import (
    balance_as_of,
    balance_before_day,
    current_accounting_date,
    monthly_statement_find,
    monthly_statements,
    postings_search,
    refunded_legs,
    statement_entries,
)
from postings.services import (
    Leg,
    hold_place,
    hold_release,
    hold_settle,
    order_confirm,
    order_dispute,
    order_open,
    order_refund,
    order_resolve,
    posting_create,
    posting_create_by_rule,
    posting_reverse,
    refund_create,
)
from reports.eod import selectors as report_selectors
from reports.settlement import selectors as settlement_selectors
from reports.settlement.exceptions import NoSettlementTerm
from withdrawals.services import withdrawal_request

from . import selectors
from .errors import error_responses
from .models import SOURCE_SYSTEM_PATTERN, ApiClient, ApiKey
from .pagination import (
    CURSOR_PARAMETER,
    PAGE_PARAMETER,
    EntryCursor,
    PostingCursor,
    SheetPages,
    page_size_parameter,
)
from .serializers import (
    DIRECTIONS,
    NO_NUL_PATTERN,
    AccountIn,
    AccountOut,
    AccountStatusIn,
    AgreementDebitIn,
    AgreementIn,
    AgreementOut,
    AgreementResumeIn,
    AgreementStepIn,
    BalanceAsOfOut,
    BalanceAsOfQuery,
    BalanceSheetPageOut,
    BalanceSheetQuery,
    BalanceSheetRowOut,
    BatchIn,
    BatchOut,
    ByRuleIn,
    DebitAttemptOut,
    EntriesQuery,
    EntryOut,
    EntryPageOut,
    EventPageOut,
    EventsQuery,
    HoldIn,
    HoldOut,
    MemberAccountsOut,
    MemberIn,
    MemberOut,
    MonthlyStatementListOut,
    OrderDisputeIn,
    OrderIn,
    OrderOut,
    OrderRefundIn,
    OrderResolveIn,
    OrderStepIn,
    PostingIn,
    PostingOut,
    PostingPageOut,
    PostingsQuery,
    ReceiptVerifyOut,
    ReceiptVerifyQuery,
    RefundIn,
    RefundOut,
    ReleaseIn,
    ReversalIn,
    SettleIn,
    SettlementOut,
    StatementLineOut,
    StatementOut,
    StatementQuery,
    WithdrawalIn,
    WithdrawalOut,
    money_text,
)
from .services import api_call_record

log = logging.getLogger(__name__)

READ, POST, HOLD, WITHDRAW, ADMIN = "read", "post", "hold", "withdraw", "admin"
# What any call may answer: its input, its key, its scope, its rate, a fault
# of the ledger; and what any call with a body may: too large, not JSON.
ANY_CALL_ERRORS = (400, 401, 403, 429, 500)
BODY_ERRORS = (413, 415)


class JsonAlways(DefaultContentNegotiation):
    """Answer JSON whatever the Accept header says: a server-to-server API has
    one representation, and a 406 would only hide the error the caller needs."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class LedgerView(APIView):
    # Scopes per method, the call log, and the helpers every endpoint uses.
    # (No docstring: drf-spectacular would print it under every endpoint.)

    content_negotiation_class = JsonAlways
    scopes: dict[str, tuple[str, ...]] = {}
    # The query parameters the endpoint takes; any other is refused (400),
    # so a mistyped filter never quietly returns everything.
    query_parameters: frozenset[str] = frozenset()
    outcome = "ok"
    request_no = ""

    @property
    def allowed_methods(self):
        return [m for m in super().allowed_methods if m != "OPTIONS"]

    def dispatch(self, request, *args, **kwargs):
        started = time.monotonic()
        response = super().dispatch(request, *args, **kwargs)
        try:
            self._log_call(request, response, started)
        except Exception:  # the log must never turn an answered call into a failure
            log.exception("Could not write the API call log.")
        return response

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        unknown = sorted(name for name in request.query_params if not self.query_parameter_allowed(request, name))
        if unknown:
            raise exceptions.ValidationError({name or "(empty name)": "Unknown query parameter." for name in unknown})

    def query_parameter_allowed(self, request, name: str) -> bool:
        return name in self.query_parameters

    def _log_call(self, request, response, started: float) -> None:
        key: ApiKey | None = getattr(request, "api_key", None)
        data = getattr(response, "data", None)
        outcome = self.outcome
        if response.status_code >= 400:
            outcome = data["error"]["code"] if isinstance(data, dict) and "error" in data else "error"
        api_call_record(
            client=key.client if key else None,
            key_prefix=key.prefix if key else getattr(request, "api_key_prefix", ""),
            method=request.method,
            endpoint=self.endpoint(request),
            path=request.path,
            request_no=self.request_no,
            status_code=response.status_code,
            outcome=outcome,
            latency_ms=int((time.monotonic() - started) * 1000),
            remote_addr=request.META.get("REMOTE_ADDR"),
        )

    def endpoint(self, request) -> str:
        """The route as the schema names it: /api/v1/accounts/{account_no}."""
        match = request.resolver_match
        route = match.route if match else ""
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
        route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        return "/" + route.replace("^", "").replace("$", "")

    # -- helpers --

    @property
    def client(self) -> ApiClient:
        return self.request.user

    @property
    def actor(self) -> str:
        """``posted_by`` / ``actor`` of what this call writes: the client and the key."""
        return f"api:{self.client.source_system}:lk_{self.request.auth.prefix}"

    def validated(self, serializer_class, data=None) -> dict:
        data = self.request.data if data is None else data
        if isinstance(data, dict) and isinstance(data.get("request_no"), str):
            self.request_no = data["request_no"]
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def query(self, serializer_class) -> dict:
        # A plain dict, not the QueryDict: DRF would read "?date=" as "no
        # date"; here an empty value is a value, and refused as one.
        serializer = serializer_class(data=dict(self.request.query_params.items()))
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def written(self, payload: dict, *, replayed: bool) -> Response:
        self.outcome = "replayed" if replayed else "created"
        return Response(payload, status=200 if replayed else 201)

    def own(self, source_system: str, what: str) -> None:
        """Only the source system that made a hold or posting may settle,
        release or reverse it."""
        if source_system != self.client.source_system:
            raise exceptions.PermissionDenied(
                f"The {what} belongs to source system {source_system!r}; only it may change it."
            )

    def visible(self, source_system: str, what: str) -> None:
        """``read`` sees everything; a client without it sees only its own."""
        if not self.client.has_scope(READ) and source_system != self.client.source_system:
            raise exceptions.NotFound(f"No {what} of source system {self.client.source_system!r} with that id.")


def posting_payload(posting) -> dict:
    """The posting as the API shows it, read back from the database, so a
    first answer and a replay are the same bytes."""
    return PostingOut(selectors.postings_with_entries(serial_nos=[posting.serial_no])[posting.serial_no]).data


def hold_payload(hold) -> dict:
    return HoldOut(selectors.hold_get(hold_id=hold.id)).data


def _legs(items) -> list[Leg]:
    return [Leg(leg["account_no"], DIRECTIONS[leg["direction"]], leg["amount"]) for leg in items]


_ID = {"type": "integer", "minimum": 1, "maximum": selectors.BIGINT_MAX}


def _path_id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, _ID, OpenApiParameter.PATH, description=what)


ACCOUNT_NO_PARAMETER = OpenApiParameter(
    "account_no",
    {"type": "string", "pattern": r"^[0-9A-Za-z_-]{1,32}$"},
    OpenApiParameter.PATH,
    description="Account number, e.g. 22410010000000427.",
)


# -------------------------------------------------------------- members ----


class MembersView(LedgerView):
    scopes = {"POST": (ADMIN,)}

    @extend_schema(
        operation_id="member_create",
        tags=["members and accounts"],
        request=MemberIn,
        responses={
            201: MemberOut,
            200: OpenApiResponse(MemberOut, description="The member existed with these details (a replay)."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 409),
        },
        summary="Register a member (会员) of a customer (客户)",
        description="The customer is identified by its ID document (id_type, id_no) and created on first use; "
        "the document under another customer name or kind is 409 customer_mismatch. "
        "member_no is the idempotency key: the same member again is 200, other details 409.",
    )
    def post(self, request):
        data = self.validated(MemberIn)
        self.request_no = data["member_no"]
        customer = data["customer"]
        member = member_register(
            member_no=data["member_no"],
            name=data["name"],
            platform=data["platform"],
            customer_kind=customer["kind"],
            customer_name=customer["name"],
            id_type=customer.get("id_type", ""),
            id_no=customer["id_no"],
        )
        return self.written(MemberOut(selectors.member_find(member_no=member.member_no)).data, replayed=member.replayed)


MEMBER_NO_PARAMETER = OpenApiParameter(
    "member_no",
    {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^[^\x00]{1,32}$"},
    OpenApiParameter.PATH,
    description="Member number (URL-encoded; it may contain '/').",
)


class MemberDetailView(LedgerView):
    scopes = {"GET": (READ,)}

    @extend_schema(
        operation_id="member_get",
        tags=["members and accounts"],
        parameters=[MEMBER_NO_PARAMETER],
        responses={200: MemberOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A member (会员) and its customer (客户)",
    )
    def get(self, request, member_no: str):
        return Response(MemberOut(selectors.member_get(member_no=member_no)).data)


class MemberAccountsView(LedgerView):
    scopes = {"GET": (READ,)}

    @extend_schema(
        operation_id="member_accounts",
        tags=["members and accounts"],
        parameters=[MEMBER_NO_PARAMETER],
        responses={200: MemberAccountsOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A member's accounts, each with balance, frozen and available",
    )
    def get(self, request, member_no: str):
        member = selectors.member_get(member_no=member_no)
        return Response(
            MemberAccountsOut(
                {"member_no": member.member_no, "accounts": selectors.member_accounts(member=member)}
            ).data
        )


# ------------------------------------------------------------- accounts ----


class AccountsView(LedgerView):
    scopes = {"POST": (ADMIN,)}

    @extend_schema(
        operation_id="account_open",
        tags=["members and accounts"],
        request=AccountIn,
        responses={
            201: AccountOut,
            200: OpenApiResponse(AccountOut, description="Replay of request_no."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422),
        },
        summary="Open an account (开户)",
        description="A member's account (cash, credit line) or, without member_no, an internal account (内部户). "
        "With request_no, a retry answers the account opened the first time.",
    )
    def post(self, request):
        data = self.validated(AccountIn)
        entity = selectors.entity_get(code=data["entity"])
        account_type = selectors.account_type_get(code=data["account_type"])
        member = selectors.member_get(member_no=data["member_no"]) if data.get("member_no") else None
        opening = dict(
            entity=entity,
            account_type=account_type,
            currency=data.get("currency") or None,
            member=member,
            name=data["name"],
            credit_limit=data.get("credit_limit", "0"),
        )
        request_no = data.get("request_no")
        if not request_no:
            return self.written(
                AccountOut(account_get(account_no=account_open(**opening).account_no)).data, replayed=False
            )
        opened = account_open_once(source_system=self.client.source_system, request_no=request_no, **opening)
        return self.written(AccountOut(account_get(account_no=opened.account_no)).data, replayed=opened.replayed)


class AccountDetailView(LedgerView):
    scopes = {"GET": (READ,)}

    @extend_schema(
        operation_id="account_get",
        tags=["members and accounts"],
        parameters=[ACCOUNT_NO_PARAMETER],
        responses={200: AccountOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="An account: balance, frozen, available (余额/冻结/可用)",
    )
    def get(self, request, account_no: str):
        return Response(AccountOut(account_get(account_no=account_no)).data)


class AccountSettlementView(LedgerView):
    scopes = {"GET": (READ,)}

    @extend_schema(
        operation_id="account_settlement_get",
        tags=["members and accounts"],
        parameters=[ACCOUNT_NO_PARAMETER],
        responses={200: SettlementOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A T+N merchant's available and pending settlement (可用/待结算), and when the pending falls due",
        description="404 `no_settlement_term` for an account that is not a merchant account settled T+N.",
    )
    def get(self, request, account_no: str):
        account = account_get(account_no=account_no)
        term = settlement_selectors.terms().filter(account=account).first()
        if term is None:
            raise NoSettlementTerm(f"Account {account.account_no} is not settled T+N.", account_no=account.account_no)
        position = settlement_selectors.merchant_position(term)
        currency = account.currency
        return Response(
            SettlementOut(
                {
                    "account_no": account.account_no,
                    "pending_account_no": term.pending_account.account_no,
                    "currency": currency,
                    "days": term.days,
                    "available": position.available,
                    "pending": position.pending,
                    "due_now": position.due_now,
                    "schedule": [
                        {
                            "accounting_date": d.accounting_date,
                            "due_on": d.due_on,
                            "amount": d.amount,
                            "currency": currency,
                        }
                        for d in position.schedule
                    ],
                }
            ).data
        )


class AccountStatusView(LedgerView):
    scopes = {"POST": (ADMIN,)}

    @extend_schema(
        operation_id="account_change_status",
        tags=["members and accounts"],
        parameters=[ACCOUNT_NO_PARAMETER],
        request=AccountStatusIn,
        responses={200: AccountOut, **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 422)},
        summary="Block, unblock or close an account (止付/止收/冻结/销户)",
        description="Asking for the status the account already has changes nothing and answers 200.",
    )
    def post(self, request, account_no: str):
        data = self.validated(AccountStatusIn)
        account = account_get(account_no=account_no)
        if account.status == data["status"]:
            self.outcome = "unchanged"
        else:
            account_change_status(account=account, to_status=data["status"], reason=data["reason"], actor=self.actor)
        return Response(AccountOut(account_get(account_no=account_no)).data)


class AccountEntriesView(LedgerView):
    scopes = {"GET": (READ,)}
    query_parameters = frozenset({*EntriesQuery().fields, "cursor", "page_size"})

    @extend_schema(
        operation_id="account_entries",
        tags=["members and accounts"],
        parameters=[
            ACCOUNT_NO_PARAMETER,
            EntriesQuery,
            CURSOR_PARAMETER,
            page_size_parameter(EntryCursor.page_size, EntryCursor.max_page_size),
        ],
        responses={
            200: OpenApiResponse(
                EntryPageOut,
                description="A page of entries (账务流水), oldest first.",
            ),
            **error_responses(*ANY_CALL_ERRORS, 404),
        },
        summary="An account's entries (账务流水)",
    )
    def get(self, request, account_no: str):
        query = self.query(EntriesQuery)
        account = account_get(account_no=account_no)
        entries = selectors.account_entries(
            account=account,
            date_after=query.get("accounting_date_after"),
            date_before=query.get("accounting_date_before"),
            business_type=query.get("business_type"),
        )
        paginator = EntryCursor()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(EntryOut(page, many=True).data)


class AccountBalanceAsOfView(LedgerView):
    scopes = {"GET": (READ,)}
    query_parameters = frozenset(BalanceAsOfQuery().fields)

    @extend_schema(
        operation_id="account_balance_as_of",
        tags=["members and accounts"],
        parameters=[ACCOUNT_NO_PARAMETER, BalanceAsOfQuery],
        responses={200: BalanceAsOfOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="An account's balance, frozen and available at an instant or a day's close (历史余额)",
        description="Exactly one of `as_of` and `accounting_date` (else 400 validation_error naming as_of). "
        "`as_of`: the account's last applied entry booked (its transaction's start) by then, read from the entry "
        "chain, plus the last hold event for frozen. `accounting_date`: the day's closing from the end of day's "
        "balance sheet where the day has one, else from the chain. Pending entries of a buffered (hot) account "
        "are not in `balance`: an applied one counts from its booking; one still pending is in `pending`.",
    )
    def get(self, request, account_no: str):
        query = self.query(BalanceAsOfQuery)
        account = account_get(account_no=account_no)
        if "as_of" in query:
            seen = balance_as_of(account=account, as_of=query["as_of"])
        else:
            seen = report_selectors.balance_at_close(account=account, accounting_date=query["accounting_date"])
        then = copy(account)  # Account.available is the rule's one home; today's credit limit
        then.balance, then.frozen = seen.balance, seen.frozen
        return Response(
            BalanceAsOfOut(
                {
                    "account_no": account.account_no,
                    "currency": account.currency,
                    "as_of": query.get("as_of"),
                    "accounting_date": query.get("accounting_date"),
                    "balance": seen.balance,
                    "frozen": seen.frozen,
                    "available": then.available,
                    "pending": seen.pending,
                    "source": seen.source,
                    "account_seq": seen.account_seq,
                }
            ).data
        )


class _Echo:
    """csv.writer's file: hands each row back to the streaming response."""

    def write(self, value):
        return value


STATEMENT_CSV_HEADER = ["line", "serial_no", "posting_serial_no", "account_seq", "accounting_date", "created_at"]
STATEMENT_CSV_HEADER += ["business_type", "direction", "amount", "running_balance"]


class AccountStatementView(LedgerView):
    scopes = {"GET": (READ,)}
    query_parameters = frozenset({*StatementQuery().fields})

    @extend_schema(
        operation_id="account_statement",
        tags=["members and accounts"],
        parameters=[ACCOUNT_NO_PARAMETER, StatementQuery],
        responses={
            (200, "application/json"): OpenApiResponse(
                StatementOut, description="A page of the statement: opening and closing of the whole range."
            ),
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The whole range, streamed: an opening line, one line per entry with its running "
                "balance, a closing line.",
            ),
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The whole range as a printable statement: the account's member, entity and "
                "currency, the opening balance, each entry with its running balance, totals and the closing "
                "balance, page numbers.",
            ),
            **error_responses(*ANY_CALL_ERRORS, 404),
        },
        summary="An account's statement (对账单) for accounting dates from-to",
        description="Applied entries in chain order, each with the balance after it; opening + movements = "
        "closing. Pending entries of a buffered (hot) account appear once applied. JSON is paged by "
        "`after_seq`/`page_size`; CSV (`format=csv` or `Accept: text/csv`) streams the whole range, so neither "
        "holds a long range in memory; PDF (`format=pdf` or `Accept: application/pdf`) is the whole range as a "
        "document. `to` before `from` is 400 validation_error naming to.",
    )
    def get(self, request, account_no: str):
        query = self.query(StatementQuery)
        account = account_get(account_no=account_no)
        date_from, date_to = query["from"], query["to"]
        opening = balance_before_day(account=account, accounting_date=date_from)
        closing = balance_before_day(account=account, accounting_date=date_to + timedelta(days=1))
        accept = request.META.get("HTTP_ACCEPT", "")
        wanted = query.get("format") or (
            "pdf" if "application/pdf" in accept else "csv" if "text/csv" in accept else ""
        )
        if wanted == "pdf":
            pdf, _ = statement_pdf(account=account, date_from=date_from, date_to=date_to)
            return pdf_response(pdf, f"statement-{account.account_no}-{date_from}-{date_to}.pdf")
        entries = statement_entries(account=account, date_from=date_from, date_to=date_to)
        if wanted == "csv":
            return self._csv(account, date_from, date_to, opening, closing, entries)
        size = query["page_size"]
        page = list(entries.filter(account_seq__gt=query["after_seq"])[: size + 1])
        next_url = None
        if len(page) > size:
            page = page[:size]
            params = request.query_params.copy()
            params["after_seq"] = str(page[-1].account_seq)
            next_url = request.build_absolute_uri(request.path) + "?" + params.urlencode()
        payload = {
            "account_no": account.account_no,
            "currency": account.currency,
            "date_from": date_from,
            "date_to": date_to,
            "opening": opening,
            "closing": closing,
            "entries": page,
            "next": next_url,
        }
        return Response(StatementOut(payload).data)

    def _csv(self, account, date_from, date_to, opening, closing, entries):
        currency = account.currency

        def rows():
            writer = csv.writer(_Echo())
            yield writer.writerow(STATEMENT_CSV_HEADER)
            yield writer.writerow(["opening", "", "", "", date_from, "", "", "", "", money_text(opening, currency)])
            # A server-side cursor: a long range streams in chunks, never whole in memory.
            for entry in entries.iterator(chunk_size=2000):
                line = StatementLineOut(entry).data
                yield writer.writerow(["entry", *(line[k] for k in STATEMENT_CSV_HEADER[1:])])
            yield writer.writerow(["closing", "", "", "", date_to, "", "", "", "", money_text(closing, currency)])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        name = f"statement-{account.account_no}-{date_from}-{date_to}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


def pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


MONTH_PARAMETER = OpenApiParameter(
    "month",
    {"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"},
    OpenApiParameter.PATH,
    description="The statement's month, YYYY-MM.",
)


class AccountMonthlyStatementsView(LedgerView):
    scopes = {"GET": (READ,)}

    @extend_schema(
        operation_id="account_monthly_statements",
        tags=["members and accounts"],
        parameters=[ACCOUNT_NO_PARAMETER],
        responses={200: MonthlyStatementListOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="An account's monthly statements (月度对账单)",
        description="The statements made on the 1st of each month for the month before (a member account that "
        "had an entry in the month or ended it with a balance), newest first, each with its figures, the "
        "SHA-256 of its PDF and the PDF's path. An internal account, or one with none yet, has an empty list.",
    )
    def get(self, request, account_no: str):
        account = account_get(account_no=account_no)
        rows = [
            {
                "month": s.month,
                "account": account,
                "currency": s.currency,
                "opening": s.opening,
                "debit_total": s.debit_total,
                "credit_total": s.credit_total,
                "closing": s.closing,
                "entry_count": s.entry_count,
                "sha256": s.sha256,
                "generated_at": s.generated_at,
                "pdf": f"/api/v1/accounts/{account.account_no}/statements/{s.month:%Y-%m}.pdf",
            }
            for s in monthly_statements(account=account)
        ]
        return Response(MonthlyStatementListOut({"account_no": account.account_no, "statements": rows}).data)


class AccountMonthlyStatementPdfView(LedgerView):
    scopes = {"GET": (READ,)}

    @extend_schema(
        operation_id="account_monthly_statement_pdf",
        tags=["members and accounts"],
        parameters=[ACCOUNT_NO_PARAMETER, MONTH_PARAMETER],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The PDF as it was made; its SHA-256 is the listed one."
            ),
            **error_responses(*ANY_CALL_ERRORS, 404),
        },
        summary="A monthly statement's PDF",
        description="404 not_found for an account without a statement of that month.",
    )
    def get(self, request, account_no: str, month: str):
        account = account_get(account_no=account_no)
        try:
            first = date.fromisoformat(f"{month}-01")
        except ValueError:  # 2026-00, 2026-13: the route lets the digits through
            first = None
        statement = monthly_statement_find(account=account, month=first) if first else None
        if statement is None:
            raise exceptions.NotFound(f"No statement of {month} for account {account_no}.")
        return pdf_response(bytes(statement.pdf), statement.filename)


# ------------------------------------------------------------- postings ----


# metadata[key]=value: one query parameter per key (OpenAPI's deepObject style).
METADATA_QUERY = re.compile(r"metadata\[(.*)\]", re.DOTALL)
POSTINGS_QUERY_PARAMETERS = frozenset({*PostingsQuery().fields, "cursor", "page_size"})
METADATA_PARAMETER = OpenApiParameter(
    "metadata",
    {
        "type": "object",
        "maxProperties": MAX_KEYS,
        "propertyNames": {"pattern": KEY_PATTERN},
        "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_CHARS, "pattern": NO_NUL_PATTERN},
    },
    OpenApiParameter.QUERY,
    style="deepObject",
    explode=True,
    description="metadata[key]=value, repeatable for several keys: postings whose metadata has each key with that "
    "string value. A key or value metadata could not hold is 400 invalid_metadata.",
)


class PostingsView(LedgerView):
    # Without read, a client finds its own source system's postings only.
    scopes = {"POST": (POST,), "GET": (READ, POST)}

    def query_parameter_allowed(self, request, name: str) -> bool:
        if request.method != "GET":
            return False
        return name in POSTINGS_QUERY_PARAMETERS or METADATA_QUERY.fullmatch(name) is not None

    @extend_schema(
        operation_id="postings_search",
        tags=["postings"],
        parameters=[
            PostingsQuery,
            METADATA_PARAMETER,
            CURSOR_PARAMETER,
            page_size_parameter(PostingCursor.page_size, PostingCursor.max_page_size),
        ],
        responses={
            200: OpenApiResponse(PostingPageOut, description="A page of postings with their entries, newest first."),
            **error_responses(*ANY_CALL_ERRORS, 404),
        },
        summary="Find postings by the caller's references: request number, external reference, trade number, "
        "metadata, time",
        description="Every filter given must match; none lists every posting the client may see. A client without "
        "the read scope sees its own source system's postings only. Newest first, by cursor (`next`, "
        "`previous`): postings booked while paging appear above the first page and never shift the pages. "
        "`from` and `to` bound created_at (from inclusive, to exclusive; `to` not after `from` is 400 "
        "validation_error naming to). An unknown `entity` is 404.",
    )
    def get(self, request):
        query = self.query(PostingsQuery)
        params = request.query_params
        metadata = {}
        for name in params:
            match = METADATA_QUERY.fullmatch(name)
            if match:
                if len(params.getlist(name)) > 1:
                    raise exceptions.ValidationError({name: "Give each metadata key once."})
                metadata[match.group(1)] = params[name]
        metadata = clean_metadata(metadata)
        source_system = query.get("source_system")
        if not self.client.has_scope(READ):
            own = self.client.source_system
            source_system = own if source_system in (None, own) else None
            if source_system is None:  # another source system's: none of them is visible
                return self._page(postings_search(source_system=own).none())
        postings = postings_search(
            source_system=source_system,
            request_no=query.get("request_no"),
            external_ref=query.get("external_ref"),
            trade_no=query.get("trade_no"),
            metadata=metadata,
            created_from=query.get("from"),
            created_to=query.get("to"),
            business_type=query.get("business_type"),
            entity=selectors.entity_get(code=query["entity"]) if "entity" in query else None,
        )
        return self._page(postings)

    def _page(self, postings):
        paginator = PostingCursor()
        page = paginator.paginate_queryset(postings, self.request, view=self)
        loaded = selectors.postings_with_entries(serial_nos=[p.serial_no for p in page])
        return paginator.get_paginated_response(PostingOut([loaded[p.serial_no] for p in page], many=True).data)

    @extend_schema(
        operation_id="posting_create",
        tags=["postings"],
        request=PostingIn,
        responses={
            201: PostingOut,
            200: OpenApiResponse(PostingOut, description="A replay: the original posting, same body."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422),
        },
        summary="Post a balanced set of legs (记账)",
        description="Debits equal credits, in one currency and one accounting entity. All entries are written "
        "in one transaction, or none.",
    )
    def post(self, request):
        data = self.validated(PostingIn)
        legs = _legs(data["legs"])
        accounting_date = data.get("accounting_date")
        if accounting_date is not None:
            self._expect_open_day(legs[0].account_no, accounting_date)
        posting = posting_create(
            request_no=data["request_no"],
            business_type=data["business_type"],
            legs=legs,
            posted_by=self.actor,
            source_system=self.client.source_system,
            memo=data["memo"],
            currency=data.get("currency"),
            accounting_date=accounting_date,
            external_ref=data["external_ref"],
            trade_no=data["trade_no"],
            metadata=data["metadata"],
        )
        return self.written(posting_payload(posting), replayed=posting.replayed)

    @staticmethod
    def _expect_open_day(account_no: str, day) -> None:
        # Business systems post on the open day only: an earlier day is cut
        # (or never opened) and a back-dated entry would change a closed
        # balance sheet. The service checks again under the calendar lock.
        entity = account_get(account_no=account_no).entity
        open_day = current_accounting_date(entity=entity)
        if day < open_day:
            raise DayClosed(
                f"Accounting day {day} of {entity.code} is closed; the open day is {open_day}.",
                accounting_date=day,
                open_date=open_day,
            )
        if day > open_day:
            raise LedgerValidationError(
                f"Accounting day {day} is not open yet; the open day is {open_day}.",
                accounting_date=day,
                open_date=open_day,
            )


class PostingDetailView(LedgerView):
    scopes = {"GET": (READ,)}

    @extend_schema(
        operation_id="posting_get",
        tags=["postings"],
        parameters=[_path_id("serial_no", "Posting serial number.")],
        responses={200: PostingOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A posting with its entries",
    )
    def get(self, request, serial_no: int):
        return Response(posting_payload(selectors.posting_get(serial_no=serial_no)))


class PostingReceiptView(LedgerView):
    scopes = {"GET": (READ,)}

    @extend_schema(
        operation_id="posting_receipt",
        tags=["postings"],
        parameters=[_path_id("serial_no", "Posting serial number.")],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The electronic receipt: serial number, dates, business type, every leg's account and "
                "member, amounts, memo, request number and the verification code.",
            ),
            **error_responses(*ANY_CALL_ERRORS, 404),
        },
        summary="A posting's electronic receipt (电子回单) as PDF",
    )
    def get(self, request, serial_no: int):
        posting = selectors.posting_get(serial_no=serial_no)
        return pdf_response(receipt_pdf(posting=posting), f"receipt-P{posting.serial_no}.pdf")


class PostingReceiptVerifyView(LedgerView):
    scopes = {"GET": (READ,)}
    query_parameters = frozenset(ReceiptVerifyQuery().fields)

    @extend_schema(
        operation_id="posting_receipt_verify",
        tags=["postings"],
        parameters=[_path_id("serial_no", "The receipt's number (the posting's serial number)."), ReceiptVerifyQuery],
        responses={200: ReceiptVerifyOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="Verify an electronic receipt's code (回单验证)",
        description="valid is true when the code is the one the ledger prints on this posting's receipt (an HMAC "
        "of the posting's content with the server's key); a receipt altered or made up does not verify. "
        "A serial number of no posting is 404 not_found.",
    )
    def get(self, request, serial_no: int):
        query = self.query(ReceiptVerifyQuery)
        selectors.posting_get(serial_no=serial_no)  # no such receipt: 404, as for the posting
        posting = receipt_verify(serial_no=serial_no, code=query["code"])
        return Response(ReceiptVerifyOut({"serial_no": serial_no, "valid": posting is not None}).data)


SOURCE_SYSTEM_PARAMETER = OpenApiParameter(
    "source_system",
    {"type": "string", "pattern": SOURCE_SYSTEM_PATTERN},
    OpenApiParameter.PATH,
    description="The source system that booked it (an API client's code, e.g. trade).",
)
REQUEST_NO_PARAMETER = OpenApiParameter(
    "request_no",
    {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[^\x00]{1,64}$"},
    OpenApiParameter.PATH,
    description="The request number it was booked under (URL-encoded; it may contain '/').",
)


class PostingByRequestView(LedgerView):
    # Without read, a client finds its own postings only.
    scopes = {"GET": (READ, POST)}

    @extend_schema(
        operation_id="posting_get_by_request",
        tags=["postings"],
        parameters=[SOURCE_SYSTEM_PARAMETER, REQUEST_NO_PARAMETER],
        responses={200: PostingOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A posting found by the request number it was booked under",
        description="A client without the read scope finds only its own source system's postings.",
    )
    def get(self, request, source_system: str, request_no: str):
        self.request_no = request_no[:64]
        self.visible(source_system, "posting")
        posting = selectors.posting_by_request(source_system=source_system, request_no=request_no)
        return Response(posting_payload(posting))


class PostingByRuleView(LedgerView):
    scopes = {"POST": (POST,)}

    @extend_schema(
        operation_id="posting_create_by_rule",
        tags=["postings"],
        request=ByRuleIn,
        responses={
            201: PostingOut,
            200: OpenApiResponse(PostingOut, description="A replay."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422),
        },
        summary="Post a business event through its posting rule (记账规则)",
        description="E.g. recharge: {member_account, channel_account, amount, channel_serial_no}; the rule "
        "makes the legs (Dr channel / Cr member). channel_serial_no (or external_ref) is kept as "
        "the posting's external reference.",
    )
    def post(self, request):
        data = self.validated(ByRuleIn)
        posting = posting_create_by_rule(
            business_type=data["business_type"],
            request_no=data["request_no"],
            params=dict(data["params"]),
            posted_by=self.actor,
            source_system=self.client.source_system,
            memo=data["memo"],
            trade_no=data["trade_no"],
            metadata=data["metadata"],
        )
        return self.written(posting_payload(posting), replayed=posting.replayed)


class PostingBatchView(LedgerView):
    scopes = {"POST": (POST,)}

    @extend_schema(
        operation_id="posting_create_batch",
        tags=["postings"],
        request=BatchIn,
        responses={
            200: OpenApiResponse(BatchOut, description="One result per item, in the order sent."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS),
        },
        summary="Post many independent postings (批量记账)",
        description="Each item is its own posting with its own request number: it is created, replayed, or "
        "refused with an error in the usual shape, without affecting the others. A malformed batch "
        "is refused whole (400) and posts nothing.",
    )
    def post(self, request):
        data = self.validated(BatchIn)
        items = [
            posting_services.PostingRequest(
                request_no=item["request_no"],
                business_type=item["business_type"],
                legs=_legs(item["legs"]),
                memo=item["memo"],
                currency=item.get("currency"),
                external_ref=item["external_ref"],
                trade_no=item["trade_no"],
                metadata=item["metadata"],
            )
            for item in data["postings"]
        ]
        source = self.client.source_system
        results = posting_services.posting_create_batch(items, posted_by=self.actor, source_system=source)
        postings = selectors.postings_with_entries(serial_nos=[r.posting.serial_no for r in results if r.posting])
        out, counts = [], {"created": 0, "replayed": 0, "error": 0}
        for result in results:
            if result.posting is not None:
                status = "replayed" if getattr(result.posting, "replayed", False) else "created"
                out.append(
                    {
                        "request_no": result.request_no,
                        "status": status,
                        "posting": PostingOut(postings[result.posting.serial_no]).data,
                        "error": None,
                    }
                )
            else:
                status = "error"
                out.append(
                    {
                        "request_no": result.request_no,
                        "status": status,
                        "posting": None,
                        "error": result.error.as_dict(),
                    }
                )
            counts[status] += 1
        self.outcome = ", ".join(f"{n} {status}" for status, n in counts.items())
        return Response({"results": out})


class PostingReversalView(LedgerView):
    scopes = {"POST": (POST,)}

    @extend_schema(
        operation_id="posting_reverse",
        tags=["postings"],
        parameters=[_path_id("serial_no", "The posting to reverse.")],
        request=ReversalIn,
        responses={
            201: PostingOut,
            200: OpenApiResponse(PostingOut, description="A replay."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422),
        },
        summary="Reverse a posting (冲正)",
        description="A new posting with every leg's direction swapped, linked to the original (reverses). Only "
        "the source system that made a posting may reverse it.",
    )
    def post(self, request, serial_no: int):
        data = self.validated(ReversalIn)
        original = selectors.posting_get(serial_no=serial_no)
        self.own(original.source_system, "posting")
        posting = posting_reverse(
            serial_no=original.serial_no,
            request_no=data["request_no"],
            posted_by=self.actor,
            source_system=self.client.source_system,
            memo=data["memo"],
        )
        return self.written(posting_payload(posting), replayed=posting.replayed)


def refund_payload(refund) -> dict:
    """The refund as the API shows it, with every leg of the refunded posting
    and what its refunds took back, read back from the database."""
    currency = refund.currency
    taken = {leg.original_entry_id: leg for leg in refund.legs.all()}
    legs = refunded_legs(original=refund.original)
    return RefundOut(
        {
            "refund_id": refund.pk,
            "request_no": refund.request_no,
            "status": refund.status,
            "original_serial_no": refund.original_id,
            "posting_serial_no": refund.posting_id,
            "amount": refund.amount,
            "currency": currency,
            "needs_approval": [why for why in refund.needs_approval.split(",") if why],
            "reason": refund.reason,
            "left_to_refund": sum((leg.remaining for leg in legs if leg.entry.direction == "D"), Decimal(0)),
            "created_at": refund.created_at,
            "legs": [
                {
                    "original_entry_serial_no": leg.entry.serial_no,
                    "account_no": leg.entry.account.account_no,
                    "direction": leg.entry.direction,
                    "amount": taken[leg.entry.serial_no].amount if leg.entry.serial_no in taken else Decimal(0),
                    "from_reserve": taken[leg.entry.serial_no].from_reserve
                    if leg.entry.serial_no in taken
                    else Decimal(0),
                    "refunded_so_far": leg.refunded,
                    "currency": currency,
                }
                for leg in legs
            ],
        }
    ).data


class PostingRefundsView(LedgerView):
    scopes = {"POST": (POST,)}

    @extend_schema(
        operation_id="posting_refund",
        tags=["postings"],
        parameters=[_path_id("serial_no", "The posting (payment) to refund.")],
        request=RefundIn,
        responses={
            201: RefundOut,
            202: OpenApiResponse(
                RefundOut,
                description="Accepted, not posted: a refund above the business type's approval amount waits for a "
                "second person at the ledger (status pending_approval, posting_serial_no null).",
            ),
            200: OpenApiResponse(RefundOut, description="A replay: the refund as it is now."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422),
        },
        summary="Refund a posting, fully or in part (退款)",
        description="A refund posting linked to the original: every leg of the original gives back its share of "
        "`amount` in proportion (fee and revenue-share legs too), split so the parts add back to the cent; the "
        "last refund takes exactly what is left. The refunds of a leg never exceed what it moved "
        "(refund_exceeds_original). A payment past its business type's refund window is refunded by finance "
        "staff only (refund_window_passed). When the payee's available balance is short: insufficient_funds, "
        "unless the merchant has a reserve account, which then pays the shortfall. Only the source system that "
        "made a posting may refund it.",
    )
    def post(self, request, serial_no: int):
        data = self.validated(RefundIn)
        original = selectors.posting_get(serial_no=serial_no)
        self.own(original.source_system, "posting")
        refund = refund_create(
            serial_no=original.serial_no,
            request_no=data["request_no"],
            amount=data["amount"],
            requested_by=self.actor,
            source_system=self.client.source_system,
            reason=data["reason"],
        )
        if refund.replayed:
            return self.written(refund_payload(refund), replayed=True)
        if refund.status == RefundStatus.PENDING:
            self.outcome = "accepted"
            return Response(refund_payload(refund), status=202)
        return self.written(refund_payload(refund), replayed=False)


# ------------------------------------------------------ guarantee orders ----


def order_payload(order) -> dict:
    """The order as the API shows it, with its events, read back from the
    database, so a first answer and a replay are the same bytes."""
    order = selectors.order_get(order_id=order.pk)
    currency = order.currency
    return OrderOut(
        {
            "order_id": order.pk,
            "order_no": order.order_no,
            "request_no": order.request_no,
            "status": order.status,
            "currency": currency,
            "buyer_account_no": order.buyer_account.account_no,
            "merchant_account_no": order.merchant_account.account_no,
            "escrow_account_no": order.escrow_account.account_no,
            "amount": order.amount,
            "commission": order.commission,
            "coupon": order.coupon,
            "balance": order.balance,
            "pay_posting_serial_no": order.pay_posting_id,
            "confirm_by": order.confirm_by,
            "created_at": order.created_at,
            "events": [
                {
                    "kind": e.kind,
                    "amount": e.amount,
                    "commission": e.commission,
                    "coupon": e.coupon,
                    "currency": currency,
                    "posting_serial_no": e.posting_id,
                    "from_status": e.from_status,
                    "to_status": e.to_status,
                    "reason": e.reason,
                    "request_no": e.request_no,
                    "created_at": e.created_at,
                }
                for e in order.events.order_by("id")
            ],
        }
    ).data


_ORDER_ID = _path_id("order_id", "Guarantee order id.")
_ORDER_STEP_ERRORS = error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422)


class OrdersView(LedgerView):
    scopes = {"POST": (POST,)}

    @extend_schema(
        operation_id="order_open",
        tags=["orders"],
        request=OrderIn,
        responses={
            201: OrderOut,
            200: OpenApiResponse(OrderOut, description="A replay: the order as it is now."),
            **_ORDER_STEP_ERRORS,
        },
        summary="Open a guarantee order: the buyer pays into escrow (担保交易)",
        description="Posts Dr buyer cash / Cr the entity's escrow account for the amount; the order holds it in "
        "escrow (its balance) until it is confirmed, refunded or, after confirm_within_days, confirmed "
        "automatically. The order number is unique per source system (409 idempotency_conflict).",
    )
    def post(self, request):
        data = self.validated(OrderIn)
        order = order_open(
            order_no=data["order_no"],
            buyer_account_no=data["buyer_account_no"],
            merchant_account_no=data["merchant_account_no"],
            amount=data["amount"],
            commission=data["commission"],
            coupon=data["coupon"],
            confirm_within_days=data.get("confirm_within_days"),
            request_no=data["request_no"],
            created_by=self.actor,
            source_system=self.client.source_system,
        )
        return self.written(order_payload(order), replayed=order.replayed)


class OrderDetailView(LedgerView):
    scopes = {"GET": (READ, POST)}

    @extend_schema(
        operation_id="order_get",
        tags=["orders"],
        parameters=[_ORDER_ID],
        responses={200: OrderOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A guarantee order and its steps",
    )
    def get(self, request, order_id: int):
        order = selectors.order_get(order_id=order_id)
        self.visible(order.source_system, "order")
        return Response(order_payload(order))


class _OrderStepView(LedgerView):
    scopes = {"POST": (POST,)}

    def step(self, order_id: int, serializer, call):
        data = self.validated(serializer)
        order = selectors.order_get(order_id=order_id)
        self.own(order.source_system, "order")
        event = call(order, data)
        return self.written(order_payload(order), replayed=event.replayed)


class OrderConfirmView(_OrderStepView):
    @extend_schema(
        operation_id="order_confirm",
        tags=["orders"],
        parameters=[_ORDER_ID],
        request=OrderStepIn,
        responses={201: OrderOut, 200: OpenApiResponse(OrderOut, description="A replay."), **_ORDER_STEP_ERRORS},
        summary="Confirm receipt (确认收货): escrow to the merchant",
        description="One posting: Dr escrow (what the order holds) and Dr coupon / Cr merchant and Cr fee income "
        "(the commission). After partial refunds the commission and coupon are taken in proportion to what is "
        "confirmed, rounded down. 409 order_disputed while disputed; 422 order_closed once closed.",
    )
    def post(self, request, order_id: int):
        return self.step(
            order_id,
            OrderStepIn,
            lambda order, data: order_confirm(
                order_id=order.pk,
                request_no=data["request_no"],
                actor=self.actor,
                source_system=self.client.source_system,
            ),
        )


class OrderRefundsView(_OrderStepView):
    @extend_schema(
        operation_id="order_refund",
        tags=["orders"],
        parameters=[_ORDER_ID],
        request=OrderRefundIn,
        responses={201: OrderOut, 200: OpenApiResponse(OrderOut, description="A replay."), **_ORDER_STEP_ERRORS},
        summary="Refund part or all of what the order holds (退款)",
        description="A refund of the buyer's payment (Dr escrow / Cr buyer), at most what the order holds "
        "(422 refund_exceeds_escrow); refunding all of it closes the order as refunded.",
    )
    def post(self, request, order_id: int):
        return self.step(
            order_id,
            OrderRefundIn,
            lambda order, data: order_refund(
                order_id=order.pk,
                amount=data["amount"],
                reason=data["reason"],
                request_no=data["request_no"],
                actor=self.actor,
                source_system=self.client.source_system,
            ),
        )


class OrderDisputeView(_OrderStepView):
    @extend_schema(
        operation_id="order_dispute",
        tags=["orders"],
        parameters=[_ORDER_ID],
        request=OrderDisputeIn,
        responses={201: OrderOut, 200: OpenApiResponse(OrderOut, description="A replay."), **_ORDER_STEP_ERRORS},
        summary="Dispute an order (争议): nothing moves until it is resolved",
        description="A paid order only (409 order_disputed when it already is, 422 order_closed once closed).",
    )
    def post(self, request, order_id: int):
        return self.step(
            order_id,
            OrderDisputeIn,
            lambda order, data: order_dispute(
                order_id=order.pk,
                reason=data["reason"],
                request_no=data["request_no"],
                actor=self.actor,
                source_system=self.client.source_system,
            ),
        )


class OrderResolveView(_OrderStepView):
    @extend_schema(
        operation_id="order_resolve",
        tags=["orders"],
        parameters=[_ORDER_ID],
        request=OrderResolveIn,
        responses={201: OrderOut, 200: OpenApiResponse(OrderOut, description="A replay."), **_ORDER_STEP_ERRORS},
        summary="Resolve a dispute, with a reason",
        description="continue: the order is paid again and goes on; confirm: to the merchant now; refund: "
        "everything it holds back to the buyer. 422 illegal_transition when the order is not disputed.",
    )
    def post(self, request, order_id: int):
        return self.step(
            order_id,
            OrderResolveIn,
            lambda order, data: order_resolve(
                order_id=order.pk,
                outcome=data["outcome"],
                reason=data["reason"],
                request_no=data["request_no"],
                actor=self.actor,
                source_system=self.client.source_system,
            ),
        )


# ----------------------------------------------------------- agreements ----


def agreement_payload(agreement) -> dict:
    """The agreement with its history, read back from the database, so a
    first answer and a replay are the same bytes."""
    agreement = agreement_selectors.agreement_get(agreement_id=agreement.pk)
    agreement.history_rows = list(agreement.events.order_by("id"))
    return AgreementOut(agreement).data


_AGREEMENT_ID = _path_id("agreement_id", "Agreement id.")
_AGREEMENT_ERRORS = error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422)


class AgreementsView(LedgerView):
    scopes = {"POST": (POST,)}

    @extend_schema(
        operation_id="agreement_sign",
        tags=["agreements"],
        request=AgreementIn,
        responses={
            201: AgreementOut,
            200: OpenApiResponse(AgreementOut, description="A replay: the agreement as it is now."),
            **_AGREEMENT_ERRORS,
        },
        summary="Sign an agreement (代扣协议): the payee may debit the member's cash account",
        description="Within max_per_debit and max_per_period (per day, week or month), for one purpose, from "
        "valid_from to valid_to; on demand (POST /agreements/{agreement_id}/debits) or weekly or monthly by the "
        "ledger's schedule. The agreement number is unique per source system (409 idempotency_conflict).",
    )
    def post(self, request):
        data = self.validated(AgreementIn)
        agreement = agreement_sign(
            agreement_no=data["agreement_no"],
            payer_account_no=data["payer_account_no"],
            payee_account_no=data["payee_account_no"],
            purpose=data["purpose"],
            max_per_debit=data["max_per_debit"],
            max_per_period=data["max_per_period"],
            limit_period=data["limit_period"],
            frequency=data["frequency"],
            schedule_day=data["schedule_day"],
            scheduled_amount=data["scheduled_amount"],
            allow_partial=data["allow_partial"],
            repay=data["repay"],
            retry_every_days=data["retry_every_days"],
            max_retries=data["max_retries"],
            valid_from=data["valid_from"],
            valid_to=data["valid_to"],
            request_no=data["request_no"],
            actor=self.actor,
            source_system=self.client.source_system,
        )
        return self.written(agreement_payload(agreement), replayed=agreement.replayed)


class AgreementDetailView(LedgerView):
    scopes = {"GET": (READ, POST)}

    @extend_schema(
        operation_id="agreement_get",
        tags=["agreements"],
        parameters=[_AGREEMENT_ID],
        responses={200: AgreementOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="An agreement and its history",
    )
    def get(self, request, agreement_id: int):
        agreement = agreement_selectors.agreement_get(agreement_id=agreement_id)
        self.visible(agreement.source_system, "agreement")
        return Response(agreement_payload(agreement))


class _AgreementStepView(LedgerView):
    scopes = {"POST": (POST,)}

    def step(self, agreement_id: int, serializer, service):
        data = self.validated(serializer)
        agreement = agreement_selectors.agreement_get(agreement_id=agreement_id)
        self.own(agreement.source_system, "agreement")
        event = service(
            agreement_id=agreement.pk,
            reason=data["reason"],
            request_no=data["request_no"],
            actor=self.actor,
            source_system=self.client.source_system,
        )
        return self.written(agreement_payload(agreement), replayed=event.replayed)


_STEP_RESPONSES = {
    201: AgreementOut,
    200: OpenApiResponse(AgreementOut, description="A replay: the agreement as it is now."),
    **_AGREEMENT_ERRORS,
}


class AgreementSuspendView(_AgreementStepView):
    @extend_schema(
        operation_id="agreement_suspend",
        tags=["agreements"],
        parameters=[_AGREEMENT_ID],
        request=AgreementStepIn,
        responses=_STEP_RESPONSES,
        summary="Suspend an agreement at the member's request (暂停), with a reason",
        description="Nothing is debited under it until it is resumed. An active agreement only (422 "
        "illegal_transition).",
    )
    def post(self, request, agreement_id: int):
        return self.step(agreement_id, AgreementStepIn, agreement_suspend)


class AgreementResumeView(_AgreementStepView):
    @extend_schema(
        operation_id="agreement_resume",
        tags=["agreements"],
        parameters=[_AGREEMENT_ID],
        request=AgreementResumeIn,
        responses=_STEP_RESPONSES,
        summary="Resume a suspended agreement (恢复)",
        description="A suspended agreement only (422 illegal_transition).",
    )
    def post(self, request, agreement_id: int):
        return self.step(agreement_id, AgreementResumeIn, agreement_resume)


class AgreementRevokeView(_AgreementStepView):
    @extend_schema(
        operation_id="agreement_revoke",
        tags=["agreements"],
        parameters=[_AGREEMENT_ID],
        request=AgreementStepIn,
        responses=_STEP_RESPONSES,
        summary="Revoke an agreement at the member's request (解约), with a reason",
        description="For good: its scheduled debits still open are cancelled. An active or suspended agreement "
        "only (422 illegal_transition).",
    )
    def post(self, request, agreement_id: int):
        return self.step(agreement_id, AgreementStepIn, agreement_revoke)


class AgreementDebitsView(LedgerView):
    scopes = {"POST": (POST,)}

    @extend_schema(
        operation_id="agreement_debit",
        tags=["agreements"],
        parameters=[_AGREEMENT_ID],
        request=AgreementDebitIn,
        responses={
            201: DebitAttemptOut,
            200: OpenApiResponse(DebitAttemptOut, description="A replay: the debit as it was taken."),
            **_AGREEMENT_ERRORS,
        },
        summary="Debit under an agreement (代扣): payer to payee, without payment authentication",
        description="Freezes the amount on the payer and settles it to the payee in one transaction (posting "
        "business type agreement_debit, request number the caller's). Refused with 422 no_agreement when the "
        "agreement is not active on the open accounting day or names another purpose, agreement_limit_exceeded "
        "past max_per_debit or the period's max_per_period, insufficient_funds when the payer cannot pay and "
        "partial debits are not allowed (with them: outcome partial, amount_taken what was available). Every "
        "attempt, refused ones too, is on the agreement's staff page and in the events.",
    )
    def post(self, request, agreement_id: int):
        data = self.validated(AgreementDebitIn)
        agreement = agreement_selectors.agreement_get(agreement_id=agreement_id)
        self.own(agreement.source_system, "agreement")
        attempt = agreement_debit(
            agreement_id=agreement.pk,
            amount=data["amount"],
            purpose=data["purpose"],
            request_no=data["request_no"],
            actor=self.actor,
            source_system=self.client.source_system,
            allow_partial=data["allow_partial"],
        )
        return self.written(DebitAttemptOut(attempt).data, replayed=attempt.replayed)


# ---------------------------------------------------------------- holds ----


class HoldsView(LedgerView):
    scopes = {"POST": (HOLD,)}

    @extend_schema(
        operation_id="hold_place",
        tags=["holds"],
        request=HoldIn,
        responses={
            201: HoldOut,
            200: OpenApiResponse(HoldOut, description="A replay: the hold as it is now."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422),
        },
        summary="Freeze an amount (冻结)",
        description="Available drops by the amount; the balance does not move until the hold is settled.",
    )
    def post(self, request):
        data = self.validated(HoldIn)
        hold = hold_place(
            account_no=data["account_no"],
            amount=data["amount"],
            reason=data["reason"],
            request_no=data["request_no"],
            actor=self.actor,
            source_system=self.client.source_system,
            expires_at=data.get("expires_at"),
            trade_no=data["trade_no"],
            metadata=data["metadata"],
        )
        return self.written(hold_payload(hold), replayed=hold.replayed)


_HOLD_ID = _path_id("hold_id", "Hold id.")


class HoldDetailView(LedgerView):
    scopes = {"GET": (READ, HOLD)}

    @extend_schema(
        operation_id="hold_get",
        tags=["holds"],
        parameters=[_HOLD_ID],
        responses={200: HoldOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A hold",
    )
    def get(self, request, hold_id: int):
        hold = selectors.hold_get(hold_id=hold_id)
        self.visible(hold.source_system, "hold")
        return Response(HoldOut(hold).data)


class HoldSettleView(LedgerView):
    scopes = {"POST": (HOLD,)}

    @extend_schema(
        operation_id="hold_settle",
        tags=["holds"],
        parameters=[_HOLD_ID],
        request=SettleIn,
        responses={
            201: PostingOut,
            200: OpenApiResponse(PostingOut, description="A replay."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422),
        },
        summary="Deduct a frozen amount (扣除冻结)",
        description="Posts Dr held account / Cr counter account for all or part of the hold; balance and frozen "
        "drop together. Answers the settlement posting.",
    )
    def post(self, request, hold_id: int):
        data = self.validated(SettleIn)
        hold = selectors.hold_get(hold_id=hold_id)
        self.own(hold.source_system, "hold")
        posting = hold_settle(
            hold_id=hold.id,
            request_no=data["request_no"],
            amount=data["amount"],
            business_type=data["business_type"],
            actor=self.actor,
            counter_account_no=data["counter_account_no"],
            source_system=self.client.source_system,
            memo=data["memo"],
            external_ref=data["external_ref"],
            trade_no=data["trade_no"],
            metadata=data["metadata"],
        )
        return self.written(posting_payload(posting), replayed=posting.replayed)


class HoldReleaseView(LedgerView):
    scopes = {"POST": (HOLD,)}

    @extend_schema(
        operation_id="hold_release",
        tags=["holds"],
        parameters=[_HOLD_ID],
        request=ReleaseIn,
        responses={200: HoldOut, **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422)},
        summary="Release a frozen amount (解冻)",
        description="The rest of the hold, or part of it. A replay answers 200 with the hold as it is now.",
    )
    def post(self, request, hold_id: int):
        data = self.validated(ReleaseIn)
        held = selectors.hold_get(hold_id=hold_id)
        self.own(held.source_system, "hold")
        hold = hold_release(
            hold_id=held.id,
            request_no=data["request_no"],
            actor=self.actor,
            amount=data.get("amount"),
            source_system=self.client.source_system,
        )
        self.outcome = "replayed" if hold.replayed else "released"
        return Response(hold_payload(hold))


# ---------------------------------------------------------- withdrawals ----


def withdrawal_payload(withdrawal_id: int) -> dict:
    withdrawal = selectors.withdrawal_get(withdrawal_id=withdrawal_id)
    withdrawal.api_history = selectors.withdrawal_history(withdrawal=withdrawal)
    return WithdrawalOut(withdrawal).data


class WithdrawalsView(LedgerView):
    scopes = {"POST": (WITHDRAW,)}

    @extend_schema(
        operation_id="withdrawal_request",
        tags=["withdrawals"],
        request=WithdrawalIn,
        responses={
            201: WithdrawalOut,
            200: OpenApiResponse(WithdrawalOut, description="A replay: the withdrawal as it is now."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422),
        },
        summary="Request a withdrawal (提现)",
        description="Freezes amount + fee on the member's cash account; review and payout follow (status).",
    )
    def post(self, request):
        data = self.validated(WithdrawalIn)
        card = data["bank_card"]
        withdrawal = withdrawal_request(
            account_no=data["account_no"],
            amount=data["amount"],
            card_holder=card["holder"],
            card_bank=card["bank"],
            card_number=card["number"],
            request_no=data["request_no"],
            source_system=self.client.source_system,
            trade_no=data["trade_no"],
            metadata=data["metadata"],
        )
        return self.written(withdrawal_payload(withdrawal.id), replayed=withdrawal.replayed)


class WithdrawalDetailView(LedgerView):
    scopes = {"GET": (READ, WITHDRAW)}

    @extend_schema(
        operation_id="withdrawal_get",
        tags=["withdrawals"],
        parameters=[_path_id("withdrawal_id", "Withdrawal id.")],
        responses={200: WithdrawalOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A withdrawal: status and history",
        description="A client without the read scope sees only its own withdrawals.",
    )
    def get(self, request, withdrawal_id: int):
        withdrawal = selectors.withdrawal_get(withdrawal_id=withdrawal_id)
        self.visible(withdrawal.source_system, "withdrawal")
        return Response(withdrawal_payload(withdrawal.id))


# -------------------------------------------------------------- reports ----


class BalanceSheetView(LedgerView):
    scopes = {"GET": (READ,)}
    query_parameters = frozenset({*BalanceSheetQuery().fields, "page", "page_size"})

    @extend_schema(
        operation_id="balance_sheet",
        tags=["reports"],
        parameters=[
            BalanceSheetQuery,
            PAGE_PARAMETER,
            page_size_parameter(SheetPages.page_size, SheetPages.max_page_size),
        ],
        responses={
            200: OpenApiResponse(
                BalanceSheetPageOut,
                description="Rows of the balance sheet (余额表) of one accounting date, built by the end of day.",
            ),
            **error_responses(*ANY_CALL_ERRORS, 404),
        },
        summary="Balance sheet (余额表) of a closed day",
    )
    def get(self, request):
        query = self.query(BalanceSheetQuery)
        entity = selectors.entity_get(code=query["entity"]) if query.get("entity") else None
        day = query.get("date") or report_selectors.latest_balance_date(entity=entity)
        sheet = selectors.balance_sheet_rows(
            day=day, entity=entity, currency=query.get("currency"), group_by=query["group_by"]
        )
        paginator = SheetPages()
        page = paginator.paginate_queryset(sheet, request, view=self)
        response = paginator.get_paginated_response(BalanceSheetRowOut(page, many=True).data)
        response.data = {"date": day, "group_by": query["group_by"], **response.data}
        return response


# --------------------------------------------------------------- events ----


class EventsView(LedgerView):
    scopes = {"GET": (READ,)}
    query_parameters = frozenset(EventsQuery().fields)

    @extend_schema(
        operation_id="events_list",
        tags=["events"],
        parameters=[EventsQuery],
        responses={
            200: OpenApiResponse(EventPageOut, description="Events numbered after `after`, in sequence order."),
            **error_responses(*ANY_CALL_ERRORS),
        },
        summary="Events after a sequence number (replay)",
        description="Every change other systems care about, in the order it committed, numbered 1, 2, 3, ... "
        "without gaps: an event appears only once every event before it has committed or rolled back, so a "
        "reader that passes the last `seq` it saw as `after` never misses one. Events older than the retention "
        "(default 90 days) are archived. Payload schemas: docs/events/. The same events are published to "
        "RabbitMQ (docs/operations.md, Events).",
    )
    def get(self, request):
        query = self.query(EventsQuery)
        events = list(
            event_selectors.events_after(after=query["after"], types=query.get("types"), limit=query["limit"])
        )
        return Response(
            {
                "events": [event_message(e) for e in events],
                "next_after": events[-1].seq if events else query["after"],
                "last_seq": event_selectors.last_seq(),
            }
        )


# ---------------------------------------------------------------- other ----


class UnknownEndpointView(LedgerView):
    # Anything under /api/ that no endpoint answers: 404 in the error shape.

    authentication_classes: list = []
    permission_classes: list = []

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise exceptions.NotFound("No such endpoint. The endpoints are listed at /api/docs/.")

    def initial(self, request, *args, **kwargs):
        APIView.initial(self, request, *args, **kwargs)  # any query string: still a 404

    def endpoint(self, request) -> str:
        return "(unknown)"

    def options(self, request, *args, **kwargs):
        return self.http_method_not_allowed(request)
