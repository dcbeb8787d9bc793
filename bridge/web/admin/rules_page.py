"""Templates: every rule rendered on a sample order with what one send costs on each of its
channels (and what removing diacritics would save), a live preview while editing, saving the
owner's text as an override in the database (validated like the YAML at load, with history and
"back to the default"), a test send to a real phone, and the price table per channel."""
from __future__ import annotations

import re
import uuid
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ... import providers
from ...context import SHIPMENT_LABELS, order_context, sample_contexts, sample_order
from ...money import format_vnd
from ...outbox import Draft, enqueue
from ...phones import normalize_phone
from ...rules import Rule, describe, template_problem
from ...smstext import prepare
from ...store import messages, prices, templates as overrides
from ...store.db import now
from .. import bridge
from . import bp, who

MAX_TEMPLATE = 4000      # characters: far beyond any SMS, short enough to keep a mistake cheap
MAX_PRICE = 1_000_000    # dong per part or message: anything above is a typo
UNDEFINED = re.compile(r"^'([^']+)' is undefined$")


def sample_for(rule: Rule) -> dict[str, Any]:
    s = bridge().settings
    if rule.event == "order.status" and rule.statuses:
        return order_context(s, sample_order(rule.statuses[0]), "https://shop.example/")
    if rule.event == "shipment.status" and rule.statuses:   # the parcel's status the rule is for
        status = rule.statuses[0]
        return {**sample_contexts(s)[rule.event], "shipment_status": status,
                "shipment_status_label": SHIPMENT_LABELS.get(status, status)}
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
        text = bridge().rules.preview(rule, ctx, source)
    except Exception as exc:   # whatever the owner's text raises is shown, never a 500
        return {"error": describe(exc)}
    return {"error": "", "text": text, **costs(text)}


def channel_label(name: str) -> str:
    ch = bridge().channels.get(name)
    return _(ch.price_label) if ch is not None and ch.price_label else name


