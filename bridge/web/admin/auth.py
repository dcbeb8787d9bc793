"""Sign-in, sign-out and the language switch."""
from __future__ import annotations

import logging

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from ... import admin_password
from ...login_limit import LoginLimiter
from .. import bridge
from . import LANGUAGES, bp

log = logging.getLogger(__name__)


def _safe_next(target: str | None) -> str:
    """Only a path of ours: never send a signed-in admin to another site."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return url_for("admin.dashboard")


def limiter() -> LoginLimiter:
    """Failed sign-ins counted in the database, shared by every web process."""
    return bridge().login_limiter


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        b = bridge()
        remote = request.remote_addr or ""
        verdict = limiter().check(remote)
        if not verdict.allowed:
            # refused even with the right password: the limit must stop guesses, not slow them
            log.warning("admin sign-in from %s refused: too many failures (%s), retry in %d s", remote,
                        verdict.scope, verdict.retry_after)
            resp = render_template("admin/login.html", next=request.form.get("next", ""), limited=True,
                                   retry_after=verdict.retry_after, everyone=verdict.scope == "everyone")
            return resp, 429, {"Retry-After": str(verdict.retry_after)}
        # the database's hash, not this process's copy: `admin-password` takes effect at once
        current = b.db.kv_get(admin_password.KEY) or b.admin_password_hash
        if admin_password.verify(current, request.form.get("password", "")):
            lang = session.get("lang")
            session.clear()
            session["admin"] = True
            session["gen"] = admin_password.session_generation(b.db)
            if lang:
                session["lang"] = lang
            session.permanent = True
            return redirect(_safe_next(request.form.get("next")))
        limiter().failed(remote)
        log.warning("admin sign-in failed from %s", remote)
        flash(_("Wrong password."), "error")
        return render_template("admin/login.html", next=request.form.get("next", "")), 401
    return render_template("admin/login.html", next=request.args.get("next", ""))


@bp.post("/logout")
def logout():
    """Sign out here and everywhere: the session generation changes, so a copied cookie (another
    browser, a stolen one) stops working too."""
    admin_password.end_sessions(bridge().db)
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
