"""Where outgoing events come from, through the service's real entrances: a text received (the
shop's phone push, Messenger), a payment confirmed and one waiting for a person (bank SMS), a
COD answer (the customer's page); each reaches the owner's URL once, with its useful fields."""
from __future__ import annotations

import json

import pytest

from bridge import outgoing
from bridge.envparse import bank_accounts
from tests.admin_walk import push
from tests.conftest import wait_until
from tests.fakes.event_receiver import EventReceiver
from tests.orders import order_body
from tests.test_cod_confirm import link, make, place, post
from tests.test_messenger import graph, shop as messenger_shop  # noqa: F401 - the fixture

VCB = ("SD TK 0181003749261 +{amount:,}VND luc 23-11-2026 09:{minute:02d}:40. SD 9,{minute:02d}0,000VND. "
       "Ref MBVCB.88{minute:02d}.{memo}.CT tu 1047263815 NGUYEN HOANG PHUONG THAO toi 0181003749261 CUA H...")


@pytest.fixture
def receiver():
    r = EventReceiver().start()
    yield r
    r.stop()


def events_of(receiver: EventReceiver, kind: str) -> list[dict]:
    return [e for e in receiver.bodies.values() if e["type"] == kind]


def test_bank_texts_are_received_and_payments_confirmed_or_sent_to_review(service_factory, receiver):
    svc = service_factory(start_scheduler=True, bank_accounts=bank_accounts("Vietcombank:0181003749261"))
    outgoing.add_endpoint(svc.db, receiver.url, [outgoing.RECEIVED, outgoing.PAYMENT_CONFIRMED,
                                                 outgoing.PAYMENT_REVIEW])
    assert svc.post_json(order_body(10231, total=1_290_000, phone="0912 345 678"), topic="order.created"
                         ).status_code == 200
    push(svc, VCB.format(amount=1_290_000, minute=1, memo="DH10231 chuyen khoan"))
    push(svc, VCB.format(amount=313_000, minute=2, memo="chuyen tien mua ao"))   # names no order: a person decides
    wait_until(lambda: len(receiver.bodies) == 4, 15, what="four events")
    # two texts are two subjects: sent in parallel, each in its own order
    received = sorted(events_of(receiver, "message.received"), key=lambda e: e["data"]["inbox_id"])
    assert [e["data"]["source"] for e in received] == ["fibo", "fibo"]
    assert received[0]["data"]["sender"] == "Vietcombank" and "DH10231" in received[0]["data"]["text"]
    assert received[0]["data"]["handled_by"] == ["payments"] and received[0]["data"]["kind"] == "sms"
    (paid,) = events_of(receiver, "payment.confirmed")
    assert (paid["data"]["order_id"], paid["data"]["order_number"], paid["data"]["amount"]) == (10231, "10231",
                                                                                               1_290_000)
    (review,) = events_of(receiver, "payment.review_needed")
    assert (review["data"]["decision"], review["data"]["amount"]) == ("no_code", 313_000)
    assert review["data"]["reason"]
    # nothing left that could still send a late repeat: every delivery done, every job final
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM hook_deliveries WHERE state != 'done'") == 0 and
               svc.db.scalar("SELECT COUNT(*) FROM messages WHERE kind='event' AND status NOT IN"
                             " ('delivered', 'failed', 'cancelled')") == 0, 10, what="every delivery finished")
    assert len(receiver.acted) == 4 and len(receiver.requests) == 4   # once each
    assert "secret" not in json.dumps(list(receiver.bodies.values())).lower()


def test_a_messenger_message_is_received(service_factory, tmp_path, fake_esms, graph, receiver):  # noqa: F811
    svc = messenger_shop(service_factory, tmp_path, fake_esms, graph)
    outgoing.add_endpoint(svc.db, receiver.url, [outgoing.RECEIVED])
    assert graph.user_message("7712345678901234", "Shop ơi còn áo size M không?").status_code == 200
    wait_until(lambda: receiver.bodies, 15, what="the event")
    (event,) = receiver.bodies.values()
    assert event["type"] == "message.received"
    assert (event["data"]["source"], event["data"]["kind"], event["data"]["sender"], event["data"]["text"]) == (
        "messenger", "chat", "7712345678901234", "Shop ơi còn áo size M không?")


