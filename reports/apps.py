from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """End of day, balance sheets, reconciliation and settlement. Built in issue #4."""

    name = "reports"
    verbose_name = "Reports (报表)"

    def ready(self):
        from accounts.kernel.pages import dashboard_tiles

        from .eod.checks import more_checks
        from .settlement.checks import settlement_checks
        from .settlement.governed import register_settings
        from .settlement.views import reserve_tiles

        more_checks.register(settlement_checks)
        register_settings()
        dashboard_tiles.register(reserve_tiles)
