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

import requests

VIETNAM = timezone(timedelta(hours=7))


def action_time(t: float) -> str:
    return datetime.fromtimestamp(t, VIETNAM).isoformat(timespec="seconds")


class FakeGhtk:
    def __init__(self, retries: int = 1, retry_interval: float = 0.05):
        self.retries = retries
        self.retry_interval = retry_interval
        self.lose_answers = 0
        self.attempts: list[tuple[int | None, str]] = []

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
        statuses: list[int | None] = []
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.retry_interval)
            try:
                r = requests.post(url, data=data, headers={"Content-Type": ctype}, timeout=10)
                status, answer = r.status_code, r.text
            except requests.RequestException as exc:
                status, answer = None, str(exc)
            if status is not None and self.lose_answers:
                self.lose_answers -= 1
                status, answer = None, "answer lost"
            self.attempts.append((status, answer))
            statuses.append(status)
            if status == 200:
                break
        return statuses
