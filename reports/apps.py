from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """End of day, balance sheets and reconciliation. Built in issue #4."""

    name = "reports"
    verbose_name = "Reports (报表)"

    def ready(self):
        from .governed import register_settings

        register_settings()
