"""SCIM 2.0 (RFC 7643/7644) for identity providers: `/scim/v2/Users` are members, `/scim/v2/Groups` are teams.

Each organization provisions itself with its own bearer token (`ScimToken`, stored hashed). Supported:
filters `<attribute> eq "<value>"` (userName, externalId, emails.value; displayName, externalId for groups),
`startIndex`/`count` pagination, PATCH `add`/`replace`/`remove`. Deleting a user, or setting `active` to
false, deprovisions the member: their access ends at once, and their history is kept.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from rest_framework import status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import APIException, AuthenticationFailed, NotFound, ParseError, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import services
from apps.accounts.models import Membership, Organization, ScimToken, Team, TeamMembership
from apps.core.exceptions import BusinessRuleViolation, Conflict

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MAX_PAGE = 200
TOKEN_TOUCH_SECONDS = 60


class ScimPrincipal:
    """An identity provider holding the organization's SCIM token."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    audit_actor_type = "scim_token"

    def __init__(self, token: ScimToken) -> None:
        self.token = token
        self.organization: Organization = token.organization
        self.pk = token.pk


class ScimTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ScimPrincipal, ScimToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer" or len(header) != 2:
            return None
        raw = header[1].decode(errors="replace")
        token = (
            ScimToken.objects.select_related("organization")
            .filter(token_hash=services.hash_token(raw), revoked_at__isnull=True, organization__is_active=True)
            .first()
        )
        if token is None:
            raise AuthenticationFailed("The SCIM token is not valid.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > TOKEN_TOUCH_SECONDS:
            ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return ScimPrincipal(token), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="scim"'


class ScimJSONParser(JSONParser):
    media_type = "application/scim+json"


class ScimJSONRenderer(JSONRenderer):
    media_type = "application/scim+json"


class ScimError(APIException):
    def __init__(self, detail: str, status_code: int = 400, scim_type: str = "") -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.scim_type = scim_type


def _scim_error(detail: str, status_code: int, scim_type: str = "") -> Response:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status_code), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return Response(body, status=status_code, content_type="application/scim+json")


class ScimView(APIView):
    authentication_classes = [ScimTokenAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [ScimJSONParser, JSONParser]
    renderer_classes = [ScimJSONRenderer, JSONRenderer]
    # SCIM is not part of the /api/v1 schema; it has its own standard.
    schema = None

    @property
    def organization(self) -> Organization:
        principal: ScimPrincipal = self.request.user  # type: ignore[assignment]
        return principal.organization

    @property
    def actor(self) -> Any:
        return self.request.user

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ScimError):
            return _scim_error(str(exc.detail), exc.status_code, exc.scim_type)
        if isinstance(exc, Conflict):
            return _scim_error(exc.message, 409, "uniqueness")
        if isinstance(exc, BusinessRuleViolation):
            return _scim_error(exc.message, 400 if exc.status_code == 422 else exc.status_code, "invalidValue")
        if isinstance(exc, AuthenticationFailed) or getattr(exc, "status_code", None) == 401:
            response = _scim_error("Authentication required: a valid SCIM bearer token.", 401)
            response["WWW-Authenticate"] = 'Bearer realm="scim"'
            return response
        if isinstance(exc, NotFound):
            return _scim_error("Resource not found.", 404)
        if isinstance(exc, ParseError | ValidationError):
            return _scim_error("The request body is not valid JSON.", 400, "invalidSyntax")
        if isinstance(exc, APIException):
            return _scim_error(str(exc.detail), exc.status_code)
        raise exc

    def location(self, name: str, pk: Any) -> str:
        return self.request.build_absolute_uri(f"/scim/v2/{name}/{pk}")

    def page(self, queryset: QuerySet[Any]) -> tuple[list[Any], int, int]:
        try:
            start = max(int(self.request.query_params.get("startIndex", 1)), 1)
            count = min(max(int(self.request.query_params.get("count", 100)), 0), MAX_PAGE)
        except ValueError:
            raise ScimError("startIndex and count must be integers.", 400, "invalidValue") from None
        total = queryset.count()
        return list(queryset[start - 1 : start - 1 + count]), total, start

    def list_response(self, resources: list[dict[str, Any]], total: int, start: int) -> Response:
        return Response(
            {
                "schemas": [LIST_SCHEMA],
                "totalResults": total,
                "startIndex": start,
                "itemsPerPage": len(resources),
                "Resources": resources,
            }
        )


