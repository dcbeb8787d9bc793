"""Sign-in, sign-out and the language switch."""
from __future__ import annotations

import logging

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from ...admin_password import verify
from .. import bridge
from . import LANGUAGES, bp, limiter

log = logging.getLogger(__name__)


def _safe_next(target: str | None) -> str:
    """Only a path of ours: never send a signed-in admin to another site."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("5 per minute;30 per hour", methods=["POST"],
               error_message="Too many sign-in attempts: wait a minute and try again.")
def login():
    if request.method == "POST":
        b = bridge()
        if verify(b.admin_password_hash, request.form.get("password", "")):
            session.clear()
            session["admin"] = True
            session.permanent = True
            return redirect(_safe_next(request.form.get("next")))
        log.warning("admin sign-in failed from %s", request.remote_addr)
        flash(_("Wrong password."), "error")
        return render_template("admin/login.html", next=request.form.get("next", "")), 401
    return render_template("admin/login.html", next=request.args.get("next", ""))


@bp.post("/logout")
def logout():
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("admin.login"))


@bp.post("/lang")
def language():
    code = request.form.get("lang", "")
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(_safe_next(request.form.get("next")))
