from django.apps import AppConfig


class PostingsConfig(AppConfig):
    name = "postings"
    verbose_name = "Postings (记账)"

    def ready(self):
        from . import hooks
        from .governed import register_settings

        hooks.register()
        register_settings()
