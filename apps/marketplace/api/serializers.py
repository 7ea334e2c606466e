from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from apps.marketplace.models import (
    Category,
    Extension,
    ExtensionVersion,
    Installation,
    Publisher,
    Review,
    ReviewReport,
)
from apps.marketplace.selectors import SORTS


class CategorySerializer(serializers.ModelSerializer[Category]):
    class Meta:
        model = Category
        fields = ("slug", "name", "description")


class PublisherSummarySerializer(serializers.ModelSerializer[Publisher]):
    verified = serializers.BooleanField(source="is_verified", read_only=True)

    class Meta:
        model = Publisher
        fields = ("slug", "name", "verified")


# Counters declared explicitly: a model's PositiveIntegerField would document a bound that depends on the database.
def _counter() -> serializers.IntegerField:
    return serializers.IntegerField(read_only=True, min_value=0)


class VersionSummarySerializer(serializers.ModelSerializer[ExtensionVersion]):
    certified = serializers.SerializerMethodField()
    package_size = _counter()

    class Meta:
        model = ExtensionVersion
        fields = ("id", "version", "published_at", "certified", "sha256", "package_size")

    def get_certified(self, version: ExtensionVersion) -> bool:
        return version.certified_at is not None


class ExtensionListSerializer(serializers.ModelSerializer[Extension]):
    """A catalog card."""

    id = serializers.CharField(source="slug", read_only=True, help_text="The manifest id, e.g. `acme.jira-sync`.")
    publisher = PublisherSummarySerializer(read_only=True)
    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    latest_version = serializers.CharField(source="latest_version.version", read_only=True, default=None)
    average_rating = serializers.FloatField(read_only=True, allow_null=True)
    certified = serializers.BooleanField(source="is_certified", read_only=True)
    deprecated = serializers.BooleanField(source="is_deprecated", read_only=True)
    active_installs = _counter()
    rating_count = _counter()

    class Meta:
        model = Extension
        fields = (
            "id",
            "name",
            "type",
            "summary",
            "publisher",
            "category",
            "tags",
            "pricing",
            "support_level",
            "certified",
            "deprecated",
            "latest_version",
            "active_installs",
            "average_rating",
            "rating_count",
            "published_at",
        )


class ExtensionDetailSerializer(ExtensionListSerializer):
    """The extension page: everything on the card plus what the latest version's manifest declares."""

    version = VersionSummarySerializer(source="latest_version", read_only=True)
    permissions = serializers.SerializerMethodField()
    plans = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()
    support = serializers.SerializerMethodField()
    ui = serializers.SerializerMethodField()
    dependencies = serializers.SerializerMethodField()
    changelog = serializers.CharField(source="latest_version.changelog", read_only=True, default="")

    class Meta(ExtensionListSerializer.Meta):
        fields: tuple[str, ...] = (  # type: ignore[assignment]
            *ExtensionListSerializer.Meta.fields,
            "version",
            "permissions",
            "plans",
            "links",
            "support",
            "ui",
            "dependencies",
            "changelog",
        )

    def _manifest(self, extension: Extension) -> dict[str, Any]:
        return (extension.latest_version.manifest if extension.latest_version else None) or {}

    @extend_schema_field(serializers.DictField())
    def get_permissions(self, extension: Extension) -> dict[str, Any]:
        return dict(self._manifest(extension).get("permissions") or {})

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_plans(self, extension: Extension) -> list[Any]:
        return list((self._manifest(extension).get("pricing") or {}).get("plans") or [])

    @extend_schema_field(serializers.DictField())
    def get_links(self, extension: Extension) -> dict[str, Any]:
        return dict(self._manifest(extension).get("links") or {})

    @extend_schema_field(serializers.DictField())
    def get_support(self, extension: Extension) -> dict[str, Any]:
        return dict(self._manifest(extension).get("support") or {})

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_ui(self, extension: Extension) -> list[Any]:
        return list(self._manifest(extension).get("ui") or [])

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_dependencies(self, extension: Extension) -> list[Any]:
        return list(self._manifest(extension).get("dependencies") or [])


class CatalogQuerySerializer(serializers.Serializer[Any]):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    type = serializers.ChoiceField(choices=["agent", "template", "connector", "workflow", "analytics"], required=False)
    category = serializers.SlugField(required=False)
    pricing = serializers.ChoiceField(choices=["free", "one_time", "subscription", "usage"], required=False)
    support_level = serializers.ChoiceField(choices=["community", "professional", "enterprise"], required=False)
    certified = serializers.BooleanField(required=False, allow_null=True, default=None)
    sort = serializers.ChoiceField(choices=SORTS, required=False, default="relevance")


class FacetValueSerializer(serializers.Serializer[Any]):
    value = serializers.JSONField()
    count = serializers.IntegerField()


