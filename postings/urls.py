"""Staff pages of postings, refunds, guarantee orders and the credit product's bills, mounted at /postings/."""

from django.urls import path

from . import views
from .credit import views as credit_views

app_name = "postings"

urlpatterns = [
    path("<int:serial_no>/", views.posting_detail, name="posting"),
    path("<int:serial_no>/refund/", views.posting_refund, name="refund_create"),
    path("<int:serial_no>/correct/", views.posting_correct, name="correction_create"),
    path("<int:serial_no>/receipt.pdf", views.posting_receipt, name="receipt"),
    path("receipts/verify/", views.receipt_check, name="receipt_verify"),
    path("statements/", views.statement_list, name="statements"),
    path("statements/<int:pk>.pdf", views.statement_download, name="statement_download"),
    path("corrections/", views.correction_list, name="corrections"),
    path("corrections/<int:pk>/", views.correction_detail, name="correction"),
    path("corrections/<int:pk>/approve/", views.correction_approve_act, name="correction_approve"),
    path("corrections/<int:pk>/reject/", views.correction_reject_act, name="correction_reject"),
    path("refunds/", views.refund_list, name="refunds"),
    path("refunds/approvals/", views.refund_approvals, name="refund_approvals"),
    path("refunds/<int:pk>/", views.refund_detail, name="refund"),
    path("refunds/<int:pk>/approve/", views.refund_approve_act, name="refund_approve"),
    path("refunds/<int:pk>/reject/", views.refund_reject_act, name="refund_reject"),
    path("orders/", views.order_list, name="orders"),
    path("orders/<int:pk>/", views.order_detail, name="order"),
    path("orders/<int:pk>/dispute/", views.order_dispute_act, name="order_dispute"),
    path("orders/<int:pk>/resolve/", views.order_resolve_act, name="order_resolve"),
    path("credit/bills/", credit_views.bill_list, name="credit_bills"),
    path("credit/bills.csv", credit_views.bill_list_csv, name="credit_bills_csv"),
    path("credit/bills/<int:pk>/", credit_views.bill_detail, name="credit_bill"),
    path("credit/bills/<int:pk>.pdf", credit_views.bill_pdf_download, name="credit_bill_pdf"),
    path("credit/overdue/", credit_views.overdue_list, name="credit_overdue"),
    path("credit/overdue.csv", credit_views.overdue_csv, name="credit_overdue_csv"),
    path("credit/lines/<str:account_no>/", credit_views.credit_line, name="credit_line"),
    path("credit/lines/<str:account_no>/limit/", credit_views.credit_limit_set, name="credit_limit_set"),
]
