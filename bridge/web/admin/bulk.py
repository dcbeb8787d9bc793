"""Bulk sends as the owner drives them: a list (a CSV, or customers picked by their orders) and a
text, a preview of what goes out with its cost and the time the pacing needs, then start, pause,
resume, cancel; and the opt-out list (customers who texted TU CHOI / STOP, or added by hand)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from ... import bulk, reasons
from ...reasons import N_
from ...rules import ORDER_STATUSES
from ...store import bulk as store, prices
from .. import bridge
from . import bp, labels, local_zone, page_arg, who
from .rules_page import channel_label

# The words for this page's codes, in the admin's one table of labels (`|label("bulk")`).
labels.TABLES["bulk"] = {"preparing": N_("being prepared (if it stays so, the upload was interrupted: delete it)"),
                         "draft": N_("draft: not started"), "running": N_("sending"), "paused": N_("paused"),
                         "cancelled": N_("cancelled"), "done": N_("done")}
labels.TABLES["bulk_payment"] = {"": N_("any payment"), "cod": N_("cash on delivery"),
                                 "prepaid": N_("paid before delivery")}
labels.TABLES["optout"] = {"sms": N_("by SMS"), "admin": N_("added by hand")}
labels.INBOUND_HANDLERS["optout"] = N_("marketing opt-out")

SHOWN = 50    # duplicates, invalid and opted-out numbers listed on the preview (the rest counted)
PAGE = 50
PAYMENTS = ("", "cod", "prepaid")


def _day(raw: str, end: bool = False) -> float | None:
    """A form's yyyy-mm-dd as the start of that day in the shop's zone (`end`: of the next day)."""
    try:
        d = datetime.strptime((raw or "").strip()[:10], "%Y-%m-%d").replace(tzinfo=local_zone())
    except ValueError:
        return None
    return d.timestamp() + (86_400 if end else 0)


def _channels() -> list[dict[str, Any]]:
    """The shop's own SIMs first: a brandname refuses free marketing text."""
    found = [{"name": n, "label": channel_label(n), "bulk": ch.bulk} for n, ch in bulk.channels(bridge()).items()]
    return sorted(found, key=lambda c: c["bulk"] != "free")


def _form_page(form: dict[str, Any], error: str = "", status: int = 200) -> tuple[str, int]:
    b = bridge()
    return render_template("admin/bulk.html", bulks=store.latest(b.db), form=form, error=error,
                           channels=_channels(), statuses=ORDER_STATUSES, payments=PAYMENTS,
                           max_rows=b.settings.bulk_max_rows, max_bytes=b.settings.bulk_max_bytes,
                           variables=bulk.ORDER_VARIABLES), status


@bp.get("/bulk")
def bulk_list():
    return _form_page({"source": "csv", "unicode": True})[0]


@bp.post("/bulk")
def bulk_create():
    b = bridge()
    f = request.form
    upload = request.files.get("csv")
    data = upload.stream.read(b.settings.bulk_max_bytes + 1) if upload is not None else b""
    form = {"name": f.get("name", "")[:200], "source": f.get("source", "csv"), "template": f.get("template", ""),
            "channel": f.get("channel", ""), "unicode": bool(f.get("unicode")),
            "statuses": [s for s in f.getlist("status") if s in ORDER_STATUSES],
            "since": f.get("since", "")[:10], "until": f.get("until", "")[:10],
            "payment": f.get("payment", "") if f.get("payment", "") in PAYMENTS else ""}
    try:
        if form["source"] == "orders":
            rows = bulk.order_rows(b.db, form["statuses"], _day(form["since"]), _day(form["until"], end=True),
                                   form["payment"], b.settings.bulk_max_rows)
            filters = {k: form[k] for k in ("statuses", "since", "until", "payment")}
        else:
            form["source"] = "csv"
            rows = bulk.read_csv(data, b.settings.bulk_max_bytes, b.settings.bulk_max_rows)[1]
            filters = {"file": (upload.filename or "")[:200] if upload is not None else ""}
        default_name = filters.get("file") or _("Customers of stored orders")
        bulk_id = bulk.create(b, name=form["name"] or default_name, source=form["source"], rows=rows,
                              template=form["template"], channel=form["channel"], unicode=form["unicode"],
                              filters=filters, who=who())
    except bulk.BulkError as exc:
        return _form_page(form, str(exc), 400)
    return redirect(url_for("admin.bulk_view", bulk_id=bulk_id))


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_exc: Exception):
    """A request over the service's 1 MiB cap is refused before any view reads it (the CSRF check
    reads the form first): said in the owner's language, on the bulk page for an upload."""
    if request.path.startswith("/admin/bulk"):
        why = reasons.encode("bulk.csv_too_large", size=request.content_length or 0,
                             max=bridge().settings.bulk_max_bytes)
        return _form_page({"source": "csv", "unicode": True}, why, 413)
    return render_template("admin/error.html", title="413", message=_("That request could not be understood.")), 413


