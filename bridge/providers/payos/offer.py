"""What the customer is shown of an order's payOS link: `{{ payos_checkout_url }}` in messages,
the checkout link and payOS's VietQR on the pay page. Only while the order still awaits its
transfer and the link is open: a cancelled, expired or paid order offers nothing."""
from __future__ import annotations

from typing import Any

from ...store import payos as store


def _link(settings: Any, order_id: int | None) -> Any:
    if order_id is None or not settings.payos_configured:
        return None
    return store.payable_link(settings.db_path, order_id)


def template_vars(settings: Any, order_id: int | None = None, customer_id: int | None = None) -> dict[str, str]:
    """`{{ payos_checkout_url }}`: empty until the link exists. The new-order message is written
    when the order arrives, before payOS is asked, so it gets the pay page (`{{ pay_link }}`),
    which shows the link as soon as it exists; later messages get the link itself."""
    link = _link(settings, order_id)
    return {"payos_checkout_url": link["checkout_url"] if link is not None else ""}


def pay_links(settings: Any, order_id: int) -> list[tuple[str, str]]:
    link = _link(settings, order_id)
    return [("Thanh toán qua payOS (QR, ứng dụng ngân hàng)", link["checkout_url"])] if link is not None else []


def pay_qr(settings: Any, order_id: int) -> str | None:
    """payOS's VietQR payload for the link: shown instead of ours, since it pays the same account
    and also lets payOS tell us of the payment. None (ours stays) when we never got it (a link
    recovered after a lost answer: get-link does not return it)."""
    link = _link(settings, order_id)
    return (link["qr_code"] or None) if link is not None else None
