"""How to fix what each pipeline rule reports, in the developer's terms. Keyed by the rules' stable ids."""

from __future__ import annotations

REMEDIES: dict[str, str] = {
    "MKT-V001": "Build the package as a standard zip archive (for example `nofx ext pack`); other formats are refused.",
    "MKT-V002": "Put `nofx-extension.json` (or `.yaml`) at the root of the archive, not inside a folder.",
    "MKT-V003": "Fix the syntax error at the line shown; a JSON linter or `nofx ext validate` points at it.",
    "MKT-V004": "Change the manifest so it matches the schema: see the manifest reference for each field's type "
    "and allowed values.",
    "MKT-V005": "Raise `version` above every version you uploaded before; numbers are never reused.",
    "MKT-V006": "Depend only on published extensions, with a version range that one of their versions satisfies.",
    "MKT-V007": "Remove the dependency that leads back to this extension.",
    "MKT-V008": "Widen `requires.platform` so it includes the platform version named in the message.",
    "MKT-V009": "Add the file named by `entryPoint` to the package, or correct the path.",
    "MKT-V010": "Make `configSchema` a valid JSON Schema object (type, properties, required).",
    "MKT-V011": "Keep the manifest `id` of the extension you are uploading a version of.",
    "MKT-V012": "Add each file named under `screenshots` to the package as a PNG or JPEG of at most 1 MiB.",
    "MKT-S001": "Make the package smaller: leave out build output, tests and large assets.",
    "MKT-S002": "Ship fewer files: bundle assets, leave out what the extension does not need.",
    "MKT-S003": "Remove files that compress suspiciously well or unpack to a very large size.",
    "MKT-S004": "Use relative paths inside the package only; no `..` and no absolute paths.",
    "MKT-S005": "Replace symbolic links with the files themselves.",
    "MKT-S006": "Remove the secret from the file, revoke it at its issuer, and read it from the installation's "
    "secret configuration instead.",
    "MKT-S007": "Remove the flagged call (process execution, dynamic code); an operator reviews quarantined versions.",
    "MKT-S008": "Declarative extensions carry no executable code; move logic to your hosted app.",
    "MKT-S009": "Contact only public hosts; private, loopback and link-local addresses are refused.",
    "MKT-S010": "Name the exact hosts in `permissions.egress` instead of a bare `*`.",
    "MKT-S011": "Choose an id and name that do not imitate another publisher's extension.",
    "MKT-S012": "Add every host the extension contacts to `permissions.egress`.",
    "MKT-T001": "Fix the connector manifest as the message says; the connector framework's schema is the reference.",
    "MKT-T002": "Fix the workflow definition as the message says.",
    "MKT-T003": "Use only connectors the platform knows in the workflow's source and target.",
    "MKT-T004": 'Answer POST requests to your registration URL with 200 and `{"challenge": "<the challenge sent>"}`.',
}


def remedy_for(rule_id: str) -> str:
    return REMEDIES.get(rule_id, "Read the message and the rule's title; the docs list every rule.")
