"""The API page: the keys other systems use on /api/v1/ (made, named, scoped, revoked) and each
key's calls. A new key's token is on the answer to the form that made it and nowhere else: not in
a flash (the session cookie is signed, not encrypted), not in the database (only its hash)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ... import api_keys
from ...store import api_keys as stored
from .. import bridge
from . import bp, int_arg

CALLS_SHOWN = 100


def _page(created: api_keys.Created | None = None, status: int = 200):
    b = bridge()
    return render_template("admin/api_keys.html", keys=stored.keys(b.db), created=created,
                           default_rate=b.settings.api_rate_per_minute, scopes=api_keys.SCOPES,
                           docs=f"{b.settings.public_url}/api/v1/openapi.json"), status


@bp.get("/api")
def api_keys_page():
    return _page()


@bp.post("/api/keys")
def api_key_create():
    b = bridge()
    name = request.form.get("name", "")
    scopes = tuple(request.form.getlist("scope"))
    raw_rate = request.form.get("rate", "").strip()
    rate = int_arg(raw_rate) if raw_rate else None
    if raw_rate and rate is None:
        flash(_("The rate limit is a whole number of calls per minute."), "error")
        return _page(status=400)
    try:
        created = api_keys.create(b.db, name, scopes, rate, b.clock())
    except ValueError:
        flash(_("A key needs a name, at least one scope (send or read) and a rate limit between 1 and "
                "%(max)s calls per minute, or none.", max=api_keys.RATE_MAX), "error")
        return _page(status=400)
    return _page(created)


@bp.get("/api/keys/<int:key_id>")
def api_key(key_id: int):
    b = bridge()
    row = stored.key(b.db, key_id)
    if row is None:
        abort(404)
    return render_template("admin/api_key.html", key=row, calls=stored.calls_of(b.db, key_id, CALLS_SHOWN),
                           default_rate=b.settings.api_rate_per_minute, shown=CALLS_SHOWN)


@bp.post("/api/keys/<int:key_id>/revoke")
def api_key_revoke(key_id: int):
    b = bridge()
    if stored.key(b.db, key_id) is None:
        abort(404)
    if api_keys.revoke(b.db, key_id, b.clock()):
        flash(_("Key revoked: calls with it are refused from now on."), "ok")
    return redirect(url_for("admin.api_key", key_id=key_id))
