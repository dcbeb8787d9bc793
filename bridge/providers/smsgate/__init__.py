"""SMS Gateway for Android (SMSGate): the shop's own phones send SMS and report received ones."""
from .. import Job, Provider
from .settings import ENV, SmsGateSettings

PROVIDER = Provider(
    name="smsgate",
    settings=SmsGateSettings,
    env=ENV,
    # a text is answered from the shop's own phone (the one it came in on, or by default)
    replies={"smsgate": "smsgate", "*": "smsgate"},
    channels={"smsgate": "bridge.providers.smsgate.sender:SmsGateChannel"},
    webhooks=("bridge.providers.smsgate.webhook:webhook",),
    jobs=(Job("poll_smsgate_status", "poll SMSGate status", "bridge.providers.smsgate.jobs:poll_smsgate",
              every=lambda s: max(30.0, min(300.0, s.smsgate_poll_after / 2))),),
    owner_channels=("smsgate",),
    secrets={"smsgate_signing_key": "SMSGATE_SIGNING_KEY"},
    sensitive=("smsgate_password",),
    endpoints="bridge.providers.smsgate.webhook:endpoints",
    checklist="bridge.providers.smsgate.checklist:steps",
    # A phone refuses a message id it already has; another phone has never seen it.
    retry_safety={"smsgate": "device"},
    payment_trust="bridge.providers:authenticated",   # signed requests (or its own bearer token)
    rotation_effect={"smsgate_signing_key": "set the new signing key on every SMSGate phone"},
)
