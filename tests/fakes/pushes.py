"""How a provider that calls our webhook delivers one call: any answer but 200, or none, is tried
again `retry_interval` apart up to `retries` more times, and `lose_answers` drops our answer as a
broken connection would (the call reached us; the provider never heard). The carriers' fakes
(GHN, GHTK) differ only in their retry counts and body formats."""
from __future__ import annotations

import threading
import time

import requests


class Pushes:
    def __init__(self, retries: int, retry_interval: float) -> None:
        self.retries = retries
        self.retry_interval = retry_interval
        self.lose_answers = 0
        self.attempts: list[tuple[int | None, str]] = []   # every attempt: (HTTP status or None, answer)
        self.lock = threading.Lock()

    def deliver(self, url: str, data: bytes, content_type: str) -> list[int | None]:
        """The HTTP status of each attempt (None: no answer heard)."""
        statuses: list[int | None] = []
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.retry_interval)
            try:
                r = requests.post(url, data=data, headers={"Content-Type": content_type}, timeout=10)
                status, answer = r.status_code, r.text
            except requests.RequestException as exc:
                status, answer = None, str(exc)
            with self.lock:
                if status is not None and self.lose_answers:
                    self.lose_answers -= 1
                    status, answer = None, "answer lost"
                self.attempts.append((status, answer))
            statuses.append(status)
            if status == 200:
                break
        return statuses
