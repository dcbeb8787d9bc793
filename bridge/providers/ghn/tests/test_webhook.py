"""The GHN webhook on its own: who may call it (the token in the callback URL), what its calls
become (fixtures/ hold the docs' sample and later moments of a parcel), and how GHN's order
detail confirms or contradicts a call."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers

from bridge.config import Settings
from bridge.events import ShipmentUpdate
from bridge.providers.base import Refused, Request
from bridge.providers.ghn.check import check
from bridge.providers.ghn.statuses import STATUSES
from bridge.providers.ghn.webhook import webhook
from bridge.rules import SHIPMENT_STATUSES
from tests.fakes.ghn import FakeGhn

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOKEN = "test-ghn-webhook-token"
SETTINGS = Settings(ghn_webhook_token=TOKEN)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def request(body: bytes, token: str | None = TOKEN) -> Request:
    return Request("POST", "/inbound/ghn", {} if token is None else {"token": token},
                   Headers({"Content-Type": "application/json"}), body)


def parse(body: bytes) -> ShipmentUpdate:
    req = request(body)
    webhook.validate(req, SETTINGS)
    [event] = webhook.parse(req, SETTINGS)
    return event


def refused(req: Request) -> Refused:
    with pytest.raises(Refused) as caught:
        webhook.validate(req, SETTINGS)
        webhook.parse(req, SETTINGS)
    return caught.value


def test_the_docs_sample_is_a_new_parcel_with_its_cod():
    ev = parse(fixture("webhook_create.json"))
    assert (ev.carrier, ev.tracking, ev.order_ref, ev.status, ev.carrier_status, ev.kind) == \
        ("ghn", "Z82BS", "", "created", "ready_to_pick", "create")
    assert ev.cod_amount == 3_000_000 and ev.event_at == pytest.approx(1636602770.158)
    assert json.loads(ev.raw)["Warehouse"].startswith("Bưu Cục")


def test_a_capitalized_type_and_the_reason_are_read():
    ev = parse(fixture("webhook_delivery_fail.json"))
    assert (ev.status, ev.kind, ev.order_ref) == ("delivery_failed", "switch_status", "DH10231")
    assert ev.reason == "GHN-DFC1A0 Khách hàng không nghe máy"


def test_an_update_that_changes_no_status_carries_only_its_cod():
    ev = parse(fixture("webhook_update_cod.json"))
    assert (ev.status, ev.carrier_status, ev.kind, ev.cod_amount) == ("", "storing", "update_cod", 450_000)


def test_a_retry_is_the_same_call_and_a_later_call_is_not():
    body = fixture("webhook_delivered.json")
    assert parse(body).dedupe_key == parse(body).dedupe_key
    later = json.loads(body)
    later["Time"] = "2026-11-25T09:20:00.000Z"
    assert parse(json.dumps(later).encode()).dedupe_key != parse(body).dedupe_key


def test_every_ghn_word_maps_to_one_of_ours_and_an_unknown_one_to_none():
    assert set(STATUSES.values()) <= set(SHIPMENT_STATUSES)
    body = json.loads(fixture("webhook_delivered.json"))
    for word, status in (("exception", ""), ("DELIVERED", "delivered"), ("something_new", "")):
        ev = parse(json.dumps({**body, "Status": word}).encode())
        assert (ev.status, ev.carrier_status) == (status, word)


@pytest.mark.parametrize("req, status, reason", [
    (request(b"{}", None), 401, "missing ?token=<GHN_WEBHOOK_TOKEN>"),
    (request(b"{}", "guess"), 403, "token does not match GHN_WEBHOOK_TOKEN"),
    (request(b"{}", ""), 401, "missing"),
])
def test_a_missing_or_wrong_token_is_refused(req, status, reason):
    r = refused(req)
    assert r.status == status and reason in r.reason


def test_an_unset_token_opens_nothing():
    with pytest.raises(Refused):
        webhook.validate(request(b"{}", ""), Settings(ghn_webhook_token=""))


@pytest.mark.parametrize("body, reason", [
    (b"not json", "body is not valid JSON"),
    (b"[]", "body must be a JSON object"),
    (b'{"Status": "delivered"}', "OrderCode (GHN's tracking code) is missing"),
    (json.dumps({"OrderCode": "X" * 65}).encode(), "longer than 64"),
])
def test_an_unreadable_call_is_refused_with_the_reason(body, reason):
    r = refused(request(body))
    assert r.status == 400 and reason in r.reason


# -- GHN's order detail ---------------------------------------------------------------------------
@pytest.fixture
def ghn():
    with FakeGhn() as fake:
        yield fake


def api(fake: FakeGhn) -> Settings:
    return replace(SETTINGS, ghn_token=fake.token, ghn_shop_id=fake.shop_id, ghn_api_url=fake.url, ghn_timeout=2.0)


def test_without_an_api_token_nothing_is_asked():
    assert check(SETTINGS, parse(fixture("webhook_delivered.json"))) is None


def test_a_call_ghn_confirms_applies_ghns_current_status_at_its_time(ghn):
    ghn.event("GAHBX7KQ", "delivering", at=1_764_000_000)
    ghn.event("GAHBX7KQ", "delivered", at=1_764_000_600, cod=513000)
    stale = parse(json.dumps(ghn.event("GAHBX7KQ", "delivering", at=1_764_000_000)).encode())
    ghn.orders["GAHBX7KQ"]["status"] = "delivered"
    checked = check(api(ghn), stale)
    assert checked.verdict == "verified"
    assert (checked.event.status, checked.event.carrier_status) == ("delivered", "delivered")
    assert checked.event.event_at == pytest.approx(1_764_000_600)
    call = ghn.detail_calls[-1]
    assert call["body"] == {"order_code": "GAHBX7KQ"} and call["headers"]["Token"] == ghn.token
    assert call["headers"]["Shopid"] == ghn.shop_id


def test_a_status_ghn_never_had_or_a_parcel_it_does_not_know_contradicts_the_call(ghn):
    ghn.event("GAHBX7KQ", "delivering")
    forged = parse(fixture("webhook_delivered.json"))
    ghn.orders["GAHBX7KQ"]["log"] = [{"status": "delivering", "updated_date": "2026-11-25T07:20:15.000Z"}]
    assert check(api(ghn), forged).verdict == "contradicted"
    assert check(api(ghn), replace(forged, tracking="NOSUCH")).verdict == "contradicted"


def test_ghn_down_or_refusing_our_token_leaves_the_call_for_later(ghn):
    ev = parse(fixture("webhook_delivered.json"))
    ghn.down = True
    assert check(api(ghn), ev).verdict == "unreachable"
    ghn.down = False
    checked = check(replace(api(ghn), ghn_token="wrong"), ev)
    assert checked.verdict == "unreachable" and "GHN refused GHN_TOKEN" in checked.detail
    ghn.stop()
    assert check(api(ghn), ev).verdict == "unreachable"
