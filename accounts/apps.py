from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts (账户)"

    def ready(self):
        from .governed import register_settings

        register_settings()
