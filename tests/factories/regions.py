import factory
from django.utils import timezone

from apps.regions.models import (
    BackupRecord,
    BackupStatus,
    DirectoryEntry,
    DirectoryKind,
    Region,
    RegionStatus,
    ResidencyRule,
    RuleEffect,
)


class RegionFactory(factory.django.DjangoModelFactory[Region]):
    class Meta:
        model = Region
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"xx-region{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())
    public_url = factory.LazyAttribute(lambda o: f"https://{o.code}.nofx.example")
    status = RegionStatus.ACTIVE
    certifications = factory.LazyFunction(lambda: ["SOC 2"])


class ResidencyRuleFactory(factory.django.DjangoModelFactory[ResidencyRule]):
    class Meta:
        model = ResidencyRule

    region = factory.SubFactory(RegionFactory)
    effect = RuleEffect.ALLOW
    location_pattern = "eu-*"
    reason = "GDPR: EU/EEA only"


class DirectoryEntryFactory(factory.django.DjangoModelFactory[DirectoryEntry]):
    class Meta:
        model = DirectoryEntry

    kind = DirectoryKind.ORGANIZATION
    key = factory.Faker("uuid4")
    slug = factory.Sequence(lambda n: f"remote-org-{n}")
    region_code = "eu-west"
    version = 1
    origin_region_code = "eu-west"


class BackupRecordFactory(factory.django.DjangoModelFactory[BackupRecord]):
    class Meta:
        model = BackupRecord

    region_code = "us-east"
    method = "pg_dump"
    status = BackupStatus.SUCCEEDED
    location = "us-east"
    file_name = factory.Sequence(lambda n: f"us-east-{n}.dump")
    size_bytes = 1024
    sha256 = "0" * 64
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyFunction(timezone.now)
    data_as_of = factory.LazyFunction(timezone.now)
