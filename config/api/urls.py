"""The ledger API, mounted at /api/: version 1 under /api/v1/, the OpenAPI
schema at /api/schema/ and Swagger UI at /api/docs/ (served from the
project's own static files). Paths have no trailing slash; anything else
under /api/ is a 404 in the API's error shape."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import credit, views, webhooks

app_name = "api"

v1 = [
    path("members", views.MembersView.as_view(), name="members"),
    # The member number may hold '/' (sent as %2F): the accounts route is
    # matched first, so a number ending in "/accounts" reads as that member's accounts.
    re_path(
        r"^members/(?P<member_no>[^\x00]{1,32})/accounts$", views.MemberAccountsView.as_view(), name="member_accounts"
    ),
    re_path(r"^members/(?P<member_no>[^\x00]{1,32})$", views.MemberDetailView.as_view(), name="member"),
    path("accounts", views.AccountsView.as_view(), name="accounts"),
    re_path(r"^accounts/(?P<account_no>[0-9A-Za-z_-]{1,32})$", views.AccountDetailView.as_view(), name="account"),
    re_path(
        r"^accounts/(?P<account_no>[0-9A-Za-z_-]{1,32})/entries$",
        views.AccountEntriesView.as_view(),
        name="account_entries",
    ),
    re_path(
        r"^accounts/(?P<account_no>[0-9A-Za-z_-]{1,32})/balance$",
        views.AccountBalanceAsOfView.as_view(),
        name="account_balance",
    ),
    re_path(
        r"^accounts/(?P<account_no>[0-9A-Za-z_-]{1,32})/statement$",
        views.AccountStatementView.as_view(),
        name="account_statement",
    ),
    re_path(
        r"^accounts/(?P<account_no>[0-9A-Za-z_-]{1,32})/statements$",
        views.AccountMonthlyStatementsView.as_view(),
        name="account_monthly_statements",
    ),
    re_path(
        r"^accounts/(?P<account_no>[0-9A-Za-z_-]{1,32})/statements/(?P<month>[0-9]{4}-[01][0-9])\.pdf$",
        views.AccountMonthlyStatementPdfView.as_view(),
        name="account_monthly_statement_pdf",
    ),
    re_path(
        r"^accounts/(?P<account_no>[0-9A-Za-z_-]{1,32})/settlement$",
        views.AccountSettlementView.as_view(),
        name="account_settlement",
    ),
    re_path(
        r"^accounts/(?P<account_no>[0-9A-Za-z_-]{1,32})/status$",
        views.AccountStatusView.as_view(),
        name="account_status",
    ),
    re_path(r"^accounts/(?P<account_no>[0-9A-Za-z_-]{1,32})/credit$", credit.CreditView.as_view(), name="credit"),
    re_path(
        r"^accounts/(?P<account_no>[0-9A-Za-z_-]{1,32})/credit-limit$",
        credit.CreditLimitView.as_view(),
        name="credit_limit",
    ),
    re_path(r"^accounts/(?P<account_no>[0-9A-Za-z_-]{1,32})/bills$", credit.AccountBillsView.as_view(), name="bills"),
    re_path(
        r"^accounts/(?P<account_no>[0-9A-Za-z_-]{1,32})/repayments$",
        credit.RepaymentsView.as_view(),
        name="repayments",
    ),
    path("bills/<int:bill_id>", credit.BillDetailView.as_view(), name="bill"),
    path("bills/<int:bill_id>.pdf", credit.BillPdfView.as_view(), name="bill_pdf"),
    path("postings", views.PostingsView.as_view(), name="postings"),
    path("postings/by-rule", views.PostingByRuleView.as_view(), name="postings_by_rule"),
    path("postings/batch", views.PostingBatchView.as_view(), name="postings_batch"),
    path("postings/<int:serial_no>", views.PostingDetailView.as_view(), name="posting"),
    # The request number takes the rest of the path: it may hold '/' (sent as %2F, decoded before routing).
    re_path(
        r"^postings/by-request/(?P<source_system>[a-z][a-z0-9_-]{1,31})/(?P<request_no>[^\x00]{1,64})$",
        views.PostingByRequestView.as_view(),
        name="posting_by_request",
    ),
    path("postings/<int:serial_no>/receipt", views.PostingReceiptView.as_view(), name="posting_receipt"),
    path(
        "postings/<int:serial_no>/receipt/verify",
        views.PostingReceiptVerifyView.as_view(),
        name="posting_receipt_verify",
    ),
    path("postings/<int:serial_no>/reversal", views.PostingReversalView.as_view(), name="posting_reversal"),
    path("postings/<int:serial_no>/refunds", views.PostingRefundsView.as_view(), name="posting_refunds"),
    path("orders", views.OrdersView.as_view(), name="orders"),
    path("orders/<int:order_id>", views.OrderDetailView.as_view(), name="order"),
    path("orders/<int:order_id>/confirm", views.OrderConfirmView.as_view(), name="order_confirm"),
    path("orders/<int:order_id>/refunds", views.OrderRefundsView.as_view(), name="order_refunds"),
    path("orders/<int:order_id>/dispute", views.OrderDisputeView.as_view(), name="order_dispute"),
    path("orders/<int:order_id>/resolve", views.OrderResolveView.as_view(), name="order_resolve"),
    path("agreements", views.AgreementsView.as_view(), name="agreements"),
    path("agreements/<int:agreement_id>", views.AgreementDetailView.as_view(), name="agreement"),
    path("agreements/<int:agreement_id>/suspend", views.AgreementSuspendView.as_view(), name="agreement_suspend"),
    path("agreements/<int:agreement_id>/resume", views.AgreementResumeView.as_view(), name="agreement_resume"),
    path("agreements/<int:agreement_id>/revoke", views.AgreementRevokeView.as_view(), name="agreement_revoke"),
    path("agreements/<int:agreement_id>/debits", views.AgreementDebitsView.as_view(), name="agreement_debits"),
    path("holds", views.HoldsView.as_view(), name="holds"),
    path("holds/<int:hold_id>", views.HoldDetailView.as_view(), name="hold"),
    path("holds/<int:hold_id>/settle", views.HoldSettleView.as_view(), name="hold_settle"),
    path("holds/<int:hold_id>/release", views.HoldReleaseView.as_view(), name="hold_release"),
    path("withdrawals", views.WithdrawalsView.as_view(), name="withdrawals"),
    path("withdrawals/<int:withdrawal_id>", views.WithdrawalDetailView.as_view(), name="withdrawal"),
    path("reports/balance-sheet", views.BalanceSheetView.as_view(), name="balance_sheet"),
    path("events", views.EventsView.as_view(), name="events"),
    path("webhooks", webhooks.WebhookEndpointsView.as_view(), name="webhooks"),
    path("webhooks/<int:endpoint_id>", webhooks.WebhookEndpointView.as_view(), name="webhook"),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret",
        webhooks.WebhookSecretRotateView.as_view(),
        name="webhook_rotate_secret",
    ),
    path("webhooks/<int:endpoint_id>/attempts", webhooks.WebhookAttemptsView.as_view(), name="webhook_attempts"),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^[\s\S]*$", views.UnknownEndpointView.as_view(), name="unknown"),  # newlines too
]
