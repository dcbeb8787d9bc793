"""Parsers for environment variables: each turns the text of one variable into a typed value or
raises ValueError with what was expected. Shared by the core settings and every provider's own."""
from __future__ import annotations

from .bank_registry import bank_name

def boolean(v: str) -> bool:
    s = v.strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def phone_list(v: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in v.split(",") if p.strip())


def quiet_hours(v: str) -> tuple[int, int] | None:
    s = v.strip().lower()
    if s in ("", "off", "none"):
        return None
    start, sep, end = s.partition("-")
    if not sep:
        raise ValueError("expected HH:MM-HH:MM (e.g. 21:00-07:00) or off")
    out = []
    for part in (start, end):
        hh, _, mm = part.strip().partition(":")
        h, m = int(hh), int(mm or 0)
        if not (0 <= h < 24 and 0 <= m < 60):
            raise ValueError(f"{part.strip()!r} is not a time of day")
        out.append(h * 60 + m)
    return out[0], out[1]


def bank_accounts(v: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in v.split(","):
        if not item.strip():
            continue
        bank, sep, account = item.partition(":")
        if not sep or not account.strip():
            raise ValueError(f"expected BANK:ACCOUNT, got {item.strip()!r}")
        out.append((bank_name(bank), account.strip()))
    return tuple(out)


def choice(*options: str):
    def parse(v: str) -> str:
        s = v.strip().lower()
        if s not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return s
    return parse


def time_zone(v: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        ZoneInfo(v.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone (expected e.g. Asia/Ho_Chi_Minh)") from None
    return v.strip()


def sqlite_sync(v: str) -> str:
    s = v.strip().upper()
    if s not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError("expected FULL, NORMAL or EXTRA")
    return s


def name_list(v: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in v.split(",") if x.strip())
    if not names:
        raise ValueError("expected a comma list of channel names")
    return names


def positive_int(v: str) -> int:
    n = int(v)
    if n < 1:
        raise ValueError("must be 1 or more")
    return n


def int_between(lo: int, hi: int):
    def parse(v: str) -> int:
        n = int(v)
        if not lo <= n <= hi:
            raise ValueError(f"must be from {lo} to {hi}")
        return n
    return parse


def float_between(lo: float, hi: float):
    def parse(v: str) -> float:
        n = float(v)
        if not lo <= n <= hi:   # NaN fails too
            raise ValueError(f"must be from {lo:g} to {hi:g}")
        return n
    return parse


def positive_float(v: str) -> float:
    n = float(v)
    if n <= 0:
        raise ValueError("must be greater than 0")
    return n


def non_negative_float(v: str) -> float:
    n = float(v)
    if not n >= 0 or n == float("inf"):
        raise ValueError("must be 0 or more")
    return n


def url(v: str) -> str:
    s = v.strip().rstrip("/")
    if s and not (s.startswith("http://") or s.startswith("https://")):
        raise ValueError("must start with http:// or https://")
    return s


def log_format(value: str) -> str:
    v = value.strip().lower()
    if v not in ("text", "json"):
        raise ValueError("must be text or json")
    return v


