import factory

from apps.connectors.models import Connector
from tests.factories.accounts import OrganizationFactory


class ConnectorFactory(factory.django.DjangoModelFactory[Connector]):
    """A stored connector row (no provider validation): for tests that only need one to exist."""

    class Meta:
        model = Connector

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Connector {n}")
    provider = "github"
    base_url = "https://api.github.com"
    settings = factory.LazyFunction(lambda: {"owner": "nofx-demo", "repo": "integrations"})
    credentials = factory.LazyFunction(lambda: {"token": "ghp_not_a_real_token"})
    capabilities = factory.LazyFunction(lambda: ["comment_on_issue"])
