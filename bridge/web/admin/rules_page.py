"""Templates: every rule rendered on a sample order, what it costs with and without diacritics,
a live preview while editing, and a test send to a real phone."""
from __future__ import annotations

import uuid
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from jinja2 import TemplateError

from ...context import order_context, sample_contexts, sample_order
from ...store import messages
from ...store.db import now
from ...outbox import Draft, enqueue
from ...phones import normalize_phone
from ...rules import Rule, make_env
from ...smstext import prepare
from .. import bridge
from . import bp, who


def sample_for(rule: Rule) -> dict[str, Any]:
    s = bridge().settings
    if rule.event == "order.status" and rule.statuses:
        return order_context(s, sample_order(rule.statuses[0]), "https://shop.example/")
    return sample_contexts(s).get(rule.event, {})


def costs(text: str) -> dict[str, Any]:
    """The same text as sent with diacritics (UCS-2) and without (GSM-7)."""
    out = {}
    for key, unicode in (("with", True), ("without", False)):
        sms = prepare(text, unicode)
        out[key] = {"text": sms.text, "encoding": sms.encoding, "length": sms.length, "segments": sms.segments}
    return out


def preview(rule: Rule, source: str | None = None) -> dict[str, Any]:
    ctx = sample_for(rule)
    try:
        text = make_env().from_string(source).render(**ctx).strip() if source is not None else \
            bridge().rules.render(rule, ctx)
    except (TemplateError, TypeError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"error": "", "text": text, **costs(text)}


@bp.get("/templates")
def templates():
    b = bridge()
    items = [{"rule": r, "preview": preview(r)} for r in b.rules.rules]
    return render_template("admin/templates.html", items=items)


@bp.post("/templates/<name>/preview")
def template_preview(name: str):
    """Live preview of an edited template (JSON for the page's script; HTML without script)."""
    rule = bridge().rules.by_name(name)
    if rule is None:
        return jsonify({"error": _("No rule named %(name)s.", name=name)}), 404
    result = preview(rule, request.form.get("template", "")[:4000])
    if request.headers.get("X-Requested-With") == "fetch":
        return jsonify(result)
    items = [{"rule": r, "preview": result if r.name == name else preview(r),
              "draft": request.form.get("template") if r.name == name else None} for r in bridge().rules.rules]
    return render_template("admin/templates.html", items=items)


@bp.post("/templates/<name>/test-send")
def template_test_send(name: str):
    b = bridge()
    rule = b.rules.by_name(name)
    if rule is None:
        flash(_("No rule named %(name)s.", name=name), "error")
        return redirect(url_for("admin.templates"))
    phone = normalize_phone(request.form.get("phone", ""))
    if not phone.ok:
        flash(_("Not a usable phone number: %(reason)s", reason=phone.reason), "error")
        return redirect(url_for("admin.templates") + f"#rule-{name}")
    ctx = sample_for(rule)
    text = b.rules.render(rule, ctx)
    with b.db.tx() as c:
        mid = enqueue(c, Draft.to_phone(phone, dedupe_key=f"test:{uuid.uuid4().hex}", rule=rule.name, event="test",
                                        audience="test", channels=rule.channels, sms=prepare(text, rule.unicode),
                                        payload=b.rules.extras(rule, ctx), due_at=now()))
        messages.set_reason(c, mid, f"test send by {who()}")
    b.wake_worker()
    flash(_("Test message queued to %(phone)s.", phone=phone.e164), "ok")
    return redirect(url_for("admin.message", mid=mid))
