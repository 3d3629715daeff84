from django.apps import AppConfig


class KernelConfig(AppConfig):
    """The kernel is an app for its one table, the task outbox
    (``models.PendingTask``): a model in ``accounts.models`` would be out of
    the kernel's reach (it imports no app); and for the staff pages' shared
    template tags (``templatetags/staff_money``)."""

    name = "accounts.kernel"
    label = "kernel"
    verbose_name = "Kernel"

    def ready(self):
        from django.apps import apps

        from .admin import install_amount_display, install_plural_names

        install_amount_display()
        install_plural_names(apps.get_models())
