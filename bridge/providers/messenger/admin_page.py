"""Messenger bindings waiting for the admin: a PSID asked for a phone (or email) that another
PSID already receives notices for. Nothing moves until the admin approves (the notices go to the
new PSID from then on) or refuses (they stay where they were)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from . import contacts as messenger_contacts
from ...db import now
from ...web import bridge
from ...web.admin import bp, who


@bp.get("/messenger")
def messenger():
    db = bridge().db
    decided = db.query("SELECT * FROM messenger_pending WHERE decision IS NOT NULL ORDER BY decided_at DESC LIMIT 50")
    return render_template("admin/messenger.html", waiting=messenger_contacts.pending(db), decided=decided)


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
