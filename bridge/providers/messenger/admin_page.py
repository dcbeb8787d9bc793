"""Messenger bindings waiting for the admin: a PSID asked for a phone (or email) that another
PSID already receives notices for. Nothing moves until the admin approves (the notices go to the
new PSID from then on) or refuses (they stay where they were)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from . import contacts as messenger_contacts
from ...store.db import now
from ...store import messenger as store
from ...web import bridge
from ...web.admin import bp, who

# Registered on the app only so that Flask finds this page's template (templates/admin/messenger.html).
templates = Blueprint("messenger_templates", __name__, template_folder="templates")


@bp.get("/messenger")
def messenger():
    db = bridge().db
    return render_template("admin/messenger.html", waiting=messenger_contacts.pending(db), decided=store.decided(db))


@bp.post("/messenger/<int:pending_id>/<any(approve, refuse):action>")
def messenger_decide(pending_id: int, action: str):
    b = bridge()
    with b.db.tx() as c:
        row = messenger_contacts.decide(c, pending_id, action == "approve", who(), now())
    if row is None:
        abort(404)
    if action == "approve":
        flash(_("Approved: notices for %(who)s now go to Messenger user %(psid)s.",
                who=row["phone_e164"] or row["email"] or "", psid=row["psid"]), "ok")
    else:
        flash(_("Refused: Messenger user %(psid)s was not linked.", psid=row["psid"]), "ok")
    return redirect(url_for("admin.messenger"))
