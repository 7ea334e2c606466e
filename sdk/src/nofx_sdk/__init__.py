"""The NOFX extension SDK: the API client, manifest models, rules, webhook helpers, CLI and pytest plugin."""

__version__ = "0.1.0"
