"""GET /pay/<order_key>: the order's transfer details with a VietQR code, and its live status.

The order key (WooCommerce's unguessable `wc_order_…`) is the only way in, as on the shop's own
order-received page; nothing else about the customer is shown.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, render_template, url_for

from ..config import bank_name
from .. import providers
from ..money import format_money
from ..payments.expiry import expired
from ..payments.vietqr import BINS, payload, png, svg
from ..store import orders
from . import bridge
from .security import csp_nonce, secure_headers

bp = Blueprint("pay", __name__, template_folder="templates")


def _order(order_key: str):
    row = orders.by_key(bridge().db, order_key)
    if row is None:
        abort(404)
    return row


def _status(o) -> dict:
    if o["paid_at"] or o["status"] in ("processing", "completed"):
        return {"awaiting": False, "status_class": "paid", "status_text": "Đã nhận thanh toán. Cảm ơn bạn!"}
    if expired(o):   # no QR, no transfer details: a transfer now would pay a cancelled order
        return {"awaiting": False, "status_class": "closed",
                "status_text": "Đơn hàng đã hết hạn thanh toán và đã bị hủy. Nếu bạn đã chuyển khoản, "
                               "vui lòng liên hệ cửa hàng."}
    if o["status"] in ("on-hold", "pending"):
        return {"awaiting": True, "status_class": "waiting", "status_text": "Đang chờ thanh toán"}
    return {"awaiting": False, "status_class": "closed", "status_text": f"Đơn hàng: {o['status']}"}


def _qr_data(o) -> str | None:
    s = bridge().settings
    theirs = providers.pay_qr(s, o["id"])
    if theirs:
        return theirs
    try:
        b = BINS.get(bank_name(s.transfer_bank)) if s.transfer_bank else None
    except ValueError:
        b = None
    if not b or not s.transfer_account or not o["total_minor"] or o["currency"] != "VND":
        return None
    return payload(b, s.transfer_account, o["total_minor"], f"{s.payment_code_prefix}{o['number']}")


@bp.get("/pay/<order_key>")
def page(order_key: str):
    o = _order(order_key)
    s = bridge().settings
    data = _qr_data(o)
    html = render_template("pay.html", order=o, shop_name=s.shop_name, total=format_money(o["total_minor"], o["currency"]),
                           payment_code=f"{s.payment_code_prefix}{o['number']}", bank=s.transfer_bank,
                           account=s.transfer_account, holder=s.transfer_holder, qr_svg=svg(data) if data else "",
                           status_url=url_for("pay.status", order_key=order_key),
                           chat_links=providers.pay_links(s, o["id"]), expired=expired(o), **_status(o))
    # no-referrer: the page's URL is the order key, which must not travel to m.me or a bank's site
    return secure_headers(Response(html, content_type="text/html; charset=utf-8"), csp_nonce(),
                          referrer="no-referrer")


@bp.get("/pay/<order_key>/status")
def status(order_key: str):
    o = _order(order_key)
    resp = jsonify({"order": o["number"], "status": o["status"], "expired": expired(o), **_status(o)})
    resp.headers.update({"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
    return resp


@bp.get("/pay/<order_key>/qr.png")
def qr_png(order_key: str):
    o = _order(order_key)
    data = _qr_data(o)
    if data is None or expired(o):
        abort(404)
    return Response(png(data), content_type="image/png", headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
