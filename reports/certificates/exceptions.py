"""The close certificate's refusals, with their API codes (docs/api.md)."""

from accounts.kernel.errors import IllegalTransition, LedgerError, LedgerValidationError, SegregationOfDuties


class CertificateNotReady(LedgerValidationError):
    code = "certificate_not_ready"
    default_message = "The day's end of day has not closed it yet."


class CertificateChanged(LedgerError):
    code = "certificate_changed"
    http_status = 409
    default_message = "The certificate was redrafted since it was shown: read it again before signing."


class CertificateOutOfOrder(LedgerError):
    code = "certificate_out_of_order"
    http_status = 409
    default_message = "The previous day's certificate is co-signed first."


class CertificateNotSignable(IllegalTransition):
    code = "certificate_not_signable"
    default_message = "The certificate is not at that step of its sign-off."


class CertificateSelfCosign(SegregationOfDuties):
    default_message = "A certificate is co-signed by someone other than its first signer."
