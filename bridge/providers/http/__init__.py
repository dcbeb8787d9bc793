"""HTTP forwards to the shop's own tools (a chatbot, a CRM)."""
from .. import Provider

PROVIDER = Provider(
    name="http",
    channels={"http": "bridge.providers.http.sender:HttpForwardChannel"},
    # Our id goes out as Idempotency-Key; whether the receiver honours it is the receiver's.
    performs={"forward": "http"},
    retry_safety={"http": "key"},
)
