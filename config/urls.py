from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Ledger core · 账务系统"
admin.site.site_title = "Ledger core"
admin.site.index_title = "Ledger administration"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="withdrawals:dashboard", permanent=False)),
    path("admin/", admin.site.urls),
    path("withdrawals/", include("withdrawals.urls")),
    path("reports/", include("reports.urls")),
    path("postings/", include("postings.urls")),
    path("webhooks/", include("events.webhooks.urls")),
    path("agreements/", include("postings.agreements.urls")),
    path("api/", include("config.api.urls")),
]

# Errors inside the staff layout (config/error_pages.py); the API keeps its own.
handler400 = "config.error_pages.bad_request"
handler403 = "config.error_pages.permission_denied"
handler404 = "config.error_pages.page_not_found"
handler500 = "config.error_pages.server_error"
