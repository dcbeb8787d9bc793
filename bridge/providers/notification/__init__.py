"""App notifications (bank apps, MoMo) forwarded from the shop's phone by a notification forwarder."""
from .. import Provider
from .settings import ENV, NotificationSettings

PROVIDER = Provider(
    name="notification",
    settings=NotificationSettings,
    env=ENV,
    webhooks=("bridge.providers.notification.webhook:webhook",),
    secrets={"notify_token": "NOTIFY_TOKEN"},
    endpoints="bridge.providers.notification.webhook:endpoints",
    text_kinds={"notification": "app_notification"},
    inbound_token_successors=("notify_token",),
    payment_trust="bridge.providers:authenticated",   # signed requests (or its own bearer token)
    rotation_effect={"notify_token": "give the notification forwarder the new token"},
)
