"""Query-parameter filters that refuse what their documented OpenAPI type refuses.

django-filter is lenient: `?flag=null` or `?team=` silently mean "no filter". A client that misspells a
value then gets every row back and never learns why; these answer 400 instead, as the schema promises.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError


class StrictBooleanField(forms.Field):
    widget = forms.TextInput

    def to_python(self, value: Any) -> bool | None:
        if value is None:
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValidationError("Use true or false.", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class StrictUUIDField(forms.UUIDField):
    def to_python(self, value: Any) -> Any:
        if value == "":
            raise ValidationError("Enter a valid UUID.", code="invalid")
        return super().to_python(value)


class StrictUUIDFilter(django_filters.UUIDFilter):
    field_class = StrictUUIDField


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class _RefuseEmpty:
    """A value that is present but empty (`?day_to=`) is not a date: refuse it rather than ignore it."""

    def to_python(self, value: Any) -> Any:
        if value == "":
            raise ValidationError("Enter a value, or leave the parameter out.", code="invalid")
        return super().to_python(value)  # type: ignore[misc]


class StrictIsoDateTimeField(_RefuseEmpty, django_filters.fields.IsoDateTimeField):
    def to_python(self, value: Any) -> Any:
        moment = super().to_python(value)
        if moment is None or moment.tzinfo is None:
            return moment
        # In UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 (and Python) allow.
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("The date and time is out of range.", code="invalid") from None


class StrictIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = StrictIsoDateTimeField


class StrictDateField(_RefuseEmpty, forms.DateField):
    pass


class StrictDateFilter(django_filters.DateFilter):
    field_class = StrictDateField


class StrictChoiceField(_RefuseEmpty, django_filters.fields.ChoiceField):
    pass


class StrictChoiceFilter(django_filters.ChoiceFilter):
    field_class = StrictChoiceField
