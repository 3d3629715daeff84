"""Staff pages of postings and refunds, mounted at /postings/."""

from django.urls import path

from . import views

app_name = "postings"

urlpatterns = [
    path("<int:serial_no>/", views.posting_detail, name="posting"),
    path("<int:serial_no>/refund/", views.posting_refund, name="refund_create"),
    path("refunds/", views.refund_list, name="refunds"),
    path("refunds/approvals/", views.refund_approvals, name="refund_approvals"),
    path("refunds/<int:pk>/", views.refund_detail, name="refund"),
    path("refunds/<int:pk>/approve/", views.refund_approve_act, name="refund_approve"),
    path("refunds/<int:pk>/reject/", views.refund_reject_act, name="refund_reject"),
]
