"""Listing request parameters shared by the surfaces: paging and time ranges, strictly parsed (a clear 400).

The surfaces' own field names and units are theirs (dashboard `p`/`page_size`, seconds or milliseconds);
the listing itself is core/listing_executor.py (docs/listing.md).
"""

from __future__ import annotations

from taskcenter.domain import numbers
from taskcenter.domain.errors import BadInput

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def parse_int(raw: str | None, name: str) -> int | None:
    """An optional integer query parameter; garbage is a clear 400."""
    text = numbers.strip_ascii(str(raw)) if raw is not None else ""
    if text == "":
        return None
    return numbers.ascii_int(text, name=name)  # "²" or "٣" is a 400, never int()'s ValueError or a silent 3


def parse_paging(params: dict[str, str | None], *, default_page_size: int = DEFAULT_PAGE_SIZE) -> tuple[int, int]:
    """(page, page_size) as new-api reads them: `p` (1-based; below 1 -> 1), `page_size` (aliases `ps`,
    `size`; missing or 0 -> the default; above MAX_PAGE_SIZE -> MAX_PAGE_SIZE). A negative page size or a
    non-numeric value cannot make sense: 400."""
    page = parse_int(params.get("p"), "p")
    size = None
    for alias in ("page_size", "ps", "size"):
        size = parse_int(params.get(alias), alias)
        if size:
            break
    if size is not None and size < 0:
        raise BadInput(f"page_size must be between 1 and {MAX_PAGE_SIZE}", field="page_size")
    return max(1, page or 1), min(MAX_PAGE_SIZE, size or default_page_size)


def parse_time_range(params: dict[str, str | None], *, unit_ms: int = 1000,
                     names: tuple[str, str] = ("start_timestamp", "end_timestamp")) -> tuple[int | None, int | None]:
    """Optional (start_ms, end_ms), both inclusive, from timestamps in seconds (unit_ms=1000) or ms (1).

    0 or missing means no bound (as new-api). A non-number, a negative value, a seconds value that is
    clearly milliseconds, or start after end: 400.
    """
    out: list[int | None] = []
    for name in names:
        value = parse_int(params.get(name), name)
        if value is None or value == 0:
            out.append(None)
            continue
        if value < 0:
            raise BadInput(f"{name} must be a positive timestamp", field=name)
        limit = 10**11 if unit_ms == 1000 else 10**14
        if value >= limit:
            unit = "seconds" if unit_ms == 1000 else "milliseconds"
            raise BadInput(f"{name} is out of range (expected a Unix timestamp in {unit})", field=name)
        out.append(value * unit_ms)
    start_ms, end_ms = out
    if end_ms is not None:
        end_ms += unit_ms - 1  # the whole last second (submit_time <= end_timestamp, in the caller's unit)
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise BadInput(f"{names[0]} is after {names[1]}", field=names[0])
    return start_ms, end_ms
