"""The developer portal's pages. Each one parses, checks who may use it, calls a service and renders.

Who may do what: the docs are public; everything else needs a signed-in member of the request's
organization whose role carries `extensions.publish` (developers, admins, owners). OAuth apps also need
`identity.manage`, as on the account pages. The organization always comes from the request.
"""

from __future__ import annotations

import csv
import functools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.forms import OAuthAppForm
from apps.accounts.models import Organization, OrganizationOAuthApp, User
from apps.accounts.permissions import user_can
from apps.accounts.tenancy import request_organization
from apps.core.exceptions import BusinessRuleViolation
from apps.developers import documentation, selectors, services
from apps.developers.forms import (
    ApiKeyForm,
    BecomePublisherForm,
    PublisherProfileForm,
    ReplyForm,
    TicketForm,
    UploadForm,
    YankForm,
)
from apps.developers.models import TicketStatus
from apps.developers.remedies import remedy_for
from apps.marketplace.models import IN_PIPELINE, ExtensionVersion, Publisher, VersionChannel, VersionStatus
from apps.marketplace.services import (
    create_publisher,
    install_channel_version,
    publish_version,
    set_version_channel,
    update_publisher,
    upload_version,
    yank_version,
)

PUBLISH = "extensions.publish"
ANALYTICS_DAYS = 30
# The pipeline's steps in order, with the key a running step is recorded under.
PIPELINE_STEPS = (
    ("upload", "Upload", "upload"),
    ("validate", "Validate", "validating"),
    ("scan", "Scan", "scanning"),
    ("test", "Test", "testing"),
    ("certify", "Certify and sign", "certify"),
    ("publish", "Publish", "publish"),
)


@dataclass(frozen=True)
class Portal:
    user: User
    organization: Organization
    publisher: Publisher | None


class NoOrganization(Exception):
    pass


def _portal(request: HttpRequest, perm: str = PUBLISH) -> Portal:
    organization = request_organization(request)
    if organization is None:
        raise NoOrganization
    user = request.user
    assert isinstance(user, User)
    if not user_can(user, perm, organization):
        raise PermissionDenied(f"Your role in {organization.name} does not allow publishing extensions.")
    return Portal(user=user, organization=organization, publisher=selectors.publisher_of(organization))


def _publisher(portal: Portal) -> Publisher:
    if portal.publisher is None:
        raise Http404("Your organization is not a publisher yet.")
    return portal.publisher


def _no_organization(request: HttpRequest) -> HttpResponse:
    messages.info(request, "Create an organization, or accept an invitation to one, to publish extensions.")
    return redirect("accounts:home")


PortalView = Callable[..., HttpResponse]


def portal_page(perm: str = PUBLISH) -> Callable[[PortalView], Callable[..., HttpResponse]]:
    """Resolve the signed-in member's organization and publisher (needing `perm`) and hand it to the view as
    `portal`; a member without an organization is sent to create or join one."""

    def decorate(view: PortalView) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                portal = _portal(request, perm)
            except NoOrganization:
                return _no_organization(request)
            return view(request, portal, *args, **kwargs)

        return wrapped

    return decorate


def _context(portal: Portal, section: str, **extra: Any) -> dict[str, Any]:
    return {"organization": portal.organization, "publisher": portal.publisher, "section": section, **extra}


# -- Overview and onboarding ------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@portal_page()
def home(request: HttpRequest, portal: Portal) -> HttpResponse:
    if portal.publisher is None:
        return _onboarding(request, portal)
    publisher = portal.publisher
    extensions = list(selectors.extensions_of(publisher))
    recent = list(selectors.versions_of(publisher).order_by("-created_at")[:10])
    profile_form = PublisherProfileForm(initial={"name": publisher.name, "website": publisher.website})
    return render(
        request,
        "developers/home.html",
        _context(portal, "home", extensions=extensions, recent_versions=recent, profile_form=profile_form),
    )


