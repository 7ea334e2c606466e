"""The marketplace website: browse and search the catalog, read an extension's page, install it (consent,
configuration, plan), manage what the organization installed, review, and report problems.

Browsing is public (nofx/public_views.py). Everything else needs a signed-in member of the request's
organization with the right role: `extensions.view` to look at installations, `extensions.install` to change
them, install, or review. An installation of another organization answers 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import Organization, User
from apps.accounts.permissions import user_can
from apps.accounts.tenancy import request_organization
from apps.core.exceptions import BusinessRuleViolation
from apps.marketplace import selectors, services
from apps.marketplace.api.filters import InstallationFilterSet
from apps.marketplace.checkout import begin_paid_install
from apps.marketplace.consent_wording import describe_permissions
from apps.marketplace.entitlements import check_entitlement, plan_model
from apps.marketplace.forms import (
    ApproveUpdateForm,
    CatalogSearchForm,
    ConfigForm,
    ConsentForm,
    DisableForm,
    ProblemReportForm,
    ReportReviewForm,
    ReviewForm,
)
from apps.marketplace.models import (
    Category,
    Extension,
    ExtensionVersion,
    Installation,
    InstallationStatus,
    Review,
    ReviewStatus,
    VersionStatus,
)
from apps.marketplace.rendering import render_markdown
from apps.marketplace.services.installations import added_permissions, permissions_of
from apps.marketplace.services.publishing import package_bytes
from apps.marketplace.services.reviews import reviewable_installation
from nofx_sdk.rules.archive import ArchiveLimits, open_package
from nofx_sdk.rules.checks import MAX_SCREENSHOT_BYTES, code_analysis_escapes, image_type
from nofx_sdk.rules.manifest import PricingModel

PAGE_SIZE = 24
VERSIONS_SHOWN = 10
REVIEWS_SHOWN = 20
USAGE_DAYS = 30


# -- Helpers --------------------------------------------------------------------------------------------


def _organization(request: HttpRequest, perm: str) -> Organization:
    """The request's organization, when the signed-in person holds `perm` in it."""
    organization = request_organization(request)
    if organization is None:
        raise PermissionDenied("You are not a member of any organization.")
    if not user_can(request.user, perm, organization):
        raise PermissionDenied("Your role does not allow this.")
    return organization


def _actor(request: HttpRequest) -> User:
    """The signed-in person (views that call this are behind login_required)."""
    assert isinstance(request.user, User)
    return request.user


def _listed_extension(slug: str) -> Extension:
    return get_object_or_404(
        # The search vector is the widest column and no page shows it.
        Extension.objects.listed().select_related("publisher", "category", "latest_version").defer("search_vector"),
        slug=slug,
    )


def _installation(request: HttpRequest, pk: Any, perm: str) -> tuple[Organization, Installation]:
    organization = _organization(request, perm)
    installation = get_object_or_404(
        Installation.objects.for_organization(organization).select_related(
            "extension__publisher", "version", "pending_version"
        ),
        pk=pk,
    )
    return organization, installation


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def _apply_violation(exc: BusinessRuleViolation, form: Any, field_forms: dict[str, Any] | None = None) -> None:
    """Put a service's refusal next to the field it names (in whichever form holds it), else on top of `form`."""
    problems = exc.errors or [{"field": exc.field or "", "message": exc.message}]
    for problem in problems:
        field = str(problem.get("field") or "")
        message = str(problem.get("message") or exc.message)
        target_form, name = form, None
        if field.startswith("config.") and field_forms and "config" in field_forms:
            target_form, name = field_forms["config"], field.split(".", 1)[1] or None
        elif field in form.fields:
            name = field
        if name is not None and name not in target_form.fields:
            name = None
        target_form.add_error(name, message)


def price_text(plan: dict[str, Any]) -> str:
    """A plan's price in words: "Free", "$12.00 a month", "$0.02 per unit"."""
    model = plan.get("model")
    if model == PricingModel.FREE:
        return "Free"
    currency = str(plan.get("currency") or "usd").upper()
    amount = plan.get("amount") if plan.get("amount") is not None else plan.get("unitAmount")
    tiers = plan.get("tiers")
    if amount is None and isinstance(tiers, list) and tiers and isinstance(tiers[0], dict):
        amount = tiers[0].get("unitAmount")  # the first tier's price: "from" this much
    money = f"{currency} {int(amount) / 100:,.2f}" if isinstance(amount, int) else "Price on request"
    if model == PricingModel.SUBSCRIPTION:
        return f"{money} a {plan.get('interval') or 'month'}" + (" per seat" if plan.get("perSeat") else "")
    if model == PricingModel.USAGE:
        return f"{money} per {str(plan.get('meter') or 'unit').replace('_', ' ')}"
    return f"{money} once"


