"""`POST /api/v1/connectors/{id}/actions/{action}/`: a connector action through the gateway.

The middleware has already authenticated the caller, charged its rate limit and quota, and will record the
call; this view finds the connector in the caller's organization, checks the permission the action needs
(for an API client: a scope granting `connectors.operate`) and runs the action through
`services.invoke_action` (request transform -> input schema -> connector -> output schema -> response
transform). Upstream failures answer 502 or 503 with the connector's error code.

A residency rule forbidding the connector's declared location answers 451 (Unavailable For Legal
Reasons) rather than 403: the caller is allowed to run the action, and asking again with other
credentials will not help; the organization's data-protection rules forbid the transfer itself. The
problem names the rule (`rule_id`, and its reason in `detail`) and the refused `destination_location`.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from apps.connectors.errors import ActionInputInvalid, ConnectorError, RateLimited, UpstreamUnavailable
from apps.connectors.models import Connector
from apps.connectors.selectors import connector_of
from apps.core.problems import Problem
from apps.core.scoping import OrganizationPermission
from apps.gateway import services
from apps.gateway.api.views import GatewayViewMixin
from apps.gateway.principals import GatewayCredential
from apps.regions.residency import ResidencyViolation

ACTION_BODY = {
    "type": "object",
    "additionalProperties": True,
    "description": "The action's input (see the connector's actions and their JSON Schemas), in the shape the "
    "calling client's request transform expects.",
}


class ConnectorActionView(GatewayViewMixin, generics.GenericAPIView[Connector]):
    """Run one action of a connector with a JSON input and answer its JSON output."""

    queryset = Connector.objects.all()
    permission_classes = [*generics.GenericAPIView.permission_classes, OrganizationPermission]
    required_permissions = {"post": "connectors.operate"}
    http_method_names = ["post", "options"]
    extra_error_codes = (409, 422, 429, 451, 502, 503)

    @extend_schema(
        tags=["actions"],
        operation_id="connectors_actions_invoke",
        summary="Invoke a connector action",
        parameters=[
            OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The connector."),
            OpenApiParameter("action_name", OpenApiTypes.STR, OpenApiParameter.PATH, description="The action's name."),
        ],
        request={"application/json": ACTION_BODY},
        responses={200: {"type": "object", "additionalProperties": True, "description": "The action's output."}},
    )
    def post(self, request: Request, pk: str, action_name: str) -> Response:
        connector = self.get_object()
        request._request._nofx_operation = f"connector:{connector.pk}/{action_name}"  # type: ignore[attr-defined]
        if not isinstance(request.data, dict):
            raise Problem(status_code=400, code="invalid_body", detail="The body is a JSON object.")
        credential = request.auth if isinstance(request.auth, GatewayCredential) else None
        try:
            output = services.invoke_action(
                connector=connector,
                action=action_name,
                payload=dict(request.data),
                actor=self.gateway_actor,
                client=credential.client if credential is not None else None,
            )
        except ResidencyViolation as exc:
            raise Problem(
                status_code=451,
                code="residency_refused",
                detail=exc.message,
                extra={"rule_id": exc.rule_id, "destination_location": exc.destination_location},
            ) from exc
        except ActionInputInvalid as exc:
            raise Problem(
                status_code=422,
                code="action_input_invalid",
                detail="The input does not match the action's schema.",
                errors=exc.errors,
            ) from exc
        except services.ResponseTransformFailed as exc:
            raise Problem(status_code=502, code="response_transform_failed", detail=str(exc)) from exc
        except (RateLimited, UpstreamUnavailable) as exc:
            retry = getattr(exc, "retry_after", None)
            headers = {"Retry-After": str(max(1, round(retry)))} if retry else {}
            raise Problem(status_code=503, code=exc.code, detail=exc.message, headers=headers) from exc
        except ConnectorError as exc:
            raise Problem(status_code=502, code=exc.code, detail=exc.message) from exc
        return Response(output)

    def get_object(self) -> Connector:
        """The caller's organization's connector, from this process's copy (see `connectors.selectors`)."""
        connector = connector_of(self.organization, self.kwargs["pk"])
        if connector is None:
            raise Http404
        self.check_object_permissions(self.request, connector)
        return connector

    def get_serializer_class(self) -> Any:  # no serializer: the body's shape is the action's
        return None
