"""What every provider builds on: the Channel (our message in, a normalized outcome out), the one
HTTP ladder senders share, and the Webhook (validate -> parse -> normalized events).

Adapters translate a provider's vocabulary (result codes, status numbers) into the few words
the outbox understands, the way django-anymail's backends do: mostly a table from the
provider's codes to ours. The raw answer travels with the outcome for the admin to read.
"""
from __future__ import annotations

import hmac
import json
import logging
import math
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Iterable, Mapping

import requests
from urllib3.exceptions import NewConnectionError

from ..config import Settings
from ..sending import RATE_LIMITED, Event, OutgoingMessage, Outcome, SendResult, StatusReport  # noqa: F401  (re-exported for providers)
from ..plugins import load_class

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pace:
    """How one sender of a channel spaces its sends (a phone, or a provider's account), read by
    the bulk send's time estimate (bridge/bulk.py) from the same settings the sender obeys."""
    name: str
    gap: float               # mean seconds between two sends
    per_minute: int = 0      # at most this many in any 60 s (0: no cap)
    per_hour: int = 0        # at most this many in any hour (0: no cap)
    on_tick: bool = False    # a send that must wait is given back and taken on the worker's next pass


class Channel:
    """Base class: an adapter sets `name` and implements `send` (and `poll` if it can)."""

    name = "base"
    # True when the provider itself tries another way after its first one fails (eSMS
    # MultiChannel: Zalo, then SMS): a failure report for the first way is not the end.
    provider_falls_back = False
    # False for a channel with nothing to configure or to worry about (forwards to the shop's own
    # tools, dry-run): left out of the banner's and the dashboard's "live or dry-run" lines.
    listed = True
    # For the owner's price table (bridge/store/prices.py): what the channel is called there
    # (English, N_-marked, translated where shown) and how it is billed by default, per SMS part
    # or per message.
    price_label = ""
    billed_per = "part"
    # Offered for bulk sends to phone numbers: "free" delivers any text (the shop's own SIM),
    # "registered" only texts registered with the carrier as templates (a brandname); "" not offered.
    bulk = ""

    def __init__(self, name: str, settings: Settings, db: Any = None):
        self.name = name
        self.settings = settings
        self.db = db

    @property
    def configured(self) -> bool:
        return True

    @property
    def why_not_configured(self) -> str:
        return ""

    @property
    def waiting(self) -> bool:
        """True while the channel is not configured yet is set up and only unusable for now (a
        job channel whose account is connected but cannot be read at this moment): its rows are
        sent to it, to answer DEFERRED with the reason, instead of being recorded as dry-run, a
        final status from which nothing is ever retried."""
        return False

    def send(self, msg: OutgoingMessage) -> SendResult:  # pragma: no cover - interface
        raise NotImplementedError

    def budgets(self) -> tuple[tuple[str, float], ...]:
        """The request budgets a send counts against, (key, requests per second), enforced across
        the send lanes (bridge/pacing.py). A provider whose account several channels share names
        the same key in each; 0 is no limit of ours, but a "too many requests" answer still holds
        the key. By default the channel's own name, unlimited."""
        return ((self.name, 0.0),)

    def paces(self) -> tuple[Pace, ...]:
        """The senders behind this channel and their spacing: by default one, spaced by the
        channel's tightest request budget as the pacer spaces it (bridge/pacing.py)."""
        from ..pacing import spacing
        rates = [rate for _, rate in self.budgets() if rate > 0]
        return (Pace(self.name, spacing(min(rates)) if rates else 0.0),)

    def poll(self, provider_id: str, device: str | None = None) -> StatusReport | None:
        return None

    def on_report(self, device: str | None, event: Event, detail: str = "") -> None:
        """A delivery report for one of this channel's messages was applied (a phone gateway
        learns from it which phone works); most channels have nothing to learn."""

    def status(self) -> dict[str, Any]:
        return {"configured": self.configured, "mode": "live" if self.configured else "dry-run",
                "reason": self.why_not_configured, "listed": self.listed}

    def device_status(self) -> list[dict[str, Any]]:
        """The phones this channel sends through, each {name, mode, paused, pause_reason,
        paused_until, sent_last_hour, per_hour}: the dashboard, health and alerts show them.
        A channel without devices of its own has none."""
        return []

    def resume_device(self, name: str) -> bool:
        """Put a paused device of this channel back into rotation; False when it has none by that name."""
        return False


