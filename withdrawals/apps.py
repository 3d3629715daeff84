from django.apps import AppConfig


class WithdrawalsConfig(AppConfig):
    """Withdrawal workflow (提现): freeze, review, payout. Built in issue #3."""

    name = "withdrawals"
    verbose_name = "Withdrawals (提现)"

    def ready(self):
        from .governed import register_settings

        register_settings()
