"""SMS Gateway for Android (SMSGate): the shop's own phones send SMS and report received ones."""
from .. import Job, Provider

PROVIDER = Provider(
    name="smsgate",
    channels={"smsgate": "bridge.providers.smsgate.sender:SmsGateChannel"},
    # A phone refuses a message id it already has; another phone has never seen it.
    jobs=(Job("poll_smsgate_status", "poll SMSGate status", "bridge.providers.smsgate.jobs:poll_smsgate",
              every=lambda s: max(30.0, min(300.0, s.smsgate_poll_after / 2))),),
    owner_channels=("smsgate",),
    retry_safety={"smsgate": "device"},
)
