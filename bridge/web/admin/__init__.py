"""The admin web: one place where a store admin sees and fixes what the service did.

Server-rendered pages behind one password. Everything shown that came from outside (SMS text,
customer names, webhook bodies) is autoescaped by Jinja; every form and action carries a CSRF
token; sign-in is rate-limited. Vietnamese is the default language, English one click away.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, g, redirect, render_template, request, session, url_for
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms import ValidationError

from .. import bridge

LANGUAGES = ("vi", "en")
TRANSLATIONS = Path(__file__).resolve().parents[2] / "translations"
bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="../templates")
limiter = Limiter(key_func=get_remote_address, storage_uri="memory://", default_limits=[], headers_enabled=False)
OPEN_VIEWS = {"admin.login", "admin.language", "admin.static"}


def select_locale() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else "vi"


def init_app(app: Flask) -> None:
    """Wire the admin into the app: sessions, translations, rate limits, the blueprint."""
    s = app.extensions["bridge"].settings
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=s.public_url.startswith("https://"), PERMANENT_SESSION_LIFETIME=12 * 3600,
                      BABEL_DEFAULT_LOCALE="vi", BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
                      WTF_CSRF_TIME_LIMIT=None)
    Babel(app, locale_selector=select_locale)
    limiter.init_app(app)
    from . import auth, dashboard, messages, orders, payments, rules_page, settings_page  # noqa: F401
    app.register_blueprint(bp)


@bp.before_request
def guard():
    """Signed in for everything but the sign-in page; a valid CSRF token on every POST."""
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token", ""))
        except (ValidationError, CSRFError):
            return render_template("admin/error.html", title="CSRF",
                                   message="The form expired or did not come from this page: go back, reload and "
                                           "try again."), 400
    if request.endpoint in OPEN_VIEWS:
        return None
    if not session.get("admin"):
        return redirect(url_for("admin.login", next=request.full_path if request.method == "GET" else None))
    g.bridge = bridge()
    return None


@bp.errorhandler(429)
def too_many(_exc):
    return render_template("admin/login.html", next="", limited=True), 429


@bp.errorhandler(404)
def missing(_exc):
    return render_template("admin/error.html", title="404", message="Not found."), 404


@bp.app_context_processor
def inject():
    return {"csrf_token": generate_csrf, "lang": select_locale(), "languages": LANGUAGES}


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


@bp.app_template_filter("vnd")
def vnd(amount: int | None) -> str:
    from ...money import format_vnd
    return format_vnd(int(amount or 0))
