"""GHTK (Giao Hàng Tiết Kiệm): its order-status webhook."""
from .. import Provider
from .settings import ENV, GhtkSettings

PROVIDER = Provider(
    name="ghtk",
    settings=GhtkSettings,
    env=ENV,
    webhooks=("bridge.providers.ghtk.webhook:webhook",),
    # generated on first start: the callback URL given to GHTK carries it as `hash` (GHTK signs nothing)
    secrets={"ghtk_webhook_hash": "GHTK_WEBHOOK_HASH"},
    endpoints="bridge.providers.ghtk.webhook:endpoints",
    rotation_effect={"ghtk_webhook_hash": "give GHTK the new callback URL (admin page > Settings); calls to the "
                                          "old one are refused"},
)