def _onboarding(request: HttpRequest, portal: Portal) -> HttpResponse:
    form = BecomePublisherForm(request.POST or None, initial={"name": portal.organization.name})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                create_publisher(
                    organization=portal.organization,
                    actor=portal.user,
                    slug=data["slug"],
                    name=data["name"],
                    website=data["website"],
                    accept_terms=data["accept_terms"],
                )
            except BusinessRuleViolation as exc:
                form.add_service_error(exc)
                status = exc.status_code
            else:
                messages.success(request, "You are a publisher. Upload your first extension package.")
                return redirect("developers:upload")
        else:
            status = 400
    return render(request, "developers/onboarding.html", _context(portal, "home", form=form), status=status)


@login_required
@require_POST
@portal_page()
def update_profile(request: HttpRequest, portal: Portal) -> HttpResponse:
    publisher = _publisher(portal)
    form = PublisherProfileForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Check the publisher name and website.")
        return redirect("developers:home")
    update_publisher(
        publisher=publisher, actor=portal.user, name=form.cleaned_data["name"], website=form.cleaned_data["website"]
    )
    messages.success(request, "Your publisher profile is saved.")
    return redirect("developers:home")


# -- Uploads and versions -------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@portal_page()
def upload(request: HttpRequest, portal: Portal) -> HttpResponse:
    publisher = _publisher(portal)
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 200
    problems: list[dict[str, Any]] = []
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data["package"].read()
            try:
                version = upload_version(
                    publisher=publisher,
                    actor=portal.user,
                    data=data,
                    auto_publish=bool(form.cleaned_data["auto_publish"]),
                )
            except BusinessRuleViolation as exc:
                form.add_error("package", exc.message)
                problems = [{**p, "remedy": remedy_for(str(p.get("code", "")))} for p in (exc.errors or [])[1:]]
                status = exc.status_code
            else:
                messages.success(request, f"{version} is uploaded; the review has started.")
                return redirect("developers:version", version_id=version.pk)
        else:
            status = 400
    return render(
        request,
        "developers/upload.html",
        _context(portal, "upload", form=form, problems=problems, extensions=list(selectors.extensions_of(publisher))),
        status=status,
    )


@login_required
@require_GET
@portal_page()
def extension_detail(request: HttpRequest, portal: Portal, slug: str) -> HttpResponse:
    """One extension's versions, newest first, with their review status and channel."""
    publisher = _publisher(portal)
    extension = get_object_or_404(selectors.extensions_of(publisher), slug=slug)
    versions = list(extension.versions.select_related("uploaded_by"))
    return render(
        request, "developers/extension.html", _context(portal, "home", extension=extension, versions=versions)
    )


def _steps(version: ExtensionVersion) -> list[dict[str, Any]]:
    rows = []
    for key, label, running_key in PIPELINE_STEPS:
        record = version.steps.get(key) or {}
        state = str(record.get("status") or "")
        if not state and version.steps.get(running_key) and version.status in IN_PIPELINE:
            state = "running"
        rows.append({"key": key, "label": label, "state": state or "waiting", "at": record.get("at", "")})
    return rows


def _findings(version: ExtensionVersion) -> list[dict[str, Any]]:
    order = {"error": 0, "warning": 1, "info": 2}
    rows = [
        {
            "rule_id": str(f.get("rule_id", "")),
            "title": str(f.get("title", "")),
            "severity": str(f.get("severity", "error")),
            "message": str(f.get("message", "")),
            "file": str(f.get("file") or ""),
            "line": f.get("line") or "",
            "step": str(f.get("step", "")),
            "blocking": bool(f.get("blocking")),
            "mode": str(f.get("mode", "")),
            "remedy": remedy_for(str(f.get("rule_id", ""))),
        }
        for f in version.findings
        if isinstance(f, dict)
    ]
    return sorted(rows, key=lambda r: (not r["blocking"], order.get(r["severity"], 3), r["rule_id"]))


