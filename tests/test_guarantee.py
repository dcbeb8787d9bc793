"""The guarantee of every channel, proven the same way: the provider accepted, its answer was lost,
the worker was killed (-9) while waiting for it and restarted. The customer got the notice at
most once (counted where the fake provider acted on it), and the message is not lost: accepted,
or visibly in doubt where the provider cannot deduplicate (Messenger)."""
from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

from bridge import reasons
from tests.conftest import SECRET, ServiceProcess, signed_headers, wait_until, write_mappings
from tests.fakes.graph import FakeGraph
from tests.fakes.receiver import FakeReceiver
from tests.orders import order_body
from tests.test_reliability_deployed import ACCOUNT, bank_sms, push_sms
from tests.test_smsgate_send import TWO_PHONES
from tests.test_zalo import RULES as ZALO_RULES

ORDER = 8100
PSID = "7712345678901234"
CUSTOMER = "+84912345678"      # the phone of tests.orders.order_body
LATE = 5.0                     # the fakes answer this late: far past our 1 s client timeouts


@dataclass
class Fakes:
    esms: Any
    woo: Any
    smsgate: Any
    graph: FakeGraph
    receiver: FakeReceiver


@dataclass(frozen=True)
class Case:
    """One channel: its settings, the call whose answer is lost, what makes the service send,
    how many times the customer got it, and where the message must end."""
    env: Callable[[Path, Fakes], dict[str, str]]
    lose: Callable[[Fakes], None]
    trigger: Callable[[str, Path, Fakes], None]
    received: Callable[[Fakes], int]
    channel: str
    ends: str


def order_created(url: str, db: Path, f: Fakes) -> None:
    body = order_body(ORDER, total=300_000)
    assert requests.post(url + "/webhooks/woocommerce", data=body, headers=signed_headers(body, "order.created"),
                         timeout=5).status_code == 200


def rules(tmp_path: Path, channel: str) -> dict[str, str]:
    return {"MAPPINGS_DIR": str(write_mappings(tmp_path, channel=channel))}


def zalo_rules(tmp_path: Path, channel: str) -> dict[str, str]:
    d = tmp_path / "mappings"
    d.mkdir(exist_ok=True)
    (d / "rules.yaml").write_text(ZALO_RULES.format(channel=channel, template="2056446", extra=""), encoding="utf-8")
    return {"MAPPINGS_DIR": str(d)}


def esms_lose(f: Fakes) -> None:
    f.esms.timeout_delay = LATE
    f.esms.fail_next(1, "timeout")     # eSMS takes it, answers after we gave up


def smsgate_env(f: Fakes) -> dict[str, str]:
    g = f.smsgate
    return {"SMSGATE_URL": g.url, "SMSGATE_USER": g.user, "SMSGATE_PASSWORD": g.password,
            "SMSGATE_SIGNING_KEY": g.signing_key, "SMSGATE_GAP_MIN": "0", "SMSGATE_GAP_MAX": "0",
            "SMSGATE_PER_MINUTE": "1000", "SMSGATE_PER_HOUR": "10000", "SMSGATE_TIMEOUT": "1"}


def smsgate_lose(f: Fakes) -> None:
    f.smsgate.timeout_delay = LATE
    f.smsgate.fail_next(1, "timeout")


def messenger_env(tmp_path: Path, f: Fakes) -> dict[str, str]:
    return {**rules(tmp_path, "messenger"), "MESSENGER_PAGE": "shopdemo", "MESSENGER_PAGE_TOKEN": f.graph.page_token,
            "MESSENGER_APP_SECRET": f.graph.app_secret, "GRAPH_BASE_URL": f.graph.base_url, "MESSENGER_TIMEOUT": "1"}


def messenger_trigger(url: str, db: Path, f: Fakes) -> None:
    """The customer has linked Messenger (binding is proven in test_messenger), then orders."""
    f.graph.add_user(PSID)
    t = time.time()
    with sqlite3.connect(db) as c:
        c.execute("INSERT INTO messenger_contacts(psid, phone_e164, bound_at, last_inbound_at, updated_at)"
                  " VALUES (?,?,?,?,?)", (PSID, CUSTOMER, t, t, t))
    order_created(url, db, f)


