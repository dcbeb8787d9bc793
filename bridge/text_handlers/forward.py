"""Keyword forwarding (seed 000: push received SMS to a chatbot by keyword).

Rules in `mappings/forwards.yaml` match the sender and/or keywords, case- and
diacritics-insensitively, and forward the SMS as JSON to a URL (through the outbox: durable and
retried like any message) and/or answer the sender with a template SMS.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from jinja2 import TemplateError

from .. import providers, reasons
from ..outbox import FORWARD, Draft, Job, enqueue, enqueue_job
from ..phones import normalize_phone
from ..reasons import N_
from ..received_texts import joined
from ..rules import RulesError, make_env
from ..smstext import prepare, strip_diacritics
from . import InboundHandler, InboundSms

reasons.register({
    "forward.forwarded": N_("forwarded by %(rule)s"),
    "forward.answered": N_("answered by %(rule)s"),
})
FIELDS = {"name", "senders", "keywords", "forward_to", "reply", "reply_channel", "unicode", "enabled"}


def fold(text: str) -> str:
    """Lower case without diacritics: "Đơn HÀNG" and "don hang" compare equal."""
    return re.sub(r"\s+", " ", strip_diacritics(text or "").lower()).strip()


@dataclass(frozen=True)
class ForwardRule:
    name: str
    senders: tuple[str, ...]
    keywords: tuple[str, ...]
    forward_to: str
    reply: str
    reply_channel: str
    unicode: bool

    def matches(self, sms: InboundSms) -> bool:
        if self.senders:
            sender_phone = normalize_phone(sms.sender).e164
            if not any(fold(s) == fold(sms.sender) or (sender_phone and normalize_phone(s).e164 == sender_phone)
                       for s in self.senders):
                return False
        if self.keywords:
            text = fold(sms.text)
            if not any(fold(k) in text for k in self.keywords):
                return False
        return True


def load_forward_rules(path: Path, known_channels: tuple[str, ...]) -> list[ForwardRule]:
    if not path.is_file():
        return []
    src = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RulesError(f"{src}: not valid YAML: {exc}") from exc
    items = doc.get("forwards") if isinstance(doc, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise RulesError(f"{src}: 'forwards' must be a list")
    env = make_env()
    rules = []
    for i, raw in enumerate(items):
        label = f"{src}: forward #{i + 1}"
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise RulesError(f"{label}: field 'name' is required")
        label = f"{src}: forward {raw['name']!r}"
        unknown = set(raw) - FIELDS
        if unknown:
            raise RulesError(f"{label}: unknown field {sorted(unknown)[0]!r}")
        if raw.get("enabled", True) is False:
            continue
        senders, keywords = raw.get("senders", []), raw.get("keywords", [])
        for field_name, value in (("senders", senders), ("keywords", keywords)):
            if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
                raise RulesError(f"{label}: field {field_name!r} must be a list of texts")
        if not senders and not keywords:
            raise RulesError(f"{label}: give 'senders' and/or 'keywords' (a rule must not take every SMS)")
        url, reply = raw.get("forward_to", ""), raw.get("reply", "")
        if not url and not reply:
            raise RulesError(f"{label}: give 'forward_to' (a URL) and/or 'reply' (a template)")
        if url and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            raise RulesError(f"{label}: field 'forward_to' must be an http(s) URL")
        channel = raw.get("reply_channel") or ""   # empty: answer on the line the SMS came in on
        if channel and channel not in known_channels:
            raise RulesError(f"{label}: field 'reply_channel': unknown {channel!r}")
        if reply:
            try:
                env.from_string(reply).render(sender="0912345678", text="mẫu", shop_name="Shop")
            except TemplateError as exc:
                raise RulesError(f"{label}: field 'reply': {exc}") from exc
        rules.append(ForwardRule(raw["name"], tuple(senders), tuple(keywords), url or "", reply or "", channel,
                                 bool(raw.get("unicode", True))))
    return rules


class KeywordForwarder(InboundHandler):
    def __init__(self, name: str, settings: Any, bridge: Any):
        super().__init__(name, settings, bridge)
        self.rules = load_forward_rules(Path(settings.mappings_dir) / "forwards.yaml", tuple(bridge.channels))
        self.env = make_env()

    def handle(self, c: sqlite3.Connection, sms: InboundSms) -> str | None:
        if sms.fields is not None:
            return None   # a provider's transaction record, not a text anyone wrote: no keyword rule applies
        done = []
        for rule in self.rules:
            if not rule.matches(sms):
                continue
            if rule.forward_to:
                body = {
                    "id": sms.id, "source": sms.source, "device": sms.device, "sim": sms.sim, "sender": sms.sender,
                    "recipient": sms.recipient, "text": sms.text, "rule": rule.name,
                    "received_at": datetime.fromtimestamp(sms.received_at, timezone.utc).isoformat(),
                }
                enqueue_job(c, Job(kind=FORWARD, dedupe_key=f"inbox:{sms.id}:forward:{rule.name}", rule=rule.name,
                                   event="sms.forward", audience="webhook", target=rule.forward_to,
                                   target_label=rule.forward_to, payload=body, summary=f"{sms.sender}: {sms.text}"))
                done.append(reasons.encode("forward.forwarded", rule=rule.name))
            if rule.reply:
                text = self.env.from_string(rule.reply).render(sender=sms.sender, text=sms.text,
                                                               shop_name=self.settings.shop_name).strip()
                enqueue(c, Draft.to_phone(normalize_phone(sms.sender), dedupe_key=f"inbox:{sms.id}:reply:{rule.name}",
                                          rule=rule.name, event="sms.reply", audience="customer",
                                          channels=(self._reply_channel(rule, sms),), sms=prepare(text, rule.unicode)))
                done.append(reasons.encode("forward.answered", rule=rule.name))
        return joined(done) or None

    def _reply_channel(self, rule: ForwardRule, sms: InboundSms) -> str:
        """The rule's channel, or the one that answers on the line the SMS came in on (the shop's
        own phone, also by default), or the first owner channel when no provider answers texts."""
        return (rule.reply_channel or providers.reply_channel(sms.source)
                or next(iter(self.settings.alert_channels), "dry-run"))
