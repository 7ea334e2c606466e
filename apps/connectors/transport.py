"""The one door for outbound HTTP: every call the product makes to an external system goes through here.

`OutboundClient` (one per connection) adds, around httpx:

- **Address guard.** Each new TCP connection resolves the host and refuses it when *any* address it
  resolves to is private, loopback, link-local or otherwise not global, unless
  `settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES` is on or the address is inside
  `settings.OUTBOUND_ALLOWED_NETWORKS`. The check runs inside the connection layer and the socket is
  opened to the very address that was checked, so redirects and DNS answers that change between
  check and connect cannot reach a private address.
- **Timeouts** from the connector.
- **Retries** with exponential backoff and jitter; `Retry-After` wins; permanent errors (4xx other
  than 408/425/429) stop at once; a non-idempotent call (POST without idempotency key) is retried only
  when the vendor certainly did not process it (429, or no connection was made).
- **The shared rate budget** of the connection (`rate_budget.py`), fed by the vendor's headers.
- **Authentication** by the provider's `Authenticator`, including OAuth2 refresh (`authentication.py`);
  a 401 triggers one forced refresh and one more try.
- **Metrics** for every attempt (`metrics.py`).
"""

from __future__ import annotations

import enum
import functools
import http.cookiejar
import ipaddress
import logging
import os
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from django.conf import settings

from apps.connectors import metrics
from apps.connectors.errors import (
    AccessDenied,
    AddressRefused,
    AuthenticationFailed,
    ConnectorError,
    InvalidRequest,
    RateLimited,
    RecordNotFound,
    RemoteConflict,
    UpstreamUnavailable,
)
from apps.connectors.rate_budget import (
    RateBudget,
    parse_rate_headers,
    parse_retry_after,
    rate_budget_enabled,
    shared_budget,
    wall_clock,
)
from apps.core.after_response import after_response

if TYPE_CHECKING:
    from apps.connectors.authentication import Authenticator
    from apps.connectors.connections import Connection

logger = logging.getLogger(__name__)

USER_AGENT = "nofx-control-plane/0.1 (connectors)"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def monotonic_ms() -> float:
    return time.perf_counter() * 1000


# -- Address guard ------------------------------------------------------------------------------------------


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", [])]


def address_is_allowed(address: str) -> bool:
    """Whether we may open a connection to this IP address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES:
        return True
    if any(ip in network for network in _allowed_networks()):
        return True
    return ip.is_global and not ip.is_multicast


def resolve_allowed(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, or AddressRefused when one of them is not allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AddressRefused(f"{host} does not resolve: {exc.strerror}.") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    refused = [a for a in addresses if not address_is_allowed(a)]
    if refused or not addresses:
        raise AddressRefused(
            f"{host} resolves to {', '.join(refused) or 'nothing'}, a private, loopback or link-local address; "
            "outbound calls there are not allowed on this platform."
        )
    return addresses


def check_url_allowed(url: str) -> None:
    """Refuse a base URL that is not http(s) or points at an address we may not call."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("Only http:// and https:// URLs with a host name are supported.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve_allowed(parts.hostname, port)
    if parts.scheme == "http" and not settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES:
        networks = _allowed_networks()
        if not all(any(ipaddress.ip_address(a) in n for n in networks) for a in addresses):
            raise AddressRefused("Plain http:// is only allowed for allow-listed private networks; use https://.")


class GuardedNetworkBackend(httpcore.NetworkBackend):
    """Opens each TCP connection to an address that passed the guard, whatever the URL said."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in resolve_allowed(host, port):
            try:
                return self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise AddressRefused("Unix sockets are not reachable from connectors.")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs tens of milliseconds: once per process, not once per connection.
    return httpx.create_ssl_context()


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the connection pool built on the guarded network backend."""

    def __init__(self, *, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30)
        super().__init__(limits=limits, verify=_ssl_context())
        # httpx does not take a network backend, so the pool it built is replaced by an equal one that does.
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(),
        )


def guarded_http_client(*, timeout: float = 30.0, follow_redirects: bool = True) -> httpx.Client:
    """A bare httpx client behind the address guard, for the rare call that is not a connector's."""
    return httpx.Client(
        transport=GuardedTransport(),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=follow_redirects,
        max_redirects=5,
        headers={"User-Agent": USER_AGENT},
        trust_env=False,
    )