def _version_context(portal: Portal, version: ExtensionVersion) -> dict[str, Any]:
    return _context(
        portal,
        "versions",
        version=version,
        steps=_steps(version),
        findings=_findings(version),
        in_pipeline=version.status in IN_PIPELINE,
        can_publish=version.status == VersionStatus.PASSED,
        can_yank=version.status == VersionStatus.PUBLISHED,
        yank_form=YankForm(),
        can_release=version.status in (VersionStatus.PASSED, VersionStatus.PUBLISHED),
        channels=VersionChannel.choices,
        can_install=user_can(portal.user, "extensions.install", portal.organization),
    )


def _own_version(publisher: Publisher, version_id: uuid.UUID) -> ExtensionVersion:
    return get_object_or_404(selectors.versions_of(publisher), pk=version_id)


@login_required
@require_GET
@portal_page()
def version_detail(request: HttpRequest, portal: Portal, version_id: uuid.UUID) -> HttpResponse:
    version = _own_version(_publisher(portal), version_id)
    return render(request, "developers/version.html", _version_context(portal, version))


@login_required
@require_GET
@portal_page()
def version_status(request: HttpRequest, portal: Portal, version_id: uuid.UUID) -> HttpResponse:
    """The steps and findings alone, which the version page polls with htmx until the pipeline stops."""
    version = _own_version(_publisher(portal), version_id)
    return render(request, "developers/_version_status.html", _version_context(portal, version))


@login_required
@require_POST
@portal_page()
def version_publish(request: HttpRequest, portal: Portal, version_id: uuid.UUID) -> HttpResponse:
    version = _own_version(_publisher(portal), version_id)
    if publish_version(version_id=version.pk, actor=portal.user, explicit=True):
        messages.success(request, f"{version} is published; customers can install it now.")
    else:
        messages.error(request, "Only a version that passed review and is not published yet can be published.")
    return redirect("developers:version", version_id=version.pk)


@login_required
@require_POST
@portal_page()
def version_yank(request: HttpRequest, portal: Portal, version_id: uuid.UUID) -> HttpResponse:
    version = _own_version(_publisher(portal), version_id)
    form = YankForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        yank_version(version=version, actor=portal.user, reason=reason)
    except BusinessRuleViolation as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{version} is withdrawn; existing installations keep it.")
    return redirect("developers:version", version_id=version.pk)


@login_required
@require_POST
@portal_page()
def version_channel(request: HttpRequest, portal: Portal, version_id: uuid.UUID) -> HttpResponse:
    version = _own_version(_publisher(portal), version_id)
    try:
        set_version_channel(version=version, actor=portal.user, channel=request.POST.get("channel", ""))
    except BusinessRuleViolation as exc:
        messages.error(request, exc.message)
    else:
        label = version.get_channel_display() if version.channel else "no channel"
        messages.success(request, f"{version} is on {label}.")
    return redirect("developers:version", version_id=version.pk)


@login_required
@require_POST
@portal_page("extensions.install")
def version_install(request: HttpRequest, portal: Portal, version_id: uuid.UUID) -> HttpResponse:
    """Try a channel version in the publisher's own organization before publishing it."""
    version = _own_version(_publisher(portal), version_id)
    try:
        config = json.loads(request.POST.get("config") or "{}")
    except ValueError:
        config = None
    if not isinstance(config, dict):
        messages.error(request, 'The configuration must be a JSON object, such as {"region": "eu"}.')
        return redirect("developers:version", version_id=version.pk)
    try:
        install_channel_version(organization=portal.organization, actor=portal.user, version=version, config=config)
    except BusinessRuleViolation as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{version} is installed in {portal.organization.name}.")
    return redirect("developers:version", version_id=version.pk)


# -- Analytics -------------------------------------------------------------------------------------------------


def _analytics_window() -> tuple[Any, Any]:
    until = timezone.now().date()
    return until - timedelta(days=ANALYTICS_DAYS - 1), until


