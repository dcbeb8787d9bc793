"""eSMS.vn adapter (PROTOCOLS §3, seeds 004 and 002): send, poll status, balance, callbacks.

eSMS answers HTTP 200 with a `CodeResult` for nearly everything, so the decision whether to
retry lives in the code table below. Our message id is sent as `RequestId`; eSMS refuses a
repeat within 24 h with 124, which is what makes a retry after a crash or timeout safe.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Mapping
from urllib.parse import unquote

import requests

from ...config import Settings
from ...phones import national
from .. import N_
from ..base import Event, HttpChannel, OutgoingMessage, Outcome, SendResult, StatusReport
from .status import callback_url

log = logging.getLogger(__name__)

SEND_PATH = "/json/SendMultipleMessage_V4_post_json/"

# CodeResult -> (outcome, what it means for the shop owner; N_: the admin shows it translated)
SEND_CODES: dict[str, tuple[Outcome, str]] = {
    "100": (Outcome.ACCEPTED, N_("accepted by eSMS")),
    "124": (Outcome.DUPLICATE, N_("RequestId already accepted by eSMS (sent before)")),
    "99": (Outcome.TRANSIENT, N_("eSMS unknown error, retry later")),
    "101": (Outcome.PERMANENT, N_("eSMS login failed: wrong ESMS_API_KEY or ESMS_SECRET_KEY")),
    "102": (Outcome.PERMANENT, N_("eSMS account locked")),
    "103": (Outcome.PERMANENT, N_("eSMS balance too low to send")),
    "104": (Outcome.PERMANENT, N_("eSMS brandname wrong or cancelled (ESMS_BRANDNAME)")),
    "118": (Outcome.PERMANENT, N_("eSMS message type invalid (ESMS_SMS_TYPE)")),
    "119": (Outcome.PERMANENT, N_("eSMS advertising brandname needs at least 20 recipients")),
    "131": (Outcome.PERMANENT, N_("eSMS advertising message longer than 422 characters")),
    "132": (Outcome.PERMANENT, N_("eSMS: no permission for fixed number 8755")),
    "145": (Outcome.PERMANENT, N_("eSMS template not registered")),
    "146": (Outcome.PERMANENT, N_("eSMS template not registered for this brandname")),
    "159": (Outcome.PERMANENT, N_("eSMS RequestId too long")),
    "177": (Outcome.PERMANENT, N_("eSMS brandname not registered for this carrier")),
}

# SendStatus (callback and GetSendStatus) -> normalized event. 5 depends on the counts.
SEND_STATUS: dict[str, Event] = {
    "1": Event.QUEUED,      # awaiting approval
    "2": Event.QUEUED,      # waiting to send
    "3": Event.QUEUED,      # sending
    "4": Event.FAILED,      # rejected
    "5": Event.DELIVERED,   # finished sending (see counts)
    "6": Event.FAILED,      # deleted
    "7": Event.SENT,        # sent, awaiting carrier report
}
STATUS_WORDS = {"1": "awaiting approval", "2": "waiting", "3": "sending", "4": "rejected", "5": "sent",
                "6": "deleted", "7": "sent, awaiting report"}


def _int(v: Any) -> int:
    try:
        return int(float(str(v)))
    except (TypeError, ValueError, OverflowError):  # "inf", "nan", garbage from a stranger
        return 0


ZALO_TYPES = {"24", "25", "26", "27"}   # TypeId of Zalo reports (24 priority ZNS, 25 normal ZNS, 26/27 other)


def decode_error_info(value: str | None) -> dict[str, Any] | None:
    """Zalo's `error_info` as eSMS sends it: JSON, URL-encoded once more (sometimes JSON inside a
    JSON string, sometimes with `____<time>` appended). Never raises: it comes from outside."""
    if not value:
        return None
    text = str(value).strip()
    for _ in range(3):
        if "%" not in text:
            break
        text = unquote(text)
    at = ""
    if "____" in text:
        text, at = text.split("____", 1)
    data: Any = text
    for _ in range(3):
        if not isinstance(data, str):
            break
        try:
            data = json.loads(data)
        except ValueError:
            return {"raw": str(value)[:500]}
    if not isinstance(data, dict):
        return {"raw": str(value)[:500]}
    if at:
        data["at"] = at.strip()
    return data


def normalize_status(params: Mapping[str, Any]) -> StatusReport:
    """SendStatus plus the success/failure counts -> one normalized event. Zalo reports also
    carry Zalo's own error, which is what the shop owner needs to read."""
    status = str(params.get("SendStatus", "")).strip()
    event = SEND_STATUS.get(status, Event.UNKNOWN)
    success, failed = _int(params.get("SendSuccess")), _int(params.get("SendFailed"))
    if status == "5":
        if success > 0:
            event = Event.DELIVERED
        elif failed > 0:
            event = Event.FAILED
        else:
            event = Event.SENT
    detail = f"SendStatus {status or '?'} ({STATUS_WORDS.get(status, 'unknown')}), success {success}, failed {failed}"
    raw: dict[str, Any] = dict(params)
    if str(params.get("TypeId", "")).strip() in ZALO_TYPES:
        info = decode_error_info(params.get("error_info"))
        if info is not None:
            raw["error_info"] = info
            code, message = info.get("error"), info.get("message")
            if code not in (None, 0, "0"):
                detail = f"Zalo error {code}: {message or 'no message'}; {detail}"
            elif "raw" in info:
                detail = f"Zalo error_info unreadable; {detail}"
        detail = f"Zalo (TypeId {params.get('TypeId')}): {detail}"
    return StatusReport(event=event, provider_status=status, detail=detail,
                        raw=json.dumps(raw, ensure_ascii=False, default=str))


