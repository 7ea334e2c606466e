"""Region endpoints served by every region: the replication inbox and the organization entry link."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.selectors import memberships_of
from apps.accounts.tenancy import set_active_organization
from apps.core.problems import problem_response
from apps.regions import organization_moves, replication
from apps.regions.routing import serves_every_region

MAX_BATCH_BYTES = 5 * 1024 * 1024


@csrf_exempt  # authenticated by the HMAC signature, not a browser session
@require_POST
@serves_every_region
def replication_inbox(request: HttpRequest) -> JsonResponse:
    """Apply a signed batch of directory changes from a peer region."""
    if int(request.headers.get("Content-Length") or 0) > MAX_BATCH_BYTES:
        return problem_response(request, status_code=413, code="too_large", detail="The batch is too large.")
    body = request.body
    try:
        replication.verify_signature(body, request.headers.get(replication.SIGNATURE_HEADER, ""))
    except replication.SignatureError as exc:
        return problem_response(request, status_code=401, code="bad_signature", detail=str(exc))
    try:
        origin, messages = replication.parse_batch(body)
        report = replication.apply_batch(origin_region=origin, messages=messages)
    except replication.MalformedBatch as exc:
        return problem_response(request, status_code=400, code="malformed_batch", detail=str(exc))
    return JsonResponse({"applied": report.applied, "ignored": report.ignored})


MAX_BUNDLE_BYTES = 200 * 1024 * 1024


@csrf_exempt  # authenticated by the HMAC signature, not a browser session
@require_POST
@serves_every_region
def organization_import(request: HttpRequest) -> JsonResponse:
    """Import an organization moving here from a peer region; answer with what this region now holds."""
    if int(request.headers.get("Content-Length") or 0) > MAX_BUNDLE_BYTES:
        return problem_response(request, status_code=413, code="too_large", detail="The bundle is too large.")
    # Read from the stream: `request.body` stops at DATA_UPLOAD_MAX_MEMORY_SIZE, far below a large organization.
    body = request.read(MAX_BUNDLE_BYTES + 1)
    if len(body) > MAX_BUNDLE_BYTES:
        return problem_response(request, status_code=413, code="too_large", detail="The bundle is too large.")
    try:
        replication.verify_signature(body, request.headers.get(replication.SIGNATURE_HEADER, ""))
    except replication.SignatureError as exc:
        return problem_response(request, status_code=401, code="bad_signature", detail=str(exc))
    try:
        counts, hashes = organization_moves.import_organization_bundle(organization_moves.load_bundle(body))
    except organization_moves.ImportRefused as exc:
        return problem_response(request, status_code=422, code="import_refused", detail=str(exc))
    return JsonResponse({"counts": counts, "hashes": hashes})


@require_GET
@login_required
def organization_entry(request: HttpRequest, organization_slug: str) -> HttpResponse:
    """A link that works from any region: the middleware sends foreign organizations home, this opens local ones."""
    membership = memberships_of(request.user).filter(organization__slug=organization_slug).first()
    if membership is None:
        raise Http404("No such organization.")
    set_active_organization(request, membership.organization)
    return redirect("core:dashboard")
