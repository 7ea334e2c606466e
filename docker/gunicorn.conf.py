"""Gunicorn settings for the web container. Every number can be overridden from the environment.

Threads (gthread) keep memory flat while a request waits on the database or a connector; nginx buffers
request bodies and slow clients, so a worker never sits waiting on a slow upload.
"""

import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
# Two processes per core, at most eight: past that a container should scale out, not up.
workers = _int("GUNICORN_WORKERS", min(2 * (os.cpu_count() or 1), 8))
threads = _int("GUNICORN_THREADS", 4)
# A request still running after this is stuck: the worker is restarted. nginx waits a little longer.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Longer than nginx's upstream keepalive, so gunicorn never closes a connection nginx is about to reuse.
keepalive = _int("GUNICORN_KEEPALIVE", 75)
# Recycle workers now and then so a slow leak never becomes an outage; the jitter avoids all restarting at once.
# A new worker loads every view before it accepts a connection (nofx/wsgi.py), so no caller waits for that.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
# The heartbeat file lives in memory: a slow disk must not make the arbiter think workers are dead.
worker_tmp_dir = "/dev/shm"  # noqa: S108 - a tmpfs in every container, which is the point

# Only nginx reaches this port (the container is on a private network), so trust its forwarded headers.
forwarded_allow_ips = "*"
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'

# The runtime control socket would live in the (read-only) home directory; containers are managed from outside.
control_socket_disable = True
