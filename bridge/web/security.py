"""Response headers for pages a browser renders: the admin (shows secrets, acts on the shop) and
the pay page (an order's details, reached through its unguessable key).

Templates load no outside resources; their one `<style>` and `<script>` carry the response's
nonce, so a strict Content-Security-Policy holds: text an attacker managed to get into a page
(an SMS, a customer name) cannot run even if escaping were ever missed.
"""
from __future__ import annotations

import secrets

from flask import g
from werkzeug.wrappers import Response


def csp_nonce() -> str:
    """One random nonce per response: the only scripts and styles the browser runs are ours."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


CSP = ("default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def secure_headers(response: Response, nonce: str | None, referrer: str = "same-origin") -> Response:
    """Headers for pages that show secrets or act on the shop: no framing (clickjacking), no MIME
    sniffing, no referrer beyond our origin, never stored by a browser or proxy cache."""
    response.headers["Content-Security-Policy"] = CSP.format(nonce=nonce or secrets.token_urlsafe(16))
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = referrer
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
