"""Local stand-ins for the eight vendor APIs (see docs/connectors/sandboxes.md). Name -> dotted path."""

SANDBOXES: dict[str, str] = {
    "github": "apps.connectors.sandboxes.github.GitHubSandbox",
    "gitlab": "apps.connectors.sandboxes.gitlab.GitLabSandbox",
    "jira": "apps.connectors.sandboxes.jira.JiraSandbox",
    "servicenow": "apps.connectors.sandboxes.servicenow.ServiceNowSandbox",
    "salesforce": "apps.connectors.sandboxes.salesforce.SalesforceSandbox",
    "azure_devops": "apps.connectors.sandboxes.azure_devops.AzureDevOpsSandbox",
    "slack": "apps.connectors.sandboxes.slack.SlackSandbox",
    "teams": "apps.connectors.sandboxes.teams.TeamsSandbox",
}
