"""WooCommerce: order and customer webhooks, the REST client, write-backs, webhook ownership, reconcile."""
from .. import Job, Provider
from .settings import ENV, WooSettings

PROVIDER = Provider(
    name="woocommerce",
    settings=WooSettings,
    env=ENV,
    channels={"woocommerce": "bridge.providers.woocommerce.writeback:WooCommerceChannel"},
    webhooks=("bridge.providers.woocommerce.webhook:webhook",),
    blueprints=("bridge.providers.woocommerce.admin_page:templates",),
    jobs=(Job("reconcile", "reconcile with WooCommerce", "bridge.providers.woocommerce.reconcile:run",
              every=lambda s: s.reconcile_every, when=lambda s: s.woo_configured),),
    performs={"order_update": "woocommerce"},
    secrets={"woo_webhook_secret": "WOO_WEBHOOK_SECRET"},
    sensitive=("woo_consumer_secret",),
    endpoints="bridge.providers.woocommerce.ownership:endpoints",
    shop="bridge.providers.woocommerce.shop",
    cli="bridge.providers.woocommerce.cli",
    admin_pages=("bridge.providers.woocommerce.admin_page",),
    # Marking paid is repeatable; a note carries our id and is added only when the order lacks it.
    retry_safety={"woocommerce": "key"},
)
