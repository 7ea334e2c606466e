import factory

from apps.regions.models import DirectoryEntry, DirectoryKind, Region, RegionStatus, ResidencyRule, RuleEffect


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