@bp.get("/bulk/<int:bulk_id>")
def bulk_view(bulk_id: int):
    b = bridge()
    row = store.get(b.db, bulk_id)
    if row is None:
        return render_template("admin/error.html", title=_("Page not found"),
                               message=reasons.render(reasons.encode("bulk.no_bulk", id=bulk_id), _)), 404
    ch = b.channels.get(row["channel"])
    listed = {s: store.recipients(b.db, bulk_id, (s,), SHOWN)
              for s in (bulk.DUPLICATE, bulk.INVALID, bulk.OPTED_OUT, bulk.ERROR)}
    draft = row["state"] == bulk.DRAFT
    estimate = bulk.time_needed(b, row["channel"], row["valid"]) if draft else row["estimate_s"]
    return render_template("admin/bulk_view.html", b=row, draft=draft, listed=listed,
                           preview=bulk.preview(b, row) if draft else [],
                           progress=None if draft else bulk.progress(b, bulk_id),
                           failed=[] if draft else store.messages_in(b.db, bulk_id, ("failed", "in-doubt"), SHOWN),
                           counts=store.recipient_counts(b.db, bulk_id), estimate=estimate,
                           channel_label=channel_label(row["channel"]), channel_kind=getattr(ch, "bulk", ""),
                           senders=len(ch.paces()) if ch is not None else 0,
                           price=prices.all_prices(b.db).get(row["channel"]))


@bp.post("/bulk/<int:bulk_id>/<action>")
def bulk_action(bulk_id: int, action: str):
    b = bridge()
    try:
        if action == "start":
            bulk.start(b, bulk_id)
            flash(_("Bulk send started: the messages are queued in batches and go out at the channel's pace."), "ok")
        elif action == "pause":
            bulk.pause(b, bulk_id, who())
            flash(_("Bulk send paused."), "ok")
        elif action == "resume":
            bulk.resume(b, bulk_id)
            flash(_("Bulk send resumed."), "ok")
        elif action == "cancel":
            n = bulk.cancel(b, bulk_id, who())
            flash(_("Bulk send cancelled: %(n)s waiting messages cancelled; what was sent stays sent.", n=n), "ok")
        elif action == "delete":
            if bulk.delete_draft(b, bulk_id):
                flash(_("Draft deleted."), "ok")
                return redirect(url_for("admin.bulk_list"))
        else:
            return render_template("admin/error.html", title="404", message=_("There is no such page: the link "
                                                                              "may be old or mistyped.")), 404
    except bulk.BulkError as exc:
        flash(reasons.render(str(exc), _), "error")
    return redirect(url_for("admin.bulk_view", bulk_id=bulk_id))


@bp.get("/bulk/optouts")
def bulk_optouts():
    page = page_arg()
    rows, total = store.optouts(bridge().db, PAGE, (page - 1) * PAGE)
    return render_template("admin/bulk_optouts.html", rows=rows, total=total, page=page,
                           pages=max(1, (total + PAGE - 1) // PAGE))


@bp.post("/bulk/optouts")
def bulk_optout_add():
    try:
        phone = bulk.add_opt_out(bridge(), request.form.get("phone", "")[:40], who())
        flash(_("%(phone)s is on the opt-out list: no bulk send reaches it.", phone=phone), "ok")
    except bulk.BulkError as exc:
        flash(reasons.render(str(exc), _), "error")
    return redirect(url_for("admin.bulk_optouts"))


@bp.post("/bulk/optouts/remove")
def bulk_optout_remove():
    phone = request.form.get("phone", "")[:40]
    if bulk.remove_opt_out(bridge(), phone):
        flash(_("%(phone)s was taken off the opt-out list.", phone=phone), "ok")
    return redirect(url_for("admin.bulk_optouts"))

