"""Lists inside a stored payment reason (the facts two records share, the safety checks that
failed), kept as codes so each reader gets them joined in their own language."""
from __future__ import annotations

from typing import Iterable

from .. import reasons
from ..reasons import N_

AND, SEMICOLON = "pay.list.and", "pay.list.semicolon"
reasons.register({AND: N_("%(a)s and %(b)s"), SEMICOLON: N_("%(a)s; %(b)s")})


def joined(items: Iterable[str], code: str = AND) -> str:
    """Encoded reasons (or neutral values) as one encoded reason: "a and b and c"."""
    parts = list(items)
    if not parts:
        raise ValueError("nothing to join")
    out = parts[-1]
    for item in reversed(parts[:-1]):
        out = reasons.encode(code, a=item, b=out)
    return out
