"""payOS (optional per shop): a payment link per bank-transfer order, its checkout page and QR on
the pay page, its signed payment notifications, and the link cancelled when the order stops
awaiting payment."""
from .. import Job, Provider
from .settings import ENV, PayosSettings

PROVIDER = Provider(
    name="payos",
    settings=PayosSettings,
    env=ENV,
    webhooks=("bridge.providers.payos.webhook:webhook",),
    jobs=(Job("payos_links", "payOS payment links (make, cancel)", "bridge.providers.payos.links:run",
              every=lambda s: s.payos_every, when=lambda s: s.payos_configured, at_start=True),
          Job("payos_reconcile", "reconcile payOS links", "bridge.providers.payos.links:reconcile",
              every=lambda s: s.payos_reconcile_every, when=lambda s: s.payos_configured)),
    sensitive=("payos_api_key", "payos_checksum_key"),
    endpoints="bridge.providers.payos.webhook:endpoints",
    check="bridge.providers.payos.settings:config_errors",
    cli="bridge.providers.payos.cli",
    template_vars="bridge.providers.payos.offer:template_vars",
    pay_links="bridge.providers.payos.offer:pay_links",
    pay_qr="bridge.providers.payos.offer:pay_qr",
    payment_trust="bridge.providers:authenticated",   # every notification is signed with PAYOS_CHECKSUM_KEY
)
