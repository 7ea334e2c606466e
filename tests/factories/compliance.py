import datetime as dt

import factory
from django.utils import timezone

from apps.compliance.models import (
    Assessment,
    AssessmentType,
    Evidence,
    Finding,
    FindingSeverity,
    Framework,
    Requirement,
)
from tests.factories.accounts import OrganizationFactory


class FrameworkFactory(factory.django.DjangoModelFactory[Framework]):
    class Meta:
        model = Framework
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"fw{n}")
    name = factory.Sequence(lambda n: f"Framework {n}")


class RequirementFactory(factory.django.DjangoModelFactory[Requirement]):
    class Meta:
        model = Requirement

    framework = factory.SubFactory(FrameworkFactory)
    code = factory.Sequence(lambda n: f"R.{n}")
    title = factory.Sequence(lambda n: f"Requirement {n}")
    position = factory.Sequence(lambda n: n)


class AssessmentFactory(factory.django.DjangoModelFactory[Assessment]):
    class Meta:
        model = Assessment

    organization = factory.SubFactory(OrganizationFactory)
    framework = factory.SubFactory(FrameworkFactory)
    assessment_type = AssessmentType.INTERNAL_AUDIT


class FindingFactory(factory.django.DjangoModelFactory[Finding]):
    class Meta:
        model = Finding

    organization = factory.SubFactory(OrganizationFactory)
    title = "A gap"
    severity = FindingSeverity.MEDIUM
    due_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=30))


class EvidenceFactory(factory.django.DjangoModelFactory[Evidence]):
    class Meta:
        model = Evidence

    organization = factory.SubFactory(OrganizationFactory)
    file = factory.django.FileField(filename="policy.txt", data=b"our policy")
    filename = "policy.txt"
    size = 10
    sha256 = "0" * 64
