"""WooCommerce: order and customer webhooks, the REST client, write-backs, webhook ownership, reconcile."""
from .. import Job, Provider

PROVIDER = Provider(
    name="woocommerce",
    channels={"woocommerce": "bridge.providers.woocommerce.writeback:WooCommerceChannel"},
    # Marking paid is repeatable; a note carries our id and is added only when the order lacks it.
    jobs=(Job("reconcile", "reconcile with WooCommerce", "bridge.providers.woocommerce.reconcile:run",
              every=lambda s: s.reconcile_every, when=lambda s: s.woo_configured),),
    performs={"order_update": "woocommerce"},
    retry_safety={"woocommerce": "key"},
)
