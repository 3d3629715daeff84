from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Ledger core · 账务系统"
admin.site.site_title = "Ledger core"
admin.site.index_title = "Ledger administration"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
]
