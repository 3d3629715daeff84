"""Staff pages of the withdrawal flow, mounted at /withdrawals/."""

from django.urls import path

from . import views

app_name = "withdrawals"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("review/", views.review_queue, name="review"),
    path("review/bulk-approve/", views.withdrawals_bulk_approve, name="bulk_approve"),
    path("payout/", views.payout_desk, name="payout"),
    path("payout/send/", views.payout_send, name="payout_send"),
    path("payout/instructions/<int:pk>/query/", views.payout_query, name="payout_query"),
    path("payout/instructions/<int:pk>/resolve/", views.payout_flag_resolve, name="flag_resolve"),
    path("all/", views.withdrawal_list, name="list"),
    path("all/export.csv", views.withdrawal_export, name="export"),
    path("new/", views.withdrawal_new, name="new"),
    path("new/lookup/", views.withdrawal_new_lookup, name="new_lookup"),
    path("<int:pk>/", views.withdrawal_detail, name="detail"),
    path("<int:pk>/approve/", views.withdrawal_approve, name="approve"),
    path("<int:pk>/reject/", views.withdrawal_reject, name="reject"),
    path("<int:pk>/cancel/", views.payout_cancel, name="cancel"),
]
