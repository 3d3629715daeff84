from importlib import import_module

from django.apps import AppConfig


class PostingsConfig(AppConfig):
    name = "postings"
    verbose_name = "Postings (记账)"

    def import_models(self):
        super().import_models()
        # The credit product's models (postings/credit/) are this app's too.
        # Imported here rather than from postings.models, which they build on
        # (postings.credit uses the posting service): postings.models
        # importing them back would be the import cycle the no-cycles
        # contract refuses.
        import_module("postings.credit.models")

    def ready(self):
        from . import hooks
        from .credit.governed import register_settings as register_credit_settings
        from .governed import register_settings

        hooks.register()
        register_settings()
        register_credit_settings()
