"""Quiet hours: non-urgent messages that fall due at night wait until the morning."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def quiet_until(t: float, quiet: tuple[int, int] | None, tz: str) -> float | None:
    """If `t` is inside the quiet window (minutes of the local day, may wrap midnight), the
    epoch time it ends; otherwise None."""
    if not quiet:
        return None
    start, end = quiet
    if start == end:
        return None
    local = datetime.fromtimestamp(t, ZoneInfo(tz))
    minute = local.hour * 60 + local.minute
    inside = (start <= minute or minute < end) if start > end else (start <= minute < end)
    if not inside:
        return None
    day = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if day <= local:
        day += timedelta(days=1)
    return day.timestamp()
