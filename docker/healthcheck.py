"""Container health probe: exit 0 when the local gunicorn answers GET /healthz with 200.

Django refuses hosts outside DJANGO_ALLOWED_HOSTS, so the probe presents the first allowed host
instead of 127.0.0.1. Standard library only: the image has no curl.
"""

import http.client
import os
import sys


def probe_host() -> str:
    for entry in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(","):
        host = entry.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def main() -> int:
    port = int(os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=4)
    try:
        connection.request("GET", "/healthz", headers={"Host": probe_host()})
        status = connection.getresponse().status
    except OSError as exc:
        print(f"healthz unreachable: {exc}", file=sys.stderr)  # noqa: T201 - the container's health log
        return 1
    finally:
        connection.close()
    if status != 200:
        print(f"healthz answered {status}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