def test_a_cod_answer_is_sent_once(service_factory, tmp_path, woo, fake_smsgate, receiver):
    svc = make(service_factory, tmp_path, woo, fake_smsgate, start_scheduler=True)
    outgoing.add_endpoint(svc.db, receiver.url, [outgoing.COD_ANSWERED])
    place(svc, woo, 801)
    wait_until(lambda: svc.messages(order_id=801, event="order.cod_confirm"), 10, what="the question")
    url = link(svc, 801)
    assert post(url, "cancel", reason="đổi ý").status_code == 303
    assert post(url, "confirm").status_code == 303   # too late: recorded for the owner, no event
    wait_until(lambda: receiver.bodies, 15, what="the event")
    outgoing.pump(svc.db)
    svc.bridge.worker.drain()
    (event,) = receiver.bodies.values()
    assert event["type"] == "order.cod_answered"
    assert (event["data"]["order_id"], event["data"]["answer"], event["data"]["via"], event["data"]["reason"]) == (
        801, "cancelled", "page", "đổi ý")


def paid_at(svc, order_id: int):
    return svc.db.scalar("SELECT paid_at FROM orders WHERE id=?", (order_id,))


def test_a_url_deleted_and_another_added_never_stops_a_payment(service_factory, receiver):
    """The review's scenario: jobs of a deleted URL stay in the outbox (cancelled); a new URL's
    deliveries must not collide with them, and a bank text must still mark its order paid."""
    svc = service_factory(start_scheduler=True, bank_accounts=bank_accounts("Vietcombank:0181003749261"))
    first, _ = outgoing.add_endpoint(svc.db, receiver.url, [outgoing.RECEIVED, outgoing.PAYMENT_CONFIRMED])
    for number, total, phone in ((10231, 1_290_000, "0912 345 678"), (10232, 500_000, "0912 345 679")):
        assert svc.post_json(order_body(number, total=total, phone=phone), topic="order.created").status_code == 200
    push(svc, VCB.format(amount=1_290_000, minute=1, memo="DH10231 chuyen khoan"))
    wait_until(lambda: len(receiver.bodies) == 2, 15, what="the first text's two events")
    outgoing.delete_endpoint(svc.db, first)
    second, _ = outgoing.add_endpoint(svc.db, receiver.url, [outgoing.RECEIVED, outgoing.PAYMENT_CONFIRMED])
    push(svc, VCB.format(amount=500_000, minute=2, memo="DH10232 chuyen khoan"))
    wait_until(lambda: paid_at(svc, 10232), 15, what="order 10232 paid")
    assert svc.db.scalar("SELECT COUNT(*) FROM inbox WHERE state='error'") == 0
    wait_until(lambda: len(receiver.bodies) == 4, 15, what="the second text's two events")
    (paid,) = [e for e in events_of(receiver, "payment.confirmed") if e["data"]["order_id"] == 10232]
    assert paid["data"]["amount"] == 500_000


def test_an_event_that_cannot_be_written_never_undoes_the_payment(service_factory, receiver):
    """Whatever breaks inside emit (here the database refuses the delivery row) is logged and
    undone alone: the order is paid and the text handled as without any URL."""
    svc = service_factory(start_scheduler=True, bank_accounts=bank_accounts("Vietcombank:0181003749261"))
    outgoing.add_endpoint(svc.db, receiver.url, [outgoing.RECEIVED, outgoing.PAYMENT_CONFIRMED])
    with svc.db.tx() as c:
        c.execute("CREATE TRIGGER broken_delivery BEFORE INSERT ON hook_deliveries"
                  " BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    assert svc.post_json(order_body(10231, total=1_290_000, phone="0912 345 678"), topic="order.created"
                         ).status_code == 200
    push(svc, VCB.format(amount=1_290_000, minute=1, memo="DH10231 chuyen khoan"))
    wait_until(lambda: paid_at(svc, 10231), 15, what="order 10231 paid")
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM inbox WHERE state != 'received'") == 1, 10,
               what="the text decided")
    assert svc.db.scalar("SELECT COUNT(*) FROM inbox WHERE state='error'") == 0
    assert svc.db.scalar("SELECT COUNT(*) FROM hook_events") == 0 and receiver.requests == []
