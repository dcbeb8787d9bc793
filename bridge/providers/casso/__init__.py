"""Casso: bank transactions pushed by its webhooks (v1 token, V2 signed), caught up through its API."""
from .. import Job, Provider
from .settings import ENV, CassoSettings

PROVIDER = Provider(
    name="casso",
    settings=CassoSettings,
    env=ENV,
    webhooks=("bridge.providers.casso.webhook:webhook",),
    jobs=(Job("casso_reconcile", "catch up with Casso's transactions", "bridge.providers.casso.reconcile:run",
              every=lambda s: s.casso_reconcile_every, when=lambda s: bool(s.casso_api_key), at_start=True),),
    secrets={"casso_webhook_key": "CASSO_WEBHOOK_KEY", "casso_secure_token": "CASSO_SECURE_TOKEN"},
    sensitive=("casso_api_key",),
    endpoints="bridge.providers.casso.webhook:endpoints",
    payment_trust="bridge.providers:authenticated",   # every request is signed (V2) or carries its secret (v1)
    rotation_effect={"casso_webhook_key": "paste the new key into Casso's Webhook V2 integration",
                     "casso_secure_token": "paste the new key into Casso's webhook (v1) integration"},
)