@login_required
@require_GET
@portal_page()
def analytics(request: HttpRequest, portal: Portal) -> HttpResponse:
    publisher = _publisher(portal)
    since, until = _analytics_window()
    series = selectors.analytics_series(publisher, since=since, until=until)
    charts = [
        {
            "key": key,
            "dom_id": f"chart-data-{key}",
            "title": s.title,
            "kind": "line" if key == "installs" else "bar",
            "data": {"labels": s.labels, "rows": s.rows},
            "table": s.as_csv_rows(),
        }
        for key, s in series.items()
    ]
    return render(
        request, "developers/analytics.html", _context(portal, "analytics", charts=charts, days=ANALYTICS_DAYS)
    )


@login_required
@require_GET
@portal_page()
def analytics_csv(request: HttpRequest, portal: Portal, series_key: str) -> HttpResponse:
    publisher = _publisher(portal)
    if series_key not in selectors.SERIES_KEYS:
        raise Http404("No such series.")
    since, until = _analytics_window()
    series = selectors.analytics_series(publisher, since=since, until=until)[series_key]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{publisher.slug}-{series_key}.csv"'
    writer = csv.writer(response)
    for row in series.as_csv_rows():
        # A cell starting with = + - @ would run as a formula in a spreadsheet: quote it as text.
        writer.writerow([f"'{c}" if isinstance(c, str) and c[:1] in "=+-@" else c for c in row])
    return response


# -- Credentials -----------------------------------------------------------------------------------------------


def _render_credentials(request: HttpRequest, portal: Portal, *, status: int = 200, **extra: Any) -> HttpResponse:
    from apps.gateway.models import ApiKey
    from apps.gateway.selectors import clients_of

    clients = list(
        clients_of(portal.organization)
        .prefetch_related(Prefetch("keys", queryset=ApiKey.objects.order_by("-created_at")))
        .order_by("name")
    )
    can_manage_apps = user_can(portal.user, "identity.manage", portal.organization)
    apps = list(
        OrganizationOAuthApp.objects.filter(organization=portal.organization)
        .select_related("application")
        .order_by("-created_at")
    )
    context = _context(
        portal,
        "credentials",
        clients=clients,
        oauth_apps=apps,
        can_manage_apps=can_manage_apps,
        key_form=extra.pop("key_form", None) or ApiKeyForm(),
        app_form=extra.pop("app_form", None) or OAuthAppForm(),
        new_token=extra.pop("new_token", ""),
        new_key=extra.pop("new_key", None),
        new_app=extra.pop("new_app", None),
        new_secret=extra.pop("new_secret", ""),
        **extra,
    )
    return render(request, "developers/credentials.html", context, status=status)


@login_required
@require_GET
@portal_page()
def credentials(request: HttpRequest, portal: Portal) -> HttpResponse:
    _publisher(portal)
    return _render_credentials(request, portal)


@login_required
@require_POST
@portal_page("gateway.manage")
def create_api_key(request: HttpRequest, portal: Portal) -> HttpResponse:
    """A key for the publisher's own scripts: its own API client, so it can be suspended on its own."""
    from apps.gateway.services import create_api_client, issue_api_key

    _publisher(portal)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _render_credentials(request, portal, key_form=form, status=400)
    data = form.cleaned_data
    try:
        client = create_api_client(
            organization=portal.organization,
            actor=portal.user,
            name=data["name"],
            description="Created in the developer portal.",
            allowed_scopes=list(data["scopes"]),
        )
        key, token = issue_api_key(client=client, actor=portal.user, name=data["name"], scopes=list(data["scopes"]))
    except BusinessRuleViolation as exc:
        form.add_service_error(exc)
        return _render_credentials(request, portal, key_form=form, status=exc.status_code)
    return _render_credentials(request, portal, new_key=key, new_token=token)


@login_required
@require_POST
@portal_page("gateway.manage")
def revoke_key(request: HttpRequest, portal: Portal, key_id: uuid.UUID) -> HttpResponse:
    from apps.gateway.models import ApiKey
    from apps.gateway.services import revoke_api_key

    key = get_object_or_404(ApiKey.objects.for_organization(portal.organization), pk=key_id)
    revoke_api_key(key=key, actor=portal.user, reason="Revoked in the developer portal.")
    messages.success(request, f"The key {key.name} is revoked.")
    return redirect("developers:credentials")


