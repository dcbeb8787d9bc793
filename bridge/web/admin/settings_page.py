"""Settings and health: what is configured (secrets masked), what to paste where, the phones,
recent refusals, and the last reconcile."""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from ... import providers
from ...config import ENV
from ...store import reports
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
        secret = any(w in env.lower() for w in SECRET_WORDS)
        rows.append({"env": env, "value": mask(value) if secret else value, "secret": secret})
    return rows


def endpoints() -> list[tuple[str, str, str, list[str]]]:
    """The banner's list of URLs outside systems call (Bridge.public_endpoints), with the label
    and note in the admin's language; each URL carries its own secret. The secrets a note names
    (a signing key to paste into the phone app) come with it, to get a copy button of their own:
    on a phone, selecting a key inside a sentence is where a paste goes wrong."""
    b = bridge()
    names = (*providers.generated_secrets(), *providers.sensitive_fields())
    secrets = [v for v in dict.fromkeys(getattr(b.settings, n, "") for n in names) if isinstance(v, str) and len(v) >= 8]
    return [(label, url, note, [v for v in secrets if v in (note or "")]) for label, url, note in b.public_endpoints(_)]


def refusal_kinds() -> dict[int, str]:
    """What a refused request's HTTP status means, in the admin's language (the reason beside it
    is the caller's English answer, shown as it was sent); 0: any other status."""
    return {
        0: _("Refused."),
        400: _("The request could not be read (a missing or malformed field)."),
        401: _("No valid signature, key or token: not from the service it claims."),
        403: _("Wrong or missing token in the address."),
        404: _("Nothing at this address, or the feature is not set up."),
        405: _("Wrong request method."),
        413: _("The request was too large."),
        429: _("Too many requests."),
    }


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
        **provided, status_items=providers.status_items(b),
        rejections=[dict(r) for r in reports.recent_rejections(b.db, 50)], refusal_kinds=refusal_kinds())


@bp.post("/devices/<name>/resume")
def device_resume(name: str):
    if bridge().resume_device(name):
        flash(_("Phone %(name)s resumed.", name=name), "ok")
    else:
        flash(_("No paused phone named %(name)s.", name=name), "error")
    return redirect(url_for("admin.settings"))
