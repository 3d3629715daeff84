from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "events.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks (事件推送)"
