"""GHN (Giao Hàng Nhanh): its order-status webhook, confirmed through its order-detail API when
the shop's API token is configured."""
from .. import Job, Provider
from .settings import ENV, GhnSettings

PROVIDER = Provider(
    name="ghn",
    settings=GhnSettings,
    env=ENV,
    webhooks=("bridge.providers.ghn.webhook:webhook",),
    jobs=(Job("ghn_verify", "GHN: confirm the calls its order-detail API could not confirm when they came",
              "bridge.providers.ghn.jobs:verify", every=lambda s: s.ghn_verify_every,
              when=lambda s: bool(s.ghn_token)),),
    # generated on first start: the callback URL GHN staff register carries it (GHN signs nothing)
    secrets={"ghn_webhook_token": "GHN_WEBHOOK_TOKEN"},
    sensitive=("ghn_token",),
    endpoints="bridge.providers.ghn.webhook:endpoints",
    shipment_check="bridge.providers.ghn.check:check",
    rotation_effect={"ghn_webhook_token": "ask GHN staff to register the new callback URL (admin page > Settings); "
                                          "calls to the old one are refused"},
)
