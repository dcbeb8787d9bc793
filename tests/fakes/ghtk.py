"""A fake GHTK pushing its order-status webhook as PAYMENT_SOURCES.md §5b documents: a POST to
the callback URL it was given (`?hash=…` ours), form-encoded by default (`label_id`,
`partner_id`, `action_time`, `status_id`, `reason_code`, `reason`, `weight`, `fee`,
`pick_money`, `return_part_package`), or the JSON rendering of the docs. Any answer but 200, or
none, is retried (`retries`: the docs say "once"; `retry_interval` apart); `lose_answers`
drops our answer as a broken connection would."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from .pushes import Pushes

VIETNAM = timezone(timedelta(hours=7))


def action_time(t: float) -> str:
    return datetime.fromtimestamp(t, VIETNAM).isoformat(timespec="seconds")


class FakeGhtk(Pushes):
    def __init__(self, retries: int = 1, retry_interval: float = 0.05):
        super().__init__(retries, retry_interval)

    @staticmethod
    def update(label: str, status_id: int, partner_id: str = "", at: float | None = None,
               pick_money: int | None = None, reason: str = "", reason_code: str = "",
               fee: int = 15000) -> dict[str, Any]:
        """A call's fields; `pick_money` (the COD) only when given, as in the docs' form example."""
        return {"label_id": label, "partner_id": partner_id,
                "action_time": action_time(time.time() if at is None else at), "status_id": status_id,
                "reason_code": reason_code, "reason": reason, "weight": 2.4, "fee": fee,
                **({"pick_money": pick_money} if pick_money is not None else {}), "return_part_package": 0}

    def push(self, url: str, fields: dict[str, Any] | bytes, as_json: bool = False) -> list[int | None]:
        if isinstance(fields, bytes):
            data, ctype = fields, "application/x-www-form-urlencoded"
        elif as_json:
            data, ctype = json.dumps(fields, ensure_ascii=False).encode(), "application/json"
        else:
            data, ctype = urlencode(fields).encode(), "application/x-www-form-urlencoded"
        return self.deliver(url, data, ctype)
