"""Moving an organization to another region: export, transfer, verify, switch, purge - each step audited."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import override_settings

from apps.accounts.models import Invitation, Membership, Organization, Team, User
from apps.accounts.roles import Role
from apps.accounts.services import create_invitation, create_organization, create_team
from apps.core.exceptions import BusinessRuleViolation, Conflict
from apps.regions import organization_moves as moves
from apps.regions import replication
from apps.regions.backups import backup_root
from apps.regions.models import DirectoryEntry, MoveStatus, OrganizationMove, RegionStatus, RuleEffect
from apps.regions.residency import ResidencyViolation
from apps.security.audit_chain import verify_all_chains
from apps.security.models import AuditChainHead, AuditEvent
from tests.factories.accounts import MembershipFactory, UserFactory
from tests.factories.regions import RegionFactory, ResidencyRuleFactory

pytestmark = pytest.mark.django_db


class TargetRegion:
    """The target region's import endpoint on loopback: checks the signature and answers with `report`."""

    def __init__(self) -> None:
        self.report: dict[str, Any] = {}
        self.status = 200
        self.bundles: list[dict[str, Any]] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                replication.verify_signature(body, self.headers[replication.SIGNATURE_HEADER])
                target.bundles.append(json.loads(body))
                self.send_response(target.status)
                self.end_headers()
                self.wfile.write(json.dumps(target.report).encode())

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def target(settings) -> Iterator[TargetRegion]:
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    server = TargetRegion()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(autouse=True)
def backups(settings, tmp_path):
    settings.REGION_BACKUP_DIR = str(tmp_path)


@pytest.fixture
def regions(target):
    RegionFactory(code="us-east")
    RegionFactory(code="eu-west", public_url=target.url)
    RegionFactory(code="ap-southeast", status=RegionStatus.STANDBY)


@pytest.fixture
def acme(regions):
    owner = UserFactory(email="owner@acme.example")
    organization = create_organization(name="Acme", owner=owner, home_region_code="us-east")
    platform = create_team(organization=organization, name="Platform", actor=owner)
    create_team(organization=organization, name="Integrations", parent=platform, actor=owner)
    MembershipFactory(organization=organization, user=UserFactory(email="dev@acme.example"), role=Role.DEVELOPER)
    create_invitation(organization=organization, email="new@acme.example", role=Role.VIEWER, actor=owner)
    return organization


def _run_to(move: OrganizationMove, target: TargetRegion, until: str) -> None:
    target.report = {"counts": move.counts, "hashes": move.hashes}
    moves.continue_move(move=move, until=until)


def test_a_move_exports_a_frozen_organization_with_counts_and_hashes(acme):
    # given
    move = moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)
    # when
    path = moves.export_organization(move=move)
    # then
    acme.refresh_from_db()
    assert not acme.is_active
    bundle = json.loads(path.read_text())
    assert bundle["organization_id"] == str(acme.pk)
    assert move.counts == {
        "accounts.organization": 1,
        "accounts.user": 2,
        "accounts.membership": 2,
        "accounts.team": 2,
        "accounts.teammembership": 0,
        "accounts.invitation": 1,
        "security.auditevent": AuditEvent.objects.filter(chain=str(acme.pk)).count(),
        "security.auditchainhead": 1,
    }
    assert {len(rows) for label, rows in bundle["tables"].items() if label != "accounts.teammembership"} >= {1, 2}
    assert move.status == MoveStatus.EXPORTED
    assert AuditEvent.objects.filter(action="regions.organization_move_exported", target_id=str(move.pk)).exists()


def test_the_whole_move_switches_the_home_and_purges_the_source(acme, target):
    # given a person who also belongs to another organization here, and one who does not
    other = create_organization(
        name="Other", owner=User.objects.get(email="dev@acme.example"), home_region_code="us-east"
    )
    move = moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)
    moves.export_organization(move=move)
    chain_before = list(AuditEvent.objects.filter(chain=str(acme.pk)).values_list("seq", "hash"))
    # when
    _run_to(move, target, "purge")
    # then the target received the bundle, signed
    assert target.bundles[0]["organization_id"] == str(acme.pk)
    # and the organization is gone from here, its home is eu-west in the directory, people here stay only if
    # they still belong somewhere here
    move.refresh_from_db()
    assert move.status == MoveStatus.PURGED
    assert not Organization.objects.filter(pk=acme.pk).exists()
    assert not Team.objects.filter(organization_id=acme.pk).exists()
    assert not Invitation.objects.filter(organization_id=acme.pk).exists()
    assert DirectoryEntry.objects.get(key=str(acme.pk)).region_code == "eu-west"
    assert not User.objects.filter(email="owner@acme.example").exists()
    assert Membership.objects.filter(organization=other, user__email="dev@acme.example").exists()
    # and the audit log keeps the organization's chain untouched, plus every step on the platform chain
    assert list(AuditEvent.objects.filter(chain=str(acme.pk)).values_list("seq", "hash")) == chain_before
    steps = AuditEvent.objects.filter(action__startswith="regions.organization_move_").values_list("action", flat=True)
    assert [s.rsplit("_", 1)[1] for s in steps.order_by("id")] == [
        "requested", "exported", "imported", "verified", "switched", "purged",
    ]  # fmt: skip
    assert not (backup_root() / move.bundle_file).exists()


