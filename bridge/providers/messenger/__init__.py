"""Facebook Messenger (Graph Send API, page webhooks, m.me referrals)."""
from .. import Provider
from .settings import ENV, MessengerSettings

PROVIDER = Provider(
    name="messenger",
    settings=MessengerSettings,
    env=ENV,
    channels={"messenger": "bridge.providers.messenger.sender:MessengerChannel"},
    webhooks=("bridge.providers.messenger.webhook:verification", "bridge.providers.messenger.webhook:events"),
    # the admin page's template (templates/admin/messenger.html), found through this blueprint
    blueprints=("bridge.providers.messenger.admin_page:templates",),
    sensitive=("messenger_page_token", "messenger_app_secret", "messenger_verify_token"),
    endpoints="bridge.providers.messenger.webhook:endpoints",
    chat="bridge.providers.messenger.contacts:identities",
    template_vars="bridge.providers.messenger.contacts:template_vars",
    pay_links="bridge.providers.messenger.contacts:pay_links",
    admin_pages=("bridge.providers.messenger.admin_page",),
    admin_nav=(("Messenger", "admin.messenger"),),
    chat_sources=("messenger",),
    # The Send API takes no idempotency key: a retry after a lost answer may send twice.
    retry_safety={"messenger": "none"},
)
