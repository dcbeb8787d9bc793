"""Settings and health: what is configured (secrets masked), what to paste where, the phones,
recent refusals, and the last reconcile."""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from ... import providers
from ...config import ENV
from .. import bridge
from . import bp

SECRET_WORDS = ("secret", "token", "password", "key")


def mask(value: str) -> str:
    """Enough to recognise a key, never enough to use it."""
    if not value:
        return ""
    return "•" * 8 if len(value) < 12 else f"{value[:3]}…{value[-3:]}"


def configuration() -> list[dict[str, Any]]:
    s = bridge().settings
    names = {f.name for f in fields(s)}
    rows = []
    for env, (attr, _parse) in sorted(ENV.items()):
        if attr not in names:
            continue
        value = getattr(s, attr)
        if isinstance(value, (tuple, list)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        value = "" if value is None else str(value)
        secret = any(w in env.lower() for w in SECRET_WORDS) and env not in ("SMSGATE_SIM",)
        rows.append({"env": env, "value": mask(value) if secret else value, "secret": secret})
    return rows


def endpoints() -> list[tuple[str, str, str]]:
    """The banner's list of URLs outside systems call (Bridge.public_endpoints), with the label
    and note in the admin's language; each URL carries its own secret."""
    b = bridge()
    s = b.settings
    labels = {"eSMS delivery callback": _("eSMS delivery callback"), "SMSGate webhooks": _("SMSGate webhooks"),
              "FiboSMS push URL": _("FiboSMS push URL"), "App notifications": _("App notifications"),
              "Messenger webhook": _("Messenger webhook")}
    notify = _("Sign each request: X-Timestamp (Unix seconds) and X-Signature = hex HMAC-SHA256(NOTIFY_TOKEN, body + "
               "X-Timestamp); NOTIFY_TOKEN: %(key)s.", key=s.notify_token)
    if s.notify_auth != "signed":
        notify += " " + _("Or send the header Authorization: Bearer %(key)s.", key=s.notify_token)
    notes = {
        "eSMS delivery callback": _("Sent to eSMS with every message; this token opens nothing else."),
        "SMSGate webhooks": _("Signing key: %(key)s", key=s.smsgate_signing_key),
        "FiboSMS push URL": _("A push proves only that the FIBO_TOKEN holder sent it: bank credits from it are %(mode)s "
                              "(FIBO_PAYMENTS).", mode={"review": _("queued for a person to confirm"),
                                                        "confirm": _("confirmed automatically"),
                                                        "off": _("not read as payments")}[s.fibo_payments]),
        "App notifications": notify,
        "Messenger webhook": _("Verify token: %(token)s", token=s.messenger_verify_token)
        if s.messenger_verify_token else _("MESSENGER_VERIFY_TOKEN is not set."),
    }
    return [(labels.get(label, label), url, notes.get(label, note)) for label, url, note in b.public_endpoints()]


@bp.get("/settings")
def settings():
    b = bridge()
    provided: dict[str, Any] = {}
    sections: dict[str, list[str]] = {}   # where on the page -> the providers' templates shown there
    for m in providers.admin_modules():
        if hasattr(m, "settings_context"):
            theirs = dict(m.settings_context(b))
            for where, names in theirs.pop("settings_sections", {}).items():
                sections.setdefault(where, []).extend(names)
            provided.update(theirs)
    return render_template(
        "admin/settings.html", endpoints=endpoints(), settings_sections=sections,
        channels=b.channel_status(), devices=b.device_status(), config=configuration(),
        **provided, balance=b.db.kv_get("esms.balance"),
        rejections=[dict(r) for r in b.db.query(
            "SELECT id, at, COALESCE(last_at, at) AS last_at, COALESCE(count, 1) AS count, endpoint, http_status,"
            " reason, remote_addr FROM rejections ORDER BY COALESCE(last_at, at) DESC LIMIT 50")])


@bp.post("/devices/<name>/resume")
def device_resume(name: str):
    budget = getattr(bridge().channels.get("smsgate"), "budget", None)
    if budget is not None and budget.resume(name):
        flash(_("Phone %(name)s resumed.", name=name), "ok")
    else:
        flash(_("No paused phone named %(name)s.", name=name), "error")
    return redirect(url_for("admin.settings"))
