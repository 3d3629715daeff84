from django.apps import AppConfig


class KernelConfig(AppConfig):
    """The kernel is an app only for its one table, the task outbox
    (``models.PendingTask``): a model in ``accounts.models`` would be out of
    the kernel's reach (it imports no app)."""

    name = "accounts.kernel"
    label = "kernel"
    verbose_name = "Kernel"
