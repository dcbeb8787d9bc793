"""Template variables: what a shop owner can write inside `{{ }}` in a rule.

Kept apart from rendering so the admin preview, the test-send and the real notifications all
see exactly the same names, and so the names are documented in one place (README).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from . import providers
from .config import Settings
from .money import format_money
from .orders import CustomerSnapshot, LineItem, OrderSnapshot
from .phones import normalize_phone

STATUS_LABELS = {
    "pending": "chờ thanh toán",
    "on-hold": "chờ xác nhận thanh toán",
    "processing": "đang xử lý",
    "completed": "đã hoàn thành",
    "cancelled": "đã hủy",
    "refunded": "đã hoàn tiền",
    "failed": "thanh toán thất bại",
}

# A parcel's status (bridge.rules.SHIPMENT_STATUSES) as the customer and the order's notes read it.
SHIPMENT_LABELS = {
    "created": "đã tạo vận đơn", "picking": "đang lấy hàng", "picked": "đã lấy hàng",
    "in_transit": "đang vận chuyển", "delivering": "đang giao", "delivery_failed": "giao không thành công",
    "delivered": "đã giao", "returning": "đang hoàn về shop", "returned": "đã hoàn về shop",
    "cancelled": "đã hủy vận đơn", "lost": "thất lạc",
}


def payment_code(settings: Settings, order_number: str) -> str:
    return f"{settings.payment_code_prefix}{order_number}"


def item_summary(items: tuple[LineItem, ...]) -> str:
    return ", ".join(f"{i.name} x{i.quantity}" for i in items)


def shop_context(settings: Settings) -> dict[str, Any]:
    return {
        "shop_name": settings.shop_name,
        "bank": settings.transfer_bank,
        "account": settings.transfer_account,
        "holder": settings.transfer_holder,
    }


def order_context(settings: Settings, order: OrderSnapshot, source_url: str = "") -> dict[str, Any]:
    return {
        **shop_context(settings),
        "order_id": order.id,
        "order_number": order.number,
        "status": order.status,
        "status_label": STATUS_LABELS.get(order.status, order.status),
        "total": format_money(order.total_minor, order.currency),
        "total_amount": order.total_minor,
        "refund_total": format_money(order.refunded_minor, order.currency),
        "currency": order.currency,
        "customer_name": order.customer_name,
        "first_name": order.first_name,
        "last_name": order.last_name,
        "email": order.email,
        "phone": order.phone.e164 or order.phone_raw,
        "items": item_summary(order.items),
        "item_count": sum(i.quantity for i in order.items),
        "payment_method": order.payment_method,
        "payment_method_title": order.payment_method_title,
        "payment_code": payment_code(settings, order.number),
        "order_link": providers.shop().order_link(settings, order, source_url),
        "pay_link": f"{settings.public_url}/pay/{order.order_key}" if order.order_key else "",
        **providers.template_vars(settings, order_id=order.id),
        "customer_note": order.customer_note,
    }


def customer_context(settings: Settings, customer: CustomerSnapshot) -> dict[str, Any]:
    return {
        **shop_context(settings),
        "customer_id": customer.id,
        "customer_name": customer.customer_name,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "phone": customer.phone.e164 or customer.phone_raw,
        "username": customer.username,
        **providers.template_vars(settings, customer_id=customer.id),
    }


def shipment_context(carrier: str, tracking: str, status: str, carrier_status: str, reason: str,
                     cod_amount: int | None) -> dict[str, Any]:
    """What a `shipment.status` rule may print beside the order's variables."""
    return {
        "carrier": carrier,
        "tracking_code": tracking,
        "shipment_status": status,
        "shipment_status_label": SHIPMENT_LABELS.get(status, status),
        "carrier_status": carrier_status,
        "shipment_reason": reason,
        "cod_amount": format_money(cod_amount, "VND") if cod_amount is not None else "",
    }


def sample_order(status: str = "on-hold") -> OrderSnapshot:
    """A realistic order for previews and for validating templates at start."""
    return OrderSnapshot(
        id=10231, number="10231", order_key="wc_order_sample", status=status, currency="VND",
        total_minor=1_290_000, refunded_minor=0, date_modified_gmt="2026-11-23T02:41:58",
        payment_method="bacs", payment_method_title="Chuyển khoản ngân hàng",
        first_name="Văn An", last_name="Nguyễn", email="an.nguyen@example.test",
        phone_raw="0912 345 678", phone=normalize_phone("0912 345 678"),
        items=(LineItem("Tai nghe Bluetooth không dây", 1, 1_290_000),),
    )


def sample_customer() -> CustomerSnapshot:
    return CustomerSnapshot(id=2, first_name="Lan", last_name="Nguyễn Thị", email="lan@example.test",
                            phone_raw="0987 654 321", phone=normalize_phone("0987 654 321"),
                            date_modified_gmt="2026-11-23T02:44:37")


def sample_contexts(settings: Settings) -> dict[str, dict[str, Any]]:
    order = order_context(settings, sample_order(), "https://shop.example/")
    return {
        "order.status": order,
        "order.new": order,
        "payment.confirmed": {**order, "paid_amount": order["total"], "paid_bank": "Vietcombank",
                              "transaction_ref": "FT2632712345"},
        "payment.expired": {**order_context(settings, sample_order("cancelled"), "https://shop.example/"),
                            "expire_hours": "24"},
        "order.cod_confirm": {**order_context(settings, replace(sample_order("processing"), payment_method="cod",
                                                                payment_method_title="Thanh toán khi nhận hàng"),
                                              "https://shop.example/"),
                              "confirm_link": f"{settings.public_url}/c/7vjq3Xk9bT2mWcRpLa", "reminder": False},
        "shipment.status": {**order_context(settings, sample_order("processing"), "https://shop.example/"),
                            **shipment_context("GHN", "GAHBX7KQ", "delivery_failed", "delivery_fail",
                                               "Khách không nghe máy", 1_290_000)},
        "customer.created": customer_context(settings, sample_customer()),
        "account.password_reset": customer_context(settings, sample_customer()),
    }