def messenger_lose(f: Fakes) -> None:
    f.graph.answer_delay = LATE        # Graph stores and sends it, answers after we gave up


def http_env(tmp_path: Path, f: Fakes) -> dict[str, str]:
    forwards = f"forwards:\n  - name: chatbot\n    keywords: [\"DH\"]\n    forward_to: {f.receiver.url}\n"
    return {"MAPPINGS_DIR": str(write_mappings(tmp_path, channel="esms", forwards=forwards)), **smsgate_env(f)}


def http_trigger(url: str, db: Path, f: Fakes) -> None:
    f.smsgate.webhook_url = url + "/inbound/smsgate"
    assert f.smsgate.receive(CUSTOMER, f"DH {ORDER} da chuyen khoan").status_code == 200


def woo_env(tmp_path: Path, f: Fakes) -> dict[str, str]:
    return {**rules(tmp_path, "esms"), "WOO_URL": f.woo.url, "WOO_CONSUMER_KEY": "ck_test",
            "WOO_CONSUMER_SECRET": "cs_test", "WOO_TIMEOUT": "1", "BANK_ACCOUNTS": f"Vietcombank:{ACCOUNT}",
            "FIBO_TOKEN": "tok", "FIBO_PAYMENTS": "confirm"}


def woo_trigger(url: str, db: Path, f: Fakes) -> None:
    f.woo.add_order(ORDER, 300_000)
    order_created(url, db, f)
    assert push_sms(url, bank_sms(ORDER, 300_000, 1), uuid.uuid4().hex)


def woo_lose(f: Fakes) -> None:
    f.woo.timeout_delay = LATE
    f.woo.lose_answer_to("POST", f"/orders/{ORDER}/notes")    # the note is stored, the answer comes late


def woo_received(f: Fakes) -> int:
    paid = sum(1 for o, _, to in f.woo.status_changes if o == ORDER and to == "processing")
    assert paid <= 1, f.woo.status_changes
    return len(f.woo.notes.get(ORDER, []))


CASES = {
    "esms": Case(lambda p, f: rules(p, "esms"), esms_lose, order_created, lambda f: len(f.esms.accepted),
                 "esms", "queued"),
    "zalo": Case(lambda p, f: {**zalo_rules(p, "zalo"), "ZALO_OAID": f.esms.oaid}, esms_lose, order_created,
                 lambda f: len(f.esms.accepted), "zalo", "queued"),
    "zalo-sms": Case(lambda p, f: {**zalo_rules(p, "zalo-sms"), "ZALO_OAID": f.esms.oaid}, esms_lose, order_created,
                     lambda f: len(f.esms.accepted), "zalo-sms", "queued"),
    "smsgate": Case(lambda p, f: {**rules(p, "smsgate"), **smsgate_env(f)}, smsgate_lose, order_created,
                    lambda f: len(f.smsgate.accepted), "smsgate", "queued"),
    "messenger": Case(messenger_env, messenger_lose, messenger_trigger, lambda f: len(f.graph.sent),
                      "messenger", "in-doubt"),
    "http": Case(http_env, lambda f: f.receiver.lose_next(1, hold=LATE), http_trigger,
                 lambda f: len(f.receiver.acted), "http", "delivered"),
    "woocommerce": Case(woo_env, woo_lose, woo_trigger, woo_received, "woocommerce", "delivered"),
}


@pytest.fixture
def fakes(fake_esms, woo, fake_smsgate):
    with FakeGraph() as graph, FakeReceiver() as receiver:
        yield Fakes(fake_esms, woo, fake_smsgate, graph, receiver)


