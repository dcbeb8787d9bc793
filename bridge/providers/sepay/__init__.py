"""SePay (sepay.vn): bank transactions pushed by its webhook, caught up through its API."""
from .. import Job, Provider
from .settings import ENV, SepaySettings

PROVIDER = Provider(
    name="sepay",
    settings=SepaySettings,
    env=ENV,
    webhooks=("bridge.providers.sepay.webhook:webhook",),
    jobs=(Job("sepay_reconcile", "SePay reconcile (transactions the webhook did not bring)",
              "bridge.providers.sepay.jobs:reconcile", every=lambda s: s.sepay_reconcile_every,
              when=lambda s: bool(s.sepay_api_token), at_start=True),),
    # generated on first start: the endpoint is never open, whichever method SEPAY_AUTH names
    secrets={"sepay_api_key": "SEPAY_API_KEY", "sepay_webhook_secret": "SEPAY_WEBHOOK_SECRET"},
    sensitive=("sepay_api_token",),
    endpoints="bridge.providers.sepay.webhook:endpoints",
    payment_trust="bridge.providers:authenticated",   # every request carries the key or its signature
    rotation_effect={"sepay_api_key": "paste the new key into the webhook at my.sepay.vn (security step: API Key)",
                     "sepay_webhook_secret": "paste the new secret into the webhook at my.sepay.vn "
                                             "(security step: HMAC-SHA256)"},
)
