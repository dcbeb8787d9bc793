"""Facebook Messenger (Graph Send API, page webhooks, m.me referrals)."""
from .. import Provider

PROVIDER = Provider(
    name="messenger",
    channels={"messenger": "bridge.providers.messenger.sender:MessengerChannel"},
    # The Send API takes no idempotency key: a retry after a lost answer may send twice.
    retry_safety={"messenger": "none"},
)
