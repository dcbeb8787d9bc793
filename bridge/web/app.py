"""The application factory: one Flask app per Bridge, every blueprint and provider webhook on it,
and the error answers every surface shares (JSON with a reason; 503 when storage fails)."""
from __future__ import annotations

import logging
import sqlite3

from flask import Flask, abort, g, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from .. import logs
from ..config import Settings, load_settings
from ..rejections import MAX_BODY
from ..service import Bridge
from . import answers, error


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, less their cost on the requests that carry no cookie (every
    webhook): Flask builds the signing serializer and parses the cookies for each request before
    any view runs, a tenth of a webhook's acknowledgement. The serializer is kept while the keys
    are the same; a request without a Cookie header gets the empty session Flask would give it."""

    _kept: tuple[tuple, object] | None = None

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        kept = self._kept
        if kept is None or kept[0] != keys:
            kept = self._kept = (keys, super().get_signing_serializer(app))
        return kept[1]

    def open_session(self, app: Flask, request):
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            return self.session_class()
        return super().open_session(app, request)


def create_app(settings: Settings | None = None) -> Flask:
    """The application: the Bridge (database opened and migrated, secrets resolved) behind the
    HTTP surfaces. Starts nothing in the background: whoever runs it decides (app.py, the CLI)."""
    settings = settings or load_settings()
    logs.setup(settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.session_interface = SessionCookies()
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    b = Bridge(settings, shows=True)   # it serves the admin: the one-time password is made here
    app.config["SECRET_KEY"] = b.settings.secret_key  # configured, or generated once and stored
    app.extensions["bridge"] = b

    from . import api, confirm, health, metrics, pay, webhooks
    app.register_blueprint(pay.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(confirm.bp)
    webhooks.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)

    @app.before_request
    def request_id():
        g.request_id = logs.request_id_from(request.headers.get("X-Request-ID"))

    @app.after_request
    def echo_request_id(response):
        response.headers["X-Request-ID"] = getattr(g, "request_id", "-")
        return response
    from . import admin
    admin.init_app(app)
    if settings.proxy_count > 0:
        # Behind nginx: the client's address (rate limits, logs) and https come from X-Forwarded-*.
        from werkzeug.middleware.proxy_fix import ProxyFix
        n = settings.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    @app.errorhandler(413)
    def too_large(_exc):
        return answers.too_large(b, request)

    @app.errorhandler(sqlite3.Error)
    def storage_unavailable(exc):
        return answers.storage_unavailable(request, exc)

    @app.errorhandler(404)
    def not_found(exc):
        if request.path.startswith("/admin/"):   # a person's mistyped or stale link: the admin's page, translated
            from .admin import missing
            return missing(exc)
        if request.path.startswith("/api/"):   # the send API's error shape (bridge/web/api.py)
            return api.routing_error(exc)
        return error(404, f"no endpoint at {request.method} {request.path}")

    @app.url_value_preprocessor
    def ids_fit_sqlite(_endpoint, values):
        # An id SQLite cannot store (over 64 bits) names nothing we have: 404 here, instead of an
        # OverflowError deep inside a query.
        if values and any(isinstance(v, int) and not -2**63 <= v < 2**63 for v in values.values()):
            abort(404)

    @app.errorhandler(Exception)
    def last_resort(exc):
        """Nothing is answered with an HTML 500 page (answers.exception says what is answered);
        on the admin's pages a person sees the admin's own page."""
        if isinstance(exc, HTTPException):
            if request.path.startswith("/admin/"):
                return exc
            return answers.http_error(b, request, exc)
        if isinstance(exc, answers.HOSTILE_INPUT) and request.path.startswith("/admin/"):
            logging.getLogger("bridge").warning("refused %s %s: %s", request.method, request.path,
                                                answers.hostile_reason(exc))
            from .admin import bad_request
            return bad_request(exc)
        return answers.exception(b, request, exc, getattr(g, "request_id", "-"))

    @app.errorhandler(405)
    def not_allowed(exc):
        if request.path.startswith("/api/"):
            return api.routing_error(exc)
        return error(405, f"{request.method} is not allowed on {request.path}")

    return app
