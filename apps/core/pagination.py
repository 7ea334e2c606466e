"""Cursor pagination: stable under concurrent inserts and cheap on big tables (no COUNT, no OFFSET)."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class CreatedCursorPagination(CursorPagination):
    """Newest first. `?cursor=` continues; `?page_size=` (at most 200) sets the page length."""

    ordering: tuple[str, ...] = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int | None:
        # DRF ignores a page_size that is not a number; the schema says integer, so say so instead.
        raw = request.query_params.get(self.page_size_query_param or "page_size")
        if raw is not None:
            try:
                int(raw)
            except ValueError:
                raise ValidationError({"page_size": ["A whole number."]}) from None
        return super().get_page_size(request)
