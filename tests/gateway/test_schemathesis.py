"""schemathesis against the running API, as an API client: no server error, no undocumented response.

It starts the app on a live server, gives an API client a roomy plan and every scope an API key may carry
(every read scope and every write scope machines may hold, so the fuzzing reaches the views instead of
403s) but `gateway:write` (with it, schemathesis would suspend its own client or revoke its own key
halfway through the run; the key-management paths are covered by tests/gateway/api/), and runs
schemathesis' CLI with every check over the schema the app serves. Examples per operation are few and
the seed is fixed, so the run is bounded and repeatable.

Two settings of the checks, both about requests that are valid by the schema yet refused by the domain:
- 422 is an expected answer to schema-valid data: it is how the API reports a broken business rule
  (an expiry in the past; an Idempotency-Key reused for another request, which schemathesis does when it
  sends the same generated key with different bodies);
- where a body names another object by id, an id that is not in the caller's organization answers 400
  (DRF's related-field validation, `errors[].field` names it), so 400 is expected there too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from apps.gateway import services
from apps.gateway.scopes import SCOPES
from tests.factories.gateway import ApiClientFactory, PlanFactory

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Operations whose bodies reference other objects by id.
REFERENCING = [
    "POST /api/v1/teams/",
    "PATCH /api/v1/teams/{id}/",
    "POST /api/v1/teams/{id}/members/",
    "POST /api/v1/invitations/",
    "POST /api/v1/api-keys/",
    "POST /api/v1/client-certificates/",
    "POST /api/v1/compliance-assessments/",
    "POST /api/v1/compliance-evidence/",
    "POST /api/v1/connectors/",
    "POST /api/v1/notification-routes/",
    "POST /api/v1/workflows/",
    "POST /api/v1/workflows/from-template/",
]
# A package's content is checked by the pipeline's rules (an empty or broken zip is a 400 with the reason),
# which a schema cannot say: any bytes fit `format: binary`.
CONTENT_CHECKED = ["POST /api/v1/publisher-versions/"]
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]


def _config() -> str:
    # Every check, set here rather than with `--checks all`, which would override the per-operation settings.
    lines = ["[checks]", "enabled = true", ""]
    lines += ["[checks.positive_data_acceptance]", f"expected-statuses = {ACCEPTED!r}".replace("'", '"')]
    for name in [*REFERENCING, *CONTENT_CHECKED]:
        lines += [
            "",
            "[[operations]]",
            f'include-name = "{name}"',
            "checks.positive_data_acceptance.expected-statuses = " + repr([*ACCEPTED, "400"]).replace("'", '"'),
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_server_error_and_no_undocumented_response(live_server, organization, tmp_path):
    # given an API client that may call everything, as often as schemathesis likes
    plan = PlanFactory(rate_per_minute=1_000_000, burst=100_000)
    scopes = [scope for scope in SCOPES if scope != "gateway:write"]
    client = ApiClientFactory(organization=organization, plan=plan, allowed_scopes=scopes)
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config())
    _key, token = services.issue_api_key(client=client, actor=None, name="schemathesis")
    # when
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{live_server.url}/api/schema/?format=json",
            "--url",
            live_server.url,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "3",
            "--generation-allow-x00",
            "false",
            "--seed",
            "20261125",
            "--no-shrink",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--max-time",
            "180",
            "--header",
            f"Authorization: Bearer {token}",
            "--report-dir",
            str(tmp_path),
        ],
        # Its cache of found crashes goes to the temporary directory, not the repository.
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    # then
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