def test_the_switch_makes_this_region_redirect_before_the_purge(acme, target, client):
    move = moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)
    moves.export_organization(move=move)

    _run_to(move, target, "switch")

    acme.refresh_from_db()
    assert acme.home_region_code == "eu-west"
    response = client.get(f"/orgs/{acme.slug}/")
    assert response.status_code == 302
    assert response["Location"].startswith(target.url)


def test_a_target_that_holds_different_rows_fails_the_move_before_the_switch(acme, target):
    move = moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)
    moves.export_organization(move=move)
    target.report = {"counts": {**move.counts, "accounts.membership": 1}, "hashes": move.hashes}

    with pytest.raises(moves.MoveError, match=r"accounts\.membership"):
        moves.continue_move(move=move)

    move.refresh_from_db()
    assert move.status == MoveStatus.FAILED
    acme.refresh_from_db()
    assert acme.home_region_code == "us-east"


def test_a_target_that_refuses_the_import_fails_the_move(acme, target):
    move = moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)
    moves.export_organization(move=move)
    target.status = 422

    with pytest.raises(moves.MoveError, match="did not import"):
        moves.transfer_organization(move=move)

    assert OrganizationMove.objects.get().status == MoveStatus.FAILED
    assert AuditEvent.objects.filter(action="regions.organization_move_failed").exists()


def test_a_tampered_bundle_is_not_sent(acme, target):
    move = moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)
    path = moves.export_organization(move=move)
    path.write_text(path.read_text().replace("Acme", "Evil"))

    with pytest.raises(moves.MoveError, match="changed on disk"):
        moves.transfer_organization(move=move)

    assert target.bundles == []


@pytest.mark.parametrize(
    ("target_region", "error", "code"),
    [
        ("us-east", BusinessRuleViolation, "same_region"),
        ("ap-southeast", BusinessRuleViolation, "region_not_available"),
        ("xx-nowhere", BusinessRuleViolation, "region_not_available"),
    ],
)
def test_a_move_to_a_region_that_cannot_take_it_is_refused(acme, target_region, error, code):
    with pytest.raises(error) as refused:
        moves.request_organization_move(organization=acme, target_region_code=target_region, actor=None)

    assert refused.value.code == code
    assert not OrganizationMove.objects.exists()


def test_a_move_that_residency_rules_forbid_is_refused_and_recorded(acme):
    from apps.regions.models import Region

    ResidencyRuleFactory(region=Region.objects.get(code="us-east"), effect=RuleEffect.DENY, location_pattern="eu-*")

    with pytest.raises(ResidencyViolation):
        moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)

    assert AuditEvent.objects.filter(action="regions.residency_refused", data__purpose="organization move").exists()


def test_only_one_move_at_a_time_and_steps_only_in_order(acme):
    move = moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)

    with pytest.raises(Conflict):
        moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)
    with pytest.raises(Conflict, match="needs it exported"):
        moves.transfer_organization(move=move)


def test_an_organization_homed_elsewhere_is_moved_from_its_home(regions):
    organization = create_organization(name="Globex", owner=UserFactory(), home_region_code="eu-west")

    with pytest.raises(BusinessRuleViolation, match="move it from there"):
        moves.request_organization_move(organization=organization, target_region_code="us-east", actor=None)


# -- The target side --------------------------------------------------------------------------------------------


def _post_bundle(client, bundle: bytes):
    return client.post(
        "/regions/organization-imports/",
        bundle,
        content_type="application/json",
        headers={replication.SIGNATURE_HEADER: replication.sign(bundle)},
    )


