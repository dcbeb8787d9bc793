"""HTTP forwards to the shop's own tools (a chatbot, a CRM), and outgoing events to the owner's URLs."""
from .. import Provider

PROVIDER = Provider(
    name="http",
    channels={"http": "bridge.providers.http.sender:HttpForwardChannel",
              "http-events": "bridge.providers.http.events:HttpEventChannel"},
    # Our id goes out as Idempotency-Key (an event's: the event id); whether the receiver honours
    # it is the receiver's.
    performs={"forward": "http", "event": "http-events"},
    retry_safety={"http": "key", "http-events": "key"},
)
