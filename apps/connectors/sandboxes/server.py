"""The machinery every vendor sandbox shares: a threaded HTTP server on loopback, routing, auth checks,
a fixed-window rate limiter with the vendor's headers, injected failures and a log of what arrived.

A sandbox is not a mock of our code: providers reach it through the real transport over real sockets,
exactly as they reach the vendor. Tests start one per vendor on 127.0.0.1 with port 0 (any free port);
`manage.py run_sandboxes` starts them all on fixed ports for the demo.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit
from urllib.request import Request, urlopen


@dataclass
class SandboxRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    arrived_at: float = field(default_factory=time.monotonic)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def int_arg(self, name: str, default: int) -> int:
        try:
            return int(self.arg(name) or default)
        except ValueError:
            return default

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class SandboxResponse:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, default=str).encode()


def respond(body: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> SandboxResponse:
    return SandboxResponse(status=status, body=body, headers=headers or {})


class FixedWindowLimiter:
    """`limit` calls per `window` seconds, windows aligned to the epoch like the vendors' reset times."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.window_start = 0.0
        self.used = 0
        self.rejected = 0

    def hit(self, now: float) -> tuple[bool, int, float]:
        start = math.floor(now / self.window) * self.window
        if start != self.window_start:
            self.window_start, self.used = start, 0
        reset_at = start + self.window
        if self.used >= self.limit:
            self.rejected += 1
            return False, 0, reset_at
        self.used += 1
        return True, self.limit - self.used, reset_at


Handler = Callable[..., SandboxResponse]


@dataclass
class WebhookCall:
    """A signed delivery as the vendor would send it: POST these headers and this body."""

    headers: dict[str, str]
    body: bytes
    query: str = ""

    def deliver(self, url: str, timeout: float = 5.0) -> int:
        """POST it to `url` (the demo sends to the local web server)."""
        target = url + (("&" if "?" in url else "?") + self.query if self.query else "")
        request = Request(target, data=self.body, headers=self.headers, method="POST")  # noqa: S310 - loopback only
        with urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return int(answer.status)


class Sandbox:
    """One vendor's API on loopback. Subclasses define `routes()`, `authenticate()` and the data they serve."""

    name: ClassVar[str]
    title: ClassVar[str]
    default_port: ClassVar[int]

    def __init__(self, port: int = 0, *, rate_limit: int | None = None, rate_window: float = 60.0) -> None:
        self.requested_port = port
        self.lock = threading.RLock()
        self.log: list[SandboxRequest] = []
        self._failures: deque[SandboxResponse] = deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.limiter: FixedWindowLimiter | None = None
        self._compiled = [(m, re.compile(f"^{p}$"), h) for m, p, h in self.routes()]
        self.reset()

    # -- To be defined by each vendor ---------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        raise NotImplementedError

    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        """None when the request carries valid credentials, else the vendor's 401."""
        return None

    def rate_headers(self, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(math.ceil(reset_at)),
        }

    def too_many_requests(self, retry_after: float) -> SandboxResponse:
        return respond({"message": "Too many requests"}, 429, {"Retry-After": retry_after_text(retry_after)})

    def reset_data(self) -> None:
        """Forget every record and seed the defaults."""

    # -- The `make run` demo --------------------------------------------------------------------------------

    def demo_connection(self) -> dict[str, Any]:
        """`provider`, `settings` and `credentials` of a connector pointed at this sandbox (secrets added later)."""
        raise NotImplementedError

    def webhook_secret_field(self) -> str:
        return "webhook_secret"

    def seed_demo(self) -> None:
        """A handful of records, so the demo shows traffic from the first sync."""

    def demo_webhook(self, secret: str) -> WebhookCall | None:
        """Change a record as a person would, and the signed delivery the vendor would send about it."""
        return None

    # -- Control, for tests and the demo ------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.log.clear()
            self._failures.clear()
            self.limiter = FixedWindowLimiter(self.rate_limit, self.rate_window) if self.rate_limit else None
            self.reset_data()

    def limit_rate(self, limit: int | None, window: float = 1.0) -> None:
        """Enforce `limit` calls per `window` seconds from now on (None lifts it)."""
        with self.lock:
            self.rate_limit, self.rate_window = limit, window
            self.limiter = FixedWindowLimiter(limit, window) if limit else None

    def fail_next(
        self, count: int = 1, *, status: int = 429, retry_after: float | None = 0.05, body: Any = None
    ) -> None:
        """Answer the next `count` calls with this failure (a 429 with a short Retry-After by default)."""
        with self.lock:
            for _ in range(count):
                if status == 429 and body is None:
                    failure = self.too_many_requests(retry_after if retry_after is not None else 0)
                    if retry_after is None:
                        failure.headers.pop("Retry-After", None)
                else:
                    failure = respond(body or {"message": "Injected failure"}, status)
                    if retry_after is not None:
                        failure.headers["Retry-After"] = retry_after_text(retry_after)
                self._failures.append(failure)

    def calls(self, method: str | None = None, path_contains: str = "") -> list[SandboxRequest]:
        with self.lock:
            return [r for r in self.log if (method is None or r.method == method) and path_contains in r.path]

    def now(self) -> datetime:
        return datetime.now(tz=UTC)

    # -- Serving ------------------------------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            self.log.append(request)
            if self._failures:
                return self._failures.popleft()
            denied = self.authenticate(request)
            if denied is not None:
                return denied
            rate_headers: dict[str, str] = {}
            if self.limiter is not None:
                allowed, remaining, reset_at = self.limiter.hit(time.time())
                rate_headers = self.rate_headers(self.limiter.limit, remaining, reset_at)
                if not allowed:
                    answer = self.too_many_requests(max(reset_at - time.time(), 0.0))
                    answer.headers = {**rate_headers, **answer.headers}
                    return answer
            for method, pattern, handler in self._compiled:
                match = pattern.match(request.path)
                if match and method == request.method:
                    answer = handler(request, **match.groupdict())
                    answer.headers = {**rate_headers, **answer.headers}
                    return answer
            return respond({"message": "Not Found"}, 404)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the sandbox first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Sandbox:
        sandbox = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = SandboxRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                answer = sandbox.handle(request)
                payload = answer.encoded()
                self.send_response(answer.status)
                if payload:
                    self.send_header("Content-Type", answer.content_type)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                # Headers and body in one write: two small writes meet Nagle and delayed ACKs (40 ms each).
                self._headers_buffer.append(b"\r\n" + payload)  # type: ignore[attr-defined]
                self.flush_headers()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", self.requested_port), RequestHandler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=f"sandbox-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def retry_after_text(value: float) -> str:
    """Retry-After as the vendors send it (whole seconds), or with a fraction for the fast test sandboxes."""
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


def link_header(links: dict[str, str]) -> str:
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())


def header_message(headers: dict[str, str]) -> Message:
    message = Message()
    for name, value in headers.items():
        message[name] = value
    return message
