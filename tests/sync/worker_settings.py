"""Settings for a real `celery worker` that a test starts beside itself (see test_worker_kill.py).

The test settings, but with a real broker, the test's own database, its encryption keys (so the worker
can read the connectors' credentials) and short leases and visibility timeouts, so a killed worker's
run is taken over in seconds rather than minutes.
"""

from nofx.settings.test import *  # noqa: F403
from nofx.settings.test import DATABASES, env

CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = env("SYNC_TEST_BROKER_URL")
CELERY_RESULT_BACKEND = None
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("SYNC_TEST_VISIBILITY_TIMEOUT", default=3),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
DATABASES["default"]["NAME"] = env("SYNC_TEST_DATABASE_NAME")
FIELD_ENCRYPTION_KEYS = env.list("SYNC_TEST_FIELD_ENCRYPTION_KEYS")
SYNC_RUN_LEASE_SECONDS = env.int("SYNC_RUN_LEASE_SECONDS", default=2)
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
