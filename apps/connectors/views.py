"""Plain Django views of the connectors app: the inbound webhook endpoint and the published manifest schema."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.connectors import services
from apps.connectors.manifests import MANIFEST_SCHEMA_PATH
from apps.connectors.models import Connector
from apps.connectors.providers.base import InboundRequest
from apps.core.problems import problem_response


@csrf_exempt
@require_POST
def webhook_receiver(request: HttpRequest, connector_id: UUID) -> HttpResponse:
    """`POST /hooks/<connector-id>/`: verify, record, queue, and answer fast."""
    connector = Connector.objects.filter(pk=connector_id).select_related("manifest").first()
    if connector is None:
        return problem_response(request, status_code=404, code="not_found", detail="No such webhook endpoint.")
    length = int(request.headers.get("Content-Length") or 0)
    if length > settings.CONNECTOR_WEBHOOK_MAX_BYTES:
        return problem_response(request, status_code=413, code="too_large", detail="The delivery is too large.")
    inbound = InboundRequest(
        method=request.method or "POST",
        path=request.path,
        query={key: request.GET.get(key, "") for key in request.GET},
        headers={name.lower(): value for name, value in request.headers.items()},
        body=request.body,
        remote_addr=request.META.get("REMOTE_ADDR"),
    )
    reply = services.receive_webhook(connector=connector, request=inbound)
    return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)


@require_GET
@cache_control(public=True, max_age=3600)
def connector_manifest_schema(request: HttpRequest) -> FileResponse:
    """The published JSON Schema of declarative connector manifests."""
    return FileResponse(MANIFEST_SCHEMA_PATH.open("rb"), content_type="application/schema+json")