def test_the_target_imports_the_bundle_and_reports_the_same_counts_and_hashes(acme, client):
    # given an export, and then this database made to look like the target region's (which has never seen
    # the organization, but already knows one of its people)
    move = moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)
    path = moves.export_organization(move=move)
    org_id = acme.pk
    Invitation.objects.filter(organization_id=org_id).delete()
    Membership.objects.filter(organization_id=org_id).delete()
    Team.objects.filter(organization_id=org_id, parent__isnull=False).delete()
    Team.objects.filter(organization_id=org_id).delete()
    Organization.objects.filter(pk=org_id).delete()
    User.objects.filter(email="owner@acme.example").delete()
    AuditEvent.objects.filter(chain=str(org_id)).delete()
    AuditChainHead.objects.filter(chain=str(org_id)).delete()
    # when
    with override_settings(REGION_CODE="eu-west"):
        response = _post_bundle(client, path.read_bytes())
    # then
    assert response.status_code == 200, response.content
    assert response.json() == {"counts": move.counts, "hashes": move.hashes}
    imported = Organization.objects.get(pk=org_id)
    assert (imported.home_region_code, imported.is_active) == ("eu-west", True)
    assert Team.objects.get(organization=imported, slug="integrations").parent.slug == "platform"
    assert verify_all_chains(chains=[str(org_id)]).ok
    assert User.objects.get(email="owner@acme.example").check_password("correct-horse-battery-staple")


def test_the_target_refuses_an_organization_it_has_already(acme, client):
    move = moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)
    path = moves.export_organization(move=move)

    with override_settings(REGION_CODE="eu-west"):
        response = _post_bundle(client, path.read_bytes())

    assert response.status_code == 422
    assert "exists here already" in response.json()["detail"]


@pytest.mark.parametrize(
    "bundle",
    [
        b"nope",
        b"[]",
        b'{"format": 2, "tables": {}}',
        b'{"format": 1, "tables": {}, "target_region": "us-east"}',
        b'{"format": 1, "tables": {}, "target_region": "eu-west", "organization_id": "not-a-uuid"}',
        b'{"format": 1, "tables": {"accounts.organization": [{"pk": 1}]}, "target_region": "eu-west",'
        b' "organization_id": "6f0c3a4e-1d2b-4c5d-8e9f-0a1b2c3d4e5f"}',
    ],
)
def test_the_target_refuses_a_bundle_that_is_not_for_it(client, bundle):
    with override_settings(REGION_CODE="eu-west"):
        response = _post_bundle(client, bundle)

    assert response.status_code == 422


def test_the_import_endpoint_needs_a_signature(client):
    response = client.post("/regions/organization-imports/", b"{}", content_type="application/json")

    assert response.status_code == 401


def test_the_move_command_dry_run_lists_the_steps(acme):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("move_organization", acme.slug, "eu-west", "--dry-run", stdout=out)

    assert "open a new move" in out.getvalue()
    assert not OrganizationMove.objects.exists()


def test_an_abandoned_move_unfreezes_the_organization(acme):
    move = moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)
    moves.export_organization(move=move)

    moves.abandon_organization_move(move=move)

    acme.refresh_from_db()
    assert acme.is_active
    assert acme.home_region_code == "us-east"
    assert OrganizationMove.objects.get().status == MoveStatus.FAILED
    assert AuditEvent.objects.filter(action="regions.organization_move_abandoned").exists()


def test_a_switched_move_cannot_be_abandoned(acme, target):
    move = moves.request_organization_move(organization=acme, target_region_code="eu-west", actor=None)
    moves.export_organization(move=move)
    _run_to(move, target, "switch")

    with pytest.raises(Conflict, match="switched already"):
        moves.abandon_organization_move(move=move)


def test_an_evacuation_lists_the_organizations_it_would_move(acme):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("evacuate_region", "us-east", "--to", "eu-west", "--dry-run", stdout=out)

    assert f"  {acme.slug}\n" in out.getvalue()
    assert "1 organization(s)" in out.getvalue()
    with pytest.raises(CommandError, match="run the evacuation in eu-west"):
        call_command("evacuate_region", "eu-west", "--to", "us-east")


def test_an_evacuation_stops_placements_and_reports_organizations_it_could_not_move(acme):
    from django.core.management import CommandError, call_command

    from apps.regions.models import Region

    ResidencyRuleFactory(region=Region.objects.get(code="us-east"), effect=RuleEffect.DENY, location_pattern="eu-*")

    with pytest.raises(CommandError, match="1 organization"):
        call_command("evacuate_region", "us-east", "--to", "eu-west")

    assert Region.objects.get(code="us-east").status == RegionStatus.DEGRADED
    acme.refresh_from_db()
    assert (acme.home_region_code, acme.is_active) == ("us-east", True)


def test_the_target_accepts_a_bundle_larger_than_djangos_upload_limit(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    bundle = json.dumps({"format": 1, "tables": {}, "target_region": "us-east", "padding": "x" * 4096}).encode()

    response = _post_bundle(client, bundle)

    # Read whole and signature-checked: refused for what it says (no organization), not for its size.
    assert response.status_code == 422
    assert "does not name the organization" in response.json()["detail"]
