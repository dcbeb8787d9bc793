"""The shop connected in one click: WooCommerce app authorization (/wc-auth/v1/authorize), the
REST keys it posts to our callback kept encrypted in the database, and our webhooks created with
them at once.

Why each step is as it is (PAYMENT_SOURCES.md §4a, checked against WooCommerce 9.9.5 in the lab):
- `user_id` is ours and WooCommerce echoes it to the callback and to the return URL: a random
  one-time token, kept only as its sha256 with the shop's address and a short expiry,
  used once. It only correlates; it proves nothing about who posts, so
- the address typed is first resolved to the shop's own (WordPress's REST index at /wp-json/,
  redirects followed, its "home"): a redirect (shop.vn -> www.shop.vn, http -> https) would
  otherwise drop or break the keys' authentication on every later call;
- the keys are believed only after they work: the callback asks the shop the owner named (never
  a URL from the request) for its webhooks with them before anything is stored, and before the
  one-time `user_id` is used up (a poster holding a leaked `user_id` and junk keys cannot spend
  the owner's real callback); the token is taken in the transaction that stores the keys, so
  two genuine callbacks store once;
- connecting a DIFFERENT shop while the previous one has orders here or write-backs waiting is
  refused unless the owner confirms the switch (jobs address orders by id only: a queued "mark
  paid" for the old #27 must never reach the new shop's #27); confirmed, the waiting write-backs
  are cancelled with the reason, in the transaction that stores the new keys;
- WooCommerce waits for our answer (60 s) inside the owner's approval request and deletes the key
  unless it is exactly 200, so the callback does only that check; the webhooks are created after
  the answer, from a "pending" state written with the keys (a crash in between leaves it pending
  for the periodic job to finish);
- the keys are encrypted with Fernet under a key derived (HKDF-SHA256, its own label) from
  SECRET_KEY and a random secret kept in a file beside the database (`<database>.shop-keys`,
  0600, made on first use), never in the database: without SECRET_KEY in the environment the
  generated SECRET_KEY lives in the database, so it alone must not open the keys. A copy of the
  database alone does not give the shop away. Losing that file or changing SECRET_KEY makes them
  unreadable: the admin page then asks for one more click on "Kết nối WooCommerce", and the
  shop's write-backs wait (they are not dropped to dry-run) until it is done.

WOO_URL, WOO_CONSUMER_KEY and WOO_CONSUMER_SECRET still win when any of them is set: `effective`
returns the settings unchanged then, and the stored connection otherwise (and no authorization
can be started meanwhile: it would connect a shop nothing uses). Every process (web,
worker, CLI) reads the stored row through the database file, cached a few seconds, so a new
connection is seen without a restart.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ... import logs, reasons
from ...reasons import N_
from ...store import woo_connection as store
from . import ownership
from .client import WooClient

log = logging.getLogger(__name__)

APP_NAME = "woo-bridge"
CALLBACK_PATH = "/woocommerce/keys"
AUTH_TTL = 900.0            # seconds the owner has to log in at the shop and approve
KEEP_ATTEMPTS = 30 * 86_400.0
CACHE_TTL = 3.0             # how stale another process's view of a new connection may be
PROVE_TIMEOUT = 15.0        # the shop's PHP worker waits on us meanwhile (60 s before it gives up)
WEBHOOKS_LEASE = 120.0
KEY_LABEL = b"woo-bridge/woocommerce-rest-keys/v2"   # HKDF info: this key encrypts nothing else
KEY_FILE_SUFFIX = ".shop-keys"   # beside the database: the half of the key the database never holds
RESOLVE_TIMEOUT = 15.0           # the owner waits on the shop's REST index when pressing the button
CHANNEL = "woocommerce"          # the outbox channel of the shop's write-backs (performs order_update)
ENV_FIELDS = ("woo_url", "woo_consumer_key", "woo_consumer_secret")
PENDING, OK, ERROR = "pending", "ok", "error"

reasons.register({
    "woo.connect.connected": N_("Connected: the shop sent its REST keys and they work."),
    "woo.connect.denied": N_("You refused the access on the shop's page; nothing was connected."),
    "woo.connect.permissions": N_("The shop granted %(permissions)s access; woo-bridge needs read_write."),
    "woo.connect.keys_refused": N_("The shop did not accept the keys it had just sent: %(detail)s"),
    "woo.connect.no_callback": N_("The shop approved, but its keys never reached woo-bridge: PUBLIC_URL must be an "
                                  "https address the shop's server can reach."),
    "woo.connect.other_shop": N_("Refused: %(shop)s is another shop than the one connected, whose orders or "
                                 "waiting updates are still here; confirm the switch to connect it."),
    "woo.connect.switched": N_("Cancelled: another shop (%(shop)s) was connected; this update was for the "
                               "previous shop's order."),
    "woo.webhooks.failed": N_("WooCommerce refused to create the webhooks: %(error)s"),
    "woo.webhooks.retrying": N_("The shop could not be reached to create the webhooks; trying again: %(error)s"),
})


class ShopUrlError(ValueError):
    """Why no authorization was started: an English, N_-marked message shown translated with
    `params` (language-neutral: addresses, counts)."""

    def __init__(self, message: str, **params: Any):
        super().__init__(message)
        self.params = params


class SwitchNeeded(ShopUrlError):
    """Another shop than the connected one, which still has work here: the owner must confirm."""


def normalize_shop_url(raw: str) -> str:
    """The shop's base URL as WooCommerce's own home URL reads: scheme, host, port, path, no
    trailing slash. A bare host gets https://, as WooCommerce does for a URL without `://`."""
    text = (raw or "").strip()
    if not text:
        raise ShopUrlError(N_("Enter your shop's address, for example https://shop.example.vn"))
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ShopUrlError(N_("That is not a web address: enter your shop's address, for example "
                              "https://shop.example.vn")) from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or any(ch.isspace() for ch in text) \
            or parts.username or parts.password or parts.query or parts.fragment or len(text) > 500 \
            or ("." not in host and host != "localhost" and ":" not in host):
        raise ShopUrlError(N_("That is not a web address: enter your shop's address, for example "
                              "https://shop.example.vn"))
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc += f":{port}"
    path = parts.path.rstrip("/")
    for suffix in ("/wp-admin", "/wp-login.php"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return urlunsplit((parts.scheme, netloc.lower(), path, "", ""))


def callback_url(settings: Any) -> str:
    return settings.public_url.rstrip("/") + CALLBACK_PATH


def callback_problem(settings: Any) -> str:
    """Why WooCommerce could not post the keys to us (English, N_-marked), or ""."""
    if not settings.public_url.startswith("https://"):
        return N_("PUBLIC_URL must start with https://: WooCommerce sends the keys only over https, to an address "
                  "its server can reach.")
    return ""


def callback_port(settings: Any) -> int | None:
    """PUBLIC_URL's port when WordPress would refuse to post there, else None: wp_safe_remote_post
    (the key callback) and webhook deliveries go only to ports 80, 443 and 8080, or to the shop's
    own host and port (WordPress 6.8 wp_http_validate_url, seen in the lab)."""
    parts = urlsplit(settings.public_url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return None if port in ownership.DELIVERABLE_PORTS else port


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_file(db_path: str) -> Path:
    return Path(db_path).with_name(Path(db_path).name + KEY_FILE_SUFFIX)


_memory_secrets: dict[str, bytes] = {}   # a ":memory:" database has no directory to keep the file in


def _file_secret(db_path: str, create: bool) -> bytes | None:
    """The random secret beside the database, made (0600) when `create` and absent; two
    processes making it at once agree on the first one linked into place."""
    if db_path == ":memory:":
        return _memory_secrets.setdefault(db_path, secrets.token_bytes(32)) if create else \
            _memory_secrets.get(db_path)
    path = key_file(db_path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        if not create:
            return None
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()


def _fernet(secret_key: str, file_secret: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_LABEL).derive(
        secret_key.encode() + b"\x00" + file_secret)
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(settings: Any, value: str) -> str:
    """Under SECRET_KEY and the file beside the database (made now when missing)."""
    return _fernet(settings.secret_key, _file_secret(settings.db_path, create=True)).encrypt(value.encode()).decode()


def decrypt(settings: Any, token: str | None) -> str | None:
    """None when the value was encrypted under another SECRET_KEY or key file, or is damaged."""
    file_secret = _file_secret(settings.db_path, create=False)
    if not token or not settings.secret_key or not file_secret:
        return None
    try:
        return _fernet(settings.secret_key, file_secret).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def mask(key: str | None) -> str:
    """As WooCommerce's own key list shows one: its last 7 characters."""
    return f"…{key[-7:]}" if key else ""


@dataclass(frozen=True)
class Stored:
    shop_url: str
    consumer_key: str | None       # None: not readable with this SECRET_KEY and key file
    consumer_secret: str | None
    key_id: int | None
    permissions: str
    connected_at: float
    webhooks_state: str
    webhooks_reason: str | None
    webhooks_at: float | None

    @property
    def readable(self) -> bool:
        return bool(self.consumer_key and self.consumer_secret)


_cache: dict[tuple[str, str], tuple[float, Stored | None]] = {}
_cache_lock = threading.Lock()


def stored(settings: Any, fresh: bool = False) -> Stored | None:
    """The connection kept in the database, decrypted (cached CACHE_TTL seconds per database;
    `fresh`: read now, for a caller about to act on "not connected")."""
    key = (settings.db_path, settings.secret_key)
    with _cache_lock:
        hit = _cache.get(key)
    if not fresh and hit is not None and time.monotonic() - hit[0] < CACHE_TTL:
        return hit[1]
    row = store.read_connection(settings.db_path)
    value = None if row is None else _decrypted(settings, row)
    with _cache_lock:
        _cache[key] = (time.monotonic(), value)
    return value


def _decrypted(settings: Any, row: Any) -> Stored:
    ck, cs = decrypt(settings, row["consumer_key"]), decrypt(settings, row["consumer_secret"])
    logs.add_secrets((ck, cs))
    return Stored(row["shop_url"], ck, cs, row["key_id"], row["permissions"] or "", row["connected_at"],
                  row["webhooks_state"] or PENDING, row["webhooks_reason"], row["webhooks_at"])


def _changed() -> None:
    """This process wrote the connection: no waiting for the cache to run out."""
    with _cache_lock:
        _cache.clear()


def env_set(settings: Any) -> bool:
    """WOO_URL, WOO_CONSUMER_KEY or WOO_CONSUMER_SECRET is set: the environment decides alone."""
    return any(getattr(settings, f) for f in ENV_FIELDS)


def effective(settings: Any, fresh: bool = False) -> Any:
    """The settings the shop is reached with: as configured when the environment names the shop,
    else with the stored connection's URL and keys (when readable)."""
    if env_set(settings):
        return settings
    return _with(settings, stored(settings, fresh))


def _with(settings: Any, found: Stored | None) -> Any:
    if found is None or not found.readable:
        return settings
    return replace(settings, woo_url=found.shop_url, woo_consumer_key=found.consumer_key,
                   woo_consumer_secret=found.consumer_secret)


def _same_shop(a: str, b: str) -> bool:
    """One shop whether reached over http or https."""
    return urlsplit(a)[1:3] == urlsplit(b)[1:3]


# -- the owner starts ----------------------------------------------------------------------------
def resolve_shop(typed: str, timeout: float = RESOLVE_TIMEOUT) -> str:
    """The shop's own base URL, as its WordPress names it (the REST index's "home", redirects
    followed); ShopUrlError when the address does not answer as WordPress with WooCommerce."""
    try:
        r = requests.get(typed + "/wp-json/", timeout=timeout, headers={"Accept": "application/json"})
    except requests.RequestException:
        raise ShopUrlError(N_("%(url)s cannot be reached: check the address."), url=typed) from None
    try:
        index = r.json() if r.ok else None
    except ValueError:
        index = None
    if not isinstance(index, dict) or not isinstance(index.get("namespaces"), list):
        raise ShopUrlError(N_("%(url)s does not answer as a WordPress site (no REST API at /wp-json/): check the "
                              "address of your shop."), url=typed)
    if "wc/v3" not in index["namespaces"]:
        raise ShopUrlError(N_("%(url)s is a WordPress site without WooCommerce (its REST API has no wc/v3): "
                              "activate WooCommerce, or check the address."), url=typed)
    home = index.get("home") or index.get("url")
    try:
        found = normalize_shop_url(home if isinstance(home, str) else "")
    except ShopUrlError:
        raise ShopUrlError(N_("%(url)s does not answer as a WordPress site (no REST API at /wp-json/): check the "
                              "address of your shop."), url=typed) from None
    if found.startswith("http://") and r.url.startswith("https://") and _same_shop(found, r.url):
        found = "https://" + found[len("http://"):]   # WordPress still names http while its server moved to https
    return found


def work_of_previous_shop(bridge: Any, shop_url: str) -> tuple[int, int] | None:
    """(orders, waiting write-backs) of the connected shop when `shop_url` is another one; None
    when it is the same shop or nothing is connected."""
    row = store.connection(bridge.db)
    if row is None or _same_shop(row["shop_url"], shop_url):
        return None
    return store.previous_shop_work(bridge.db.conn(), CHANNEL)


def begin(bridge: Any, typed: str, return_url: str, switch: bool = False) -> tuple[str, str]:
    """A pending authorization for the shop at `typed` (already normalized): the shop's own
    address and its authorize URL. `switch`: the owner confirmed replacing the connected shop by
    another one."""
    if env_set(bridge.settings):
        raise ShopUrlError(N_("WOO_URL, WOO_CONSUMER_KEY or WOO_CONSUMER_SECRET is set in the environment: remove "
                              "them (and restart) to connect a shop from here."))
    shop_url = resolve_shop(typed)
    work = work_of_previous_shop(bridge, shop_url)
    if work is not None and any(work) and not switch:
        raise SwitchNeeded(N_("%(shop)s is another shop than the one connected, which still has %(orders)s orders "
                              "and %(jobs)s waiting updates here. Tick the box to switch shops: the waiting updates "
                              "are then cancelled."), shop=shop_url, orders=work[0], jobs=work[1])
    token = secrets.token_urlsafe(24)
    t = bridge.clock()
    with bridge.db.tx() as c:
        store.prune_authorizations(c, t - KEEP_ATTEMPTS)
        store.add_authorization(c, _hash(token), shop_url, t, t + AUTH_TTL, switch)
    query = urlencode({"app_name": APP_NAME, "scope": "read_write", "user_id": token, "return_url": return_url,
                       "callback_url": callback_url(bridge.settings)})
    return shop_url, f"{shop_url}/wc-auth/v1/authorize?{query}"


def returned(bridge: Any, token: str, success: str) -> Any:
    """The owner's browser back from the shop: the attempt it names (None when unknown), with
    the shop's "refused" recorded. Success is read from what the callback stored, not the URL."""
    row = store.authorization(bridge.db, _hash(token or ""))
    if row is None:
        return None
    if success != "1":
        with bridge.db.tx() as c:
            store.set_outcome_if_none(c, row["token_hash"], reasons.encode("woo.connect.denied"))
    elif row["used_at"] is None:
        with bridge.db.tx() as c:
            store.set_outcome_if_none(c, row["token_hash"], reasons.encode("woo.connect.no_callback"))
    return store.authorization(bridge.db, row["token_hash"])


# -- WooCommerce posts the keys ------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    status: int
    code: str
    reason: str               # English, for the JSON answer, the log and the refusals list

    @property
    def ok(self) -> bool:
        return self.status == 200


def _fields(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    ck, cs, token = data.get("consumer_key"), data.get("consumer_secret"), data.get("user_id")
    if not (isinstance(ck, str) and ck.startswith("ck_") and 10 < len(ck) < 200
            and isinstance(cs, str) and cs.startswith("cs_") and 10 < len(cs) < 200
            and isinstance(token, (str, int)) and 0 < len(str(token)) < 200
            and isinstance(data.get("key_permissions"), str)):
        return None
    key_id = data.get("key_id")
    if isinstance(key_id, str) and key_id.isdigit():
        key_id = int(key_id)
    return {"consumer_key": ck, "consumer_secret": cs, "user_id": str(token), "permissions": data["key_permissions"],
            "key_id": key_id if isinstance(key_id, int) and 0 < key_id < 2**63 else None}


def receive_keys(bridge: Any, body: bytes) -> Answer:
    """Take the keys WooCommerce posted, or say exactly why not (then WooCommerce deletes them)."""
    data = _fields(body)
    if data is None:
        return Answer(400, "malformed", "not WooCommerce's key JSON (key_id, user_id, consumer_key, consumer_secret, "
                                        "key_permissions)")
    token_hash, t = _hash(data["user_id"]), bridge.clock()
    row = store.authorization(bridge.db, token_hash)
    refused = _not_pending(row, t)
    if refused is not None:
        return refused
    shop_url = row["shop_url"]
    if data["permissions"] != "read_write":
        return _refused(bridge, token_hash, Answer(422, "permissions", f"key_permissions is {data['permissions']!r}, "
                                                   "read_write is needed"),
                        reasons.encode("woo.connect.permissions", permissions=data["permissions"][:20]))
    s = replace(bridge.settings, woo_url=shop_url, woo_consumer_key=data["consumer_key"],
                woo_consumer_secret=data["consumer_secret"], woo_timeout=min(bridge.settings.woo_timeout, PROVE_TIMEOUT))
    proof = WooClient(s).list_webhooks()
    if not proof.ok:
        detail = logs.redact(proof.detail)
        for key in (data["consumer_key"], data["consumer_secret"]):
            detail = detail.replace(key, logs.REDACTED)
        return _refused(bridge, token_hash, Answer(502, "keys_refused", f"the keys do not work at {shop_url}: "
                                                   f"{detail}"),
                        reasons.encode("woo.connect.keys_refused", detail=detail[:300]))
    with bridge.db.tx() as c:
        result = _store_keys(c, bridge, token_hash, row["switch_confirmed"], shop_url, data, t)
    if result == "used":
        return _not_pending(store.authorization(bridge.db, token_hash), t) or \
            Answer(409, "used_user_id", "this connection request was already used")
    if result == "other_shop":
        return Answer(409, "other_shop", f"{shop_url} is another shop than the one connected, whose orders or "
                                         "waiting updates are still here; the owner did not confirm the switch")
    logs.add_secrets((data["consumer_key"], data["consumer_secret"]))
    _changed()
    log.info("WooCommerce connected: %s (REST key id %s); creating the webhooks", shop_url, data["key_id"])
    return Answer(200, "connected", "")


def _store_keys(c: Any, bridge: Any, token_hash: str, switch: Any, shop_url: str, data: dict[str, Any],
                t: float) -> str:
    """In the caller's transaction: take the token and store the proved keys ("connected"), or
    "used" (another callback took it first), or "other_shop" (a switch the owner did not confirm
    while the connected shop still has work here)."""
    if not store.use_authorization(c, token_hash, t):
        return "used"
    current = store.connection(bridge.db)
    if current is not None and not _same_shop(current["shop_url"], shop_url):
        if not switch and any(store.previous_shop_work(c, CHANNEL)):
            store.set_outcome(c, token_hash, reasons.encode("woo.connect.other_shop", shop=shop_url))
            return "other_shop"
        store.cancel_waiting_jobs(c, CHANNEL, reasons.encode("woo.connect.switched", shop=shop_url), t)
    store.save_connection(c, shop_url, data["key_id"], encrypt(bridge.settings, data["consumer_key"]),
                          encrypt(bridge.settings, data["consumer_secret"]), data["permissions"], t)
    store.set_outcome(c, token_hash, reasons.encode("woo.connect.connected"))
    return "connected"


def _not_pending(row: Any, t: float) -> Answer | None:
    """Why an authorization cannot take keys now, or None while it is pending."""
    if row is None:
        return Answer(403, "unknown_user_id", "user_id names no connection started from this woo-bridge")
    if row["used_at"] is not None:
        return Answer(409, "used_user_id", "this connection request was already used")
    if row["expires_at"] <= t:
        return Answer(403, "expired_user_id", f"this connection request expired ({AUTH_TTL / 60:g} minutes)")
    return None


def _refused(bridge: Any, token_hash: str, answer: Answer, outcome: str) -> Answer:
    with bridge.db.tx() as c:
        store.set_outcome(c, token_hash, outcome)
    return answer


# -- our webhooks with the new keys --------------------------------------------------------------
def create_webhooks(bridge: Any) -> str | None:
    """Create the webhooks of a connection still pending (the callback's follow-up and the
    periodic job): the new state, or None when there was nothing to do (or another runner has it)."""
    t = bridge.clock()
    with bridge.db.tx() as c:
        row = store.claim_webhooks(c, t, t + WEBHOOKS_LEASE)
    if row is None:
        return None
    # The claimed row's own address and keys: the cached view may be seconds old in this process
    # (still the previous shop, or none yet) when another process has just connected.
    s = _with(bridge.settings, _decrypted(bridge.settings, row))
    if env_set(bridge.settings):
        state, reason = OK, None   # the environment names the shop: `connect` there is the owner's call
    elif not s.woo_configured:
        state, reason = ERROR, reasons.encode("woo.webhooks.failed", error="the stored keys cannot be read")
    else:
        report = ownership.ensure(WooClient(s), s, bridge.db)
        state, reason = outcome_of(report)
    with bridge.db.tx() as c:
        store.finish_webhooks(c, row["connected_at"], state, reason, bridge.clock())
    _changed()
    if state != OK:
        log.warning("webhooks of the connected shop: %s", reasons.english(reason))
    return state


def outcome_of(report: ownership.WebhookReport) -> tuple[str, str | None]:
    """A pass of `ensure` as the connection's webhook state: transient failures stay pending."""
    if not report.error:
        return OK, None
    if report.transient:
        return PENDING, reasons.encode("woo.webhooks.retrying", error=report.error[:300])
    return ERROR, reasons.encode("woo.webhooks.failed", error=report.error[:300])


def record_report(bridge: Any, report: ownership.WebhookReport) -> None:
    """The admin's "create or repair" on a stored connection: its state follows."""
    row = store.connection(bridge.db)
    if row is None or env_set(bridge.settings):
        return
    state, reason = outcome_of(report)
    with bridge.db.tx() as c:
        store.finish_webhooks(c, row["connected_at"], state, reason, bridge.clock())
    _changed()


def create_webhooks_soon(bridge: Any) -> None:
    """Right after the callback's 200: in a thread, so WooCommerce gets its answer first."""
    threading.Thread(target=_create_quietly, args=(bridge,), name="woo-webhooks", daemon=True).start()


def _create_quietly(bridge: Any) -> None:
    try:
        create_webhooks(bridge)
    except Exception:   # noqa: BLE001 - the row stays pending: the periodic job tries again
        log.exception("creating the webhooks of the connected shop failed; the periodic job will retry")


def periodic(bridge: Any) -> None:
    """The job that finishes what a crash or an unreachable shop left pending."""
    create_webhooks(bridge)