@pytest.mark.parametrize("name", list(CASES))
def test_accepted_answer_lost_worker_killed_and_restarted_reaches_the_customer_at_most_once(tmp_path, fakes, name):
    case = CASES[name]
    db = tmp_path / "bridge.db"
    env = {"BRIDGE_DB": str(db), "WOO_WEBHOOK_SECRET": SECRET, "OWNER_PHONES": "", "SHOP_NAME": "Shop Demo",
           "QUIET_HOURS": "off", "WORKER_INTERVAL": "0.1", "SEND_LEASE": "1", "SEND_BACKOFF_BASE": "0.1",
           "SEND_BACKOFF_MAX": "0.5", "ESMS_API_KEY": fakes.esms.api_key, "ESMS_SECRET_KEY": fakes.esms.secret_key,
           "ESMS_BRANDNAME": "SHOPDEMO", "ESMS_BASE_URL": fakes.esms.base_url, "ESMS_TIMEOUT": "1",
           "ESMS_CALLBACK_TOKEN": "tok", **case.env(tmp_path, fakes)}

    def status() -> str | None:
        with sqlite3.connect(db) as c:
            row = c.execute("SELECT status FROM messages WHERE channel=? ORDER BY created_at DESC",
                            (case.channel,)).fetchone()
        return row[0] if row else None

    svc = ServiceProcess(env).start()
    try:
        case.lose(fakes)
        case.trigger(svc.url, db, fakes)
        wait_until(lambda: case.received(fakes) >= 1, timeout=20, what=f"{name}: the provider takes it")
        svc.kill9()                    # the worker dies waiting for the answer the provider holds back
    finally:
        svc.stop()
    again = ServiceProcess(env, port=svc.port).start()
    try:
        wait_until(lambda: status() == case.ends, timeout=30, what=f"{name}: the message {case.ends} after restart")
    finally:
        again.stop()
    assert case.received(fakes) == 1, f"{name}: the customer got the notice {case.received(fakes)} times"
    with sqlite3.connect(db) as c:
        reason = c.execute("SELECT reason FROM messages WHERE channel=?", (case.channel,)).fetchone()[0]
    if case.ends == "in-doubt":
        assert reasons.code_of(reason) == "outbox.in_doubt_person"
        assert "may have taken it (the worker stopped during the call)" in reasons.english(reason)



def test_two_phones_a_worker_killed_during_the_send_retries_only_on_the_phone_it_asked(tmp_path, fake_smsgate):
    """The phone is recorded before it is asked: a worker killed while the phone holds its answer
    leaves a message pinned to that phone, never handed round-robin to one that has not seen it."""
    from tests.fakes.smsgate import FakeSmsGate
    with FakeSmsGate() as phone_b:
        phones = (fake_smsgate, phone_b)
        for phone in phones:          # whichever is asked first takes the SMS and holds its answer
            phone.timeout_delay = LATE
            phone.fail_next(1, "timeout")
        db = tmp_path / "bridge.db"
        mappings = write_mappings(tmp_path, channel="smsgate",
                                  devices=TWO_PHONES.format(a=fake_smsgate.url, b=phone_b.url))
        env = {"BRIDGE_DB": str(db), "WOO_WEBHOOK_SECRET": SECRET, "OWNER_PHONES": "", "QUIET_HOURS": "off",
               "WORKER_INTERVAL": "0.1", "SEND_LEASE": "1", "SEND_BACKOFF_BASE": "0.1", "SEND_BACKOFF_MAX": "0.5",
               "MAPPINGS_DIR": str(mappings), **smsgate_env(Fakes(None, None, fake_smsgate, None, None))}
        svc = ServiceProcess(env).start()
        try:
            order_created(svc.url, db, None)
            wait_until(lambda: sum(len(p.accepted) for p in phones) >= 1, timeout=20, what="a phone takes it")
            svc.kill9()
        finally:
            svc.stop()
        asked = next(p for p in phones if p.accepted)
        again = ServiceProcess(env, port=svc.port).start()
        try:
            def status() -> str | None:
                with sqlite3.connect(db) as c:
                    row = c.execute("SELECT status FROM messages WHERE channel='smsgate'").fetchone()
                return row[0] if row else None
            wait_until(lambda: status() == "queued", timeout=30, what="the retry answered by the phone asked first")
        finally:
            again.stop()
        assert [len(p.accepted) for p in phones].count(1) == 1 and sum(len(p.accepted) for p in phones) == 1, \
            "the SMS went out from both phones"
        assert len(asked.accepted) == 1
