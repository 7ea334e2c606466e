"""Deletes propagate both ways under the `propagate` policy (GitLab issues, which can be deleted)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.connectors import services as connector_services
from apps.connectors.sandboxes.gitlab import GitLabSandbox
from apps.sync import services
from apps.sync.models import DataMovement, DeletePolicy, Direction, LinkState, RecordLink
from tests.sync.conftest import FAST_RETRY

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def gitlab_pair_servers() -> Iterator[tuple[GitLabSandbox, GitLabSandbox]]:
    left, right = GitLabSandbox().start(), GitLabSandbox().start()
    yield left, right
    left.stop()
    right.stop()


@pytest.fixture
def gitlabs(gitlab_pair_servers, loopback_allowed):
    for sandbox in gitlab_pair_servers:
        sandbox.reset()
    return gitlab_pair_servers


@pytest.fixture
def workflow(gitlabs, organization, owner):
    def connect(sandbox, name):
        config = sandbox.demo_connection()
        return connector_services.create_connector(
            organization=organization,
            actor=None,
            name=name,
            provider=config["provider"],
            base_url=sandbox.url,
            settings_=config["settings"],
            credentials=config["credentials"],
            retry_policy=FAST_RETRY,
        )

    left, right = gitlabs
    return services.create_workflow(
        organization=organization,
        actor=owner,
        name="GitLab mirror",
        source_connector=connect(left, "GitLab A"),
        source_object_type="issue",
        target_connector=connect(right, "GitLab B"),
        target_object_type="issue",
        direction=Direction.BIDIRECTIONAL,
        delete_policy=DeletePolicy.PROPAGATE,
        mappings=[
            {"source": "title", "target": "title", "required": True},
            {"source": "description", "target": "description"},
        ],
    )


def test_a_record_deleted_on_either_side_is_deleted_on_the_other(gitlabs, workflow, run_sync):
    # given two issues in step on both sides
    left, right = gitlabs
    first, second = left.add_issue("Printer"), left.add_issue("Scanner")
    run_sync(workflow)
    assert sorted(i["title"] for i in right.issues.values()) == ["Printer", "Scanner"]
    links = {link.source_id: link for link in RecordLink.objects.filter(workflow=workflow)}
    # when the first is deleted at the source and a webhook names it
    del left.issues[first["iid"]]
    run_sync(workflow, refs=[{"side": "source", "id": str(first["iid"]), "deleted": True}])
    # then its partner is deleted on the target
    assert [i["title"] for i in right.issues.values()] == ["Scanner"]
    # when the second is deleted on the target
    target_id = links[str(second["iid"])].target_id
    del right.issues[int(target_id)]
    run_sync(workflow, refs=[{"side": "target", "id": target_id, "deleted": True}])
    # then its partner is deleted at the source
    assert left.issues == {}
    assert set(RecordLink.objects.filter(workflow=workflow).values_list("state", flat=True)) == {LinkState.DELETED}
    deletes = DataMovement.objects.filter(workflow=workflow, operation="delete").order_by("occurred_at")
    assert [m.direction for m in deletes] == ["to_target", "to_source"]
