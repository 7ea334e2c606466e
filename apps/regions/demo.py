"""The demo's five regions: two running on this machine (us-east and eu-west), three on standby.

`make run` serves us-east on port 8000; `scripts/region-up.sh eu-west` brings up eu-west on port 8001 with its
own database. The EU regions carry a GDPR residency rule, so the demo can show a refused transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from apps.regions.models import Region, RegionStatus, ResidencyRule, RuleEffect
from apps.regions.services import add_residency_rule, register_region


@dataclass(frozen=True)
class DemoRegion:
    code: str
    name: str
    port: int
    status: str
    certifications: tuple[str, ...]
    allowed_locations: tuple[str, ...] = ()
    rule_reason: str = ""


GDPR = "GDPR: personal data of EU organizations stays in the EU/EEA"

DEMO_REGIONS = (
    DemoRegion("us-east", "US East", 8000, RegionStatus.ACTIVE, ("SOC 2", "ISO 27001", "HIPAA", "PCI DSS")),
    DemoRegion("eu-west", "EU West", 8001, RegionStatus.ACTIVE, ("SOC 2", "ISO 27001", "GDPR"), ("eu-*",), GDPR),
    DemoRegion("eu-central", "EU Central", 8002, RegionStatus.STANDBY, ("ISO 27001", "GDPR", "C5"), ("eu-*",), GDPR),
    DemoRegion("ap-southeast", "Asia Pacific Southeast", 8003, RegionStatus.STANDBY, ("SOC 2", "ISO 27001")),
    DemoRegion("ca-central", "Canada Central", 8004, RegionStatus.STANDBY, ("SOC 2", "ISO 27001", "PIPEDA")),
)


def demo_url(spec: DemoRegion) -> str:
    """This deployment's own URL for its region; the demo's fixed local ports for the others."""
    if spec.code == settings.REGION_CODE:
        return str(settings.SITE_URL)
    host = urlsplit(str(settings.SITE_URL)).hostname or "127.0.0.1"
    return f"http://{host}:{spec.port}"


def seed_demo_regions(*, actor: Any = None) -> list[Region]:
    """Create (or bring back in line) the five demo regions and their residency rules. Safe to run again."""
    regions = []
    for spec in DEMO_REGIONS:
        # The region this deployment serves is running, whatever its usual demo status.
        status = RegionStatus.ACTIVE if spec.code == settings.REGION_CODE else spec.status
        region = register_region(
            code=spec.code,
            name=spec.name,
            public_url=demo_url(spec),
            status=status,
            certifications=list(spec.certifications),
            actor=actor,
        )
        for pattern in spec.allowed_locations:
            exists = ResidencyRule.objects.filter(
                region=region, organization=None, effect=RuleEffect.ALLOW, location_pattern=pattern
            ).exists()
            if not exists:
                add_residency_rule(
                    region=region,
                    effect=RuleEffect.ALLOW,
                    location_pattern=pattern,
                    reason=spec.rule_reason,
                    actor=actor,
                )
        regions.append(region)
    return regions
