"""The payOS link jobs: make one link per bank-transfer order awaiting payment, cancel the link
of an order that no longer awaits it, and ask payOS about open links (reconcile).

Durability: the orderCode (the order number) is committed before payOS is asked, and no
database transaction is open while payOS is asked. An ask whose answer is lost (timeout) is
asked again on a later pass under the same orderCode; payOS refuses a second link for it (code
231), and that answer is met by reading the link payOS already has. So an order gets one link,
whatever is lost, and a webhook answer never waits for payOS."""
from __future__ import annotations

import logging
from typing import Any, Mapping

from ...store import payos as store
from .client import REFUSED, TAKEN, TRANSIENT, PayosClient, PayosError
from .transactions import bank_transaction

log = logging.getLogger(__name__)

LIMIT = 50                      # links asked about per pass; the rest wait for the next one
MAX_ORDER_CODE = 9_007_199_254_740_991   # payOS's SDKs are JavaScript-safe integers
FINAL = {"PAID": "paid", "CANCELLED": "cancelled", "EXPIRED": "expired", "FAILED": "failed"}


def backoff(attempts: int) -> float:
    """Seconds before asking again after the n-th ask failed for a reason that may pass."""
    return min(30.0 * 2 ** max(attempts - 1, 0), 1800.0)


def _unusable(s: Any, row: Mapping[str, Any], description: str) -> str:
    """Why this order cannot have a link (kept on its row), or ""."""
    number = str(row["number"] or "")
    if not (number.isascii() and number.isdigit()) or not 0 < int(number) <= MAX_ORDER_CODE:
        return f"order number {number!r} is not a whole number payOS can take as orderCode"
    if row["currency"] != "VND" or not row["total_minor"] or row["total_minor"] <= 0:
        return f"payOS takes amounts in VND only (order total {row['total_minor']} {row['currency']})"
    if len(description) > s.payos_description_max:
        return (f"payment code {description} is longer than PAYOS_DESCRIPTION_MAX={s.payos_description_max} "
                "characters: payOS may cut or refuse it, so no link is made")
    if not row["order_key"]:
        return "the order has no order key, so there is no pay page to return to"
    return ""


def run(bridge: Any) -> int:
    """One pass: links for orders that need one, then cancellations. The number of links made."""
    s = bridge.settings
    if not s.payos_configured:
        return 0
    made = 0
    with PayosClient(s) as api:
        t = bridge.clock()
        try:
            for row in store.due_for_link(bridge.db, t - s.payos_link_hours * 3600, t, LIMIT):
                made += _make(bridge, api, row)
            for row in store.to_close(bridge.db, bridge.clock(), LIMIT):
                _close(bridge, api, row)
        except PayosError as exc:   # payOS unreachable, slow or limiting us: the rest waits for the next pass
            log.warning("payOS links: pass stopped: %s", exc.detail)
    return made


def _make(bridge: Any, api: PayosClient, row: Mapping[str, Any]) -> int:
    s, db, t = bridge.settings, bridge.db, bridge.clock()
    order_id = row["id"]
    if row["state"] is None:
        description = f"{s.payment_code_prefix}{row['number']}"
        problem = _unusable(s, row, description)
        code = None if problem else int(row["number"])
        with db.tx() as c:
            if not store.reserve(c, order_id, code, row["number"], row["total_minor"] or 0, description, t, problem):
                log.warning("payOS: order %s: orderCode %s already belongs to another order's link; no link made",
                            row["number"], code)
                return 0
        if problem:
            log.warning("payOS: order %s gets no payment link: %s", row["number"], problem)
            return 0
    link = store.by_order(db, order_id)
    with db.tx() as c:
        store.asking(c, order_id, t)
    pay_page = f"{s.public_url}/pay/{row['order_key']}"
    try:
        made = api.create(link["order_code"], link["amount"], link["description"], pay_page, pay_page)
    except PayosError as exc:
        try:
            if exc.kind == TAKEN:
                return _adopt(bridge, api, link)
            raise
        except PayosError as failure:
            if failure.kind == TRANSIENT:
                with db.tx() as c:
                    store.retry_later(c, order_id, t + backoff(link["attempts"] + 1), failure.detail, bridge.clock())
                raise
            _failed(bridge, link, failure.detail)
            return 0
    with db.tx() as c:
        store.opened(c, order_id, {"link_id": made["paymentLinkId"], "checkout_url": made["checkoutUrl"],
                                   "qr_code": made["qrCode"], "bin": made["bin"], "account": made["accountNumber"],
                                   "status": made["status"]}, bridge.clock())
    log.info("payOS: link %s made for order %s (orderCode %s)", made["paymentLinkId"], link["number"],
             link["order_code"])
    return 1


