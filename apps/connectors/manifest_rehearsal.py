"""Rehearsing a declarative connector manifest against responses recorded for it, without any network.

The marketplace's test step uses this before a connector extension is published: the manifest is loaded
into the same declarative runner (`ManifestProvider`) that serves organizations' connectors, and every
request it makes is answered from a recording the publisher ships beside the manifest. Nothing leaves the
process: the transport's client is handed an in-memory httpx transport, so the one door to the outside is
never opened, whatever the manifest's `base_url` says.

A recording is a JSON object:

    {
      "settings": {...}, "credentials": {...},       # a connection's configuration, checked by the manifest
      "responses": [                                 # answered in order of specificity: method + path
        {"method": "GET", "path": "/repos/acme/app/issues", "status": 200, "headers": {...}, "body": [...]}
      ],
      "actions": {"add_comment": {"input": {...}}}   # optional: actions to invoke, with their input
    }

The rehearsal runs the connection check, reads the first page of every stream (validating each record
against the stream's schema) and invokes every action the recording gives input for (validating the
output). Each failure is one problem; no problems means the manifest behaves on its recorded responses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from apps.connectors.connections import Connection, InMemoryCredentialsStore
from apps.connectors.errors import ConfigInvalid, ConnectorError
from apps.connectors.manifests import validate_manifest
from apps.connectors.policies import RetryPolicy
from apps.connectors.providers.base import schema_errors
from apps.connectors.providers.declarative import CustomManifestProvider
from apps.connectors.transport import OutboundClient

# A rehearsal never needs more than this many records of a stream to show that reading works.
REHEARSAL_PAGE_SIZE = 20


@dataclass(frozen=True)
class RehearsalProblem:
    """One way the manifest misbehaved: `where` is a dotted place in the manifest (`streams.issue`)."""

    where: str
    message: str


def _recorded_transport(responses: list[dict[str, Any]], calls: list[str]) -> httpx.MockTransport:
    answers: dict[tuple[str, str], dict[str, Any]] = {}
    for answer in responses:
        key = (str(answer.get("method", "GET")).upper(), "/" + str(answer.get("path", "")).lstrip("/"))
        answers.setdefault(key, answer)

    def reply(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        answer = answers.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(
                404, json={"message": f"No recorded response for {request.method} {request.url.path}."}
            )
        headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
        body = answer.get("body")
        if isinstance(body, str) and not headers.get("content-type", "").startswith("application/json"):
            return httpx.Response(int(answer.get("status", 200)), text=body, headers=headers)
        return httpx.Response(int(answer.get("status", 200)), content=json.dumps(body).encode(), headers=headers)

    return httpx.MockTransport(reply)


def _recording_problems(recording: Any) -> list[RehearsalProblem]:
    if not isinstance(recording, dict):
        return [RehearsalProblem("(recording)", "The recording is a JSON object.")]
    problems = []
    for key in ("settings", "credentials", "actions"):
        if not isinstance(recording.get(key, {}), dict):
            problems.append(RehearsalProblem(f"(recording).{key}", "Must be an object."))
    responses = recording.get("responses")
    if not isinstance(responses, list) or not all(isinstance(r, dict) for r in responses):
        problems.append(RehearsalProblem("(recording).responses", "Must be a list of recorded responses."))
    return problems


def rehearse_manifest(*, document: Any, recording: Any) -> list[RehearsalProblem]:
    """Every problem met running `document` on `recording`'s responses; empty when it all worked."""
    errors = validate_manifest(document)
    if errors:
        return [RehearsalProblem(str(e.get("field") or "(root)"), str(e["message"])) for e in errors]
    problems = _recording_problems(recording)
    if problems:
        return problems
    try:
        config = CustomManifestProvider.validate_manifest_config(
            document,
            base_url="",
            settings=recording.get("settings") or {},
            credentials=recording.get("credentials") or {},
        )
    except ConfigInvalid as exc:
        return [RehearsalProblem(str(e.get("field") or "(recording)"), str(e["message"])) for e in exc.errors or []]
    connection = Connection(
        id="rehearsal",
        provider="custom",
        base_url=config.base_url,
        settings=config.settings,
        credentials_store=InMemoryCredentialsStore(config.credentials),
        # A recorded answer does not change on a retry: one attempt says all there is to say.
        retry=RetryPolicy(max_attempts=1, base_delay=0.0, max_delay=0.0, max_retry_after=0.0),
        timeout=5.0,
        manifest=document,
    )
    calls: list[str] = []
    provider = CustomManifestProvider(connection)
    client = OutboundClient(
        connection,
        authenticator=provider.authenticator(),
        classify=provider.classify_response,
        sleep=lambda _seconds: None,
        http=httpx.Client(transport=_recorded_transport(recording["responses"], calls)),
    )
    client.budget = None  # no shared vendor quota to spend: nothing reaches a vendor
    provider._http = client  # the provider's one client, answered from the recording
    with provider:
        problems.extend(_rehearse(provider, document, recording))
    return problems


def _rehearse(
    provider: CustomManifestProvider, document: dict[str, Any], recording: dict[str, Any]
) -> list[RehearsalProblem]:
    problems: list[RehearsalProblem] = []
    check = provider.test_connection()
    if not check.ok:
        problems.append(RehearsalProblem("check", f"The connection check failed: {check.detail or check.error_code}"))
    for stream in document.get("streams", []):
        where = f"streams.{stream['name']}"
        try:
            page = provider.read_changes(stream["name"], None, page_size=REHEARSAL_PAGE_SIZE)
        except ConnectorError as exc:
            problems.append(RehearsalProblem(where, f"Reading failed: {exc.message}"))
            continue
        if not page.records:
            problems.append(RehearsalProblem(where, "Reading returned no records from the recorded responses."))
        for record in page.records:
            violations = schema_errors(stream["schema"], record.data, prefix="record")
            if violations:
                details = "; ".join(f"{v['field']}: {v['message']}" for v in violations[:5])
                problems.append(RehearsalProblem(where, f"Record {record.id} breaks the stream's schema: {details}"))
                break
    inputs = recording.get("actions") or {}
    for action in document.get("actions", []):
        given = inputs.get(action["name"])
        if not isinstance(given, dict):
            continue
        where = f"actions.{action['name']}"
        payload = given.get("input") or {}
        violations = schema_errors(action["input_schema"], payload, prefix="input")
        if violations:
            problems.append(
                RehearsalProblem(where, f"The recorded input breaks the input schema: {violations[0]['message']}")
            )
            continue
        try:
            output = provider.invoke(action["name"], payload)
        except ConnectorError as exc:
            problems.append(RehearsalProblem(where, f"Invoking failed: {exc.message}"))
            continue
        violations = schema_errors(action["output_schema"], output, prefix="output")
        if violations:
            details = "; ".join(f"{v['field']}: {v['message']}" for v in violations[:5])
            problems.append(RehearsalProblem(where, f"The output breaks the output schema: {details}"))
    return problems
