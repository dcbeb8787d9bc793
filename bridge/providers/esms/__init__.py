"""eSMS.vn: brandname SMS, Zalo ZNS and ZNS-then-SMS (MultiChannel) sending; delivery callbacks."""
from .. import Job, Provider
from .settings import ENV, EsmsSettings

PROVIDER = Provider(
    name="esms",
    settings=EsmsSettings,
    env=ENV,
    channels={"esms": "bridge.providers.esms.sender:EsmsChannel",
              "zalo": "bridge.providers.esms.zalo:ZaloZnsChannel",
              "zalo-sms": "bridge.providers.esms.zalo:ZaloSmsChannel"},
    webhooks=("bridge.providers.esms.webhook:callback",),
    jobs=(Job("poll_esms_status", "poll eSMS status", "bridge.providers.esms.jobs:poll_esms",
              every=lambda s: max(30.0, min(300.0, s.esms_poll_after / 2))),
          Job("esms_balance", "eSMS balance", "bridge.providers.esms.jobs:check_balance",
              every=lambda s: s.esms_balance_every, at_start=True)),
    secrets={"esms_callback_token": "ESMS_CALLBACK_TOKEN"},
    sensitive=("esms_api_key", "esms_secret_key"),
    # eSMS still holds CallbackUrls carrying INBOUND_TOKEN for messages sent before the upgrade.
    inbound_token_fallback={"esms_callback_token": "the eSMS delivery callback"},
    endpoints="bridge.providers.esms.status:endpoints",
    owner_channels=("esms",),
    default_channel="esms",
    template_channels=("zalo", "zalo-sms"),     # ZNS sends a template registered for the OA, not free text
    rotation_effect={"esms_callback_token": "new messages carry the new callback URL; reports for older ones are refused"},
    check="bridge.providers.esms.settings:config_errors",
    status="bridge.providers.esms.status:balance",
    watch="bridge.providers.esms.status:low_balance",
    # eSMS refuses a RequestId it has already seen (code 124): a retry on our id cannot send twice.
    retry_safety={"esms": "key", "zalo": "key", "zalo-sms": "key"},
)
