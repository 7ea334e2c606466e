"""The extension manifest (`nofx-extension.json` or `nofx-extension.yaml`) as pydantic models.

The published JSON Schema is generated from these models (`manifest_json_schema()`), so the schema, the
platform and the SDK can never disagree.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from nofx_sdk.rules.semver import InvalidRange, InvalidVersion, Version, VersionRange

MANIFEST_NAMES = ("nofx-extension.json", "nofx-extension.yaml", "nofx-extension.yml")
SCHEMA_ID = "https://nofx.dev/schemas/nofx-extension.schema.json"

EXTENSION_ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z0-9]+(?:-[a-z0-9]+)*$"
HOST_PATTERN = r"^(\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d{1,5})?$|^\*$"


class ExtensionType(StrEnum):
    AGENT = "agent"
    TEMPLATE = "template"
    CONNECTOR = "connector"
    WORKFLOW = "workflow"
    ANALYTICS = "analytics"


# Types whose payload is an externally hosted app, reached through its URLs.
APP_TYPES = frozenset({ExtensionType.AGENT, ExtensionType.ANALYTICS})
# Types whose payload is a declarative file in the package, named by `entryPoint`.
FILE_TYPES = frozenset({ExtensionType.CONNECTOR, ExtensionType.WORKFLOW, ExtensionType.TEMPLATE})


class SupportLevel(StrEnum):
    COMMUNITY = "community"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


class PricingModel(StrEnum):
    FREE = "free"
    ONE_TIME = "one_time"
    SUBSCRIPTION = "subscription"
    USAGE = "usage"


class DataClass(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    PERSONAL = "personal"
    SENSITIVE_PERSONAL = "sensitive_personal"
    FINANCIAL = "financial"
    HEALTH = "health"
    CREDENTIALS = "credentials"


# The platform permissions an extension may ask for. Each is a named permission of the platform; the person
# installing must hold every scope themselves to grant it.
API_SCOPES: tuple[str, ...] = (
    "organization.view",
    "members.view",
    "teams.view",
    "audit.view",
    "connectors.view",
    "connectors.operate",
    "connectors.manage",
    "workflows.view",
    "workflows.operate",
    "workflows.manage",
    "gateway.view",
    "billing.view",
    "security.view",
    "compliance.view",
)

WEBHOOK_EVENTS: tuple[str, ...] = (
    "installation.created",
    "installation.updated",
    "installation.configured",
    "installation.disabled",
    "installation.enabled",
    "installation.uninstalled",
    "workflow.run_completed",
    "connector.health_changed",
    "record.synced",
)


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Author(_Model):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    url: AnyHttpUrl | None = None


class PriceTier(_Model):
    up_to: int | None = Field(default=None, ge=1, description="Upper bound of the tier; null for the last tier.")
    unit_amount: int = Field(ge=0, description="Minor currency units per unit.")


class PricingPlan(_Model):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
    name: Annotated[str, Field(min_length=1, max_length=80)]
    model: PricingModel
    amount: int | None = Field(default=None, ge=0, description="Minor currency units (cents).")
    currency: str | None = Field(default=None, pattern=r"^[a-z]{3}$")
    interval: Literal["month", "year"] | None = None
    trial_days: int | None = Field(default=None, ge=0, le=365)
    per_seat: bool = False
    meter: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    unit_amount: int | None = Field(default=None, ge=0)
    tiers: list[PriceTier] | None = None

    @model_validator(mode="after")
    def _fields_fit_the_model(self) -> PricingPlan:
        if self.model == PricingModel.FREE:
            if self.amount not in (None, 0):
                raise ValueError("a free plan has no amount")
            return self
        if not self.currency:
            raise ValueError(f"a {self.model} plan needs a currency")
        if self.model in (PricingModel.ONE_TIME, PricingModel.SUBSCRIPTION) and not self.amount:
            raise ValueError(f"a {self.model} plan needs an amount")
        if self.model == PricingModel.SUBSCRIPTION and not self.interval:
            raise ValueError("a subscription plan needs an interval (month or year)")
        if self.model == PricingModel.USAGE and (not self.meter or (self.unit_amount is None and not self.tiers)):
            raise ValueError("a usage plan needs a meter and a unitAmount or tiers")
        return self


class Pricing(_Model):
    plans: Annotated[list[PricingPlan], Field(min_length=1, max_length=10)]

    @field_validator("plans")
    @classmethod
    def _unique_ids(cls, plans: list[PricingPlan]) -> list[PricingPlan]:
        ids = [p.id for p in plans]
        if len(ids) != len(set(ids)):
            raise ValueError("plan ids must be unique")
        return plans


class Support(_Model):
    level: SupportLevel = SupportLevel.COMMUNITY
    url: AnyHttpUrl | None = None
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Links(_Model):
    homepage: AnyHttpUrl | None = None
    privacy: AnyHttpUrl | None = None
    support: AnyHttpUrl | None = None
    source: AnyHttpUrl | None = None


class Permissions(_Model):
    scopes: list[Literal[API_SCOPES]] = Field(default_factory=list)  # type: ignore[valid-type]
    egress: list[Annotated[str, Field(pattern=HOST_PATTERN, max_length=253)]] = Field(
        default_factory=list, description="Hosts the extension's payload may contact (host, host:port or *.domain)."
    )
    data_classes: list[DataClass] = Field(default_factory=list)

    @field_validator("scopes", "egress", "data_classes")
    @classmethod
    def _no_duplicates(cls, values: list[Any]) -> list[Any]:
        if len(values) != len(set(values)):
            raise ValueError("must not repeat an entry")
        return values


def _version_range(value: str) -> str:
    try:
        VersionRange.parse(value)
    except InvalidRange as exc:
        raise ValueError(str(exc)) from exc
    return value


# A version range (`^1.2`, `>=1.0.0 <2.0.0`), refused with the parser's reason when it is not one.
RangeText = Annotated[str, AfterValidator(_version_range)]


class Dependency(_Model):
    id: Annotated[str, Field(pattern=EXTENSION_ID_PATTERN)]
    version: RangeText = Field(description="A version range, e.g. ^1.2 or >=1.0.0 <2.0.0.")


class Requires(_Model):
    platform: RangeText = Field(description="The platform versions the extension works with, as a range.")


class Webhooks(_Model):
    events: list[Literal[WEBHOOK_EVENTS]] = Field(default_factory=list)  # type: ignore[valid-type]


class UiLink(_Model):
    label: Annotated[str, Field(min_length=1, max_length=60)]
    url: AnyHttpUrl


class Screenshot(_Model):
    """A picture of the extension at work, shipped in the package and shown on its marketplace page."""

    path: Annotated[str, Field(min_length=5, max_length=200, pattern=r"^[^\\]+\.(png|jpe?g)$")]
    caption: Annotated[str, Field(max_length=200)] = ""


class App(_Model):
    """An externally hosted app (agent, analytics): the platform only calls these URLs."""

    base_url: AnyHttpUrl
    registration_url: AnyHttpUrl = Field(description="Receives the install token once, on installation.")
    webhook_url: AnyHttpUrl | None = None
    ui_url: AnyHttpUrl | None = None


class Manifest(_Model):
    schema_: str | None = Field(default=None, alias="$schema")
    id: Annotated[str, Field(pattern=EXTENSION_ID_PATTERN, max_length=100, description="publisher.name")]
    version: str
    type: ExtensionType
    name: Annotated[str, Field(min_length=2, max_length=80)]
    description: Annotated[str, Field(min_length=10, max_length=5000)]
    author: Author
    category: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,49}$")]
    tags: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,29}$")]] = Field(default_factory=list, max_length=10)
    pricing: Pricing = Field(
        default_factory=lambda: Pricing(plans=[PricingPlan(id="free", name="Free", model=PricingModel.FREE)])
    )
    support: Support = Field(default_factory=Support)
    links: Links = Field(default_factory=Links)
    permissions: Permissions = Field(default_factory=Permissions)
    dependencies: list[Dependency] = Field(default_factory=list, max_length=20)
    requires: Requires
    entry_point: str | None = Field(default=None, max_length=200, pattern=r"^[^\\]+$")
    config_schema: dict[str, Any] | None = Field(
        default=None, description='A JSON Schema for the installation\'s configuration; mark secrets "secret": true.'
    )
    webhooks: Webhooks = Field(default_factory=Webhooks)
    ui: list[UiLink] = Field(default_factory=list, max_length=10)
    screenshots: list[Screenshot] = Field(default_factory=list, max_length=8)
    app: App | None = None
    changelog: str | None = Field(default=None, max_length=20000)

    @field_validator("version")
    @classmethod
    def _is_semver(cls, value: str) -> str:
        try:
            Version.parse(value)
        except InvalidVersion as exc:
            raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _payload_fits_the_type(self) -> Manifest:
        if self.type in APP_TYPES and self.app is None:
            raise ValueError(f"an {self.type} extension needs an `app` block with its URLs")
        if self.type in FILE_TYPES and not self.entry_point:
            raise ValueError(f"a {self.type} extension needs an `entryPoint` naming its definition file")
        if self.type in FILE_TYPES and self.app is not None:
            raise ValueError(f"a {self.type} extension is declarative: it has no `app`")
        if any(d.id == self.id for d in self.dependencies):
            raise ValueError("an extension cannot depend on itself")
        return self

    @property
    def semver(self) -> Version:
        return Version.parse(self.version)

    def secret_config_fields(self) -> list[str]:
        """Top-level configSchema properties marked `"secret": true` (stored encrypted, never shown back)."""
        props = (self.config_schema or {}).get("properties") or {}
        return sorted(name for name, spec in props.items() if isinstance(spec, dict) and spec.get("secret") is True)

    def app_urls(self) -> list[str]:
        if self.app is None:
            return []
        return [
            str(u) for u in (self.app.base_url, self.app.registration_url, self.app.webhook_url, self.app.ui_url) if u
        ]


class ManifestSyntaxError(ValueError):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def load_manifest_document(text: str, filename: str) -> Any:
    """Parse the manifest text (JSON or YAML by its file name) into plain data."""
    if filename.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestSyntaxError(f"not valid JSON: {exc.msg}", exc.lineno) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestSyntaxError(f"not valid YAML: {problem}", mark.line + 1 if mark else None) from exc


def line_of(text: str, path: tuple[str | int, ...]) -> int | None:
    """The line (from 1) where the value at `path` starts in a JSON or YAML manifest, or None.

    JSON is (all but) a subset of YAML, so one YAML node walk serves both formats.
    """
    try:
        node: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def manifest_json_schema() -> dict[str, Any]:
    """The published JSON Schema of the manifest, generated from the models."""
    schema = Manifest.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "NOFX extension manifest",
    }
