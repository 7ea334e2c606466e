"""Forms of the developer portal. They parse input; the marketplace, gateway and account services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from apps.accounts.forms import ServiceForm


class BecomePublisherForm(ServiceForm):
    name = forms.CharField(max_length=120, label="Publisher name", help_text="Shown on your extensions' pages.")
    slug = forms.SlugField(
        max_length=40,
        label="Publisher id",
        help_text="Lower-case letters, digits and hyphens. It starts every extension id (<code>acme.jira-sync</code>) "
        "and never changes.",
    )
    website = forms.URLField(required=False, label="Website", assume_scheme="https")
    accept_terms = forms.BooleanField(
        required=True,
        label="I accept the publisher terms: extensions pass review, are signed by the platform, and my "
        "organization answers for what they do.",
    )


class PublisherProfileForm(ServiceForm):
    name = forms.CharField(max_length=120, label="Publisher name")
    website = forms.URLField(required=False, label="Website", assume_scheme="https")


class UploadForm(ServiceForm):
    package = forms.FileField(
        label="Extension package (.zip)",
        help_text="A zip archive with nofx-extension.json at its root.",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip", "data-upload-input": ""}),
    )
    auto_publish = forms.BooleanField(
        required=False,
        initial=True,
        label="Publish automatically once the version passes review",
        help_text="Leave unticked to check the version yourself and publish it with a button.",
    )

    def clean_package(self) -> Any:
        upload = self.cleaned_data["package"]
        limit = settings.MARKETPLACE_MAX_PACKAGE_BYTES
        if upload.size > limit:
            raise forms.ValidationError(f"The package is {upload.size} bytes; the limit is {limit} bytes.")
        if not str(upload.name).lower().endswith(".zip"):
            raise forms.ValidationError("Upload a .zip archive.")
        return upload


class ApiKeyForm(ServiceForm):
    name = forms.CharField(max_length=120, label="Key name", help_text="What uses it, e.g. “CI publishing”.")
    scopes = forms.MultipleChoiceField(choices=(), widget=forms.CheckboxSelectMultiple, label="Scopes", required=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from apps.gateway.scopes import SCOPES

        kwargs.setdefault("auto_id", "key_%s")
        super().__init__(*args, **kwargs)
        field = self.fields["scopes"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(s.name, f"{s.name} — {s.description}") for s in SCOPES.values()]


class TicketForm(ServiceForm):
    subject = forms.CharField(max_length=160, label="Subject")
    body = forms.CharField(max_length=10000, widget=forms.Textarea(attrs={"rows": 6}), label="Message")


class ReplyForm(ServiceForm):
    body = forms.CharField(max_length=10000, widget=forms.Textarea(attrs={"rows": 4}), label="Your reply")


class YankForm(ServiceForm):
    reason = forms.CharField(max_length=500, label="Why is this version withdrawn?")
