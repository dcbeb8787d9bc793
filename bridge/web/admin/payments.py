"""Payments: every transaction with its decision, and the review queue where a person decides
what the matcher would not (money is never guessed)."""
from __future__ import annotations

import re
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ...payments import review, suggestions
from ...store import payments as stored_payments, reports
from .. import bridge
from . import bp, cursor_args, int_arg, keyset_pager, who
from .labels import label

PAGE = 50
SUGGESTED_ROWS = 10   # review items on the payments page that get their suggested orders (oldest first; each
                     # costs ~6 ms at 100,000 orders, and every item's own page shows its suggestions)


def candidates(db: Any, q: str, amount: int | None) -> list[dict[str, Any]]:
    """Orders a reviewer may mean: by payment code / number, phone, or the transferred amount."""
    if not q and not amount:
        return []
    number = re.sub(r"^[A-Za-z]+", "", q.strip().lstrip("#")) if q else ""
    digits = re.sub(r"\D", "", q) if q else ""
    return [dict(r) for r in reports.order_candidates(db, number, q, digits, amount)]


def reason_texts() -> dict[str, str]:
    """Why an order is suggested, in the admin's language (suggestions.py speaks in codes)."""
    return {
        suggestions.SAME_AMOUNT: _("same amount as the transfer"),
        suggestions.PAYER_PHONE: _("the payer's phone is the customer's"),
        suggestions.PAYER_NAME: _("the payer's name is the customer's"),
        suggestions.NUMBER_IN_MEMO: _("the transfer text contains the order number"),
        suggestions.NUMBER_NEAR: _("a number in the transfer text is one digit off the order number"),
        suggestions.RECENT: _("ordered shortly before the transfer"),
    }


def refusal(exc: review.ReviewError) -> str:
    """Why a review action was refused, in the admin's language (review.py speaks English); an
    order's status and a transaction's decision as words, not codes."""
    p, kind = dict(exc.params), exc.kind
    if "status" in p:
        p["status"] = label(p["status"], "order")
    for code in ("decision", "action"):
        if code in p:
            p[code] = label(p[code], "decision")
    if kind == "order_paid":
        return _("Order %(number)s is already paid (transaction #%(tx)s): it is not confirmed a second time.", **p)
    if kind == "order_deleted":
        return _("Order %(number)s was deleted in WooCommerce: it is not awaiting payment, nothing was changed.", **p)
    if kind == "order_status":
        return _("Order %(number)s is %(status)s, not awaiting payment (on-hold or pending): confirming would move it "
                 "back and tell the customer again. Nothing was changed.", **p)
    if kind == "not_expired":
        return _("Order %(number)s is %(status)s, no longer cancelled by payment expiry: it is not restored. Nothing "
                 "was changed.", **p)
    if kind == "amount_differs":
        return _("%(amount)s is not the total of order %(number)s (%(total)s): it is not restored. Nothing was "
                 "changed.", **p)
    if kind == "not_expiry":
        return _("Transaction #%(tx)s (%(decision)s) is not a payment after expiry.", **p)
    if kind == "no_order":
        return _("No order %(order)s is known.", **p)
    if kind == "not_credit":
        return _("Only money received can pay an order.")
    if kind == "reviewed":
        return _("Transaction #%(tx)s was already reviewed (%(action)s by %(who)s).", **p)
    if kind == "not_queued":
        return _("Transaction #%(tx)s (%(decision)s) is not waiting for review.", **p)
    if kind == "no_transaction":
        return _("No such transaction.")
    if kind == "no_who":
        return _("Say who confirms.")
    return str(exc)


@bp.get("/payments")
def payments():
    db = bridge().db
    decision = request.args.get("decision", "").strip()[:40]
    page = reports.search_transactions(db, decision, PAGE, *cursor_args())
    rows = [dict(r) for r in page.rows]
    queue = [dict(r) for r in review.review_queue(db)]
    for t in queue[:SUGGESTED_ROWS]:
        t["suggestions"] = suggestions.suggest(db, t)
    decisions = reports.decisions(db)
    return render_template("admin/payments.html", rows=rows, queue=queue, decision=decision, decisions=decisions,
                           total=page.total, more=page.more, pager=keyset_pager(page), why=reason_texts())


@bp.get("/payments/<int:tx_id>")
def transaction(tx_id: int):
    db = bridge().db
    tx = stored_payments.get(db, tx_id)
    if tx is None:
        return render_template("admin/error.html", title="404", message=_("No such transaction.")), 404
    q = request.args.get("q", "").strip()[:100]
    by_amount = request.args.get("by_amount") == "1"
    found = candidates(db, q or (tx["code"] or ""), tx["amount"] if by_amount else None)
    is_open = tx["decision"] in review.REVIEW and not tx["review_action"]
    return render_template("admin/transaction.html", tx=dict(tx), q=q, by_amount=by_amount, found=found,
                           open=is_open, suggested=suggestions.suggest(db, tx) if is_open else [],
                           why=reason_texts())


@bp.post("/payments/<int:tx_id>/<action>")
def review_action(tx_id: int, action: str):
    b = bridge()
    note = request.form.get("note", "").strip()[:500]
    try:
        if action == "confirm":
            order_id = int_arg(request.form.get("order_id"))
            if not order_id:
                raise review.ReviewError(_("Choose the order this transfer pays."))
            review.confirm(b, tx_id, order_id, who(), note)
            flash(_("Confirmed: the order is marked paid and WooCommerce is being updated."), "ok")
        elif action == "restore-confirm":
            review.restore_and_confirm(b, tx_id, who(), note)
            flash(_("Restored and confirmed: the order is marked paid again and WooCommerce is being updated."), "ok")
        elif action == "reject":
            review.reject(b, tx_id, who(), note)
            flash(_("Rejected."), "ok")
        elif action == "not-a-payment":
            review.not_a_payment(b, tx_id, who(), note)
            flash(_("Marked as not a payment."), "ok")
        else:
            flash(_("Unknown action."), "error")
    except review.ReviewError as exc:
        flash(refusal(exc), "error")
        return redirect(url_for("admin.transaction", tx_id=tx_id))
    except ValueError:   # confirm_orders' last guard: another request confirmed the order meanwhile
        flash(_("Refused: the order was confirmed by another request at the same moment. Nothing was changed "
                "twice."), "error")
        return redirect(url_for("admin.transaction", tx_id=tx_id))
    return redirect(url_for("admin.payments"))