class _NoCookieJar(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing.

    One process's client serves every connection of every organization, so a cookie a vendor sets on one
    connection's call (ServiceNow's session cookie, say) would ride along on the next connection's call to
    the same host, possibly as another user. Our calls authenticate with each connection's own
    credentials; no vendor API we call needs a cookie back.
    """

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        return None


_process_clients: dict[int, httpx.Client] = {}
_process_clients_lock = threading.Lock()


def shared_http_client() -> httpx.Client:
    """This process's pooled client behind the address guard, shared by every connector call.

    Keeping connections to a vendor alive across calls saves a TCP (and TLS) handshake on each action call.
    Keyed by process id so a worker forked from a parent that already made one never shares its sockets.
    Timeouts are given per request, since they differ per connection.
    """
    pid = os.getpid()
    client = _process_clients.get(pid)
    if client is None:
        with _process_clients_lock:
            client = _process_clients.get(pid)
            if client is None:
                client = guarded_http_client()
                client.cookies = _NoCookieJar()
                _process_clients.clear()
                _process_clients[pid] = client
    return client


@dataclass(frozen=True)
class PlainReply:
    """The answer to one request made outside any connector; `truncated` when the body was cut at the cap."""

    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool = False


def send_plain_request(
    *,
    method: str,
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    max_bytes: int = 1024 * 1024,
    follow_redirects: bool = False,
) -> PlainReply:
    """One HTTP request that is not a connector's (alert webhooks, IdP metadata, peer regions, app handshakes).

    The address guard applies to the first connection and to every redirect. Raises `AddressRefused` when
    the destination may not be called and `httpx.HTTPError` when the call does not complete. The body is
    read up to `max_bytes`; a longer one is cut there and the reply says so.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("Only http:// and https:// URLs with a host name are supported.")
    with (
        guarded_http_client(timeout=timeout, follow_redirects=follow_redirects) as client,
        client.stream(method, url, content=body, headers=dict(headers or {})) as response,
    ):
        chunks: list[bytes] = []
        size = 0
        truncated = False
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                truncated = True
                break
        data = b"".join(chunks)[:max_bytes]
        return PlainReply(status=response.status_code, headers=dict(response.headers), body=data, truncated=truncated)


# -- Classifying answers ------------------------------------------------------------------------------------


class Outcome(enum.Enum):
    OK = "ok"
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID = "invalid"


@dataclass(frozen=True)
class ResponseVerdict:
    outcome: Outcome
    message: str = ""
    retry_after: float | None = None


def classify_by_status(response: httpx.Response) -> ResponseVerdict:
    status = response.status_code
    if status < 400:
        return ResponseVerdict(Outcome.OK)
    if status == 429:
        return ResponseVerdict(Outcome.RATE_LIMITED)
    if status == 403 and (response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers):
        # GitHub answers 403 for primary and secondary rate limits.
        return ResponseVerdict(Outcome.RATE_LIMITED)
    if status == 401:
        return ResponseVerdict(Outcome.UNAUTHORIZED)
    if status == 403:
        return ResponseVerdict(Outcome.FORBIDDEN)
    if status in (404, 410):
        return ResponseVerdict(Outcome.NOT_FOUND)
    if status == 409:
        return ResponseVerdict(Outcome.CONFLICT)
    if status in (408, 425) or (status >= 500 and status != 501):
        return ResponseVerdict(Outcome.TRANSIENT)
    return ResponseVerdict(Outcome.INVALID)


def _error_text(response: httpx.Response) -> str:
    text = response.text[:500] if response.content else ""
    return f"{response.request.method} {response.request.url.path} answered {response.status_code}: {text}".strip()


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


def raise_for_verdict(response: httpx.Response, verdict: ResponseVerdict) -> None:
    message = verdict.message or _error_text(response)
    status, body = response.status_code, _body(response)
    errors: dict[Outcome, type[ConnectorError]] = {
        Outcome.UNAUTHORIZED: AuthenticationFailed,
        Outcome.FORBIDDEN: AccessDenied,
        Outcome.NOT_FOUND: RecordNotFound,
        Outcome.CONFLICT: RemoteConflict,
        Outcome.INVALID: InvalidRequest,
        Outcome.TRANSIENT: UpstreamUnavailable,
    }
    if verdict.outcome is Outcome.RATE_LIMITED:
        raise RateLimited(message, retry_after=verdict.retry_after, status=status)
    raise errors[verdict.outcome](message, status=status, body=body)


