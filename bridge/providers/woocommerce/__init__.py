"""WooCommerce: order and customer webhooks, the REST client, write-backs, webhook ownership, reconcile."""
from .. import Job, Provider
from .settings import ENV, WooSettings


def _env_names_shop(s: WooSettings) -> bool:
    return bool(s.woo_url or s.woo_consumer_key or s.woo_consumer_secret)


PROVIDER = Provider(
    name="woocommerce",
    settings=WooSettings,
    env=ENV,
    channels={"woocommerce": "bridge.providers.woocommerce.writeback:WooCommerceChannel"},
    webhooks=("bridge.providers.woocommerce.webhook:webhook",),
    blueprints=("bridge.providers.woocommerce.admin_page:templates", "bridge.providers.woocommerce.callback:bp"),
    # Without WOO_* in the environment both are installed and wait for a shop connected from the
    # admin (stored in the database), so it is reconciled and gets its webhooks without a restart.
    jobs=(Job("reconcile", "reconcile with WooCommerce", "bridge.providers.woocommerce.reconcile:scheduled",
              every=lambda s: s.reconcile_every, when=lambda s: s.woo_configured or not _env_names_shop(s)),
          Job("woo_webhooks", "create the webhooks of a shop connected from the admin",
              "bridge.providers.woocommerce.connection:periodic", every=lambda s: 60.0, at_start=True,
              when=lambda s: not _env_names_shop(s))),
    performs={"order_update": "woocommerce"},
    secrets={"woo_webhook_secret": "WOO_WEBHOOK_SECRET"},
    sensitive=("woo_consumer_secret",),
    endpoints="bridge.providers.woocommerce.ownership:endpoints",
    shop="bridge.providers.woocommerce.shop",
    cli="bridge.providers.woocommerce.cli",
    admin_pages=("bridge.providers.woocommerce.admin_page",),
    checklist="bridge.providers.woocommerce.admin_page:checklist",
    # Marking paid is repeatable; a note carries our id and is added only when the order lacks it.
    retry_safety={"woocommerce": "key"},
)
