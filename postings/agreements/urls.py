"""Staff pages of agreements (代扣协议), mounted at /agreements/."""

from django.urls import path

from . import views

app_name = "agreements"

urlpatterns = [
    path("", views.agreement_list, name="agreements"),
    path("<int:pk>/", views.agreement_detail, name="agreement"),
    path("<int:pk>/<slug:action>/", views.agreement_act, name="agreement_act"),
]
