"""/c/<token>: the customer confirms or cancels a cash-on-delivery order (bridge/cod.py).

The token (the order id and its MAC, with the question's nonce, under COD_LINK_SECRET) is the
only authority, as the order key is for /pay: it reaches the customer by SMS, ZNS or Messenger;
a link sent before the order's phone changed no longer opens (a new nonce). Chat apps and SMS
apps fetch links to preview them, so GET only shows; the buttons POST to the same URL, and a
POST another site's page sends (its Origin or Referer is not ours) is refused. A token we did
not make is a 404, recorded where the admin sees refusals with only its first characters.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, render_template, request, url_for

from .. import cod, providers
from ..money import format_money
from ..rejections import record_rejection
from ..store import cod as stored_cod
from ..store import orders
from . import bridge
from .security import csp_nonce, secure_headers

bp = Blueprint("confirm", __name__, template_folder="templates")

DECIDED = {"confirmed": "Bạn đã xác nhận đơn hàng", "cancelled": "Bạn đã hủy đơn hàng"}


def _page(status: int = 200, **values: Any) -> Response:
    html = render_template("confirm.html", shop_name=bridge().settings.shop_name, nonce=csp_nonce(), **values)
    # same-origin: the token stays on our site (no Referer to a chat link), and the buttons' POST
    # still carries our Origin
    return secure_headers(Response(html, status=status, content_type="text/html; charset=utf-8"), csp_nonce(),
                          referrer="same-origin")


def _refuse(token: str) -> Response:
    """A link we did not sign, or one bent to another order: the same answer for both."""
    b = bridge()
    record_rejection(b.db, f"/c/{token[:4]}…", 404, "confirm link not signed by us (COD_LINK_SECRET), "
                     "or replaced after the order's phone changed",
                     request.remote_addr, request.headers, b"")
    return _page(404, invalid=True)


def _order(token: str):
    """The order and its question the token was made for, or None when it was not made by us for
    any, or for the question's link before the phone changed."""
    b = bridge()
    order_id = cod.token_order(token)
    o = orders.get(b.db, order_id) if order_id is not None else None
    k = stored_cod.get(b.db, o["id"]) if o is not None else None
    if o is None or k is None or not cod.token_matches(b.settings, token, o["id"], o["order_key"] or "",
                                                       k["nonce"] or ""):
        return None
    return o, k


def _same_site() -> bool:
    """A POST from our own page: its Origin (else Referer), when the browser sends one, is ours."""
    sent = request.headers.get("Origin") or request.headers.get("Referer")
    if not sent:
        return True
    origin = urlsplit(sent)
    ours = {urlsplit(request.host_url).netloc, urlsplit(bridge().settings.public_url).netloc}
    return origin.scheme in ("http", "https") and origin.netloc in ours


@bp.get("/c/<token>")
def page(token: str):
    found = _order(token)
    if found is None:
        return _refuse(token)
    o, k = found
    b = bridge()
    try:
        snap = providers.shop().order(orders.body(o))
        items, area = snap.items, snap.area
    except (ValueError, TypeError):
        items, area = (), ""
    s = b.settings
    values: dict[str, Any] = {
        "order": o, "items": [(i.name, i.quantity) for i in items], "area": area,
        "total": format_money(o["total_minor"], o["currency"]), "recorded": request.args.get("ghi-nhan") == "1",
        "chat_links": providers.pay_links(s, o["id"]), "shop_url": o["source_url"] or "",
    }
    if k["state"] in DECIDED:
        values.update(decided=DECIDED[k["state"]], state=k["state"], via=cod.VIAS.get(k["answered_via"] or "", ""),
                      when=cod.local_time(s, k["answered_at"]) if k["answered_at"] else "")
    elif k["state"] == "closed" or cod.closed_order(b.db, o["id"]):
        values.update(closed=True)
    return _page(**values)


@bp.post("/c/<token>")
def answer(token: str):
    found = _order(token)
    if found is None:
        return _refuse(token)
    o = found[0]
    if not _same_site():
        return _page(403, invalid=True)
    said = request.form.get("answer", "")
    if said not in (cod.CONFIRM, cod.CANCEL):
        return redirect(url_for("confirm.page", token=token), 303)
    words = (request.form.get("reason") or "").strip()[:cod.REASON_MAX] if said == cod.CANCEL else ""
    b = bridge()
    with b.db.tx() as c:
        taken = cod.answer(c, b.settings, o["id"], said, "page", (request.remote_addr or "")[:64], b.clock(),
                           words=words)
    if taken.kind == "applied":
        b.wake_worker()
    if taken.kind == "unknown":
        return _page(404, invalid=True)
    flag = {"ghi-nhan": "1"} if taken.kind == "recorded" else {}
    return redirect(url_for("confirm.page", token=token, **flag), 303)
