"""The shop's months ("YYYY-MM" in TIMEZONE): an order asked at 00:30 on the 1st in Hanoi belongs
to that month though UTC is still in the previous one. One place for the edges, so the monthly
report, the dashboard and /metrics count the same rows for the same month."""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def bounds(month: str, zone: ZoneInfo) -> tuple[float, float]:
    """[first instant, first instant of the next month) of "YYYY-MM" in `zone`; ValueError for
    anything that is no month (the admin says so instead of guessing)."""
    m = MONTH.match(month)
    if not m or not (1 <= int(m.group(2)) <= 12) or not (2000 <= int(m.group(1)) <= 2200):
        raise ValueError(month)
    y, mo = int(m.group(1)), int(m.group(2))
    start = datetime(y, mo, 1, tzinfo=zone)
    end = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=zone)
    return start.timestamp(), end.timestamp()


def shift(month: str, by: int) -> str:
    y, mo = (int(x) for x in month.split("-"))
    n = y * 12 + (mo - 1) + by
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def of(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m")


def last(now: float, zone: ZoneInfo, n: int) -> list[tuple[str, float, float]]:
    """(month, start, end) of the `n` months up to the one holding `now`, oldest first."""
    current = of(now, zone)
    return [(m, *bounds(m, zone)) for m in (shift(current, -i) for i in range(n - 1, -1, -1))]