def _failed(bridge: Any, link: Mapping[str, Any], why: str) -> None:
    with bridge.db.tx() as c:
        store.settle(c, link["order_id"], "failed", "", why, bridge.clock())
    log.warning("payOS: no payment link for order %s: %s", link["number"], why)


def _adopt(bridge: Any, api: PayosClient, link: Mapping[str, Any]) -> int:
    """payOS already has a link under our orderCode: an earlier ask whose answer was lost. It is
    ours when it asks our amount; its checkout page is built from its id (get-link gives no
    checkoutUrl or QR)."""
    found = api.get(link["order_code"])
    if int(found["amount"]) != int(link["amount"]):
        _failed(bridge, link, f"orderCode {link['order_code']} already has a payOS link for {found['amount']} VND, "
                              f"not this order's {link['amount']}: made elsewhere, not used")
        return 0
    with bridge.db.tx() as c:
        store.opened(c, link["order_id"], {"link_id": found["id"], "status": found["status"],
                                          "checkout_url": bridge.settings.payos_checkout_url.format(id=found["id"])},
                     bridge.clock())
    log.info("payOS: order %s: the link made by an ask whose answer was lost is %s", link["number"], found["id"])
    _apply(bridge, store.by_order(bridge.db, link["order_id"]), found)
    return 1


def _feed(bridge: Any, row: Mapping[str, Any], link: Mapping[str, Any]) -> None:
    """Every payment payOS shows on the link, given to the core like a webhook's (each one is
    stored once, so a webhook that did arrive, or arrives later, is the same event)."""
    for tx in link.get("transactions") or ():
        result = bridge.accept(bank_transaction(bridge.settings, row, tx, link["id"]))
        if not result.get("duplicate"):
            log.warning("payOS: a payment for order %s (%s VND, ref %s) came by reconcile, not by webhook:"
                        " stored as inbox #%s, decided next", row["number"], tx.get("amount"), tx.get("reference"),
                        result.get("inbox"))


def _apply(bridge: Any, row: Mapping[str, Any], link: Mapping[str, Any]) -> None:
    """What payOS says of one of our links: its payments in, its final state kept."""
    _feed(bridge, row, link)
    status = str(link.get("status") or "")
    with bridge.db.tx() as c:
        if status in FINAL:
            store.settle(c, row["order_id"], FINAL[status], status, "", bridge.clock())
        else:
            store.checked(c, row["order_id"], status, bridge.clock())


def _close(bridge: Any, api: PayosClient, row: Mapping[str, Any]) -> None:
    """The order no longer awaits a transfer: cancel its link at payOS unless payOS already holds
    it paid, cancelled or expired (then it is left as it is, its payments given to the core)."""
    db, t = bridge.db, bridge.clock()
    if row["state"] == "creating" and not row["attempts"]:
        with db.tx() as c:
            store.settle(c, row["order_id"], "cancelled", "", "the order stopped awaiting payment before payOS "
                                                               "was asked", t)
        return
    ident = row["link_id"] or row["order_code"]
    try:
        link = api.get(ident)
    except PayosError as exc:
        if exc.kind == REFUSED and row["state"] == "creating":
            with db.tx() as c:   # the lost ask never reached payOS: nothing there to cancel
                store.settle(c, row["order_id"], "cancelled", "", f"no link at payOS ({exc.detail})", t)
            return
        with db.tx() as c:
            store.retry_later(c, row["order_id"], t + backoff(row["attempts"] or 1), exc.detail, t)
        if exc.kind == TRANSIENT:
            raise
        return
    if str(link.get("status")) in FINAL:
        _apply(bridge, row, link)
        return
    reason = "Don hang da duoc thanh toan" if row["paid_at"] else "Don hang khong con cho thanh toan"
    try:
        link = api.cancel(ident, reason)
    except PayosError as exc:   # paid or expired meanwhile, or payOS busy: the next pass looks again
        with db.tx() as c:
            store.retry_later(c, row["order_id"], t + backoff(row["attempts"] or 1), exc.detail, t)
        if exc.kind == TRANSIENT:
            raise
        return
    _apply(bridge, row, link)
    log.info("payOS: link of order %s cancelled (order %s)", row["number"],
             "paid" if row["paid_at"] else row["order_status"] or "gone")


def reconcile(bridge: Any) -> int:
    """Ask payOS about every open link: a payment whose webhook we missed is given to the core
    (it confirms the order once, like the webhook would); a link payOS closed is kept closed."""
    s = bridge.settings
    if not s.payos_configured:
        return 0
    n = 0
    with PayosClient(s) as api:
        for row in store.open_links(bridge.db, LIMIT):
            try:
                link = api.get(row["link_id"])
            except PayosError as exc:
                log.warning("payOS reconcile: link of order %s: %s", row["number"], exc.detail)
                if exc.kind == TRANSIENT:
                    break
                continue
            _apply(bridge, row, link)
            n += 1
    return n
