"""Staff pages of the webhooks, mounted at /webhooks/."""

from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoint_list, name="endpoints"),
    path("<int:pk>/", views.endpoint_detail, name="endpoint"),
    path("<int:pk>/pause/", views.endpoint_pause_act, name="endpoint_pause"),
    path("<int:pk>/resume/", views.endpoint_resume_act, name="endpoint_resume"),
    path("<int:pk>/redeliver/", views.endpoint_redeliver_act, name="endpoint_redeliver"),
]