class FacetsSerializer(serializers.Serializer[Any]):
    type = FacetValueSerializer(many=True)
    category = FacetValueSerializer(many=True)
    pricing = FacetValueSerializer(many=True)
    support_level = FacetValueSerializer(many=True)
    certified = FacetValueSerializer(many=True)


class CatalogPageSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField(help_text="How many extensions match.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ExtensionListSerializer(many=True)
    facets = FacetsSerializer()


class PublicReviewSerializer(serializers.ModelSerializer[Review]):
    version = serializers.CharField(source="version.version", read_only=True)

    class Meta:
        model = Review
        fields = ("id", "rating", "title", "body", "version", "created_at", "edited_at", "reply", "replied_at")


class ConsentScopeSerializer(serializers.Serializer[Any]):
    scope = serializers.CharField()
    description = serializers.CharField()
    grantable = serializers.BooleanField(help_text="Whether you hold this permission yourself and so may grant it.")


class ConsentSerializer(serializers.Serializer[Any]):
    extension = serializers.CharField(source="extension.slug")
    version = serializers.CharField(source="version.version", allow_null=True, default=None)
    permissions = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Echo this back as `accepted_permissions` when installing.",
    )
    scopes = ConsentScopeSerializer(many=True)
    plans = serializers.ListField(child=serializers.DictField())
    config_schema = serializers.DictField(allow_null=True)
    secret_fields = serializers.ListField(child=serializers.CharField())
    webhook_events = serializers.ListField(child=serializers.CharField())
    can_install = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())


class PublicVersionSerializer(serializers.ModelSerializer[ExtensionVersion]):
    extension = serializers.CharField(source="extension.slug", read_only=True)
    certified = serializers.SerializerMethodField()
    package_size = _counter()

    class Meta:
        model = ExtensionVersion
        fields = (
            "id",
            "extension",
            "version",
            "published_at",
            "certified",
            "sha256",
            "signature",
            "signing_key_id",
            "package_size",
            "permissions",
            "changelog",
        )

    def get_certified(self, version: ExtensionVersion) -> bool:
        return version.certified_at is not None


# -- Publishers ------------------------------------------------------------------------------------------


class PublisherSerializer(serializers.ModelSerializer[Publisher]):
    accept_terms = serializers.BooleanField(write_only=True, required=False, default=False)

    class Meta:
        model = Publisher
        fields = ("id", "slug", "name", "website", "verification", "verified_at", "accept_terms", "created_at")
        read_only_fields = ("id", "verification", "verified_at", "created_at")


class PublisherUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=120, required=False)
    website = serializers.URLField(required=False, allow_blank=True)


# Named apart from compliance findings in the schema: these are the pipeline's rule results.
@extend_schema_serializer(component_name="PipelineFinding")
class FindingSerializer(serializers.Serializer[Any]):
    rule_id = serializers.CharField(help_text="Stable id of the rule, e.g. MKT-S004.")
    title = serializers.CharField(help_text="What the rule requires.")
    step = serializers.ChoiceField(choices=["validate", "scan", "test"])
    severity = serializers.ChoiceField(choices=["error", "warning", "info"])
    message = serializers.CharField(help_text="What was found and how to fix it.")
    file = serializers.CharField(allow_null=True, help_text="Path inside the package.")
    line = serializers.IntegerField(allow_null=True)
    mode = serializers.ChoiceField(choices=["monitor", "enforced", "required"])
    outcome = serializers.ChoiceField(choices=["reject", "quarantine"])
    blocking = serializers.BooleanField(help_text="Whether this finding stopped the version.")
    inconclusive = serializers.BooleanField(required=False)


class PublisherVersionSerializer(serializers.ModelSerializer[ExtensionVersion]):
    extension = serializers.CharField(source="extension.slug", read_only=True)
    findings = FindingSerializer(many=True, read_only=True)
    certified = serializers.SerializerMethodField()

    class Meta:
        model = ExtensionVersion
        fields = (
            "id",
            "extension",
            "version",
            "status",
            "status_reason",
            "steps",
            "findings",
            "certified",
            "sha256",
            "signature",
            "package_size",
            "auto_publish",
            "created_at",
            "published_at",
            "yanked_at",
        )
        read_only_fields = fields

    def get_certified(self, version: ExtensionVersion) -> bool:
        return version.certified_at is not None


class VersionUploadSerializer(serializers.Serializer[Any]):
    package = serializers.FileField(help_text="The extension package: a zip with nofx-extension.json at its root.")
    auto_publish = serializers.BooleanField(required=False, default=True)


class YankSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000)


class PublisherExtensionSerializer(ExtensionListSerializer):
    total_installs = _counter()

    class Meta(ExtensionListSerializer.Meta):
        fields: tuple[str, ...] = (*ExtensionListSerializer.Meta.fields, "total_installs", "downloads")  # type: ignore[assignment]


