from __future__ import annotations

from rest_framework import serializers

from apps.regions.models import Region, ResidencyRule


class ResidencyRuleSerializer(serializers.ModelSerializer[ResidencyRule]):
    class Meta:
        model = ResidencyRule
        fields = ("effect", "location_pattern", "reason")


class RegionSerializer(serializers.ModelSerializer[Region]):
    accepts_organizations = serializers.BooleanField(
        read_only=True, help_text="Whether a new organization may be homed here."
    )
    certifications = serializers.ListField(child=serializers.CharField(), read_only=True)
    residency_rules = ResidencyRuleSerializer(
        source="region_wide_rules", many=True, read_only=True, help_text="Where data homed here may be sent."
    )

    class Meta:
        model = Region
        fields = ("code", "name", "public_url", "status", "certifications", "accepts_organizations", "residency_rules")