def pricing(rule: Rule, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Per channel of the rule: its price, one send as the rule sends it, and what sending without
    diacritics saves (nothing on a channel billed per message)."""
    if p.get("error"):
        return []
    table = prices.all_prices(bridge().db)
    sent = p["with"] if rule.unicode else p["without"]
    rows = []
    for ch in rule.channels:
        price = table.get(ch)
        full, plain = prices.cost(price, p["with"]["segments"]), prices.cost(price, p["without"]["segments"])
        rows.append({"channel": ch, "label": channel_label(ch), "price": price,
                     "now": prices.cost(price, sent["segments"]),
                     "saving": None if full is None or plain is None else full - plain})
    return rows


@bp.app_template_global("price_rows")
def price_rows() -> list[dict[str, Any]]:
    """The channels a message can go out on (not the shop write-back or forwards), each with its
    price as entered or, without one, the way the channel is usually billed."""
    b = bridge()
    jobs = set(providers.job_channels().values())
    table = prices.all_prices(b.db)
    return [{"channel": n, "label": channel_label(n), "vnd": table[n].vnd if n in table else None,
             "per": table[n].per if n in table else ch.billed_per}
            for n, ch in b.channels.items() if ch.listed and n not in jobs]


def item(rule: Rule, draft: str | None = None, result: dict[str, Any] | None = None) -> dict[str, Any]:
    b = bridge()
    p = result if result is not None else preview(rule)
    versions = overrides.history(b.db, rule.name)
    in_force = versions[0] if versions and versions[0]["template"] is not None else None
    return {"rule": rule, "text": draft if draft is not None else b.rules.template_of(rule), "preview": p,
            "pricing": pricing(rule, p), "override": in_force, "history": versions,
            "versions": overrides.count(b.db, rule.name) if versions else 0}


def page(focus: str | None = None, draft: str | None = None, result: dict[str, Any] | None = None,
         status: int = 200) -> tuple[str, int]:
    items = [item(r, draft, result) if r.name == focus else item(r) for r in bridge().rules.rules]
    return render_template("admin/templates.html", items=items), status


def back_to(name: str) -> Response:
    return redirect(url_for("admin.templates") + f"#rule-{name}")


def problem_of(rule: Rule, text: str) -> str | None:
    """Why the owner's text cannot be saved, in their language, or None. The check is the one the
    YAML passes at start: the same sandbox, the same sample, no undefined variable."""
    if len(text) > MAX_TEMPLATE:
        return _("Not saved: the template is %(n)s characters long; at most %(max)s.", n=len(text), max=MAX_TEMPLATE)
    problem = template_problem(text, sample_contexts(bridge().settings)[rule.event])
    if problem is None:
        return None
    if not text.strip():
        return _("Not saved: the template is empty.")
    undefined = UNDEFINED.match(problem)
    if undefined:
        return _("Not saved: %(name)s is not a variable a template can use (see the list in the README).",
                 name=undefined.group(1))
    return _("Not saved: the template has an error: %(error)s", error=problem)


@bp.get("/templates")
def templates():
    return page()[0]


@bp.post("/templates/<name>/preview")
def template_preview(name: str):
    """Live preview of an edited template (JSON for the page's script; HTML without script)."""
    rule = bridge().rules.by_name(name)
    if rule is None:
        return jsonify({"error": _("No rule named %(name)s.", name=name)}), 404
    draft = request.form.get("template", "")[:MAX_TEMPLATE]
    result = preview(rule, draft)
    if request.headers.get("X-Requested-With") == "fetch":
        if result["error"]:
            return jsonify(result)
        cost = render_template("admin/_template_cost.html", r=rule, p=result, rows=pricing(rule, result))
        return jsonify({**result, "cost_html": cost})
    return page(name, draft, result)


@bp.post("/templates/<name>/save")
def template_save(name: str):
    """The owner's text becomes what the rule sends from the next message on, in every process."""
    b = bridge()
    rule = b.rules.by_name(name)
    if rule is None:
        flash(_("No rule named %(name)s.", name=name), "error")
        return redirect(url_for("admin.templates"))
    text = request.form.get("template", "").replace("\r\n", "\n")
    problem = problem_of(rule, text)
    if problem:
        flash(problem, "error")
        return page(name, text, preview(rule, text[:MAX_TEMPLATE]), 400)
    if text == b.rules.template_of(rule):
        flash(_("Nothing changed in %(name)s.", name=name), "ok")
        return back_to(name)
    overrides.save(b.db, name, None if text == rule.template else text, who())
    flash(_("Saved %(name)s: the next message uses the new text.", name=name), "ok")
    return back_to(name)


@bp.post("/templates/<name>/default")
def template_default(name: str):
    """Back to the YAML text: the override stays in the history, to restore later."""
    b = bridge()
    rule = b.rules.by_name(name)
    if rule is None:
        flash(_("No rule named %(name)s.", name=name), "error")
        return redirect(url_for("admin.templates"))
    if b.rules.template_of(rule) == rule.template:
        flash(_("%(name)s already uses the default text from the YAML file.", name=name), "ok")
        return back_to(name)
    overrides.save(b.db, name, None, who())
    flash(_("%(name)s is back to the default text from the YAML file.", name=name), "ok")
    return back_to(name)


@bp.post("/templates/<name>/restore/<int:version_id>")
def template_restore(name: str, version_id: int):
    """A saved version becomes current again, as a new version (the history keeps both)."""
    b = bridge()
    rule = b.rules.by_name(name)
    row = overrides.version(b.db, version_id)
    if rule is None or row is None or row["rule"] != name:
        flash(_("No saved version %(version)s of %(name)s.", version=version_id, name=name), "error")
        return redirect(url_for("admin.templates"))
    text = row["template"] if row["template"] is not None else rule.template
    problem = problem_of(rule, text)
    if problem:   # the YAML rule changed since (another event): the old text no longer fits
        flash(problem, "error")
        return back_to(name)
    if text == b.rules.template_of(rule):
        flash(_("Version %(version)s is the text in use already.", version=version_id), "ok")
        return back_to(name)
    overrides.save(b.db, name, None if text == rule.template else text, who(), restored_from=version_id)
    flash(_("Restored version %(version)s of %(name)s.", version=version_id, name=name), "ok")
    return back_to(name)


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
        return back_to(name)
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


def parse_price(raw: str) -> int | None:
    """Dong as an owner types them ("800", "1.000", "1 000"); None for anything else."""
    digits = re.sub(r"[\s.,]", "", raw)
    return int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 9 else None


@bp.post("/settings/prices")
def prices_save():
    """The whole table is checked before any of it is stored: a typo loses nothing already saved."""
    b = bridge()
    rows = price_rows()
    shown = {row["channel"] for row in rows}
    table = {ch: p for ch, p in prices.all_prices(b.db).items() if ch not in shown}   # channels not listed now
    for row in rows:
        ch = row["channel"]
        raw = request.form.get(f"vnd-{ch}", "").strip()
        per = request.form.get(f"per-{ch}", row["per"])
        if not raw:
            continue   # no price: the cost is shown as unknown
        vnd = parse_price(raw)
        if vnd is None or vnd > MAX_PRICE:
            flash(_("Prices not saved: the price for %(channel)s must be a whole number of dong from 0 to "
                    "%(max)s (got “%(value)s”).", channel=row["label"], max=format_vnd(MAX_PRICE), value=raw[:40]),
                  "error")
            return redirect(url_for("admin.settings") + "#prices")
        if per not in (prices.PER_PART, prices.PER_MESSAGE):
            flash(_("Prices not saved: choose per SMS part or per message for %(channel)s.", channel=row["label"]),
                  "error")
            return redirect(url_for("admin.settings") + "#prices")
        table[ch] = prices.Price(ch, vnd, per)
    prices.set_prices(b.db, table)
    flash(_("Prices saved."), "ok")
    return redirect(url_for("admin.settings") + "#prices")
