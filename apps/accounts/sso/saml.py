"""SAML 2.0 single sign-on per organization (djangosaml2 on pysaml2).

Each organization has its own service provider: `/sso/saml/<slug>/metadata/` (our SP metadata),
`/sso/saml/<slug>/login/` (SP-initiated login) and `/sso/saml/<slug>/acs/` (where the IdP posts its answer).
Assertions must be signed by the IdP in the organization's metadata; responses that answer no request of
this browser (IdP-initiated, or replayed) are refused, and an assertion id is accepted once.
"""

from __future__ import annotations

import logging
from typing import Any

import saml2
from django.conf import settings
from django.contrib import auth
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from djangosaml2 import views as saml_views
from saml2.config import SPConfig
from saml2.mdstore import MetadataStore

from apps.accounts import services
from apps.accounts.backends import SINGLE_SIGN_ON_BACKEND
from apps.accounts.models import Organization, SamlIdentityProvider, SignInMethod
from apps.accounts.signals import SSO_SIGN_IN_ATTRIBUTE
from apps.accounts.tenancy import set_active_organization
from apps.core.exceptions import BusinessRuleViolation

logger = logging.getLogger(__name__)


class SsoConfigurationError(Exception):
    """The organization's IdP is missing or its configuration cannot be used."""


def read_idp_metadata(metadata_xml: str) -> str:
    """Check that a metadata document describes exactly one IdP with a signing certificate; return its entity id."""
    store = MetadataStore(attrc=[], config=SPConfig())
    try:
        store.load("inline", metadata_xml)
    except Exception as exc:  # noqa: BLE001 - pysaml2 raises many kinds for a bad document
        raise BusinessRuleViolation(
            f"The metadata is not a valid SAML metadata document ({type(exc).__name__}).", field="metadata_xml"
        ) from None
    idps = list(store.identity_providers())
    if len(idps) != 1:
        raise BusinessRuleViolation("The metadata must describe exactly one identity provider.", field="metadata_xml")
    entity_id = idps[0]
    if not store.certs(entity_id, "idpsso", use="signing"):
        raise BusinessRuleViolation("The IdP metadata carries no signing certificate.", field="metadata_xml")
    if not store.single_sign_on_service(entity_id, saml2.BINDING_HTTP_REDIRECT) and not store.single_sign_on_service(
        entity_id, saml2.BINDING_HTTP_POST
    ):
        raise BusinessRuleViolation("The IdP metadata names no single sign-on service.", field="metadata_xml")
    return str(entity_id)


def organization_of_request(request: HttpRequest) -> Organization:
    slug = request.resolver_match.kwargs.get("slug") if request.resolver_match else None
    organization = Organization.objects.filter(slug=slug, is_active=True).first() if slug else None
    if organization is None:
        raise Http404("No such organization.")
    return organization


def sp_urls(request: HttpRequest, organization: Organization) -> dict[str, str]:
    """Our SP's entity id and ACS URL for this organization, on the host the request came to."""
    return {
        "entity_id": request.build_absolute_uri(reverse("sso:saml_metadata", args=[organization.slug])),
        "acs": request.build_absolute_uri(reverse("sso:saml_acs", args=[organization.slug])),
    }


def sp_config(request: HttpRequest, organization: Organization, *, with_idp: bool = True) -> SPConfig:
    idp = SamlIdentityProvider.objects.filter(organization=organization).first()
    if with_idp and (idp is None or not idp.is_enabled or not idp.metadata_xml):
        raise SsoConfigurationError(f"{organization.name} has no enabled SAML identity provider.")
    urls = sp_urls(request, organization)
    config: dict[str, Any] = {
        "entityid": urls["entity_id"],
        "xmlsec_binary": settings.SAML_XMLSEC_BINARY,
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "name": f"{settings.SITE_NAME} ({organization.name})",
                "endpoints": {"assertion_consumer_service": [(urls["acs"], saml2.BINDING_HTTP_POST)]},
                "allow_unsolicited": False,
                "authn_requests_signed": False,
                "logout_requests_signed": False,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "name_id_format_allow_create": True,
            }
        },
        "accepted_time_diff": 60,
    }
    if with_idp and idp is not None:
        config["metadata"] = {"inline": [idp.metadata_xml]}
    conf = SPConfig()
    try:
        conf.load(config)
    except Exception as exc:  # noqa: BLE001 - an unreadable stored document is a configuration problem
        raise SsoConfigurationError(
            f"The identity provider's metadata cannot be used ({type(exc).__name__})."
        ) from None
    return conf


