"""The GHTK webhook on its own: the `hash` of the callback URL, the form and the JSON rendering
of its docs (fixtures/), and its status numbers."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers

from bridge.config import Settings
from bridge.events import ShipmentUpdate
from bridge.providers.base import Refused, Request
from bridge.providers.ghtk.statuses import MEANINGS, STATUSES
from bridge.providers.ghtk.webhook import webhook
from bridge.rules import SHIPMENT_STATUSES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HASH = "test-ghtk-webhook-hash"
SETTINGS = Settings(ghtk_webhook_hash=HASH)
FORM = "application/x-www-form-urlencoded"


def request(body: bytes, hash_: str | None = HASH, ctype: str = FORM) -> Request:
    return Request("POST", "/inbound/ghtk", {} if hash_ is None else {"hash": hash_}, Headers({"Content-Type": ctype}),
                   body)


def parse(body: bytes, ctype: str = FORM) -> ShipmentUpdate:
    req = request(body, ctype=ctype)
    webhook.validate(req, SETTINGS)
    [event] = webhook.parse(req, SETTINGS)
    return event


def test_the_docs_form_example_is_a_delivered_parcel_at_its_time():
    ev = parse((FIXTURES / "webhook_docs.form").read_bytes())
    assert (ev.carrier, ev.tracking, ev.order_ref, ev.status, ev.carrier_status) == \
        ("ghtk", "S1.A1.17373471", "1234567", "delivered", "5")
    # "+07:00" unencoded in the docs' form reads as a space: still Vietnam's time
    assert ev.event_at == 1478063919 and ev.cod_amount is None


def test_the_docs_json_rendering_is_read_too_with_its_cod():
    body = (FIXTURES / "webhook_docs.json").read_bytes()
    for ctype in ("application/json", FORM):
        ev = parse(body, ctype)
        assert (ev.tracking, ev.status, ev.cod_amount, ev.event_at) == ("S1.A1.17373471", "delivered", 100_000,
                                                                        1478063919)


def test_a_failed_delivery_carries_its_reason():
    ev = parse((FIXTURES / "webhook_delivery_failed.form").read_bytes())
    assert (ev.status, ev.reason, ev.cod_amount) == ("delivery_failed", "130 Khách hẹn giao lại", 100_000)


def test_a_number_without_a_status_of_ours_keeps_ghtks_meaning_for_the_owner():
    assert set(STATUSES.values()) <= set(SHIPMENT_STATUSES) and set(STATUSES) <= set(MEANINGS)
    ev = parse(b"label_id=S1.A1.1&status_id=10&action_time=2026-11-24T10:00:00+07:00")
    assert (ev.status, ev.carrier_status, ev.reason) == ("", "10", "Delay giao hàng")
    ev = parse(b"label_id=S1.A1.1&status_id=777")
    assert (ev.status, ev.carrier_status, ev.reason, ev.event_at) == ("", "777", "", None)


def test_a_retry_is_the_same_call():
    body = (FIXTURES / "webhook_docs.form").read_bytes()
    assert parse(body).dedupe_key == parse(body).dedupe_key != parse(body.replace(b"status_id=5", b"status_id=6")).dedupe_key


@pytest.mark.parametrize("req, status, reason", [
    (request(b"", None), 401, "missing ?hash=<GHTK_WEBHOOK_HASH>"),
    (request(b"", "guess"), 403, "hash does not match GHTK_WEBHOOK_HASH"),
    (request(b"label_id=S1&status_id=five"), 400, "status_id 'five' is not a number"),
    (request(b"status_id=5"), 400, "label_id (GHTK's tracking code) is missing"),
    (request(b"\xff\xfe"), 400, "body is not UTF-8"),
    (request(b"{not json", ctype="application/json"), 400, "body is not valid JSON"),
    (request(json.dumps({"label_id": "S1", "status_id": None}).encode(), ctype="application/json"), 400,
     "is not a number"),
])
def test_a_wrong_hash_or_an_unreadable_call_is_refused(req, status, reason):
    with pytest.raises(Refused) as caught:
        webhook.validate(req, SETTINGS)
        webhook.parse(req, SETTINGS)
    assert caught.value.status == status and reason in caught.value.reason
