"""Cursor pagination: stable under concurrent inserts and cheap on big tables (no COUNT, no OFFSET)."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination, LimitOffsetPagination
from rest_framework.request import Request


def require_whole_number(request: Request, name: str) -> None:
    """DRF ignores a paging parameter that is not a number; the schema says integer, so say so instead."""
    raw = request.query_params.get(name)
    if raw is None:
        return
    try:
        int(raw)
    except ValueError:
        raise ValidationError({name: ["A whole number."]}) from None


class CreatedCursorPagination(CursorPagination):
    """Newest first. `?cursor=` continues; `?page_size=` (at most 200) sets the page length."""

    ordering: tuple[str, ...] = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int | None:
        require_whole_number(request, self.page_size_query_param or "page_size")
        return super().get_page_size(request)


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """Offset paging for ranked lists; `?limit=` and `?offset=` must be whole numbers when given."""

    def get_limit(self, request: Request) -> int | None:
        require_whole_number(request, self.limit_query_param)
        return super().get_limit(request)

    def get_offset(self, request: Request) -> int:
        require_whole_number(request, self.offset_query_param)
        return super().get_offset(request)
