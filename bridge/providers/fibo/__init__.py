"""FiboSMS push: received SMS forwarded by FiboSMS as a GET with the message in the query."""
from .. import Provider
from .settings import ENV, FiboSettings

PROVIDER = Provider(
    name="fibo",
    settings=FiboSettings,
    env=ENV,
    webhooks=("bridge.providers.fibo.webhook:push",),
    secrets={"fibo_token": "FIBO_TOKEN"},
    endpoints="bridge.providers.fibo.webhook:endpoints",
    payment_trust="bridge.providers.fibo.settings:payment_trust",
    inbound_token_successors=("fibo_token",),
    rotation_effect={"fibo_token": "give FiboSMS the new push URL (admin page > Settings)"},
)
