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
    path("api/", include("config.api.urls")),
]