def sp_config_for_request(request: HttpRequest) -> SPConfig:
    """djangosaml2's config loader (settings.SAML_CONFIG_LOADER): the SP of the organization in the URL."""
    return sp_config(request, organization_of_request(request))


def _error_page(request: HttpRequest, *, title: str, detail: str, status: int) -> HttpResponse:
    return render(request, "accounts/sso_error.html", {"title": title, "detail": detail}, status=status)


def acs_failure_page(request: HttpRequest, exception: Any = None, status: int = 403, **kwargs: Any) -> HttpResponse:
    """What a person sees when the IdP's answer is refused: a reason they can act on, never a stack trace."""
    name = type(exception).__name__ if exception is not None else ""
    if name in ("UnsolicitedResponse", "SuspiciousOperation"):
        detail = (
            "This sign-in answer does not match a sign-in started from this browser, or it was used already. "
            "Start again from the sign-in page."
        )
    elif name in ("SignatureError", "MissingKey"):
        detail = "The identity provider's answer is not signed with the certificate in your organization's settings."
    elif name in ("ResponseLifetimeExceed", "ToEarly"):
        detail = "The identity provider's answer has expired (or your clocks disagree). Start again."
    elif isinstance(exception, PermissionDenied) and str(exception):
        detail = str(exception)
    else:
        detail = (
            "Your identity provider's answer could not be accepted. Ask your administrator to check the SSO set-up."
        )
    logger.info("SAML sign-in refused: %s", name)
    from apps.accounts.services import observe_failed_sign_in

    # The refused answer names no account we can trust, so the attempt counts against the organization's IdP.
    match = getattr(request, "resolver_match", None)
    organization_slug = str(match.kwargs.get("slug") or "") if match is not None else ""
    observe_failed_sign_in(request=request, username=f"saml:{organization_slug}")
    return _error_page(request, title="Single sign-on failed", detail=detail, status=status)


class SamlLoginView(saml_views.LoginView):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            organization_of_request(request)
            return super().get(request, *args, **kwargs)
        except SsoConfigurationError as exc:
            return _error_page(request, title="Single sign-on is not available", detail=str(exc), status=503)


class SamlAcsView(saml_views.AssertionConsumerServiceView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            self.organization = organization_of_request(request)
            return super().post(request)
        except SsoConfigurationError as exc:
            return _error_page(request, title="Single sign-on is not available", detail=str(exc), status=503)

    def custom_validation(self, response: Any) -> None:
        # Defence in depth beside the outstanding-request check: an assertion id works once, in any browser.
        assertion_id = response.assertion.id
        if not cache.add(f"saml:assertion:{assertion_id}", 1, timeout=int(settings.SAML_REPLAY_WINDOW.total_seconds())):
            raise SuspiciousOperation("A SAML assertion was presented a second time.")

    def authenticate_user(
        self,
        request: HttpRequest,
        session_info: dict[str, Any],
        attribute_mapping: Any,
        create_unknown_user: Any,
        assertion_info: Any,
    ) -> Any:
        organization = self.organization
        idp = SamlIdentityProvider.objects.get(organization=organization)
        attributes: dict[str, list[str]] = session_info.get("ava", {})
        names = idp.attribute_map or {}

        def first(key: str) -> str:
            values = attributes.get(names.get(key, ""), [])
            return str(values[0]) if values else ""

        email = first("email")
        if not email:
            name_id = session_info.get("name_id")
            email = str(getattr(name_id, "text", "") or "") if name_id is not None else ""
        full_name = first("full_name") or " ".join(p for p in (first("first_name"), first("last_name")) if p)
        groups = [str(g) for g in attributes.get(names.get("groups", ""), [])]
        try:
            user, _membership = services.provision_sso_member(
                organization=organization,
                email=email,
                full_name=full_name,
                groups=groups,
                group_map=idp.group_map,
                default_role=idp.default_role,
                method=SignInMethod.SAML,
            )
        except BusinessRuleViolation as exc:
            raise PermissionDenied(exc.message) from None
        setattr(request, SSO_SIGN_IN_ATTRIBUTE, (SignInMethod.SAML, organization))
        auth.login(request, user, backend=SINGLE_SIGN_ON_BACKEND)
        set_active_organization(request, organization)
        saml_views._set_subject_id(request.saml_session, session_info["name_id"])  # type: ignore[attr-defined]
        return user


class SamlMetadataView(saml_views.MetadataView):
    """Our SP's metadata for one organization: what its IdP administrator imports."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        from saml2.metadata import entity_descriptor

        conf = sp_config(request, organization_of_request(request), with_idp=False)
        return HttpResponse(str(entity_descriptor(conf)).encode(), content_type="text/xml; charset=utf-8")
