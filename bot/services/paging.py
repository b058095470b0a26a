"""Page arithmetic shared by the paged lists (communities, a resident's requests)."""

from __future__ import annotations


def clamp_page(total: int, page: int, per_page: int) -> tuple[int, int]:
    """(page, pages) with page kept in range: an old button may point past the end."""
    pages = max(1, -(-total // per_page))
    return min(max(page, 0), pages - 1), pages
