"""WooCommerce settings: the shop's REST keys, our webhook secret, and the reconcile pace."""
from __future__ import annotations

from dataclasses import dataclass

from ... import envparse as p


@dataclass(frozen=True)
class WooSettings:
    woo_url: str = ""
    woo_consumer_key: str = ""
    woo_consumer_secret: str = ""
    woo_webhook_secret: str = ""
    woo_order_received_endpoint: str = "order-received"   # WooCommerce > Advanced > checkout endpoints
    welcome_catch_up_hours: float = 48.0   # reconcile welcomes customers it finds registered this recently
    reconcile_every: float = 900.0       # seconds between reconciles with the WooCommerce REST API
    woo_timeout: float = 10.0

    @property
    def woo_configured(self) -> bool:
        return bool(self.woo_url and self.woo_consumer_key and self.woo_consumer_secret)


ENV = {
    "WOO_URL": ("woo_url", p.url),
    "WOO_CONSUMER_KEY": ("woo_consumer_key", str),
    "WOO_CONSUMER_SECRET": ("woo_consumer_secret", str),
    "WOO_WEBHOOK_SECRET": ("woo_webhook_secret", str),
    "WOO_ORDER_RECEIVED_ENDPOINT": ("woo_order_received_endpoint", str),
    "WELCOME_CATCH_UP_HOURS": ("welcome_catch_up_hours", p.positive_float),
    "RECONCILE_EVERY": ("reconcile_every", p.positive_float),
    "WOO_TIMEOUT": ("woo_timeout", p.positive_float),
}
