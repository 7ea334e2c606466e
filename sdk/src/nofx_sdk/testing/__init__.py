"""Test helpers for extension authors: a fake platform and a connector-manifest runner, as pytest fixtures."""
