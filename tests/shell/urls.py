"""The project's URLs plus one page that fails, to see the 500 page."""

from django.urls import path

from config.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


def boom(request):
    raise RuntimeError("a bug on a staff page")


urlpatterns = [*urlpatterns, path("boom/", boom)]
