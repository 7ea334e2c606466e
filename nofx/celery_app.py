"""The one Celery application. Workers: `celery -A nofx worker`; beat: `celery -A nofx beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nofx.settings.local")

app = Celery("nofx")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
