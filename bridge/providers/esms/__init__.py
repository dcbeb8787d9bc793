"""eSMS.vn: brandname SMS, Zalo ZNS and ZNS-then-SMS (MultiChannel) sending; delivery callbacks."""
from .. import Job, Provider

PROVIDER = Provider(
    name="esms",
    channels={"esms": "bridge.providers.esms.sender:EsmsChannel",
              "zalo": "bridge.providers.esms.zalo:ZaloZnsChannel",
              "zalo-sms": "bridge.providers.esms.zalo:ZaloSmsChannel"},
    # eSMS refuses a RequestId it has already seen (code 124): a retry on our id cannot send twice.
    webhooks=("bridge.providers.esms.webhook:callback",),
    jobs=(Job("poll_esms_status", "poll eSMS status", "bridge.providers.esms.jobs:poll_esms",
              every=lambda s: max(30.0, min(300.0, s.esms_poll_after / 2))),
          Job("esms_balance", "eSMS balance", "bridge.providers.esms.jobs:check_balance",
              every=lambda s: s.esms_balance_every, at_start=True)),
    retry_safety={"esms": "key", "zalo": "key", "zalo-sms": "key"},
)
