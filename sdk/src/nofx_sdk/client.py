"""A typed client for the platform's public REST API (the parts extension developers use).

Every call goes through `OPERATIONS`, a table of (method, path template, query parameters) per operation.
The SDK's tests check that table against the platform's committed OpenAPI schema, so the client cannot ask
for a path, method or parameter the API does not have.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

Method = Literal["GET", "POST", "PATCH", "DELETE"]


@dataclass(frozen=True)
class Operation:
    method: Method
    path: str
    query: tuple[str, ...] = ()


OPERATIONS: dict[str, Operation] = {
    "manifest_schema": Operation("GET", "/api/v1/extension-manifest-schema/"),
    "rules": Operation("GET", "/api/v1/extension-rules/"),
    "signing_key": Operation("GET", "/api/v1/extension-signing-key/"),
    "report_usage": Operation("POST", "/api/v1/extension-usage/"),
    "list_extensions": Operation("GET", "/api/v1/extensions/", ("q", "type", "limit", "offset")),
    "get_extension": Operation("GET", "/api/v1/extensions/{slug}/"),
    "extension_consent": Operation("GET", "/api/v1/extensions/{slug}/consent/"),
    "list_publishers": Operation("GET", "/api/v1/publishers/"),
    "create_publisher": Operation("POST", "/api/v1/publishers/"),
    "upload_version": Operation("POST", "/api/v1/publisher-versions/"),
    "list_versions": Operation("GET", "/api/v1/publisher-versions/", ("extension", "status", "cursor", "page_size")),
    "get_version": Operation("GET", "/api/v1/publisher-versions/{id}/"),
    "publish_version": Operation("POST", "/api/v1/publisher-versions/{id}/publish/"),
    "yank_version": Operation("POST", "/api/v1/publisher-versions/{id}/yank/"),
    "list_installations": Operation("GET", "/api/v1/installations/", ("extension", "status", "cursor", "page_size")),
    "install_extension": Operation("POST", "/api/v1/installations/"),
    "get_installation": Operation("GET", "/api/v1/installations/{id}/"),
}


class ApiError(Exception):
    """The API answered with an error (a problem+json document when the platform sent one)."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        super().__init__(self.describe())

    def describe(self) -> str:
        detail = self.problem.get("detail") or self.problem.get("title") or "request failed"
        errors = self.problem.get("errors")
        text = f"HTTP {self.status}: {detail}"
        if isinstance(errors, list) and errors:
            text += "".join(f"\n  - {_describe_error(e)}" for e in errors)
        return text


def _describe_error(error: Any) -> str:
    if not isinstance(error, Mapping):
        return str(error)
    where = error.get("field") or error.get("attr") or ""
    code = error.get("code") or ""
    message = error.get("detail") or error.get("message") or ""
    return " ".join(part for part in (code, f"{where}:" if where else "", message) if part)


class NofxClient:
    """Calls the API as a developer or an organization: `token` is an OAuth2 access token (or an API key),
    sent as `Authorization: Bearer <token>`."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "nofx-sdk"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NofxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one door ------------------------------------------------------------------------------------

    def call(
        self,
        name: str,
        *,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Call an operation of `OPERATIONS` by name; returns the decoded JSON body (None for no content)."""
        operation = OPERATIONS[name]
        unknown = set(query or {}) - set(operation.query)
        if unknown:
            raise ValueError(f"{name} takes no query parameter {', '.join(sorted(unknown))}")
        path = operation.path.format(**(path_params or {}))
        params = {k: v for k, v in (query or {}).items() if v is not None}
        extra = dict(headers or {})
        if operation.method == "POST":
            # Writes are retried safely by the platform when they carry the same key.
            extra.setdefault("Idempotency-Key", str(uuid.uuid4()))
        response = self._http.request(
            operation.method, path, params=params, json=json, files=files, data=data, headers=extra
        )
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:500]}
            raise ApiError(response.status_code, problem if isinstance(problem, Mapping) else {"detail": problem})
        if not response.content:
            return None
        return response.json()

    def _pages(self, name: str, query: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        params = dict(query)
        while True:
            page = self.call(name, query=params)
            if isinstance(page, list):
                yield from page
                return
            yield from page.get("results", [])
            following = page.get("next")
            if not following:
                return
            cursor = httpx.URL(following).params.get("cursor")
            if not cursor:
                return
            params["cursor"] = cursor

    # -- reference ---------------------------------------------------------------------------------------

    def manifest_schema(self) -> dict[str, Any]:
        return dict(self.call("manifest_schema"))

    def rules(self) -> list[dict[str, Any]]:
        return list(self.call("rules"))

    # -- publishing --------------------------------------------------------------------------------------

    def publishers(self) -> list[dict[str, Any]]:
        return list(self._pages("list_publishers", {}))

    def create_publisher(self, *, slug: str, name: str, accept_terms: bool, website: str = "") -> dict[str, Any]:
        body = {"slug": slug, "name": name, "accept_terms": accept_terms, "website": website}
        return dict(self.call("create_publisher", json=body))

    def upload_version(
        self, package: bytes, *, filename: str = "package.zip", auto_publish: bool = True
    ) -> dict[str, Any]:
        """Upload a package; the pipeline starts at once. Returns the version (status `pending` or later)."""
        files = {"package": (filename, package, "application/zip")}
        data = {"auto_publish": "true" if auto_publish else "false"}
        return dict(self.call("upload_version", files=files, data=data))

    def version(self, version_id: str) -> dict[str, Any]:
        return dict(self.call("get_version", path_params={"id": version_id}))

    def versions(self, *, extension: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        return list(self._pages("list_versions", {"extension": extension, "status": status}))

    def publish_version(self, version_id: str) -> dict[str, Any]:
        return dict(self.call("publish_version", path_params={"id": version_id}))

    def yank_version(self, version_id: str, *, reason: str) -> dict[str, Any]:
        return dict(self.call("yank_version", path_params={"id": version_id}, json={"reason": reason}))

    # -- catalog and installations -----------------------------------------------------------------------

    def extension(self, slug: str) -> dict[str, Any]:
        return dict(self.call("get_extension", path_params={"slug": slug}))

    def consent(self, slug: str) -> dict[str, Any]:
        return dict(self.call("extension_consent", path_params={"slug": slug}))

    def install(
        self,
        slug: str,
        *,
        accepted_permissions: Mapping[str, Any],
        config: Mapping[str, Any] | None = None,
        plan: str = "",
    ) -> dict[str, Any]:
        body = {
            "extension": slug,
            "accepted_permissions": dict(accepted_permissions),
            "config": dict(config or {}),
            "plan": plan,
        }
        return dict(self.call("install_extension", json=body))

    def installations(self, *, extension: str | None = None) -> list[dict[str, Any]]:
        return list(self._pages("list_installations", {"extension": extension}))


class InstallTokenClient:
    """What an installed agent or analytics app uses to call back with the install token it was given
    (`nxi_...`) at registration."""

    def __init__(self, base_url: str, install_token: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self._client = NofxClient(base_url, install_token, transport=transport)

    def close(self) -> None:
        self._client.close()

    def report_usage(self, *, event_id: str, quantity: int = 1) -> None:
        """Report metered usage; the platform counts each `event_id` once, so retrying is safe."""
        self._client.call("report_usage", json={"id": event_id, "quantity": quantity})
