from apps.security.models import AuditEvent, IPRule
from tests.factories.security import IPRuleFactory


def test_an_admin_creates_changes_and_deletes_an_ip_rule_and_each_is_audited(owner_client, organization):
    created = owner_client.post("/api/v1/ip-rules/", {"cidr": "192.0.2.7", "action": "deny", "note": "scanner"})
    assert created.status_code == 201
    assert created.json()["cidr"] == "192.0.2.7/32"
    rule_id = created.json()["id"]

    changed = owner_client.patch(f"/api/v1/ip-rules/{rule_id}/", {"action": "allow"})
    deleted = owner_client.delete(f"/api/v1/ip-rules/{rule_id}/")

    assert changed.json()["action"] == "allow"
    assert deleted.status_code == 204
    assert not IPRule.objects.exists()
    actions = list(AuditEvent.objects.for_organization(organization).values_list("action", flat=True))
    assert actions == ["security.ip_rule_created", "security.ip_rule_updated", "security.ip_rule_deleted"]


def test_a_network_with_host_bits_or_garbage_is_a_400_on_the_field(owner_client):
    for cidr in ("192.0.2.7/24", "nonsense", ""):
        response = owner_client.post("/api/v1/ip-rules/", {"cidr": cidr, "action": "deny"})

        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "cidr"


def test_an_unknown_action_is_a_400(owner_client):
    response = owner_client.post("/api/v1/ip-rules/", {"cidr": "192.0.2.0/24", "action": "maybe"})

    assert response.status_code == 400


def test_global_rules_are_not_listed_or_reachable_by_organizations(owner_client, organization):
    IPRuleFactory(organization=None)
    mine = IPRuleFactory(organization=organization)

    listed = owner_client.get("/api/v1/ip-rules/").json()["results"]

    assert [r["id"] for r in listed] == [str(mine.pk)]


def test_a_viewer_cannot_change_ip_rules(api_client, viewer):
    api_client.force_authenticate(viewer)

    assert api_client.post("/api/v1/ip-rules/", {"cidr": "192.0.2.0/24", "action": "deny"}).status_code == 403


def test_listing_ip_rules_takes_a_constant_number_of_queries(owner_client, organization, django_assert_max_num_queries):
    for n in range(20):
        IPRuleFactory(organization=organization, cidr=f"192.0.2.{n}/32")

    with django_assert_max_num_queries(4):
        response = owner_client.get("/api/v1/ip-rules/?page_size=50")

    assert len(response.json()["results"]) == 20


def test_an_admin_cannot_block_their_own_address_or_start_an_allow_list_without_it(owner_client):
    deny_self = owner_client.post(
        "/api/v1/ip-rules/", {"cidr": "127.0.0.0/8", "action": "deny"}, REMOTE_ADDR="127.0.0.1"
    )
    allow_elsewhere = owner_client.post(
        "/api/v1/ip-rules/", {"cidr": "192.0.2.0/24", "action": "allow"}, REMOTE_ADDR="127.0.0.1"
    )
    allow_own = owner_client.post(
        "/api/v1/ip-rules/", {"cidr": "127.0.0.0/8", "action": "allow"}, REMOTE_ADDR="127.0.0.1"
    )
    then_elsewhere = owner_client.post(
        "/api/v1/ip-rules/", {"cidr": "192.0.2.0/24", "action": "allow"}, REMOTE_ADDR="127.0.0.1"
    )

    assert deny_self.status_code == 422
    assert deny_self.json()["errors"][0]["code"] == "would_lock_you_out"
    assert allow_elsewhere.status_code == 422
    assert (allow_own.status_code, then_elsewhere.status_code) == (201, 201)
