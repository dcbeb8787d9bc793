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
from ..rejections import MAX_BODY, record_rejection
from ..service import Bridge
from . import error


# What Python or SQLite raise on input they cannot represent (not our bugs): a 400, not a 500.
HOSTILE_INPUT = (RecursionError, OverflowError, UnicodeError)


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
        record_rejection(b.db, request.path, 413, "body over the 1 MiB limit", request.remote_addr,
                         request.headers, b"")
        return error(413, "body over the 1 MiB limit")

    @app.errorhandler(sqlite3.Error)
    def storage_unavailable(exc):
        # Nothing was committed, so nothing may be acknowledged: a 2xx here would lose the delivery.
        # 503 tells WooCommerce (and every provider) this one failed; reconcile catches up later.
        logging.getLogger("bridge").error("storage unavailable on %s %s: %s", request.method, request.path, exc)
        resp, status = error(503, f"storage unavailable, nothing was accepted ({exc}); try again later")
        resp.headers["Retry-After"] = "60"
        return resp, status

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
        """Nothing is answered with an HTML 500 page. Input Python or SQLite cannot represent
        (nesting deeper than the recursion limit, integers over 64 bits or 4,300 digits, lone
        surrogates) is the caller's: 400 with the reason, recorded like any refusal. Anything else
        is our bug: 500 in JSON with the request id to find the traceback in the log."""
        if isinstance(exc, HTTPException):
            if request.path.startswith("/admin/"):
                return exc
            return error(exc.code or 500, exc.description or exc.name)
        rid = getattr(g, "request_id", "-")
        if isinstance(exc, HOSTILE_INPUT):
            reason = f"the request could not be read: {type(exc).__name__} ({str(exc)[:120]})"
            logging.getLogger("bridge").warning("refused %s %s: %s", request.method, request.path, reason)
            if request.path.startswith("/admin/"):
                from .admin import bad_request
                return bad_request(exc)
            try:
                record_rejection(b.db, request.path, 400, reason, request.remote_addr, request.headers,
                                 request.get_data(cache=True)[:1024])
            except Exception:   # noqa: BLE001 - the answer matters more than the record
                logging.getLogger("bridge").exception("could not record the refusal")
            return error(400, reason)
        logging.getLogger("bridge").exception("unexpected error on %s %s (request id %s)", request.method,
                                              request.path, rid)
        return error(500, f"internal error; the log has the details under request id {rid}")

    @app.errorhandler(405)
    def not_allowed(exc):
        if request.path.startswith("/api/"):
            return api.routing_error(exc)
        return error(405, f"{request.method} is not allowed on {request.path}")

    return app
