"""A fake of the platform's API on loopback, for testing extensions and the CLI without our servers.

It keeps versions in memory and runs the SDK's copy of the pipeline's static rules on each upload (validate,
scan, then the payload checks), so a package it publishes is one the platform's static checks pass. It does
not certify or sign packages and knows nothing of billing; installations come only from `install()`.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from nofx_sdk import checking
from nofx_sdk.rules import Finding, PackageContext, read_package
from nofx_sdk.rules.checks import loaded_document
from nofx_sdk.webhooks import DELIVERY_HEADER, EVENT_HEADER, signature_headers


@dataclass
class FakeInstallation:
    id: str
    extension: str
    token: str
    webhook_secret: str
    usage: list[dict[str, Any]] = field(default_factory=list)


def multipart_file(content_type: str, body: bytes, name: str) -> bytes | None:
    """The bytes of form field `name` in a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


class FakePlatform:
    """Start with `start()`, stop with `stop()`; `url` is its base URL, `token` the developer token it accepts."""

    def __init__(self) -> None:
        self.token = "nofx-test-" + secrets.token_hex(8)
        self.versions: dict[str, dict[str, Any]] = {}
        self.installations: dict[str, FakeInstallation] = {}
        self.requests: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake platform first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakePlatform:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- what tests set up and send ----------------------------------------------------------------------

    def install(self, extension: str) -> FakeInstallation:
        """An installation of `extension`, with the install token and webhook secret the app would receive."""
        installation = FakeInstallation(
            id=str(uuid.uuid4()),
            extension=extension,
            token="nxi_" + secrets.token_hex(16),
            webhook_secret=secrets.token_hex(16),
        )
        self.installations[installation.id] = installation
        return installation

    def send_webhook(
        self, url: str, installation: FakeInstallation, event: str, data: dict[str, Any] | None = None
    ) -> httpx.Response:
        """Deliver `event` to the app at `url`, signed as the platform signs it."""
        delivery_id = str(uuid.uuid4())
        payload = {
            "id": delivery_id,
            "event": event,
            "installation_id": installation.id,
            "organization_id": "00000000-0000-0000-0000-000000000002",
            "extension": installation.extension,
            "version": "0.0.0",
            "data": data or {},
        }
        body = json.dumps(payload, sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery_id,
            **signature_headers(installation.webhook_secret, body),
        }
        return httpx.post(url, content=body, headers=headers, timeout=10)

    # -- the API ------------------------------------------------------------------------------------------

    def _upload(self, data: bytes) -> tuple[int, dict[str, Any]]:
        package = read_package(data)
        document, _early = loaded_document(package) if package.archive is not None else (None, [])
        if not isinstance(document, dict):
            refusal = checking.validate_and_scan(data)
            return 422, {"detail": "The package has no readable manifest.", "errors": [f.as_dict() for f in refusal]}
        ext_id = str(document.get("id"))
        earlier = tuple(v["version"] for v in self.versions.values() if v["extension"] == ext_id)
        context = PackageContext(expected_id=ext_id, earlier_versions=earlier)
        steps: dict[str, Any] = {}
        findings: list[Finding] = []
        status = "published"
        for step, found in (
            ("validate", checking.validate_and_scan(data, context)),
            ("test", checking.payload_findings(data, context)),
        ):
            findings += found
            blocking = checking.blocking(found)
            steps[step] = {"status": "failed" if blocking else "passed"}
            if blocking:
                status = "rejected"
                break
        version_id = str(uuid.uuid4())
        version: dict[str, Any] = {
            "id": version_id,
            "extension": ext_id,
            "version": str(document.get("version")),
            "status": status,
            "status_reason": "" if status == "published" else "Blocking findings.",
            "steps": steps,
            "findings": [f.as_dict() for f in findings],
        }
        self.versions[version_id] = version
        return 201, version

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes, headers: Any) -> tuple[int, Any]:
        self.requests.append((method, path))
        authorization = headers.get("Authorization", "")
        if path == "/api/v1/extension-usage/" and method == "POST":
            token = authorization.removeprefix("Bearer ")
            match = [i for i in self.installations.values() if i.token == token]
            if not match:
                return 401, {"detail": "Present a valid install token.", "code": "invalid_install_token"}
            match[0].usage.append(json.loads(body or b"{}"))
            return 202, None
        if authorization != f"Bearer {self.token}":
            return 401, {"detail": "Authentication credentials were not provided."}
        if path == "/api/v1/publisher-versions/" and method == "POST":
            package = multipart_file(headers.get("Content-Type", ""), body, "package")
            if package is None:
                return 400, {"detail": "Send the package as multipart/form-data field `package`."}
            return self._upload(package)
        if path == "/api/v1/publisher-versions/" and method == "GET":
            rows = [
                v
                for v in self.versions.values()
                if v["extension"] == query.get("extension", v["extension"])
                and v["status"] == query.get("status", v["status"])
            ]
            return 200, {"next": None, "previous": None, "results": rows}
        parts = path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "publisher-versions"] and len(parts) >= 4:
            version = self.versions.get(parts[3])
            if version is None:
                return 404, {"detail": "Not found."}
            if len(parts) == 4 and method == "GET":
                return 200, version
            if parts[4:] == ["yank"] and method == "POST":
                if version["status"] != "published":
                    return 409, {"detail": "Only a published version can be yanked.", "code": "not_published"}
                version.update(status="yanked", status_reason=json.loads(body or b"{}").get("reason", ""))
                return 200, version
        return 404, {"detail": f"The fake platform does not serve {method} {path}."}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _serve(self, method: str) -> None:
                parsed = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, payload = platform._route(method, parsed.path, query, body, self.headers)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler
