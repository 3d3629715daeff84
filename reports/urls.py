"""Report pages, mounted at /reports/."""

from django.urls import path

from .channel import views as channel_views
from .eod import views as eod_views
from .gl_recon import views as gl_views
from .pages import views

app_name = "reports"

urlpatterns = [
    path("", views.balance_sheet, name="balance_sheet"),
    path("balance-sheet.csv", views.balance_sheet_csv, name="balance_sheet_csv"),
    path("balance-sheet.xlsx", views.balance_sheet_xlsx, name="balance_sheet_xlsx"),
    path("checks/", views.checks, name="checks"),
    path("vouchers/", views.vouchers, name="vouchers"),
    path("vouchers.csv", views.vouchers_csv, name="vouchers_csv"),
    path("vouchers.xlsx", views.vouchers_xlsx, name="vouchers_xlsx"),
    path("vouchers/<int:pk>/", views.voucher_detail, name="voucher"),
    path("gl/", gl_views.gl_imports, name="gl_imports"),
    path("gl/upload/", gl_views.gl_upload, name="gl_upload"),
    path("gl/upload/<int:pk>/", gl_views.gl_confirm, name="gl_preview"),
    path("gl/<int:pk>/", gl_views.gl_import_result, name="gl_import"),
    path("eod/", eod_views.eod_runs, name="eod_runs"),
    path("eod/<int:pk>/retry/", eod_views.eod_retry, name="eod_retry"),
    path("charts/", views.chart_page, name="charts"),
    path("hot-accounts/", views.hot_accounts, name="hot_accounts"),
    path("hot-accounts/flush/", views.hot_accounts_flush, name="hot_accounts_flush"),
    path("recon/", channel_views.recon_runs, name="recon_runs"),
    path("recon/match/", channel_views.recon_match, name="recon_match"),
    path("recon/progress/<slug:code>/<str:day>/", channel_views.recon_progress, name="recon_progress"),
    path("recon/upload/", channel_views.statement_upload, name="statement_upload"),
    path("recon/upload/<int:pk>/", channel_views.statement_confirm, name="statement_preview"),
    path("recon/statements/<int:pk>/", channel_views.statement_detail, name="recon_statement"),
    path("recon/statements/<int:pk>/void/", channel_views.statement_void_act, name="recon_statement_void"),
    path("recon/differences/", channel_views.differences, name="recon_differences"),
    path("recon/differences.csv", channel_views.differences_csv, name="recon_differences_csv"),
    path("recon/differences.xlsx", channel_views.differences_xlsx, name="recon_differences_xlsx"),
    path("recon/exports/<int:pk>/", channel_views.difference_export, name="recon_export"),
    path("recon/exports/<int:pk>/file/", channel_views.difference_export_file, name="recon_export_file"),
    path("recon/differences/<int:pk>/", channel_views.difference_detail, name="recon_difference"),
    path("recon/differences/<int:pk>/act/", channel_views.difference_act, name="recon_difference_act"),
    path("accounts/<str:account_no>/entries/", views.account_entries, name="account_entries"),
    path("entries/<int:serial_no>/", views.entry_detail, name="entry"),
]
