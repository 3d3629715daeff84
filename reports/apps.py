from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """End of day, balance sheets and reconciliation. Built in issue #4."""

    name = "reports"
    verbose_name = "Reports (报表)"

    def ready(self):
        from .channel.exporting import DIFFERENCES
        from .exporting.services import register
        from .governed import register_settings
        from .pages.exporting import BALANCE_SHEET

        register_settings()
        for kind in (DIFFERENCES, BALANCE_SHEET):
            register(kind)
