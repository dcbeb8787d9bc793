"""What the whole-interface tests share: a shop with realistic data, the admin pages found the way
a person finds them, and the check that a Vietnamese page holds no English sentence.

The data is what a busy shop has after a day (Vietnamese names longer than a phone is wide, many
orders and messages, payments of every kind of decision, a transfer waiting for a person, requests
that were refused), written through the service's real entrances (signed WooCommerce webhooks,
the bank-SMS push, the admin's own forms), never into its tables. The pages are found from the
header's links, then the first detail link on each list page, then the page of an address that
does not exist: a page added to the header is walked without anyone listing it here.
"""
from __future__ import annotations

import json
import re
import uuid
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlsplit

import requests
from babel.messages.pofile import read_po

from bridge.store.db import now
from tests.orders import order_body

PO = Path(__file__).resolve().parents[1] / "bridge" / "translations" / "vi" / "LC_MESSAGES" / "messages.po"
ACCOUNT = "0181003749261"
PREFIX = "DH"
LONG_NAMES = ("Nguyễn Thị Bích Ngọc Phương Thảo", "Trần Hoàng Khánh Linh Như Quỳnh", "Lê Võ Minh Khang Đức Trí",
              "Phạm Huỳnh Thanh Tâm Ngọc Diệp", "Đặng Nguyễn Bảo Châu Thiên Kim")
# A URL as long as a real shop's, with nothing to break it at (a phone must wrap it, not scroll)
LONG_URL = "http://cua-hang-thoi-trang-va-my-pham-chinh-hang-nguyen-thi-bich-ngoc-chi-nhanh-binh-thanh.example.vn"


# -- the shop's day ----------------------------------------------------------------------------
def vcb(amount: int, memo: str, minute: int, account: str = ACCOUNT, sign: str = "+", tail: str = "CUA H...") -> str:
    """A Vietcombank balance-change SMS as the shop's phone receives it (`tail`: where the bank
    cut it, which differs between two deliveries of one transfer)."""
    return (f"SD TK {account} {sign}{amount:,}VND luc 23-11-2026 09:{minute:02d}:40. SD {20_000_000 + minute * 7_919:,}"
            f"VND. Ref MBVCB.77{minute:02d}.{memo}.CT tu 1047263815 NGUYEN THI BICH NGOC toi {account} {tail}")


def push(svc, text: str, sender: str = "Vietcombank") -> None:
    """The bank SMS through the FiboSMS push, as the shop's phone forwards it."""
    r = requests.get(svc.url + "/inbound/fibo", params={"token": svc.settings.fibo_token, "phone": sender,
                                                        "message": text, "guid": uuid.uuid4().hex}, timeout=5)
    assert r.status_code == 200, r.text


def order(svc, woo, number: int, total: int, name: str, phone: str, status: str = "on-hold") -> None:
    woo.add_order(number, total, status=status, phone=phone)
    body = json.loads(order_body(number, total=total, status=status, phone=phone))
    body["billing"]["first_name"], body["billing"]["last_name"] = name.split(" ", 1)[1], name.split(" ", 1)[0]
    r = svc.post_json(json.dumps(body).encode(), topic="order.created")
    assert r.status_code == 200, r.text


