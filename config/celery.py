"""The Celery application.

Without CELERY_BROKER_URL the tasks run in-process (eager), so the demo needs
no broker; production and the worker tests point it at Redis.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ledger")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
