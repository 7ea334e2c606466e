"""The provider registry: kind -> dotted path, imported only when a connector of that kind is used."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

from apps.connectors.errors import ConfigInvalid

if TYPE_CHECKING:
    from apps.connectors.connections import Connection
    from apps.connectors.providers.base import Provider

PROVIDERS: dict[str, str] = {
    "github": "apps.connectors.providers.github.GitHubProvider",
    "github_declarative": "apps.connectors.providers.declarative.GitHubManifestProvider",
    "gitlab": "apps.connectors.providers.gitlab.GitLabProvider",
    "jira": "apps.connectors.providers.jira.JiraProvider",
    "servicenow": "apps.connectors.providers.servicenow.ServiceNowProvider",
    "salesforce": "apps.connectors.providers.salesforce.SalesforceProvider",
    "azure_devops": "apps.connectors.providers.azure_devops.AzureDevOpsProvider",
    "slack": "apps.connectors.providers.slack.SlackProvider",
    "teams": "apps.connectors.providers.teams.TeamsProvider",
    # An organization's own declarative connector: the manifest comes from the connector's ConnectorManifest.
    "custom": "apps.connectors.providers.declarative.CustomManifestProvider",
}


@cache
def get_provider_class(kind: str) -> type[Provider]:
    try:
        path = PROVIDERS[kind]
    except KeyError:
        raise ConfigInvalid(
            f"Unknown provider {kind!r}.",
            errors=[
                {
                    "field": "provider",
                    "message": f"Choose one of: {', '.join(sorted(PROVIDERS))}.",
                    "code": "invalid_choice",
                }
            ],
        ) from None
    provider_class: type[Provider] = import_string(path)
    return provider_class


def build_provider(connection: Connection) -> Provider:
    """The provider instance for one connection (see `apps.connectors.connections`)."""
    if connection.manifest is not None:
        from apps.connectors.providers.declarative import ManifestProvider

        return ManifestProvider(connection, manifest=connection.manifest)
    return get_provider_class(connection.provider)(connection)