def seed(svc, woo, orders: int = 30) -> dict[str, int]:
    """A day of a shop: `orders` orders (their messages sent through the fake eSMS), payments of
    every decision the owner sees, one transfer confirmed and one rejected by a person, a review
    item left open, and refused requests. Returns the ids a test needs."""
    from tests.conftest import wait_until
    for i in range(orders):
        order(svc, woo, 4001 + i, 250_000 + 1_000 * i, LONG_NAMES[i % len(LONG_NAMES)], f"0912 345 {i:03d}")
    total = lambda n: 250_000 + 1_000 * (n - 4001)   # noqa: E731 - the order's total, as made above
    texts = [
        vcb(total(4001), f"{PREFIX}4001 thanh toan don hang", 1),                       # confirm
        vcb(total(4001), f"{PREFIX}4001 thanh toan don hang", 1, tail="CUA HANG"),      # the same transfer again
        vcb(100_000, f"{PREFIX}4002 tra truoc mot phan", 2),                            # underpaid
        vcb(total(4003) + 87_000, f"{PREFIX}4003 gui them tien ship", 3),               # overpaid, held
        vcb(313_000, "chuyen tien mua ao thun cotton Sai Gon cho chi Ngoc", 4),         # no code: waits
        vcb(total(4004), f"{PREFIX}4004 {PREFIX}4005 hai don", 5),                     # ambiguous
        vcb(1_250_000, "thanh toan tien nha cung cap thang 11", 6, sign="-"),           # money out
        vcb(total(4006), f"{PREFIX}4006", 7, account="0071000999999"),                  # another account
        vcb(total(4007), f"{PREFIX}9999 ma sai", 8),                                    # code of no order
    ]
    for text in texts:
        push(svc, text)
    push(svc, "Vietcombank: Ma OTP cua Quy khach la 482913. Khong chia se ma nay cho bat ky ai.", "Vietcombank")
    push(svc, "TK 0181003749261 +5,000,000VND. Nhan tien tu khach hang, xem chi tiet tai http://vcb-nhan-tien.top",
         "+84912000111")                                                                  # spoof
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM transactions") >= len(texts) + 2, timeout=20,
               what="every bank SMS decided")
    # refused requests: a webhook that is not signed by the shop, a push without its token
    requests.post(svc.url + "/webhooks/woocommerce", data=b'{"id": 1}', headers={
        "X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Signature": "c2FpLWNodS1reQ==",
        "Content-Type": "application/json"}, timeout=5)
    requests.get(svc.url + "/inbound/fibo", params={"token": "sai-ma", "phone": "Vietcombank", "message": "x",
                                                    "guid": "1"}, timeout=5)
    wait_until(lambda: svc.bridge.worker.drain() == 0, timeout=20, what="the messages sent")
    ids = {d: svc.db.scalar("SELECT MIN(id) FROM transactions WHERE decision=?", (d,))
           for d in ("confirm", "no_code", "ambiguous", "underpaid", "overpaid", "wrong_account")}
    return ids


def pause_a_phone(svc) -> str:
    """One of the shop's phones paused after failures, as the sender leaves it."""
    name = svc.bridge.channels["smsgate"].budget.status()[0]["name"]
    with svc.db.tx() as c:
        c.execute("INSERT OR REPLACE INTO devices(name, next_at, consecutive_failures, paused_until, pause_reason)"
                  " VALUES (?, 0, 0, ?, '3 failures in a row, last: HTTP 500')", (name, now() + 900))
    return name


def cod_day(svc) -> int:
    """The COD confirmations and parcels of the day on the newest orders (tests/cod_rows.py: rows
    as the confirmation and the carriers leave them): the dashboard's COD block, the /admin/cod
    lists and the first order of the orders list (the walk's order page) with its answers and
    its parcel. Returns that order's id."""
    from tests.cod_rows import busy_shop
    newest = [r[0] for r in svc.db.query("SELECT id FROM orders ORDER BY updated_at DESC, id DESC LIMIT 7")]
    return busy_shop(svc, newest, now())["first"]


# -- the pages -----------------------------------------------------------------------------------
class _Links(HTMLParser):
    """The links of the header's menu and of the page's main part, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.where: list[str] = []
        self.header: list[str] = []
        self.main: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("header", "main"):
            self.where.append(tag)
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            if self.where and href.startswith("/admin"):
                (self.header if self.where[-1] == "header" else self.main).append(urlsplit(href).path)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("header", "main") and self.where:
            self.where.pop()


def links(html: str) -> _Links:
    p = _Links()
    p.feed(html)
    return p


MISSING = "/admin/khong-co-trang-nay"


def discover(get: Callable[[str], str]) -> list[tuple[str, str]]:
    """(name, path) of every admin page a person reaches: the header's links from the dashboard,
    the first link on each of those pages to a page below it (a message, an order, a transaction),
    and the page of an address that does not exist. `get` returns a page's HTML."""
    pages = list(dict.fromkeys(links(get("/admin/")).header))
    assert len(pages) >= 6, f"the header has too few links: {pages}"
    found = [(_name(p), p) for p in pages]
    for path in pages:
        below = [p for p in links(get(path)).main if p.startswith(path.rstrip("/") + "/") and p != path
                 and re.search(r"/\d+$|/[a-z0-9-]+$", p)]
        if below and path != "/admin/":
            found.append((_name(below[0]), below[0]))
    found.append(("404", MISSING))
    return list(dict.fromkeys(found))


def _name(path: str) -> str:
    parts = [p for p in path.split("/")[2:] if p]
    if not parts:
        return "dashboard"
    return parts[0] + ("-detail" if len(parts) > 1 else "")


