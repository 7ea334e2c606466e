"""Run a declarative connector manifest's resources and actions against recorded responses or a sandbox.

Recorded responses are a JSON object keyed by `"<METHOD> <path>"`, each `{"status": 200, "body": ...}`; a
sandbox is any base URL that answers the connector's paths (a local fake of the vendor's API). For each
resource the runner reads its path and checks the records it gets back: a list (bare, or under `results`,
`items`, `data` or `records`), each with the resource's `idField`, and each field that `fields` describes
matching its schema. For each action with an `outputSchema` it checks the recorded answer against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from jsonschema import Draft202012Validator

RECORD_LIST_KEYS = ("results", "items", "data", "records")


@dataclass
class CheckResult:
    name: str
    ok: bool
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "messages": list(self.messages)}


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


class RecordedResponses:
    """Answers from a recording; a request nobody recorded answers 404 so the runner says which one."""

    def __init__(self, recordings: Mapping[str, Any]) -> None:
        self._recordings = dict(recordings)

    def request(self, method: str, path: str, body: Any = None) -> Answer:
        recorded = self._recordings.get(f"{method.upper()} {path}")
        if not isinstance(recorded, Mapping):
            return Answer(404, {"detail": f"nothing recorded for {method.upper()} {path}"})
        return Answer(int(recorded.get("status", 200)), recorded.get("body"))


class Sandbox:
    """A live sandbox of the vendor's API at `base_url`."""

    def __init__(self, base_url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=dict(headers or {}), timeout=timeout)

    def request(self, method: str, path: str, body: Any = None) -> Answer:
        response = self._http.request(method.upper(), path, json=body)
        try:
            payload = response.json()
        except ValueError:
            payload = response.text
        return Answer(response.status_code, payload)


def records_of(body: Any) -> list[Any] | None:
    if isinstance(body, list):
        return body
    if isinstance(body, Mapping):
        for key in RECORD_LIST_KEYS:
            if isinstance(body.get(key), list):
                return list(body[key])
    return None


def _check_resource(resource: Mapping[str, Any], backend: RecordedResponses | Sandbox) -> CheckResult:
    name = f"resource {resource.get('name')}"
    answer = backend.request("GET", str(resource.get("path", "/")))
    if not 200 <= answer.status < 300:
        return CheckResult(name, False, [f"GET {resource.get('path')} answered {answer.status}: {answer.body}"])
    records = records_of(answer.body)
    if records is None:
        return CheckResult(name, False, [f"GET {resource.get('path')} returned no list of records"])
    messages = []
    id_field = str(resource.get("idField"))
    validators = {
        key: Draft202012Validator(spec)
        for key, spec in (resource.get("fields") or {}).items()
        if isinstance(spec, dict)
    }
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            messages.append(f"record {index} is not an object")
            continue
        if id_field not in record:
            messages.append(f"record {index} has no {id_field!r} (the idField)")
        for key, validator in validators.items():
            if key in record:
                messages.extend(f"record {index}.{key}: {e.message}" for e in validator.iter_errors(record[key]))
    if messages:
        return CheckResult(name, False, messages)
    return CheckResult(name, True, [f"{len(records)} record(s) read"])


def _check_action(action: Mapping[str, Any], backend: RecordedResponses | Sandbox) -> CheckResult:
    name = f"action {action.get('name')}"
    method, path = str(action.get("method", "GET")), str(action.get("path", "/"))
    answer = backend.request(method, path)
    if not 200 <= answer.status < 300:
        return CheckResult(name, False, [f"{method} {path} answered {answer.status}: {answer.body}"])
    schema = action.get("outputSchema")
    if not isinstance(schema, dict):
        return CheckResult(name, True, [f"{method} {path} answered {answer.status}"])
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(answer.body)]
    return CheckResult(name, not errors, errors or ["output matches outputSchema"])


def run_connector(connector: Mapping[str, Any], backend: RecordedResponses | Sandbox) -> list[CheckResult]:
    """One result per resource and action of the connector manifest."""
    results = [_check_resource(r, backend) for r in connector.get("resources") or [] if isinstance(r, Mapping)]
    results += [_check_action(a, backend) for a in connector.get("actions") or [] if isinstance(a, Mapping)]
    return results
