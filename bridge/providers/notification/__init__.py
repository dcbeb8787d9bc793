"""App notifications (bank apps, MoMo) forwarded from the shop's phone by a notification forwarder."""
from .. import Provider

PROVIDER = Provider(name="notification")
