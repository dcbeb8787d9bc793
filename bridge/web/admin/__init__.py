"""The admin web: one place where a store admin sees and fixes what the service did.

Server-rendered pages behind one password. Everything shown that came from outside (SMS text,
customer names, webhook bodies) is autoescaped by Jinja; every form and action carries a CSRF
token; sign-in is rate-limited in the database (bridge/login_limit.py, shared by every web
process); a session is only good while its generation matches the database's (sign-out,
password changes and `rotate-secret` end every session); pages carry a strict CSP (scripts and
styles only with the request's nonce) and are never cached. Vietnamese is the default language,
English one click away.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo
from urllib.parse import urlencode

from flask import Blueprint, Flask, g, make_response, redirect, render_template, request, session, url_for
from flask_babel import Babel
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from werkzeug.wrappers import Response
from wtforms import ValidationError

from ... import admin_password, providers
from .. import bridge
from ..security import csp_nonce, secure_headers

LANGUAGES = ("vi", "en")
TRANSLATIONS = Path(__file__).resolve().parents[2] / "translations"
bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="../templates")
OPEN_VIEWS = {"admin.login", "admin.language", "admin.static"}


def select_locale() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else "vi"


def init_app(app: Flask) -> None:
    """Wire the admin into the app: sessions, translations, the blueprint (the sign-in limit is
    the Bridge's LoginLimiter, in the database)."""
    s = app.extensions["bridge"].settings
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=s.public_url.startswith("https://"), PERMANENT_SESSION_LIFETIME=12 * 3600,
                      BABEL_DEFAULT_LOCALE="vi", BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
                      WTF_CSRF_TIME_LIMIT=None)
    Babel(app, locale_selector=select_locale)
    from . import auth, dashboard, labels, messages, orders, payments, rules_page, settings_page
    from . import report  # noqa: F401 - the monthly report's pages
    from . import cod  # noqa: F401 - cash on delivery and parcels (issue 16)
    from . import api_keys  # noqa: F401 - the send API's keys (issue 18)
    from . import bulk  # noqa: F401 - bulk sends and the opt-out list (issue 18)
    from . import hooks  # noqa: F401 - outgoing events to the owner's URLs (issue 18)
    providers.admin_modules()   # importing each provider's pages adds them to this blueprint
    app.register_blueprint(bp)


@bp.before_request
def guard():
    """Signed in for everything but the sign-in page; a valid CSRF token on every POST."""
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token", ""))
        except (ValidationError, CSRFError):
            return render_template("admin/error.html", title="CSRF",
                                   message=_("The form expired or did not come from this page: go back, reload "
                                             "and try again.")), 400
    if request.endpoint in OPEN_VIEWS:
        return None
    if not signed_in():
        if session.get("admin"):   # signed out elsewhere, password changed or secret rotated
            session.pop("admin", None)
            session.pop("gen", None)
        return redirect(url_for("admin.login", next=request.full_path if request.method == "GET" else None))
    g.bridge = bridge()
    return None


def signed_in() -> bool:
    """A signed cookie is not enough: its generation must still be the database's, so that an
    old copy of the cookie stops working after sign-out, a password change or a secret rotation."""
    gen = session.get("gen")
    return bool(session.get("admin")) and isinstance(gen, str) and \
        secrets.compare_digest(gen, admin_password.session_generation(bridge().db))


@bp.after_request
def admin_headers(response: Response) -> Response:
    """Every admin response, redirects and error pages included."""
    return secure_headers(response, g.get("csp_nonce"))


@bp.errorhandler(404)
def missing(_exc):
    """Also the app's answer to an unknown /admin/ address (no blueprint matched it, so the
    admin's headers are set here)."""
    page = make_response(render_template("admin/error.html", title=_("Page not found"),
                                         message=_("There is no such page: the link may be old or mistyped.")), 404)
    return secure_headers(page, g.get("csp_nonce"))


@bp.errorhandler(400)
def bad_request(_exc):
    return render_template("admin/error.html", title="400", message=_("That request could not be understood.")), 400


@bp.app_context_processor
def inject():
    return {"csrf_token": generate_csrf, "lang": select_locale(), "languages": LANGUAGES, "csp_nonce": csp_nonce,
            "provider_nav": providers.admin_nav()}


MAX_PAGE = 100_000


def page_arg() -> int:
    """?page=N as a page number: 1 for junk, at most MAX_PAGE (page * 50 must stay a 64-bit
    OFFSET for SQLite; past the end is simply an empty page)."""
    raw = request.args.get("page", "1").strip()
    digits = raw.isascii() and raw.isdigit()   # str.isdigit() also takes "²", which int() refuses
    if not digits or len(raw) > 6:
        return MAX_PAGE if digits else 1
    return min(MAX_PAGE, max(1, int(raw)))


def keyset_pager(page: Any) -> dict[str, str | None]:
    """The links to the pages beside a keyset page (store.reports.Page): this address with the
    cursor of its first row (newer) or its last (older) instead of the one it came with. The query
    is encoded here, never passed to url_for as keywords: a typed key named like url_for's own
    (endpoint, _external, _method, _anchor, _scheme) would change the link or break the page."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("before", "after", "page")]
    path = url_for(request.endpoint, **dict(request.view_args or {}))

    def link(key: str, value: str) -> str:
        return f"{path}?{urlencode([*args, (key, value)])}"
    return {"newer": link("after", page.newer) if page.newer else None,
            "older": link("before", page.older) if page.older else None}


def cursor_args() -> tuple[str, str]:
    """?before= and ?after= as typed (store.reports.cursor reads them; junk is the first page)."""
    return request.args.get("before", "")[:80], request.args.get("after", "")[:80]


def int_arg(raw: str | None) -> int | None:
    """A form or query id: None unless it is digits that fit SQLite's 64 bits."""
    raw = (raw or "").strip().lstrip("#")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return None
    return int(raw)


def who() -> str:
    """Who did an admin action, as recorded with it."""
    return f"admin ({request.remote_addr})"


def local_zone() -> ZoneInfo:
    return ZoneInfo(bridge().settings.timezone)


def day_start(days_ago: int = 0) -> float:
    """Local midnight `days_ago` days back: the shop's day, not UTC's."""
    now = datetime.now(local_zone())
    return (now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)).timestamp()


@bp.app_template_filter("when")
def when(ts: float | None) -> str:
    """A stored time in the shop's zone. Defensive: a row stored before inbound times were
    checked may hold 1e20, NaN or text; it is shown as it is ("?" + value) instead of failing
    the whole page."""
    if not ts:
        return ""
    try:
        return datetime.fromtimestamp(float(ts), local_zone()).strftime("%d/%m %H:%M:%S")
    except (OverflowError, OSError, ValueError, TypeError):
        return f"? {str(ts)[:24]}"


@bp.app_template_filter("seconds")
def seconds(value: float) -> str:
    """A duration as an owner reads it: "7 s", "2 min 5 s", "1 h 3 min"."""
    total = int(round(value))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min" + (f" {total % 60} s" if total % 60 else "")
    return f"{total // 3600} h" + (f" {total % 3600 // 60} min" if total % 3600 // 60 else "")


@bp.app_template_filter("reason")
def reason(stored: str | None) -> str:
    """A stored reason (bridge/reasons.py) in the reader's language; plain text as it is."""
    from ... import reasons
    return reasons.render(stored, _)


@bp.app_template_filter("vnd")
def vnd(amount: int | None) -> str:
    from ...money import format_vnd
    return format_vnd(int(amount or 0))