@login_required
@require_POST
@portal_page("identity.manage")
def create_oauth_app(request: HttpRequest, portal: Portal) -> HttpResponse:
    from apps.accounts.services import register_oauth_app

    _publisher(portal)
    form = OAuthAppForm(request.POST)
    if not form.is_valid():
        return _render_credentials(request, portal, app_form=form, status=400)
    data = form.cleaned_data
    try:
        registration, secret = register_oauth_app(
            organization=portal.organization,
            actor=portal.user,
            name=data["name"],
            kind=data["kind"],
            scopes=data["scopes"],
            redirect_uris=data["redirect_uris"],
        )
    except BusinessRuleViolation as exc:
        form.add_service_error(exc)
        return _render_credentials(request, portal, app_form=form, status=exc.status_code)
    return _render_credentials(request, portal, new_app=registration, new_secret=secret)


# -- Support ---------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@portal_page()
def tickets(request: HttpRequest, portal: Portal) -> HttpResponse:
    publisher = _publisher(portal)
    form = TicketForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                ticket = services.open_ticket(
                    publisher=publisher,
                    actor=portal.user,
                    subject=form.cleaned_data["subject"],
                    body=form.cleaned_data["body"],
                )
            except BusinessRuleViolation as exc:
                form.add_service_error(exc)
                status = exc.status_code
            else:
                messages.success(request, "Your ticket is open; we answer by email and here.")
                return redirect("developers:ticket", ticket_id=ticket.pk)
        else:
            status = 400
    rows = list(selectors.tickets_of(publisher).select_related("opened_by"))
    return render(
        request, "developers/tickets.html", _context(portal, "support", tickets=rows, form=form), status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
@portal_page()
def ticket_detail(request: HttpRequest, portal: Portal, ticket_id: uuid.UUID) -> HttpResponse:
    publisher = _publisher(portal)
    ticket = get_object_or_404(selectors.tickets_of(publisher), pk=ticket_id)
    form = ReplyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if request.POST.get("action") == "close":
            services.close_ticket(ticket=ticket, actor=portal.user)
            messages.success(request, "The ticket is closed. Reply to reopen it.")
            return redirect("developers:ticket", ticket_id=ticket.pk)
        if form.is_valid():
            try:
                services.reply_to_ticket(ticket=ticket, actor=portal.user, body=form.cleaned_data["body"])
            except BusinessRuleViolation as exc:
                form.add_service_error(exc)
                status = exc.status_code
            else:
                return redirect("developers:ticket", ticket_id=ticket.pk)
        else:
            status = 400
    thread = list(ticket.messages.select_related("author"))
    return render(
        request,
        "developers/ticket.html",
        _context(
            portal,
            "support",
            ticket=ticket,
            thread=thread,
            form=form,
            is_closed=ticket.status == TicketStatus.CLOSED,
        ),
        status=status,
    )


# -- Docs (public) ---------------------------------------------------------------------------------------------


def _docs_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "doc_pages": documentation.list_pages(),
        "query": request.GET.get("q", "").strip()[:200],
        "section": "docs",
        **extra,
    }


@require_GET
def docs_index(request: HttpRequest) -> HttpResponse:
    return render(request, "developers/docs_index.html", _docs_context(request, current=""))


@require_GET
def doc_page(request: HttpRequest, slug: str) -> HttpResponse:
    page, before, after = documentation.find_page(slug)
    if page is None:
        raise Http404("No such page.")
    rendered = documentation.render_page(page)
    return render(
        request,
        "developers/doc_page.html",
        _docs_context(request, current=page.slug, rendered=rendered, previous_page=before, next_page=after),
    )


@require_GET
def docs_search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:200]
    hits = documentation.search_docs(query)
    return render(request, "developers/docs_search.html", _docs_context(request, current="", hits=hits))
