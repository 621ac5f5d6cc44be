"""Task API v1 `start_time`: "HH:MM" (the next such wall-clock time in the user's zone) or ISO-8601, and
times shown in the user's zone. Pure: no I/O (docs/task-api-v1.md, "start_time").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from taskcenter.domain.v1_scripts import bad

_HHMM = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")  # ASCII digits: `\d` would take "٣:00" as 03:00
MAX_SCHEDULE_AHEAD = timedelta(days=30)
PAST_TOLERANCE = timedelta(minutes=1)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def resolve_start_time(raw: str | None, tz_name: str, now_ms: int) -> datetime | None:
    """`HH:MM`: the next such wall-clock time in the user's zone (today if still ahead, else tomorrow;
    a time skipped by a DST jump moves forward with it). ISO-8601: that instant (no offset: the user's
    zone). Returns an aware datetime in the user's zone, or None for "start now"."""
    if raw is None or not raw.strip():
        return None
    tz = zone(tz_name)
    now = datetime.fromtimestamp(now_ms / 1000, tz)
    text = raw.strip()
    match = _HHMM.match(text)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        for days in (0, 1, 2):
            day = (now + timedelta(days=days)).date()
            wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
            # Round-trip through UTC so a non-existent local time (DST gap) becomes a real instant.
            candidate = wall.astimezone(UTC).astimezone(tz)
            if candidate > now:
                return candidate
        raise bad("start_time could not be resolved", "start_time")  # unreachable in practice
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError as error:
        raise bad('start_time must be "HH:MM" or an ISO-8601 timestamp', "start_time") from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    try:
        parsed = parsed.astimezone(tz)
    except (OverflowError, ValueError) as error:  # year 1 or 9999 shifted out of range
        raise bad("start_time is out of range", "start_time") from error
    if parsed < now - PAST_TOLERANCE:
        raise bad("start_time is in the past", "start_time")
    if parsed > now + MAX_SCHEDULE_AHEAD:
        raise bad("start_time is more than 30 days ahead", "start_time")
    return parsed if parsed > now else None


def iso(ms: int, tz_name: str) -> str | None:
    """Milliseconds -> ISO-8601 in the user's zone, to the second (None for 0)."""
    if not ms:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, zone(tz_name)).isoformat(timespec="seconds")


def wall(ms: int, tz_name: str) -> str:
    """Milliseconds -> "YYYY-MM-DD HH:MM:SS" in the user's zone, the form the desktop UI parses for a task's
    `start_time` / `end_time` (tikmatrix-scripts.md §6); "" for 0."""
    if not ms:
        return ""
    return datetime.fromtimestamp(int(ms) / 1000, zone(tz_name)).strftime("%Y-%m-%d %H:%M:%S")
