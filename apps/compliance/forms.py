"""Forms of the compliance pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone

from apps.accounts.forms import ServiceForm
from apps.compliance.models import Assessment


class EvidenceUploadForm(ServiceForm):
    file = forms.FileField(label="File", help_text="A screenshot, an export, a signed policy … up to 50 MB.")
    requirement = forms.ChoiceField(label="Requirement", required=False)
    description = forms.CharField(label="What it shows", max_length=500, required=False)
    expires_on = forms.DateField(
        label="Valid until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Leave empty if it does not expire.",
    )

    def __init__(self, *args: Any, assessment: Assessment, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        requirements = assessment.framework.requirements.order_by("position").values_list("code", "title")
        field = self.fields["requirement"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            ("", "The assessment as a whole"),
            *[(c, f"{c} {t}") for c, t in requirements],
        ]

    def expires_at(self) -> dt.datetime | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return dt.datetime.combine(day, dt.time.max, tzinfo=timezone.get_current_timezone())
