from django.apps import AppConfig


class AgreementsConfig(AppConfig):
    """Agreement debits (代扣协议, issue 21 section 1): a Django app of its own
    inside postings, so that the posting service below it never imports it."""

    name = "postings.agreements"
    label = "agreements"
    verbose_name = "Agreements (代扣协议)"

    def ready(self):
        from postings.services.holds import agreement_debit_cover

        from .selectors import agreement_debit_refusal

        agreement_debit_cover.register(agreement_debit_refusal)