def is_zalo_report(params: Mapping[str, Any]) -> bool:
    return str(params.get("TypeId", "")).strip() in ZALO_TYPES


class EsmsChannel(HttpChannel):
    who = "eSMS"
    price_label = N_("eSMS brandname SMS")
    bulk = "registered"   # a brandname delivers only the texts registered with the carriers

    def __init__(self, name: str, settings: Settings, db: Any = None):
        super().__init__(name, settings, db)
        self.base = settings.esms_base_url.rstrip("/")

    def read_timeout(self) -> float:
        return self.settings.esms_timeout

    @property
    def configured(self) -> bool:
        return self.settings.esms_configured

    @property
    def why_not_configured(self) -> str:
        return "" if self.configured else N_("ESMS_API_KEY and ESMS_SECRET_KEY are not set")

    def callback_url(self) -> str:
        return callback_url(self.settings) if self.settings.public_url else ""

    def budgets(self) -> tuple[tuple[str, float], ...]:
        """Every send request counts against the one eSMS account, whichever channel makes it."""
        return (("esms", self.settings.esms_max_per_second),)

    def send(self, msg: OutgoingMessage) -> SendResult:
        s = self.settings
        if not msg.recipient.startswith("+84"):
            return SendResult(Outcome.PERMANENT, code="not-vn",
                              detail=f"eSMS delivers to Vietnamese numbers only, not {msg.recipient}")
        body = {
            "ApiKey": s.esms_api_key,
            "SecretKey": s.esms_secret_key,
            "Phone": national(msg.recipient),
            "Content": msg.text,
            "SmsType": str(s.esms_sms_type),
            "IsUnicode": "1" if msg.unicode else "0",
            "Sandbox": "1" if s.esms_sandbox else "0",
            "RequestId": msg.id,
            "CallbackUrl": self.callback_url(),
        }
        if s.esms_brandname:
            body["Brandname"] = s.esms_brandname
        return self.post(SEND_PATH, body, SEND_CODES)

    def post(self, path: str, body: dict[str, Any], codes: Mapping[str, tuple[Outcome, str]]) -> SendResult:
        """One send request to eSMS (SMS, ZNS or MultiChannel: same answers, same codes)."""
        r = self.request("POST", self.base + path, json=body, errors=_wrong_address)
        if isinstance(r, SendResult):
            return r
        raw = r.text[:2000]
        try:
            data = r.json()
        except ValueError:
            return SendResult(Outcome.TRANSIENT, code="bad-json", detail="eSMS answered something that is not JSON", raw=raw)
        if not isinstance(data, dict):
            return SendResult(Outcome.TRANSIENT, code="bad-json", detail="eSMS answered JSON without a CodeResult", raw=raw)
        return read_send_answer(data, codes, raw)

    def _get(self, url: str, what: str, **kw: Any) -> dict[str, Any] | None:
        """A read-only question to eSMS (status, balance): its answer when CodeResponse is 100;
        otherwise None, logged (nothing was sent, so there is no outcome to record)."""
        r = self.request("GET", url, **kw)
        if isinstance(r, SendResult):
            log.warning("eSMS %s failed: %s", what, r.detail)
            return None
        try:
            data = r.json()
        except ValueError as exc:
            log.warning("eSMS %s failed: %s", what, exc)
            return None
        if not isinstance(data, dict) or str(data.get("CodeResponse")) != "100":
            log.warning("eSMS %s answered CodeResponse %s", what, data.get("CodeResponse") if isinstance(data, dict) else None)
            return None
        return data

    def poll(self, provider_id: str, device: str | None = None) -> StatusReport | None:
        s = self.settings
        data = self._get(f"{self.base}/json/GetSendStatus", f"status poll for {provider_id}",
                         params={"RefId": provider_id, "ApiKey": s.esms_api_key, "SecretKey": s.esms_secret_key})
        return normalize_status(data) if data is not None else None

    def balance(self) -> int | None:
        s = self.settings
        data = self._get(f"{self.base}/json/GetBalance/{s.esms_api_key}/{s.esms_secret_key}", "balance check")
        return _int(data.get("Balance")) if data is not None else None


def _wrong_address(r: requests.Response) -> SendResult | None:
    """eSMS answers its own errors with HTTP 200 and a code: a 4xx means we are not talking to it."""
    if r.status_code < 500 and r.status_code not in (408, 429):
        return SendResult(Outcome.PERMANENT, code=f"http-{r.status_code}", raw=r.text[:2000],
                          detail=f"eSMS HTTP {r.status_code}: check ESMS_BASE_URL")
    return None


def read_send_answer(data: Mapping[str, Any], codes: Mapping[str, tuple[Outcome, str]], raw: str = "") -> SendResult:
    """A send answer's CodeResult through the code table (an unknown code is permanent: a person
    reads it before anything is sent again)."""
    code = str(data.get("CodeResult", "")).strip()
    outcome, meaning = codes.get(code, (Outcome.PERMANENT, f"eSMS error {code or '(no code)'}"))
    detail = meaning
    if data.get("ErrorMessage"):
        detail = f"{meaning}: {data['ErrorMessage']}"
    smsid = data.get("SMSID") or None
    return SendResult(outcome, provider_id=str(smsid) if smsid else None, code=code, detail=detail, raw=raw)
