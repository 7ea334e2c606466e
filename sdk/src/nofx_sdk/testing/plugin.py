"""The `nofx` pytest plugin (registered through the `pytest11` entry point): fixtures that stand in for the
platform so extension authors test without our servers."""

from __future__ import annotations
