"""The shop's own Android phone(s) as SMS gateway: SMSGate ("SMS Gateway for Android"), PROTOCOLS §5.

Cloud or private-server mode posts to `<base>/3rdparty/v1/messages`; local mode posts to the
phone itself at `http://<phone>:8080/message`. Our message id is SMSGate's `id`: a repeat is
answered 409, which means it was accepted before. Which phone sends, and when, is decided by
the persisted device budget (carrier-safe pacing, rotation, pause on repeated failures).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import requests

from ...config import Settings
from .devices import Device, DeviceBudget, load_devices
from ...store.db import now
from .. import N_
from ..base import Event, HttpChannel, OutgoingMessage, Outcome, Pace, SendResult, StatusReport

log = logging.getLogger(__name__)

# SMSGate message state -> normalized event (the seed's vocabulary: Pending/Queued, Sent, ...)
STATE_EVENT: dict[str, Event] = {
    "Pending": Event.QUEUED,     # waiting on the server for the phone (offline or busy)
    "Processed": Event.QUEUED,   # the phone took it
    "Sent": Event.SENT,          # sent, delivery unknown (may stay so: no report ever comes)
    "Delivered": Event.DELIVERED,
    "Failed": Event.FAILED,      # SIM out of credit, number blocked, wrong number
}
# webhook event -> normalized event
WEBHOOK_EVENT: dict[str, Event] = {
    "sms:sent": Event.SENT,
    "sms:delivered": Event.DELIVERED,
    "sms:failed": Event.FAILED,
}


def message_url(d: Device, message_id: str | None = None) -> str:
    base = f"{d.url}/message" if d.mode == "local" else f"{d.url}/3rdparty/v1/messages"
    return base if message_id is None else f"{base}/{message_id}"


class SmsGateChannel(HttpChannel):
    who = "the phone"
    price_label = N_("The shop's own SIM (SMSGate)")
    bulk = "free"

    def __init__(self, name: str, settings: Settings, db: Any = None):
        super().__init__(name, settings, db)
        self.devices = load_devices(settings)
        self.budget = DeviceBudget(db, self.devices, settings.smsgate_pause_after, settings.smsgate_cooldown) \
            if db is not None and self.devices else None

    @property
    def configured(self) -> bool:
        return bool(self.devices) and self.budget is not None

    @property
    def why_not_configured(self) -> str:
        return "" if self.configured else N_("no phone configured (SMSGATE_URL or mappings/devices.yaml)")

    def read_timeout(self) -> float:
        return self.settings.smsgate_timeout

    def paces(self) -> tuple[Pace, ...]:
        """One sender per phone that is not paused (all of them when every one is): its mean
        random gap and its caps. A phone's next send waits for the worker's next pass."""
        if self.budget is None:
            return ()
        resting = {d["name"] for d in self.budget.status() if d["paused"]}
        phones = [d for d in self.devices if d.name not in resting] or self.devices
        return tuple(Pace(d.name, (d.gap_min + d.gap_max) / 2, d.per_minute, d.per_hour, on_tick=True) for d in phones)

    def device(self, name: str | None) -> Device | None:
        return next((d for d in self.devices if d.name == name), None)

    def send(self, msg: OutgoingMessage) -> SendResult:
        assert self.budget is not None
        pinned = msg.device if msg.device and self.device(msg.device) else None
        res = self.budget.reserve(only=pinned)
        if res.device is None:
            why = f"waiting for {pinned}, which may already have this message: {res.why}" if pinned else res.why
            return SendResult(Outcome.DEFERRED, retry_at=res.wait_until or now() + 60, detail=why)
        d = res.device
        body: dict[str, Any] = {"id": msg.id, "textMessage": {"text": msg.text}, "phoneNumbers": [msg.recipient],
                                "withDeliveryReport": True, "ttl": 86_400}
        if d.sim:
            body["simNumber"] = d.sim
        if d.device_id:
            body["deviceId"] = d.device_id
        if pinned is None:
            self._pin(msg, d.name)   # before asking: a worker killed during the call leaves the pin
        result = self._ask(d, msg, body)
        if pinned is None and result.sticky is None and result.outcome not in (Outcome.ACCEPTED, Outcome.DUPLICATE):
            result = replace(result, sticky=False)   # this phone answered that it does not have it
        return result

    @staticmethod
    def _pin(msg: OutgoingMessage, device: str) -> None:
        """Have the outbox record the phone about to be asked, committed before the request
        leaves: each phone deduplicates only its own ids, so a retry after a crash must find this
        phone, not the round-robin's next one."""
        if msg.pin_device is not None:
            msg.pin_device(device)

    def _ask(self, d: Device, msg: OutgoingMessage, body: dict[str, Any]) -> SendResult:
        r = self.request("POST", message_url(d), json=body, auth=(d.user, d.password), who=d.name,
                         errors=lambda r: self._refusal(d, msg, r))
        if isinstance(r, SendResult):
            if r.code in ("timeout", "connection"):
                # Sent but unanswered (read timeout, connection dropped, and below a gateway's
                # 502/504): the phone may have it, so the retry is pinned to it. Never connected:
                # nothing left us. A phone's own refusal (500, 503, 429) keeps an earlier pin but
                # makes none.
                self.budget.outcome(d.name, False, "timeout" if r.code == "timeout" else "unreachable")
                return replace(r, device=d.name, sticky=True if r.maybe_taken else False)
            return r
        raw = r.text[:2000]
        if r.status_code in (200, 201, 202):
            self.budget.outcome(d.name, True)
            return SendResult(Outcome.ACCEPTED, provider_id=msg.id, code=str(r.status_code),
                              detail=f"accepted by {d.name}", raw=raw, device=d.name)
        return SendResult(Outcome.PERMANENT, code=str(r.status_code),
                          detail=f"{d.name} refused the message: HTTP {r.status_code} {raw[:200]}", raw=raw, device=d.name)

    def _refusal(self, d: Device, msg: OutgoingMessage, r: requests.Response) -> SendResult:
        """The phone's error answers (PROTOCOLS §5): 409 is a repeat of an id it has (sent
        before), 401/403 a wrong login, 503 a full queue, and only a 502/504 (a gateway in front
        of the phone) may hide a send it made."""
        raw = r.text[:2000]
        if r.status_code == 409:
            return SendResult(Outcome.DUPLICATE, provider_id=msg.id, code="409",
                              detail=f"{d.name} already has this message (sent before)", raw=raw, device=d.name)
        if r.status_code in (401, 403):
            self.budget.outcome(d.name, False, f"HTTP {r.status_code}")
            return SendResult(Outcome.PERMANENT, code=str(r.status_code),
                              detail=f"{d.name} refused the login: check SMSGATE_USER / SMSGATE_PASSWORD", raw=raw,
                              device=d.name)
        if r.status_code == 503:
            self.budget.outcome(d.name, False, "queue full")
            return SendResult(Outcome.TRANSIENT, code="503", detail=f"{d.name} queue is full", raw=raw, device=d.name)
        if r.status_code >= 500 or r.status_code == 429:
            self.budget.outcome(d.name, False, f"HTTP {r.status_code}")
            gateway = r.status_code in (502, 504)
            return SendResult(Outcome.TRANSIENT, code=str(r.status_code), detail=f"{d.name} HTTP {r.status_code}",
                              raw=raw, device=d.name, sticky=True if gateway else None, maybe_taken=gateway)
        return SendResult(Outcome.PERMANENT, code=str(r.status_code),
                          detail=f"{d.name} refused the message: HTTP {r.status_code} {raw[:200]}", raw=raw, device=d.name)

    def poll(self, provider_id: str, device: str | None = None) -> StatusReport | None:
        d = self.device(device)
        if d is None:
            return None
        r = self.request("GET", message_url(d, provider_id), auth=(d.user, d.password), who=d.name)
        if isinstance(r, SendResult):
            log.warning("SMSGate status poll for %s on %s failed: %s", provider_id, d.name, r.detail)
            return None
        try:
            data = r.json()
        except ValueError as exc:
            log.warning("SMSGate status poll for %s on %s failed: %s", provider_id, d.name, exc)
            return None
        if r.status_code != 200 or not isinstance(data, dict):
            return None
        return normalize_state(data)

    def on_report(self, device: str | None, event: Event, detail: str = "") -> None:
        """Delivery reports count toward the device's health too (a failing SIM pauses it)."""
        if self.budget is None or device is None or event not in (Event.SENT, Event.DELIVERED, Event.FAILED):
            return
        self.budget.outcome(device, event is not Event.FAILED, detail)

    def device_status(self) -> list[dict[str, Any]]:
        return self.budget.status() if self.budget is not None else []

    def resume_device(self, name: str) -> bool:
        return self.budget is not None and self.budget.resume(name)


def normalize_state(data: dict[str, Any]) -> StatusReport:
    import json
    state = str(data.get("state", ""))
    event = STATE_EVENT.get(state, Event.UNKNOWN)
    errors = [f"{r.get('phoneNumber')}: {r.get('error')}" for r in data.get("recipients") or []
              if isinstance(r, dict) and r.get("error")]
    detail = f"SMSGate state {state or '?'}" + (f" ({'; '.join(errors)})" if errors else "")
    return StatusReport(event=event, provider_status=state, detail=detail, raw=json.dumps(data, ensure_ascii=False))