def _plans(version: ExtensionVersion | None) -> list[dict[str, Any]]:
    manifest = (version.manifest if version else None) or {}
    plans = _object(manifest.get("pricing")).get("plans")
    plans = plans if isinstance(plans, list) else None
    plans = plans or [{"id": "free", "name": "Free", "model": "free"}]
    return [
        {
            "id": str(p.get("id")),
            "name": str(p.get("name") or p.get("id")),
            "model": str(p.get("model")),
            "price": price_text(p),
            "trial_days": p.get("trialDays") or 0,
        }
        for p in plans
        if isinstance(p, dict)
    ]


def _entitled_to(organization: Organization, version: ExtensionVersion, plan_id: str) -> bool:
    entitlement = check_entitlement(
        organization=organization, extension=version.extension, version=version, plan_id=plan_id
    )
    return entitlement.allowed


def _categories() -> list[tuple[str, str]]:
    return list(Category.objects.order_by("name").values_list("slug", "name"))


# -- Browsing (public) ----------------------------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Featured, most installed and newest extensions, and the categories."""
    sections = selectors.home_sections()
    return render(
        request,
        "marketplace/home.html",
        {
            "featured": sections["featured"],
            "popular": sections["popular"],
            "newest": sections["newest"],
            "categories": selectors.listed_categories(),
            "search_form": CatalogSearchForm(categories=[]),
        },
    )


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """The catalog with filters and sorts. The URL holds the whole query; htmx asks for the results only."""
    form = CatalogSearchForm(request.GET or None, categories=_categories())
    results: list[Extension] = []
    refinements: list[dict[str, Any]] = []
    total = 0
    page = 1
    # No parameters at all is the whole catalog; any parameter must be valid.
    valid = form.is_valid() or not request.GET
    if valid:
        query = form.to_query() if request.GET else selectors.CatalogQuery()
        page = (form.cleaned_data.get("page") if request.GET else None) or 1
        results, total = selectors.catalog_page(query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        if total:
            refinements = _refinements(request, selectors.catalog_facets(query), form)
    params = request.GET.copy()
    params.pop("page", None)
    base_query = params.urlencode()
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    context = {
        "form": form,
        "results": results,
        "total": total,
        "page": page,
        "pages": pages,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if page < pages else None,
        "base_query": base_query,
        "invalid": not valid,
        "refinements": refinements,
    }
    partial = _is_htmx(request)
    template = "marketplace/_search_results.html" if partial else "marketplace/search.html"
    # A bad filter is the visitor's mistake (400); htmx only swaps 2xx answers, so the partial says it with 200.
    status = 400 if not valid and not partial else 200
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


REFINED_FACETS = (("type", "Type"), ("category", "Category"), ("pricing", "Pricing"))


def _refinements(
    request: HttpRequest, facets: dict[str, list[dict[str, Any]]], form: CatalogSearchForm
) -> list[dict[str, Any]]:
    """Per facet not chosen yet: its values with how many results each would leave, and the search URL that
    adds it (the current query, first page)."""
    rows = []
    for facet, label in REFINED_FACETS:
        if request.GET.get(facet):
            continue
        field = form.fields[facet]
        assert isinstance(field, forms.ChoiceField)
        choices = cast(list[tuple[Any, Any]], field.choices)
        names = {str(value): str(name) for value, name in choices}
        values = []
        for entry in facets.get(facet, [])[:8]:
            params = request.GET.copy()
            params.pop("page", None)
            params[facet] = str(entry["value"])
            values.append(
                {
                    "name": names.get(str(entry["value"]), str(entry["value"])),
                    "count": entry["count"],
                    "url": f"{reverse('marketplace:search')}?{params.urlencode()}",
                }
            )
        if len(values) > 1:
            rows.append({"label": label, "values": values})
    return rows


def _version_rows(extension: Extension) -> list[dict[str, Any]]:
    versions = ExtensionVersion.objects.filter(extension=extension, status=VersionStatus.PUBLISHED).only(
        "id", "version", "published_at", "certified_at", "changelog", "manifest", "extension_id"
    )[:VERSIONS_SHOWN]
    rows = []
    for version in versions:
        changelog = version.changelog or str((version.manifest or {}).get("changelog") or "")
        rows.append(
            {
                "version": version.version,
                "published_at": version.published_at,
                "certified": version.certified_at is not None,
                "changelog": render_markdown(changelog) if changelog else "",
            }
        )
    return rows


def _object(value: Any) -> dict[str, Any]:
    """A manifest part that should be an object; manifests were validated on upload, but a page must not fail
    on an odd one."""
    return value if isinstance(value, dict) else {}


def _is_web_url(url: Any) -> bool:
    """Only http(s) links from a manifest become hrefs (never javascript: or data:)."""
    return isinstance(url, str) and url.lower().startswith(("https://", "http://"))


def _links(manifest: dict[str, Any]) -> list[dict[str, str]]:
    links, support = _object(manifest.get("links")), _object(manifest.get("support"))
    found = [
        ("Homepage", links.get("homepage")),
        ("Support", support.get("url") or links.get("support")),
        ("Privacy policy", links.get("privacy")),
        ("Source code", links.get("source")),
    ]
    rows: list[dict[str, str]] = [{"label": label, "url": str(url)} for label, url in found if _is_web_url(url)]
    if isinstance(support.get("email"), str) and "@" in support["email"]:
        rows.append({"label": f"Email {support['email']}", "url": f"mailto:{support['email']}"})
    return rows


def _screenshots(extension_slug: str, manifest: dict[str, Any]) -> list[dict[str, str]]:
    shots = [s for s in manifest.get("screenshots") or [] if isinstance(s, dict)]
    return [
        {
            "url": reverse("marketplace:screenshot", args=[extension_slug, number]),
            "caption": str(shot.get("caption") or ""),
        }
        for number, shot in enumerate(shots, start=1)
    ]


@require_GET
def screenshot(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """One screenshot of the latest published version, read from its signed package (PNG or JPEG only)."""
    extension = _listed_extension(slug)
    version = extension.latest_version
    shots = ((version.manifest if version else None) or {}).get("screenshots") or []
    if version is None or not 1 <= number <= len(shots) or not isinstance(shots[number - 1], dict):
        raise Http404("No such screenshot.")
    package = open_package(package_bytes(version), ArchiveLimits())
    path = str(shots[number - 1].get("path") or "")
    data = None if code_analysis_escapes(path) else package.read(path, MAX_SCREENSHOT_BYTES)
    media_type = image_type(data) if data else None
    if data is None or media_type is None:
        raise Http404("No such screenshot.")
    response = HttpResponse(data, content_type=media_type)
    # A version's package never changes, so neither does its picture; nothing in it may run or be sniffed.
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


@require_GET
def extension_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """An extension's page: description, permissions in plain words, plans, versions, links, reviews."""
    extension = _listed_extension(slug)
    version = extension.latest_version
    manifest = (version.manifest if version else None) or {}
    organization = request_organization(request) if request.user.is_authenticated else None
    installation = own_review = None
    can_review = can_install = can_report = False
    if organization is not None:
        installation = (
            Installation.objects.for_organization(organization)
            .filter(extension=extension)
            .exclude(status=InstallationStatus.UNINSTALLED)
            .only("id", "status", "extension_id", "organization_id")
            .first()
        )
        can_install = user_can(request.user, "extensions.install", organization)
        can_report = user_can(request.user, "extensions.view", organization)
        if can_install:
            can_review = reviewable_installation(organization=organization, extension=extension) is not None
            own_review = Review.objects.for_organization(organization).filter(extension=extension).first()
    reviews = list(
        Review.objects.filter(extension=extension, status=ReviewStatus.VISIBLE)
        .select_related("version")
        .only("id", "rating", "title", "body", "created_at", "edited_at", "reply", "replied_at", "version__version")
        .order_by("-created_at")[:REVIEWS_SHOWN]
    )
    permissions = permissions_of(version) if version else {}
    return render(
        request,
        "marketplace/extension.html",
        {
            "extension": extension,
            "version": version,
            "description": render_markdown(extension.summary),
            "permission_sentences": describe_permissions(permissions),
            "plans": _plans(version),
            "links": _links(manifest),
            "ui_links": [u for u in manifest.get("ui") or [] if isinstance(u, dict) and _is_web_url(u.get("url"))],
            "screenshots": _screenshots(extension.slug, manifest),
            "versions": _version_rows(extension),
            "reviews": reviews,
            "installation": installation,
            "own_review": own_review,
            "can_install": can_install,
            "can_review": can_review,
            "can_report": can_report,
            "organization": organization,
        },
    )


# -- Install --------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def install(request: HttpRequest, slug: str) -> HttpResponse:
    """Consent to the permissions, fill in the configuration, choose a plan; free plans install at once, paid
    plans go to checkout."""
    extension = _listed_extension(slug)
    organization = request_organization(request)
    consent = selectors.consent_for(extension=extension, user=_actor(request), organization=organization)
    if consent.installation is not None:
        messages.info(request, f"{extension.name} is already installed in {organization}.")
        return redirect("marketplace:installation", pk=consent.installation.pk)
    version = consent.version
    plans = _plans(version)
    if request.method == "POST" and not consent.can_install:
        raise PermissionDenied(" ".join(consent.reasons))
    data = request.POST if request.method == "POST" else None
    consent_form = ConsentForm(data, plans=plans, initial={"version": version.version if version else ""})
    config_form = ConfigForm(data, schema=consent.config_schema)
    config_form.check_on_change(reverse("marketplace:install_check", args=[extension.slug]))
    if request.method == "POST" and version is not None and organization is not None:
        consent_ok, config_ok = consent_form.is_valid(), config_form.is_valid()
        if consent_ok and consent_form.cleaned_data["version"] != version.version:
            consent_form.add_error(
                None,
                f"A new version ({version.version}) was published while you were reading. "
                "Check what it asks for and consent again.",
            )
            consent_ok = False
        if consent_ok and config_ok:
            plan_id = consent_form.cleaned_data["plan"]
            # A paid plan the organization already holds (billing says so) installs like a free one.
            if plan_model(version, plan_id) != PricingModel.FREE and not _entitled_to(organization, version, plan_id):
                start = begin_paid_install(
                    request=request,
                    organization=organization,
                    actor=_actor(request),
                    version=version,
                    plan_id=plan_id,
                    config=config_form.config,
                    granted_permissions=consent.permissions,
                )
                if start.redirect_url:
                    return redirect(start.redirect_url)
                consent_form.add_error("plan", start.message or "This plan cannot be bought here yet.")
            else:
                try:
                    installation = services.install_extension(
                        organization=organization,
                        actor=_actor(request),
                        extension=extension,
                        accepted_permissions=consent.permissions,
                        config=config_form.config,
                        plan_id=plan_id,
                    )
                except BusinessRuleViolation as exc:
                    _apply_violation(exc, consent_form, {"config": config_form})
                else:
                    return redirect("marketplace:install_result", pk=installation.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "marketplace/install.html",
        {
            "extension": extension,
            "version": version,
            "consent": consent,
            "permission_sentences": describe_permissions(consent.permissions),
            "ungrantable": [s["scope"] for s in consent.scopes if not s["grantable"]],
            "plans": plans,
            "consent_form": consent_form,
            "config_form": config_form,
            "organization": organization,
        },
        status=status,
    )


@login_required
@require_POST
def install_check(request: HttpRequest, slug: str) -> HttpResponse:
    """Inline validation for htmx: the configuration field that changed, re-rendered with its errors."""
    extension = _listed_extension(slug)
    _organization(request, "extensions.install")
    version = extension.latest_version
    schema = (version.manifest or {}).get("configSchema") if version else None
    form = ConfigForm(request.POST, schema=schema)
    form.check_on_change(reverse("marketplace:install_check", args=[extension.slug]))
    name = request.headers.get("HX-Trigger-Name", "").removeprefix(f"{form.prefix}-")
    if name not in form.fields:
        raise Http404("No such configuration field.")
    form.is_valid()
    return render(request, "includes/field.html", {"field": form[name]})


@login_required
@require_GET
def install_result(request: HttpRequest, pk: Any) -> HttpResponse:
    """What happened after install: active, still registering with the extension's app, or failed."""
    _, installation = _installation(request, pk, "extensions.view")
    return render(request, "marketplace/install_result.html", {"installation": installation})


# -- Installed ------------------------------------------------------------------------------------------


@login_required
@require_GET
def installed(request: HttpRequest) -> HttpResponse:
    """The organization's installations (uninstalled ones only when asked for by status)."""
    organization = _organization(request, "extensions.view")
    queryset = (
        Installation.objects.for_organization(organization)
        .select_related("extension__publisher", "version", "pending_version")
        # Only what a row shows: no manifests, and no secrets to decrypt.
        .only(
            "id",
            "organization_id",
            "status",
            "plan",
            "created_at",
            "extension__name",
            "extension__slug",
            "extension__publisher__name",
            "version__version",
            "pending_version__version",
        )
        .order_by("extension__name")
    )
    filterset = InstallationFilterSet(request.GET, queryset=queryset)
    valid = filterset.is_valid()
    rows: list[Installation] = []
    if valid:
        rows = list(filterset.qs if request.GET.get("status") else filterset.qs.exclude(status="uninstalled"))
    return render(
        request,
        "marketplace/installed.html",
        {
            "organization": organization,
            "installations": rows,
            "filterset": filterset,
            "invalid": not valid,
            "status_choices": InstallationStatus.choices,
            "current_status": request.GET.get("status", ""),
            "can_manage": user_can(request.user, "extensions.install", organization),
        },
        status=200 if valid else 400,
    )


@login_required
@require_GET
def installation_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """One installation: status, version, update waiting for consent, configuration, usage, actions."""
    organization, installation = _installation(request, pk, "extensions.view")
    pending = installation.pending_version
    added = added_permissions(installation.granted_permissions, permissions_of(pending)) if pending else {}
    since = timezone.localdate() - dt.timedelta(days=USAGE_DAYS - 1)
    usage = selectors.installation_usage(installation=installation, since=since)
    config_schema = (installation.version.manifest or {}).get("configSchema") or {}
    return render(
        request,
        "marketplace/installation.html",
        {
            "organization": organization,
            "installation": installation,
            "extension": installation.extension,
            "pending": pending,
            "added_sentences": describe_permissions(added) if pending else [],
            "approve_form": ApproveUpdateForm(initial={"version": pending.version if pending else ""}),
            "disable_form": DisableForm(),
            "granted_sentences": describe_permissions(installation.granted_permissions or {}),
            "config_rows": _config_rows(config_schema, installation),
            "usage": usage,
            "usage_days": USAGE_DAYS,
            "can_manage": user_can(request.user, "extensions.install", organization),
            "is_live": installation.status != InstallationStatus.UNINSTALLED,
        },
    )


def _config_rows(schema: dict[str, Any], installation: Installation) -> list[dict[str, Any]]:
    """The stored configuration to show: plain values as they are, secrets only as "set"."""
    properties = (schema or {}).get("properties") or {}
    secrets = installation.secret_config or {}
    rows = []
    for name, spec in properties.items():
        secret = isinstance(spec, dict) and spec.get("secret") is True
        if secret:
            value = "Set (hidden)" if name in secrets else "Not set"
        else:
            value = installation.config.get(name, "Not set")
        rows.append({"name": (spec or {}).get("title") or name, "value": value, "secret": secret})
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def installation_configure(request: HttpRequest, pk: Any) -> HttpResponse:
    """Change the configuration; secrets left empty keep their stored value."""
    _, installation = _installation(request, pk, "extensions.install")
    if installation.status == InstallationStatus.UNINSTALLED:
        raise Http404("The extension is uninstalled.")
    schema = (installation.version.manifest or {}).get("configSchema")
    stored = installation.secret_config or {}
    if request.method == "POST":
        form = ConfigForm(request.POST, schema=schema, stored_secrets=stored)
        if form.is_valid():
            try:
                services.configure_installation(installation=installation, actor=_actor(request), config=form.config)
            except BusinessRuleViolation as exc:
                _apply_violation(exc, form, {"config": form})
            else:
                messages.success(request, "Configuration saved.")
                return redirect("marketplace:installation", pk=installation.pk)
    else:
        plain_initial = dict(installation.config or {})
        form = ConfigForm(schema=schema, stored_secrets=stored, initial=plain_initial)
    return render(
        request,
        "marketplace/configure.html",
        {"installation": installation, "extension": installation.extension, "form": form},
        status=400 if request.method == "POST" else 200,
    )


def _act(request: HttpRequest, installation: Installation, action: Any, done: str) -> HttpResponse:
    try:
        action()
    except BusinessRuleViolation as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("marketplace:installation", pk=installation.pk)


@login_required
@require_POST
def installation_disable(request: HttpRequest, pk: Any) -> HttpResponse:
    _, installation = _installation(request, pk, "extensions.install")
    form = DisableForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _act(
        request,
        installation,
        lambda: services.disable_installation(installation=installation, actor=_actor(request), reason=reason),
        f"{installation.extension.name} is disabled.",
    )


@login_required
@require_POST
def installation_enable(request: HttpRequest, pk: Any) -> HttpResponse:
    _, installation = _installation(request, pk, "extensions.install")
    return _act(
        request,
        installation,
        lambda: services.enable_installation(installation=installation, actor=_actor(request)),
        f"{installation.extension.name} is enabled again.",
    )


@login_required
@require_POST
def installation_uninstall(request: HttpRequest, pk: Any) -> HttpResponse:
    _, installation = _installation(request, pk, "extensions.install")
    return _act(
        request,
        installation,
        lambda: services.uninstall_installation(installation=installation, actor=_actor(request)),
        f"{installation.extension.name} is uninstalled; its access was revoked.",
    )


@login_required
@require_POST
def installation_approve_update(request: HttpRequest, pk: Any) -> HttpResponse:
    """Consent to the permissions a pending version adds; the installation moves to it."""
    _, installation = _installation(request, pk, "extensions.install")
    pending = installation.pending_version
    form = ApproveUpdateForm(request.POST)
    if pending is None:
        messages.error(request, "No update is waiting for consent.")
    elif not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    elif form.cleaned_data["version"] != pending.version:
        messages.error(request, "A different update is waiting now; check what it asks for and consent again.")
    else:
        return _act(
            request,
            installation,
            lambda: services.approve_update(
                installation=installation,
                actor=_actor(request),
                accepted_permissions=permissions_of(pending),
            ),
            f"{installation.extension.name} is updated to {pending.version}.",
        )
    return redirect("marketplace:installation", pk=installation.pk)


# -- Reviews and reports --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def review(request: HttpRequest, slug: str) -> HttpResponse:
    """Write the organization's review of an extension, or edit it."""
    extension = _listed_extension(slug)
    organization = _organization(request, "extensions.install")
    existing = Review.objects.for_organization(organization).filter(extension=extension).first()
    eligible = reviewable_installation(organization=organization, extension=extension) is not None
    if request.method == "POST":
        form = ReviewForm(request.POST)
        if not eligible:
            raise PermissionDenied("Only organizations that installed this extension can review it.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                if existing is None:
                    services.submit_review(
                        organization=organization,
                        actor=_actor(request),
                        extension=extension,
                        rating=data["rating"],
                        title=data["title"],
                        body=data["body"],
                    )
                else:
                    services.edit_review(
                        review=existing,
                        actor=_actor(request),
                        rating=data["rating"],
                        title=data["title"],
                        body=data["body"],
                    )
            except BusinessRuleViolation as exc:
                _apply_violation(exc, form)
            else:
                messages.success(request, "Thank you: your review is published.")
                return redirect(reverse("marketplace:extension", args=[extension.slug]) + "#reviews")
    elif existing is not None:
        form = ReviewForm(initial={"rating": existing.rating, "title": existing.title, "body": existing.body})
    else:
        form = ReviewForm()
    return render(
        request,
        "marketplace/review.html",
        {"extension": extension, "form": form, "existing": existing, "eligible": eligible},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def report_review(request: HttpRequest, pk: Any) -> HttpResponse:
    """Flag a published review for the operators."""
    organization = _organization(request, "extensions.view")
    target = get_object_or_404(
        Review.objects.filter(status=ReviewStatus.VISIBLE, extension__in=Extension.objects.listed()).select_related(
            "extension"
        ),
        pk=pk,
    )
    form = ReportReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.report_review(
                review=target,
                organization=organization,
                actor=_actor(request),
                reason=form.cleaned_data["reason"],
            )
        except BusinessRuleViolation as exc:
            _apply_violation(exc, form)
        else:
            messages.success(request, "Thank you: the review was reported to our moderators.")
            return redirect(reverse("marketplace:extension", args=[target.extension.slug]) + "#reviews")
    return render(
        request,
        "marketplace/report_review.html",
        {"review": target, "extension": target.extension, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def report_problem(request: HttpRequest, slug: str) -> HttpResponse:
    """Tell the publisher about a problem; their owners are mailed and operators can follow up."""
    extension = _listed_extension(slug)
    organization = _organization(request, "extensions.view")
    form = ProblemReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.report_problem(
                organization=organization,
                actor=_actor(request),
                extension=extension,
                kind=data["kind"],
                subject=data["subject"],
                description=data["description"],
            )
        except BusinessRuleViolation as exc:
            _apply_violation(exc, form)
        else:
            messages.success(request, f"Your report was sent to {extension.publisher.name}.")
            return redirect("marketplace:extension", slug=extension.slug)
    return render(
        request,
        "marketplace/report_problem.html",
        {"extension": extension, "form": form},
        status=400 if request.method == "POST" else 200,
    )