# -- the check -----------------------------------------------------------------------------------
# Common English words (never Vietnamese written without its marks); a word of these in the
# visible text of a Vietnamese page is a sentence nobody translated.
ENGLISH = frozenset("""
the and of for with from this that these those is are was were be been has have had will would
not no yes none all any every order orders payment payments message messages waiting pending sent
received delivered failed cancelled unknown review reviewed reason why which what when where here
there click save delete resend search filter status amount customer phone total settings dashboard
next previous page error found nothing already paid confirm confirmed reject rejected transfer
account sign password language template templates inbound refused request requests times
channel channels mode health value variable endpoint mark marked note new back your you it its
only must should more less about other another same again by configured show hide
delivery secret
""".split())
# Proper names and terms the Vietnamese interface keeps as they are (checked as whole words)
ALLOWED = frozenset("""
woocommerce woo esms smsgate zalo zns messenger sepay casso payos vietqr fibosms momo sms otp
http https url api json csv id admin woo-bridge
""".split())
SKIPPED = ("script", "style", "code", "pre", "kbd", "samp", "textarea")   # textarea: a value the owner edits
UNRENDERED = re.compile(r'\{"code":"[^"]*"[^}]*\}?')
VERBATIM = "text"   # the class of text shown as it was sent or received (an SMS, a transfer's memo)
# Not prose, whatever words they hold: environment variable names (PUBLIC_URL), addresses,
# e-mail addresses, dotted event names (payment.confirmed), generated keys and tokens (20 or more
# letters and digits in one run: a random key once held "...7IS91Hy..." and read as the word "is")
NOT_PROSE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|https?://\S+|\S+@\S+|\b[a-z]+(?:\.[a-z_]+)+\b"
                       r"|\b[A-Za-z0-9_-]{20,}\b")
SHOWN_ATTRS = ("placeholder", "title", "aria-label", "data-label", "data-done", "alt")


class _Visible(HTMLParser):
    """The text a person reads on the page: text nodes and the attributes a browser shows
    (placeholders, titles, the card labels of table rows), without what is code or quoted data
    (<code>, <pre>, class="text": an SMS as received, an address, an env variable) and without
    whatever is marked as another language (lang="en": the "English" switch itself)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []
        self.texts: list[str] = []

    def _hidden(self) -> bool:
        return any(h for _, h in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        other_language = tag != "html" and a.get("lang") not in (None, "vi")   # the page's own is the one checked
        hide = tag in SKIPPED or other_language or VERBATIM in (a.get("class") or "").split()
        if tag not in ("br", "img", "input", "meta", "link", "hr", "wbr", "source"):
            self.stack.append((tag, hide))
        if not (hide or self._hidden()):
            self.texts.extend(v for k, v in attrs if k in SHOWN_ATTRS and v)
            if tag == "input" and a.get("type") in ("submit", "button") and a.get("value"):
                self.texts.append(a["value"])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "img", "input", "meta", "link", "hr", "wbr", "source"):
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if not self._hidden() and data.strip():
            self.texts.append(" ".join(data.split()))


def visible_texts(html: str) -> list[str]:
    p = _Visible()
    p.feed(html)
    return p.texts


class Catalogue:
    """The English sentences that have a Vietnamese translation: shown as they are, they are
    untranslated. A sentence with placeholders matches whatever fills them."""

    def __init__(self, po: Path = PO) -> None:
        with open(po, "rb") as f:
            cat = read_po(f)
        self.exact: set[str] = set()
        patterns: list[str] = []
        for m in cat:
            if not m.id or not m.string or isinstance(m.id, tuple) or m.string == m.id:
                continue
            if "%(" in m.id:
                parts = re.split(r"%\(\w+\)[sd]", m.id)
                if sum(len(re.findall(r"[A-Za-z]{2,}", x)) for x in parts) >= 2:   # enough words of its own
                    patterns.append(".+?".join(re.escape(x) for x in parts))
            elif re.search(r"[A-Za-z]{2,}", m.id):
                self.exact.add(m.id)
        self.pattern = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

    def untranslated(self, text: str) -> bool:
        return text in self.exact or bool(self.pattern and self.pattern.fullmatch(text))


def english_in(html: str, catalogue: Catalogue) -> list[str]:
    """The visible texts of a Vietnamese page that are English: a catalogue sentence shown
    untranslated, or text holding a common English word; and a stored reason shown as its code
    instead of rendered (bridge/reasons.py), wherever it is on the page."""
    found = [m.group(0) for m in UNRENDERED.finditer(unescape(html))]
    for text in visible_texts(html):
        if catalogue.untranslated(text):
            found.append(text)
            continue
        prose = NOT_PROSE.sub(" ", text)
        words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]*", prose)}
        if (words - ALLOWED) & ENGLISH:
            found.append(text)
    return found


def english_on(pages: Iterable[tuple[str, str]], get: Callable[[str], str], catalogue: Catalogue) -> dict[str, list[str]]:
    """{path: [English texts]} of the pages that have any."""
    out = {}
    for _name_, path in pages:
        bad = english_in(get(path), catalogue)
        if bad:
            out[path] = sorted(set(bad))
    return out
