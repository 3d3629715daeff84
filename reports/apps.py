from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """End of day, balance sheets, reconciliation and settlement. Built in issue #4."""

    name = "reports"
    verbose_name = "Reports (报表)"

    def ready(self):
        from accounts.kernel.pages import dashboard_tiles

        from .channel.exporting import DIFFERENCES
        from .eod.checks import more_checks
        from .exporting.services import register
        from .governed import register_settings as register_channel_settings
        from .pages.exporting import BALANCE_SHEET
        from .settlement.checks import settlement_checks
        from .settlement.governed import register_settings as register_settlement_settings
        from .settlement.views import reserve_tiles
        from .vouchers.governed import register_settings as register_voucher_settings

        register_channel_settings()
        register_settlement_settings()
        register_voucher_settings()
        for kind in (DIFFERENCES, BALANCE_SHEET):
            register(kind)
        more_checks.register(settlement_checks)
        dashboard_tiles.register(reserve_tiles)