class PublisherExtensionUpdateSerializer(serializers.Serializer[Any]):
    deprecated = serializers.BooleanField()


class AnalyticsRowSerializer(serializers.Serializer[Any]):
    day = serializers.DateField()
    kind = serializers.CharField()
    currency = serializers.CharField(allow_blank=True)
    quantity = serializers.IntegerField()
    amount_cents = serializers.IntegerField()


class AnalyticsQuerySerializer(serializers.Serializer[Any]):
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)
    export = serializers.ChoiceField(choices=["csv"], required=False, help_text="`csv` downloads the rows as CSV.")


class InstallBreakdownRowSerializer(serializers.Serializer[Any]):
    version = serializers.CharField(required=False)
    region = serializers.CharField(required=False)
    count = serializers.IntegerField()


class InstallBreakdownSerializer(serializers.Serializer[Any]):
    by_version = InstallBreakdownRowSerializer(many=True)
    by_region = InstallBreakdownRowSerializer(many=True)


class ReplySerializer(serializers.Serializer[Any]):
    text = serializers.CharField(max_length=5000)


class PublisherReviewSerializer(PublicReviewSerializer):
    extension = serializers.CharField(source="extension.slug", read_only=True)

    class Meta(PublicReviewSerializer.Meta):
        fields: tuple[str, ...] = (*PublicReviewSerializer.Meta.fields, "extension", "status")  # type: ignore[assignment]


# -- Installations -------------------------------------------------------------------------------------


class InstallationSerializer(serializers.ModelSerializer[Installation]):
    extension = serializers.CharField(source="extension.slug", read_only=True)
    version = serializers.CharField(source="version.version", read_only=True)
    pending_version = serializers.CharField(source="pending_version.version", read_only=True, default=None)
    secret_fields = serializers.SerializerMethodField(
        help_text="Names of stored secret fields (values are never shown)."
    )

    class Meta:
        model = Installation
        fields = (
            "id",
            "extension",
            "version",
            "status",
            "status_reason",
            "plan",
            "granted_permissions",
            "config",
            "secret_fields",
            "pending_version",
            "created_at",
            "activated_at",
            "disabled_at",
            "uninstalled_at",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_secret_fields(self, installation: Installation) -> list[str]:
        secret: dict[str, Any] = installation.secret_config or {}
        return sorted(secret)


class PermissionsSerializer(serializers.Serializer[Any]):
    scopes = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    egress = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    dataClasses = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class InstallSerializer(serializers.Serializer[Any]):
    extension = serializers.CharField(help_text="The extension id, e.g. `acme.jira-sync`.")
    accepted_permissions = PermissionsSerializer(help_text="Exactly the permissions the consent screen showed.")
    config = serializers.DictField(required=False, default=dict)
    plan = serializers.CharField(required=False, allow_blank=True, default="")


class ConfigureSerializer(serializers.Serializer[Any]):
    config = serializers.DictField()


class ApproveUpdateSerializer(serializers.Serializer[Any]):
    accepted_permissions = PermissionsSerializer()


class DisableSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


# -- Reviews -------------------------------------------------------------------------------------------


class ReviewSerializer(serializers.ModelSerializer[Review]):
    extension = serializers.CharField(help_text="The extension id.")
    version = serializers.CharField(source="version.version", read_only=True)

    class Meta:
        model = Review
        fields = (
            "id",
            "extension",
            "version",
            "rating",
            "title",
            "body",
            "status",
            "created_at",
            "edited_at",
            "reply",
            "replied_at",
        )
        read_only_fields = ("id", "version", "status", "created_at", "edited_at", "reply", "replied_at")

    def to_representation(self, instance: Review) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["extension"] = instance.extension.slug
        return data


class ReviewUpdateSerializer(serializers.Serializer[Any]):
    rating = serializers.IntegerField(min_value=1, max_value=5, required=False)
    title = serializers.CharField(max_length=120, required=False, allow_blank=True)
    body = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class ReviewReportSerializer(serializers.ModelSerializer[ReviewReport]):
    review = serializers.UUIDField(source="review_id")

    class Meta:
        model = ReviewReport
        fields = ("id", "review", "reason", "status", "created_at", "resolved_at")
        read_only_fields = ("id", "status", "created_at", "resolved_at")


class UsageEventSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(max_length=100, help_text="Your id for this report; a repeat is ignored.")
    quantity = serializers.IntegerField(min_value=1, max_value=10**9)


class RuleSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    step = serializers.CharField()
    title = serializers.CharField()
    outcome = serializers.CharField()
    mode = serializers.CharField()


class SigningKeySerializer(serializers.Serializer[Any]):
    key_id = serializers.CharField()
    algorithm = serializers.CharField()
    public_key_pem = serializers.CharField()