_FILTER = re.compile(r'^\s*([A-Za-z.]+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)


def parse_filter(text: str, allowed: dict[str, str]) -> dict[str, str]:
    """`userName eq "a@b.c"` -> a Django lookup; anything else is refused as an invalid filter."""
    if not text:
        return {}
    match = _FILTER.match(text)
    if match is None or match.group(1).lower() not in allowed:
        raise ScimError(f'Unsupported filter; use one of: {", ".join(sorted(allowed))} eq "...".', 400, "invalidFilter")
    return {allowed[match.group(1).lower()]: match.group(2).replace('\\"', '"')}


def _patch_operations(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or PATCH_SCHEMA not in data.get("schemas", []):
        raise ScimError("A PATCH body is a PatchOp message.", 400, "invalidSyntax")
    operations = data.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise ScimError("A PatchOp needs Operations.", 400, "invalidSyntax")
    for operation in operations:
        if not isinstance(operation, dict) or str(operation.get("op", "")).lower() not in ("add", "replace", "remove"):
            raise ScimError("Each operation's op is add, replace or remove.", 400, "invalidSyntax")
    return operations


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ScimError("active must be a boolean.", 400, "invalidValue")


# -- Users -------------------------------------------------------------------------------------------------------

USER_FILTERS = {"username": "user__email__iexact", "externalid": "external_id", "emails.value": "user__email__iexact"}


def _members(organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.for_organization(organization)
        .select_related("user")
        .prefetch_related(
            Prefetch(
                "team_memberships",
                queryset=TeamMembership.objects.select_related("team").only("team__id", "team__name", "membership_id"),
            )
        )
        .order_by("created_at")
    )


class UserResourceMixin(ScimView):
    def user_resource(self, membership: Membership) -> dict[str, Any]:
        user = membership.user
        return {
            "schemas": [USER_SCHEMA],
            "id": str(membership.pk),
            "externalId": membership.external_id or None,
            "userName": user.email,
            "name": {"formatted": user.full_name},
            "displayName": user.full_name or user.email,
            "emails": [{"value": user.email, "primary": True, "type": "work"}],
            "active": membership.is_active and user.is_active,
            "groups": [
                {"value": str(link.team.pk), "display": link.team.name} for link in membership.team_memberships.all()
            ],
            "meta": {
                "resourceType": "User",
                "created": membership.created_at.isoformat(),
                "lastModified": membership.updated_at.isoformat(),
                "location": self.location("Users", membership.pk),
            },
        }

    def get_member(self, member_id: str) -> Membership:
        membership = _members(self.organization).filter(pk=member_id).first() if _is_uuid(member_id) else None
        if membership is None:
            raise NotFound
        return membership


def _is_uuid(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F-]{36}", value))


def _name_of(data: dict[str, Any]) -> str | None:
    name = data.get("name")
    if isinstance(name, dict):
        formatted = name.get("formatted") or " ".join(
            str(part) for part in (name.get("givenName"), name.get("familyName")) if part
        )
        if formatted:
            return str(formatted)
    if data.get("displayName"):
        return str(data["displayName"])
    return None


class ScimUsersView(UserResourceMixin):
    def get(self, request: Request) -> Response:
        queryset = _members(self.organization).filter(
            **parse_filter(request.query_params.get("filter", ""), USER_FILTERS)
        )
        members, total, start = self.page(queryset)
        return self.list_response([self.user_resource(m) for m in members], total, start)

    def post(self, request: Request) -> Response:
        data = request.data
        if not isinstance(data, dict) or not data.get("userName"):
            raise ScimError("userName is required.", 400, "invalidValue")
        membership = services.scim_provision_member(
            organization=self.organization,
            actor=self.actor,
            email=str(data["userName"]),
            full_name=_name_of(data) or "",
            external_id=str(data.get("externalId") or ""),
            active=_as_bool(data.get("active", True)),
        )
        response = Response(self.user_resource(self.get_member(str(membership.pk))), status=status.HTTP_201_CREATED)
        response["Location"] = self.location("Users", membership.pk)
        return response


class ScimUserView(UserResourceMixin):
    def get(self, request: Request, member_id: str) -> Response:
        return Response(self.user_resource(self.get_member(member_id)))

    def put(self, request: Request, member_id: str) -> Response:
        membership = self.get_member(member_id)
        data = request.data
        if not isinstance(data, dict):
            raise ScimError("A user resource is a JSON object.", 400, "invalidSyntax")
        if data.get("userName") and str(data["userName"]).strip().lower() != membership.user.email:
            raise ScimError("userName cannot be changed.", 400, "mutability")
        services.scim_update_member(
            membership=membership,
            actor=self.actor,
            full_name=_name_of(data),
            external_id=str(data.get("externalId") or ""),
            active=_as_bool(data.get("active", True)),
        )
        return Response(self.user_resource(self.get_member(member_id)))

    def patch(self, request: Request, member_id: str) -> Response:
        membership = self.get_member(member_id)
        changes: dict[str, Any] = {}
        for operation in _patch_operations(request.data):
            op = str(operation["op"]).lower()
            path = str(operation.get("path") or "")
            value = operation.get("value")
            values = value if not path and isinstance(value, dict) else {path: value}
            for attribute, item in values.items():
                key = attribute.lower()
                if key == "active":
                    changes["active"] = _as_bool(item) if op != "remove" else False
                elif key == "externalid":
                    changes["external_id"] = "" if op == "remove" else str(item or "")
                elif key in ("name.formatted", "displayname"):
                    changes["full_name"] = "" if op == "remove" else str(item or "")
                elif key == "name" and isinstance(item, dict):
                    changes["full_name"] = _name_of({"name": item}) or ""
                elif key == "username":
                    if str(item).strip().lower() != membership.user.email:
                        raise ScimError("userName cannot be changed.", 400, "mutability")
                else:
                    raise ScimError(f"Unsupported attribute {attribute!r}.", 400, "invalidPath")
        services.scim_update_member(membership=membership, actor=self.actor, **changes)
        return Response(self.user_resource(self.get_member(member_id)))

    def delete(self, request: Request, member_id: str) -> Response:
        membership = self.get_member(member_id)
        services.suspend_membership(membership=membership, actor=self.actor, reason="scim_delete")
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- Groups ----------------------------------------------------------------------------------------------------

GROUP_FILTERS = {"displayname": "name__iexact", "externalid": "external_id"}


def _teams(organization: Organization) -> QuerySet[Team]:
    return (
        Team.objects.for_organization(organization)
        .prefetch_related(
            Prefetch(
                "team_memberships",
                queryset=TeamMembership.objects.select_related("membership__user").only(
                    "team_id", "membership__id", "membership__user__email"
                ),
            )
        )
        .order_by("created_at")
    )


class GroupResourceMixin(ScimView):
    def group_resource(self, team: Team) -> dict[str, Any]:
        return {
            "schemas": [GROUP_SCHEMA],
            "id": str(team.pk),
            "externalId": team.external_id or None,
            "displayName": team.name,
            "members": [
                {"value": str(link.membership.pk), "display": link.membership.user.email}
                for link in team.team_memberships.all()
            ],
            "meta": {
                "resourceType": "Group",
                "created": team.created_at.isoformat(),
                "lastModified": team.updated_at.isoformat(),
                "location": self.location("Groups", team.pk),
            },
        }

    def get_team(self, group_id: str) -> Team:
        team = _teams(self.organization).filter(pk=group_id).first() if _is_uuid(group_id) else None
        if team is None:
            raise NotFound
        return team

    def member_ids(self, value: Any) -> list[Membership]:
        items = value if isinstance(value, list) else [value]
        ids = [str(item.get("value")) for item in items if isinstance(item, dict) and item.get("value")]
        if any(not _is_uuid(pk) for pk in ids):
            raise ScimError("Unknown member id.", 400, "invalidValue")
        found = list(Membership.objects.for_organization(self.organization).filter(pk__in=ids))
        if len(found) != len(set(ids)):
            raise ScimError("Unknown member id.", 400, "invalidValue")
        return found

    def set_members(self, team: Team, wanted: list[Membership]) -> None:
        current = {link.membership_id for link in TeamMembership.objects.filter(team=team)}
        wanted_ids = {m.pk for m in wanted}
        for membership in wanted:
            if membership.pk not in current:
                services.add_team_member(team=team, membership=membership, actor=self.actor)
        for membership in Membership.objects.filter(pk__in=current - wanted_ids):
            services.remove_team_member(team=team, membership=membership, actor=self.actor)


class ScimGroupsView(GroupResourceMixin):
    def get(self, request: Request) -> Response:
        queryset = _teams(self.organization).filter(
            **parse_filter(request.query_params.get("filter", ""), GROUP_FILTERS)
        )
        teams, total, start = self.page(queryset)
        return self.list_response([self.group_resource(t) for t in teams], total, start)

    def post(self, request: Request) -> Response:
        data = request.data
        if not isinstance(data, dict) or not data.get("displayName"):
            raise ScimError("displayName is required.", 400, "invalidValue")
        external_id = str(data.get("externalId") or "")
        if external_id and Team.objects.filter(organization=self.organization, external_id=external_id).exists():
            raise ScimError("Another group has that externalId.", 409, "uniqueness")
        members = self.member_ids(data.get("members") or [])
        team = services.create_team(organization=self.organization, name=str(data["displayName"]), actor=self.actor)
        if external_id:
            Team.objects.filter(pk=team.pk).update(external_id=external_id[:200])
        self.set_members(team, members)
        response = Response(self.group_resource(self.get_team(str(team.pk))), status=status.HTTP_201_CREATED)
        response["Location"] = self.location("Groups", team.pk)
        return response


class ScimGroupView(GroupResourceMixin):
    def get(self, request: Request, group_id: str) -> Response:
        return Response(self.group_resource(self.get_team(group_id)))

    def put(self, request: Request, group_id: str) -> Response:
        team = self.get_team(group_id)
        data = request.data
        if not isinstance(data, dict) or not data.get("displayName"):
            raise ScimError("displayName is required.", 400, "invalidValue")
        members = self.member_ids(data.get("members") or [])
        services.update_team(team=team, actor=self.actor, name=str(data["displayName"]))
        self.set_members(team, members)
        return Response(self.group_resource(self.get_team(group_id)))

    def patch(self, request: Request, group_id: str) -> Response:
        team = self.get_team(group_id)
        for operation in _patch_operations(request.data):
            op = str(operation["op"]).lower()
            path = str(operation.get("path") or "")
            value: Any = operation.get("value")
            member_path = re.fullmatch(r'members\[value eq "([0-9a-fA-F-]{36})"\]', path)
            if path.lower() == "members" or (not path and isinstance(value, dict) and "members" in value):
                members = self.member_ids(value if path else value["members"])
                if op == "add":
                    for membership in members:
                        services.add_team_member(team=team, membership=membership, actor=self.actor)
                elif op == "remove":
                    for membership in members:
                        services.remove_team_member(team=team, membership=membership, actor=self.actor)
                else:
                    self.set_members(team, members)
            elif member_path and op == "remove":
                for membership in self.member_ids([{"value": member_path.group(1)}]):
                    services.remove_team_member(team=team, membership=membership, actor=self.actor)
            elif path.lower() == "displayname" or (not path and isinstance(value, dict) and "displayName" in value):
                name = value if path else value["displayName"]
                services.update_team(team=team, actor=self.actor, name=str(name))
            else:
                raise ScimError(f"Unsupported path {path!r}.", 400, "invalidPath")
        return Response(self.group_resource(self.get_team(group_id)))

    def delete(self, request: Request, group_id: str) -> Response:
        services.delete_team(team=self.get_team(group_id), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ServiceProviderConfigView(ScimView):
    def get(self, request: Request) -> Response:
        return Response(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                "patch": {"supported": True},
                "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
                "filter": {"supported": True, "maxResults": MAX_PAGE},
                "changePassword": {"supported": False},
                "sort": {"supported": False},
                "etag": {"supported": False},
                "authenticationSchemes": [
                    {
                        "type": "oauthbearertoken",
                        "name": "Bearer token",
                        "description": "The organization's SCIM token.",
                    }
                ],
            }
        )
