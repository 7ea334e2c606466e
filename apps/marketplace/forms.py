"""Forms of the marketplace website: catalog search, install (consent, plan, configuration), reviews, reports."""

from __future__ import annotations

from typing import Any

from django import forms
from jsonschema import Draft202012Validator

from apps.marketplace.models import ProblemKind
from apps.marketplace.selectors import SORTS, CatalogQuery
from nofx_sdk.rules.manifest import ExtensionType, PricingModel, SupportLevel

SORT_LABELS = {"relevance": "Best match", "popularity": "Most installed", "rating": "Highest rated", "newest": "Newest"}
PRICING_LABELS = {
    "free": "Free",
    "one_time": "One-time purchase",
    "subscription": "Subscription",
    "usage": "Pay per use",
}
CERTIFIED_CHOICES = [("", "Certified or not"), ("yes", "Certified only"), ("no", "Not certified")]


class CatalogSearchForm(forms.Form):
    """The catalog's GET form; valid data becomes the `CatalogQuery` the API's list endpoint also uses."""

    q = forms.CharField(label="Search extensions", required=False, max_length=200)
    type = forms.ChoiceField(
        label="Type", required=False, choices=[("", "Any type"), *((t.value, t.value.title()) for t in ExtensionType)]
    )
    category = forms.ChoiceField(label="Category", required=False)
    pricing = forms.ChoiceField(
        label="Pricing",
        required=False,
        choices=[("", "Any pricing"), *((p.value, PRICING_LABELS[p]) for p in PricingModel)],
    )
    support_level = forms.ChoiceField(
        label="Support",
        required=False,
        choices=[("", "Any support"), *((s.value, s.value.title()) for s in SupportLevel)],
    )
    certified = forms.ChoiceField(label="Certification", required=False, choices=CERTIFIED_CHOICES)
    sort = forms.ChoiceField(label="Sort by", required=False, choices=[(s, SORT_LABELS[s]) for s in SORTS])
    page = forms.IntegerField(required=False, min_value=1, max_value=400, widget=forms.HiddenInput)

    def __init__(self, *args: Any, categories: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        category = self.fields["category"]
        assert isinstance(category, forms.ChoiceField)
        category.choices = [("", "Any category"), *categories]

    def to_query(self) -> CatalogQuery:
        data = self.cleaned_data
        certified = {"yes": True, "no": False}.get(data.get("certified") or "")
        return CatalogQuery(
            text=data.get("q") or "",
            type=data.get("type") or "",
            category=data.get("category") or "",
            pricing=data.get("pricing") or "",
            support_level=data.get("support_level") or "",
            certified=certified,
            sort=data.get("sort") or "relevance",
        )


# -- Configuration from a version's configSchema ---------------------------------------------------------


def _label(name: str, spec: dict[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    spaced = "".join(f" {c}" if c.isupper() else c for c in name).replace("_", " ").replace("-", " ")
    return spaced.strip().capitalize()


def config_field(name: str, spec: dict[str, Any], *, required: bool, secret_stored: bool) -> forms.Field | None:
    """A form field for one property of a JSON Schema object, or None for types a form cannot edit."""
    kind = spec.get("type")
    common: dict[str, Any] = {"label": _label(name, spec), "required": required}
    description = spec.get("description")
    help_parts = [str(description)] if isinstance(description, str) and description else []
    if spec.get("secret") is True:
        if secret_stored:
            common["required"] = False
            help_parts.append("A value is stored; leave this empty to keep it.")
        common["help_text"] = " ".join(help_parts)
        return forms.CharField(
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}), **common
        )
    common["help_text"] = " ".join(help_parts)
    if "default" in spec and kind != "boolean":
        common["initial"] = spec["default"]
    enum = spec.get("enum")
    if isinstance(enum, list) and enum and kind in ("string", "integer", "number", None):
        choices = [(str(v), str(v)) for v in enum]
        coerce: Any = {"integer": int, "number": float}.get(str(kind), str)
        return forms.TypedChoiceField(
            # A blank first option even when required, so nobody installs with a value they never chose.
            choices=[("", "Choose one" if required else "Not set"), *choices],
            coerce=coerce,
            empty_value=None,
            **common,
        )
    if kind == "string":
        return forms.CharField(
            max_length=spec.get("maxLength"), min_length=spec.get("minLength"), strip=True, empty_value=None, **common
        )
    if kind == "integer":
        return forms.IntegerField(min_value=spec.get("minimum"), max_value=spec.get("maximum"), **common)
    if kind == "number":
        return forms.FloatField(min_value=spec.get("minimum"), max_value=spec.get("maximum"), **common)
    if kind == "boolean":
        common["required"] = False
        common["initial"] = bool(spec.get("default", False))
        return forms.BooleanField(**common)
    return None


class ConfigForm(forms.Form):
    """Fields generated from a JSON Schema; `clean` also validates the whole object with jsonschema, so the form
    refuses exactly what the install service would (errors land next to their field)."""

    def __init__(
        self,
        *args: Any,
        schema: dict[str, Any] | None,
        stored_secrets: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("prefix", "config")
        super().__init__(*args, **kwargs)
        self.schema = schema if isinstance(schema, dict) else {}
        self.stored_secrets = dict(stored_secrets or {})
        self.unsupported: list[str] = []
        properties = self.schema.get("properties") or {}
        required = set(self.schema.get("required") or [])
        for name, spec in properties.items():
            if not isinstance(spec, dict):
                continue
            field = config_field(name, spec, required=name in required, secret_stored=name in self.stored_secrets)
            if field is None:
                self.unsupported.append(name)
                continue
            self.fields[name] = field

    def check_on_change(self, url: str) -> None:
        """Have htmx post the form to `url` when a field changes and swap in that field with its errors.
        Secret fields are left out: swapping one would clear what was typed (its value is never rendered back)."""
        for field in self.fields.values():
            if isinstance(field.widget, forms.PasswordInput):
                continue
            field.widget.attrs.update(
                {"hx-post": url, "hx-trigger": "change", "hx-target": "closest .field", "hx-swap": "outerHTML"}
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        config: dict[str, Any] = {}
        for name, value in cleaned.items():
            if value is None or value == "":
                continue
            config[name] = value
        self.config = config
        if self.errors or not self.schema:
            return cleaned
        checked = {**self.stored_secrets, **config}
        for error in Draft202012Validator(self.schema).iter_errors(checked):
            path = list(error.absolute_path)
            name = str(path[0]) if path else ""
            if not name and error.validator == "required":
                # "'region' is a required property": the field is the missing name.
                name = next((n for n in error.validator_value if n not in checked), "")
            if name in self.fields and name not in self.errors:
                self.add_error(name, error.message)
            elif name not in self.fields:
                self.add_error(None, error.message)
        return cleaned


# -- Install, update consent ------------------------------------------------------------------------------


class ConsentForm(forms.Form):
    version = forms.CharField(widget=forms.HiddenInput)
    accept = forms.BooleanField(
        label="I allow this extension to do what is listed above in my organization.",
        error_messages={"required": "Tick the box to consent to these permissions, or cancel."},
    )
    plan = forms.ChoiceField(label="Plan", widget=forms.RadioSelect)

    def __init__(self, *args: Any, plans: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plan = self.fields["plan"]
        assert isinstance(plan, forms.ChoiceField)
        plan.choices = [(str(p.get("id")), str(p.get("name") or p.get("id"))) for p in plans]
        if len(plans) == 1:
            self.fields["plan"].initial = str(plans[0].get("id"))


class ApproveUpdateForm(forms.Form):
    version = forms.CharField(widget=forms.HiddenInput)
    accept = forms.BooleanField(
        label="I allow the new version to do what is listed above.",
        error_messages={"required": "Tick the box to consent to the new permissions."},
    )


class DisableForm(forms.Form):
    reason = forms.CharField(label="Why (optional, kept in the audit log)", required=False, max_length=500)


# -- Reviews and reports ----------------------------------------------------------------------------------


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        label="Rating",
        choices=[(n, f"{n} star{'s' if n > 1 else ''}") for n in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    title = forms.CharField(label="Title", required=False, max_length=120)
    body = forms.CharField(
        label="Your review", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 5})
    )


class ReportReviewForm(forms.Form):
    reason = forms.CharField(
        label="What is wrong with this review?", max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )


class ProblemReportForm(forms.Form):
    kind = forms.ChoiceField(label="What kind of problem?", choices=ProblemKind.choices)
    subject = forms.CharField(label="Subject", max_length=120)
    description = forms.CharField(
        label="What happened?",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="The publisher receives this text by email. Do not include passwords or keys.",
    )