# -- The client -----------------------------------------------------------------------------------------------


@dataclass
class CallStats:
    """Running totals of one client, read by the benchmark and by sync runs' reports."""

    calls: int = 0
    attempts: int = 0
    retries: int = 0
    rate_limited_responses: int = 0
    budget_wait_seconds: float = 0.0
    token_refreshes: int = 0


class OutboundClient:
    """All HTTP of one connection."""

    def __init__(
        self,
        connection: Connection,
        *,
        authenticator: Authenticator | None = None,
        classify: Callable[[httpx.Response], ResponseVerdict | None] | None = None,
        budget: RateBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        http: httpx.Client | None = None,
    ) -> None:
        from apps.connectors.authentication import NoAuth

        self.connection = connection
        self.provider = connection.provider
        self.base_url = connection.base_url.rstrip("/")
        self.authenticator: Authenticator = authenticator or NoAuth()
        self.classify = classify
        self.budget = budget or (shared_budget() if rate_budget_enabled() else None)
        self.sleep = sleep
        self.stats = CallStats()
        self._origins = {_origin(self.base_url)}
        # A client handed in belongs to the caller (tests, the SDK); otherwise the process's shared pool is used.
        self._http = http or shared_http_client()
        self._timeout = httpx.Timeout(connection.timeout, connect=min(connection.timeout, 10.0))
        self._lock = threading.Lock()
        # Successful answers whose budget slot goes back after the response (see _give_back_after_response).
        self._answered: list[tuple[str | None, Any, float]] = []

    def close(self) -> None:
        """Nothing to release: connections stay in the pool of whoever owns the client."""

    def trust_origin(self, url: str) -> None:
        """Let authenticated calls go to another origin of the same vendor (e.g. Salesforce's instance URL)."""
        self._origins.add(_origin(url))

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base_url + "/", path_or_url.lstrip("/"))

    # -- Convenience ------------------------------------------------------------------------------------

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self.request(method, url, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise InvalidRequest(f"{method} {url} did not answer JSON.", status=response.status_code) from exc

    # -- The call ---------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        idempotency_header: str = "Idempotency-Key",
        authenticate: bool = True,
        use_budget: bool = True,
        accept: tuple[int, ...] = (),
        allow_foreign_origin: bool = False,
    ) -> httpx.Response:
        """Send one logical call (with its retries); return the response or raise a ConnectorError."""
        method = method.upper()
        target = self.url(url)
        if authenticate and not allow_foreign_origin and _origin(target) not in self._origins:
            raise AddressRefused(f"Refusing to send this connection's credentials to {_origin(target)}.")
        retry = self.connection.retry
        retry_safe = method in IDEMPOTENT_METHODS or idempotency_key is not None
        self.stats.calls += 1
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            request_headers = {"Accept": "application/json", **(headers or {})}
            if idempotency_key:
                request_headers[idempotency_header] = idempotency_key
            query: list[tuple[str, Any]] = list(params.items()) if isinstance(params, Mapping) else list(params or [])
            if authenticate:
                request_headers.update(self.authenticator.headers(self))
                query.extend(self.authenticator.params().items())
            token = self._take_budget() if use_budget else None
            started = time.perf_counter()
            self.stats.attempts += 1
            try:
                response = self._http.request(
                    method,
                    target,
                    params=query or None,
                    json=json,
                    data=data,
                    content=content,
                    headers=request_headers,
                    timeout=self._timeout,
                )
            except AddressRefused:
                self._give_back(token, None)
                raise
            except httpx.HTTPError as exc:
                self._give_back(token, None)
                metrics.REQUESTS.labels(self.provider, method, "error").inc()
                not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                if attempt < retry.max_attempts and (retry_safe or not_sent):
                    self._pause(retry.delay(attempt, None), "network")
                    continue
                raise UpstreamUnavailable(f"{method} {_origin(target)}: {type(exc).__name__}: {exc}") from exc
            elapsed = time.perf_counter() - started
            now = wall_clock()
            observation = parse_rate_headers(response.headers, now=now, status=response.status_code)
            metrics.REQUESTS.labels(self.provider, method, metrics.status_label(response.status_code)).inc()
            metrics.LATENCY.labels(self.provider).observe(elapsed)
            if response.status_code in accept:
                self._give_back_after_response(token, observation, now)
                return response
            verdict = (self.classify(response) if self.classify else None) or classify_by_status(response)
            if verdict.outcome is Outcome.OK:
                self._give_back_after_response(token, observation, now)
                return response
            self._give_back(token, observation)
            if verdict.outcome is Outcome.RATE_LIMITED:
                self.stats.rate_limited_responses += 1
                retry_after = verdict.retry_after
                if retry_after is None:
                    retry_after = parse_retry_after(response.headers.get("retry-after", ""), now)
                if retry_after is None and observation and observation.reset_at:
                    retry_after = max(observation.reset_at - now, 0.0)
                if retry_after is not None and retry_after > retry.max_retry_after:
                    raise RateLimited(
                        f"{self.provider} asks to wait {retry_after:.0f} s; try again later.",
                        retry_after=retry_after,
                        status=response.status_code,
                    )
                if attempt < retry.max_attempts:
                    self._pause(retry.delay(attempt, retry_after), "rate_limited")
                    continue
                raise_for_verdict(response, ResponseVerdict(Outcome.RATE_LIMITED, verdict.message, retry_after))
            if verdict.outcome is Outcome.UNAUTHORIZED and authenticate and not refreshed:
                refreshed = True
                if self.authenticator.refresh_after_unauthorized(self):
                    continue
            if verdict.outcome is Outcome.TRANSIENT and attempt < retry.max_attempts:
                retry_after = parse_retry_after(response.headers.get("retry-after", ""), now)
                vendor_says_retry = response.status_code == 503 and retry_after is not None
                short_enough = retry_after is None or retry_after <= retry.max_retry_after
                if (retry_safe or vendor_says_retry) and short_enough:
                    self._pause(retry.delay(attempt, retry_after), "server_error")
                    continue
            raise_for_verdict(response, verdict)

    # -- Budget and pauses ------------------------------------------------------------------------------------

    def _take_budget(self) -> str | None:
        if self.budget is None:
            return None
        self._settle_answered()
        token = uuid.uuid4().hex
        policy = self.connection.rate_limit
        waited = 0.0
        while True:
            wait = self.budget.acquire(self.connection.id, token, now=wall_clock(), policy=policy)
            if wait <= 0:
                break
            if waited + wait > policy.max_wait:
                self.stats.budget_wait_seconds += waited
                raise RateLimited(
                    f"The rate budget of this {self.provider} connection is spent for the next {wait:.1f} s.",
                    retry_after=wait,
                    status=None,
                )
            # Short naps: another worker's answer may free budget (or a fresher reset) before `wait` ends.
            nap = min(wait, 0.25)
            self.sleep(nap)
            waited += nap
        if waited:
            self.stats.budget_wait_seconds += waited
            metrics.BUDGET_WAIT.labels(self.provider).observe(waited)
        return token

    def _give_back(self, token: str | None, observation: Any) -> None:
        self._settle_answered()
        self._release(token, observation, wall_clock())

    def _release(self, token: str | None, observation: Any, now: float) -> None:
        if self.budget is not None and (token is not None or observation is not None):
            self.budget.release(self.connection.id, token or "-", now=now, observation=observation)

    def _give_back_after_response(self, token: str | None, observation: Any, now: float) -> None:
        """Hand a successful answer's slot back once the caller has its response (apps.core.after_response).

        The call stays counted in flight a few milliseconds longer, which only errs on the safe side, and
        the next call of this client settles it first, so an action making many calls never holds more
        than one slot it no longer needs. Outside a gateway call it is handed back now.
        """
        if self.budget is None or (token is None and observation is None):
            return
        with self._lock:
            self._answered.append((token, observation, now))
        after_response(self._settle_answered)

    def _settle_answered(self) -> None:
        with self._lock:
            answered, self._answered = self._answered, []
        for token, observation, now in answered:
            self._release(token, observation, now)

    def _pause(self, seconds: float, reason: str) -> None:
        self.stats.retries += 1
        metrics.RETRIES.labels(self.provider, reason).inc()
        logger.info("Retrying a %s call in %.2f s (%s).", self.provider, seconds, reason)
        self.sleep(seconds)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"
