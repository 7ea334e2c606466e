from __future__ import annotations

from apps.marketplace.consent_wording import SCOPE_SENTENCES, describe_permissions
from nofx_sdk.rules.manifest import manifest_json_schema


def test_every_scope_a_manifest_may_ask_for_has_a_sentence() -> None:
    schema = manifest_json_schema()
    allowed = schema["$defs"]["Permissions"]["properties"]["scopes"]["items"]["enum"]

    assert set(allowed) <= set(SCOPE_SENTENCES)


def test_permissions_read_as_sentences_in_order() -> None:
    sentences = describe_permissions(
        {"scopes": ["connectors.operate"], "egress": ["*.acme.io", "*"], "dataClasses": ["personal", "public"]}
    )

    assert [(s.kind, s.text, s.sensitive) for s in sentences] == [
        (
            "scope",
            "Test your connectors and run their actions (this can change data in connected systems).",
            True,
        ),
        ("egress", "Send data to servers under acme.io.", False),
        ("egress", "Send data to any server on the internet.", True),
        ("data", "Handle personal data about people (names, email addresses, identifiers).", True),
        ("data", "Handle public information that may be shared freely.", False),
    ]


def test_an_unknown_data_class_still_reads_as_a_sentence() -> None:
    (sentence,) = describe_permissions({"dataClasses": ["telemetry"]})

    assert sentence.text == "Handle data classified as telemetry."
