"""What sending means to the core: a message going out, the provider's answer in our words, and
delivery events. Providers translate their vocabulary into these; the outbox reads only these."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable


class Outcome(str, Enum):
    ACCEPTED = "accepted"      # the provider took the message (not yet delivered)
    DUPLICATE = "duplicate"    # the provider already had this message id: it was sent before
    TRANSIENT = "transient"    # try again later (provider error, 5xx, timeout, connection)
    PERMANENT = "permanent"    # will not work until someone fixes configuration or data
    DRY_RUN = "dry-run"        # recorded only; the channel has no credentials
    DEFERRED = "deferred"      # not now (no capacity on the phones): wait until retry_at, not an attempt
    UNAVAILABLE = "unavailable"  # this channel cannot reach this recipient (no Messenger link, outside the
                                 # 24 h window): not a failure of the message, the next channel should try


# SendResult.code of a provider's "too many requests": DEFERRED to its retry_at (nothing was sent,
# so it is no attempt and never fails the message), and the worker's pacer holds the channel's
# budgets until then (bridge/pacing.py).
RATE_LIMITED = "rate-limited"


class Event(str, Enum):
    """Normalized delivery events, in the seeds' status vocabulary."""
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class OutgoingMessage:
    id: str              # our message id: the provider's idempotency key
    recipient: str       # E.164
    text: str
    unicode: bool
    segments: int
    channel: str
    meta: dict[str, Any] = field(default_factory=dict)  # the rule's extras (link, zns) and order/customer ids
    device: str | None = None   # the phone an earlier attempt may have reached: a retry must go there
    # Records, committed before the provider is asked, the device about to be asked (the outbox's
    # row, not the provider's to write): a provider that deduplicates per device calls it.
    pin_device: Callable[[str], None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_id: str | None = None
    code: str | None = None
    detail: str = ""
    raw: str = ""
    retry_at: float | None = None    # with DEFERRED
    device: str | None = None        # which phone took it (phone gateway)
    delivered: bool = False          # the receiver itself answered (HTTP forward): nothing more to wait for
    # A failed attempt whose request may still have been taken (timeout, 5xx): True pins the
    # message to `device`, whose idempotency on our id is the only thing that makes a retry safe;
    # False releases it (the device answered that it does not have it); None leaves it as it was.
    sticky: bool | None = None
    # The request may have reached the provider although we did not get its answer (read timeout,
    # connection dropped after sending, 5xx from a proxy in front of it). What a retry may do then
    # depends on the provider's retry safety (providers/__init__.py): the outbox decides.
    maybe_taken: bool = False


@dataclass(frozen=True)
class StatusReport:
    event: Event
    provider_status: str
    detail: str = ""
    raw: str = ""
    # Set when the provider's first way failed and it now tries its next way itself (eSMS
    # MultiChannel: the Zalo message failed, eSMS sends the SMS), saying so for the admin: not the
    # end of the message for a channel that declares `provider_falls_back`.
    provider_retries: str = ""