def load_channels(settings: Settings, db: Any = None) -> dict[str, Channel]:
    """Instantiate every adapter named in settings.channel_adapters ("pkg.module:Class")."""
    channels: dict[str, Channel] = {}
    for name, target in settings.channel_adapters.items():
        channels[name] = load_class(target, "CHANNEL_ADAPTERS", name)(name, settings, db)
    if "dry-run" not in channels:
        raise ValueError("CHANNEL_ADAPTERS: a 'dry-run' channel is required")
    return channels


# -- sending over HTTP -----------------------------------------------------------------------

def never_connected(exc: requests.RequestException) -> bool:
    """The request never reached the provider: no connection was made (refused, no route,
    connect timeout). Anything else may have been received and acted on."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", exc.args[0]) if exc.args else None
        return isinstance(reason, NewConnectionError)
    return False


def retry_after(value: str | None, default: float = 1.0, longest: float = 300.0) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date; absent/unreadable:
    `default`), at most `longest`: a provider's odd answer never parks a message for hours."""
    try:
        seconds = float(value) if value is not None else default
    except ValueError:   # an HTTP date (RFC 9110 allows both forms), or garbage
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            seconds = default
    if math.isnan(seconds):
        seconds = default
    return min(longest, max(0.1, seconds))


def lane_session(settings: Settings) -> requests.Session:
    """An HTTP session with one kept-open connection per send lane: the default pool (10) would
    open, and throw away, a new connection (a TLS handshake) for every lane beyond the tenth."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, settings.send_concurrency))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class HttpChannel(Channel):
    """A channel that speaks HTTP. `request` is the one place where timeouts, connection errors,
    429/5xx and 4xx become outcomes; a provider only reads the answers that mean something to it
    (a 200 with an error code in the body, a 4xx with a documented error object)."""

    who = "the provider"            # named in every detail the admin reads
    connect_timeout = 5.0

    def __init__(self, name: str, settings: Settings, db: Any = None):
        super().__init__(name, settings, db)
        self.session = lane_session(settings)

    def read_timeout(self) -> float:
        return 10.0

    def request(self, method: str, url: str, *, errors: Callable[[requests.Response], SendResult | None] | None = None,
                who: str | None = None, **kw: Any) -> requests.Response | SendResult:
        """The answer to read, or the outcome when there is nothing meaningful to read.

        `errors` sees every 4xx/5xx answer first and may translate the provider's own error body;
        what it leaves (None) gets the common reading: 408/5xx try again, 429 waits for its
        Retry-After (not an attempt: nothing was sent), other 4xx are ours to fix. Every failure
        that may have reached the provider says so (`maybe_taken`). `who` names the party in the
        details when it is not always the same (one phone among several)."""
        who = who or self.who
        try:
            r = self.session.request(method, url, timeout=(self.connect_timeout, self.read_timeout()), **kw)
        except requests.Timeout as exc:
            taken = not never_connected(exc)
            return SendResult(Outcome.TRANSIENT, code="timeout", maybe_taken=taken,
                              detail=f"{who} did not answer in time: {exc}")
        except requests.RequestException as exc:
            taken = not never_connected(exc)
            return SendResult(Outcome.TRANSIENT, code="connection", maybe_taken=taken,
                              detail=f"cannot reach {who}: {exc}")
        if r.status_code >= 400:
            translated = errors(r) if errors is not None else None
            if translated is not None:
                return translated
            raw = r.text[:2000]
            if r.status_code == 429:
                wait = retry_after(r.headers.get("Retry-After"))
                return SendResult(Outcome.DEFERRED, code=RATE_LIMITED, raw=raw, retry_at=time.time() + wait,
                                  detail=f"{who} HTTP 429: too many requests, sent again in {wait:g} s")
            if r.status_code >= 500 or r.status_code == 408:
                return SendResult(Outcome.TRANSIENT, code=f"http-{r.status_code}", raw=raw,
                                  maybe_taken=r.status_code >= 500,
                                  detail=f"{who} HTTP {r.status_code}")
            return SendResult(Outcome.PERMANENT, code=f"http-{r.status_code}", raw=raw,
                              detail=f"{who} HTTP {r.status_code}: refused (check the URL and credentials)")
        return r


# -- receiving: webhooks ---------------------------------------------------------------------

class Refused(Exception):
    """Why a request to a webhook is not accepted: answered with `status` and recorded (bounded)
    where the admin sees refusals."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class HeaderMap(Mapping[str, str]):
    """A request's headers read once into a dict: looked up by any spelling of the name, listed
    as they came. The web server's own view (werkzeug's EnvironHeaders) walks every environ key
    on each look-up, and a webhook reads a dozen headers while it is acknowledged."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]]):
        self._items = dict(items)
        self._lower = {k.lower(): v for k, v in self._items.items()}

    def __getitem__(self, key: str) -> str:
        return self._lower[key.lower()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._lower.get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._lower

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def json_of(body: bytes) -> Any:
    """`body` as JSON, or Refused with the reason: the one decoding ladder, for a request and for
    a body stored before it was parsed (WooCommerce's, decided after the answer)."""
    try:
        return json.loads(body.decode("utf-8-sig"))   # a leading BOM is still UTF-8
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    except RecursionError:
        raise Refused(400, "body is JSON nested deeper than we read") from None
    except ValueError as exc:
        raise Refused(400, f"body is not valid JSON: {exc}") from None


@dataclass(frozen=True)
class Request:
    """What a webhook may read of a request (the generic view builds it; no Flask in providers)."""
    method: str
    path: str
    args: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    remote_addr: str | None = None
    at: float = field(default_factory=time.time)   # when it arrived, by Bridge.clock (tests move it)

    def json(self) -> Any:
        """The body as JSON, or Refused with the reason (`json_of`)."""
        return json_of(self.body)

    def json_object(self, shape: str = "") -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise Refused(400, "body must be a JSON object" + (f" {shape}" if shape else ""))
        return data


class Webhook:
    """One endpoint an outside system calls: validate (who is calling) -> parse (what it says, as
    normalized events from bridge/events.py carrying the raw payload) -> the core -> answer.

    The generic view (bridge/web/webhooks.py) records every refusal, decodes nothing by itself
    and hands the events to the core; a provider writes no table and imports no Flask."""

    rule = ""                        # the URL rule, e.g. "/callbacks/esms"
    methods: tuple[str, ...] = ("POST",)
    secret_in_query = False          # the query carries a secret: a recorded refusal keeps it redacted

    def validate(self, req: Request, settings: Settings) -> None:
        """Raise Refused unless the caller proved who it is."""
        raise NotImplementedError

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        """The request as normalized events (raise Refused for what cannot be read)."""
        raise NotImplementedError

    def answer(self, events: list[Any], results: list[Any]) -> tuple[Any, int] | Any:
        """The body the caller expects (JSON by default) from what the core made of each event."""
        return {"ok": True, "results": [r for r in results if r is not None]}, 200

    def refusal(self, status: int, reason: str) -> tuple[Any, int] | Any:
        """How a refusal is answered (JSON with the reason unless the caller needs its own format)."""
        return {"ok": False, "error": reason}, status

    def failed(self, exc: Exception) -> tuple[Any, int] | None:
        """How to answer when the core could not take the events (storage failed), for a caller
        whose contract names that answer (FiboSMS: `<Status>1</Status>`, push again); None lets
        the application's error handlers answer as for any other endpoint."""
        return None


@dataclass(frozen=True)
class Text:
    """A body in the caller's own format (FiboSMS reads XML), answered as is instead of JSON."""
    body: str
    content_type: str


def secret_matches(given: str | None, expected: str) -> bool:
    """A shared secret compared in constant time; an empty one never matches."""
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def require_query_secret(req: Request, param: str, expected: str, var: str) -> None:
    """A caller that signs nothing (the carriers) proves itself only by the secret we put in the
    query of the callback URL it was given: missing is 401, wrong is 403, each naming `var`."""
    given = req.args.get(param, "")
    if not given:
        raise Refused(401, f"missing ?{param}=<{var}> in the callback URL")
    if not secret_matches(given, expected):
        raise Refused(403, f"{param} does not match {var}")
