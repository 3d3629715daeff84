"""Report pages, mounted at /reports/."""

from django.urls import path

from .certificates import views as certificate_views
from .channel import views as channel_views
from .eod import views as eod_views
from .exporting import views as export_views
from .gl_recon import views as gl_views
from .opening import views as opening_views
from .pages import views
from .periods import views as period_views
from .settlement import views as settlement_views
from .vouchers import views as voucher_views

app_name = "reports"

urlpatterns = [
    path("", views.balance_sheet, name="balance_sheet"),
    path("balance-sheet.csv", views.balance_sheet_csv, name="balance_sheet_csv"),
    path("balance-sheet.xlsx", views.balance_sheet_xlsx, name="balance_sheet_xlsx"),
    path("checks/", views.checks, name="checks"),
    path("periods/", period_views.periods, name="periods"),
    path("periods/propose/", period_views.period_propose, name="period_propose"),
    path("periods/<int:pk>/decide/", period_views.period_decide, name="period_decide"),
    path("periods/trial-balance/", period_views.trial_balance, name="trial_balance"),
    path("periods/trial-balance.csv", period_views.trial_balance_csv, name="trial_balance_csv"),
    path("periods/trial-balance.xlsx", period_views.trial_balance_xlsx, name="trial_balance_xlsx"),
    path("certificates/", certificate_views.certificates, name="certificates"),
    path("certificates/verify/", certificate_views.certificates_verify, name="certificates_verify"),
    path("certificates/<int:pk>/", certificate_views.certificate_detail, name="certificate"),
    path("certificates/<int:pk>/sign/", certificate_views.certificate_sign_view, name="certificate_sign"),
    path("certificates/<int:pk>/redraft/", certificate_views.certificate_redraft, name="certificate_redraft"),
    path("vouchers/", voucher_views.vouchers, name="vouchers"),
    path("vouchers.csv", voucher_views.vouchers_csv, name="vouchers_csv"),
    path("vouchers.xlsx", voucher_views.vouchers_xlsx, name="vouchers_xlsx"),
    path("vouchers/<int:pk>/", voucher_views.voucher_detail, name="voucher"),
    path("vouchers/<int:pk>/lines/<int:line_no>/", voucher_views.voucher_line, name="voucher_line"),
    path("vouchers/<int:pk>/acknowledge/", voucher_views.voucher_ack, name="voucher_ack"),
    path("vouchers/export/", voucher_views.voucher_export, name="voucher_export"),
    path("vouchers/exports/", voucher_views.voucher_exports, name="voucher_exports"),
    path("vouchers/exports/<int:pk>/", voucher_views.voucher_export_detail, name="voucher_export_detail"),
    path("vouchers/exports/<int:pk>/file/", voucher_views.voucher_export_download, name="voucher_export_download"),
    path("vouchers/acknowledge/", voucher_views.voucher_ack_upload, name="voucher_ack_upload"),
    path("vouchers/acknowledge/<int:pk>/", voucher_views.voucher_ack_confirm, name="voucher_ack_preview"),
    path("gl/", gl_views.gl_imports, name="gl_imports"),
    path("gl/upload/", gl_views.gl_upload, name="gl_upload"),
    path("gl/upload/<int:pk>/", gl_views.gl_confirm, name="gl_preview"),
    path("gl/<int:pk>/", gl_views.gl_import_result, name="gl_import"),
    path("opening/upload/", opening_views.opening_upload, name="opening_upload"),
    path("opening/upload/<int:pk>/", opening_views.opening_confirm, name="opening_preview"),
    path("opening/<int:pk>/", opening_views.opening_result, name="opening_import"),
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
    path("exports/<int:pk>/", export_views.export_page, name="export"),
    path("exports/<int:pk>/file/", export_views.export_file, name="export_file"),
    path("recon/differences/<int:pk>/", channel_views.difference_detail, name="recon_difference"),
    path("recon/differences/<int:pk>/act/", channel_views.difference_act, name="recon_difference_act"),
    path("settlement/", settlement_views.merchants_due, name="settlement_due"),
    path("settlement/done/", settlement_views.merchants_done, name="settlement_done"),
    path("settlement/channels/", settlement_views.channel_batches, name="settlement_channels"),
    path("settlement/channels/settle/", settlement_views.channel_settle_act, name="settlement_channel_settle"),
    path("settlement/channels/<int:pk>/", settlement_views.channel_batch, name="settlement_channel"),
    path("settlement/reserve/", settlement_views.reserve_check, name="settlement_reserve"),
    path("settlement/reserve/enter/", settlement_views.reserve_enter, name="settlement_reserve_enter"),
    path("settlement/reserve/upload/", settlement_views.reserve_upload, name="settlement_reserve_upload"),
    path("settlement/reserve/upload/<int:pk>/", settlement_views.reserve_preview, name="settlement_reserve_preview"),
    path("accounts/<str:account_no>/entries/", views.account_entries, name="account_entries"),
    path("entries/<int:serial_no>/", views.entry_detail, name="entry"),
]
