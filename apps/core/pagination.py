"""Cursor pagination: stable under concurrent inserts and cheap on big tables (no COUNT, no OFFSET)."""

from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Newest first. `?cursor=` continues; `?page_size=` (at most 200) sets the page length."""

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200
