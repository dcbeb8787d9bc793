"""VietQR payloads and the pay page a customer opens from the transfer SMS."""
from __future__ import annotations

import re

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.payments.vietqr import crc16_ccitt_false, payload


def test_payload_matches_the_napas_example():
    assert payload("970436", "0071001234567", 350000, "DH10231") == (
        "00020101021238570010A00000072701270006970436011300710012345670208QRIBFTTA530370454063500005802VN"
        "62110807DH102316304D578")


def test_crc_reference_value():
    assert crc16_ccitt_false(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value


@given(account=st.text(alphabet="0123456789", min_size=6, max_size=19), amount=st.integers(1, 10**11),
       memo=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=25))
@settings(max_examples=200, deadline=None)
def test_payload_is_well_formed_tlv_with_a_valid_crc(account, amount, memo):
    p = payload("970422", account, amount, memo)
    i, fields = 0, {}
    while i < len(p):
        tag, length = p[i:i + 2], int(p[i + 2:i + 4])
        fields[tag] = p[i + 4:i + 4 + length]
        i += 4 + length
    assert fields["54"] == str(amount) and fields["62"] == f"08{len(memo):02d}{memo}" and account in fields["38"]
    assert fields["63"] == f"{crc16_ccitt_false(p[:-4].encode()):04X}"


def test_bad_payloads_are_refused():
    with pytest.raises(ValueError):
        payload("970436", "0071001234567", 0, "DH1")
    with pytest.raises(ValueError):
        payload("970436", "0071001234567", 1000, "X" * 26)


def test_pay_page_shows_qr_details_and_live_status(service_factory):
    svc = service_factory()
    svc.post_delivery("002-order.created-o20-bacs-on-hold-phone-spaces")
    url = svc.url + "/pay/wc_order_bnPZIU7YDw4bK"
    r = requests.get(url, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    html = r.text
    for fact in ("513.000đ", "DH20", "Vietcombank", "0071009998887", "CONG TY TNHH SHOP DEMO", "Đang chờ thanh toán",
                 "<svg"):
        assert fact in html
    png = requests.get(url + "/qr.png", timeout=5)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert requests.get(url + "/status", timeout=5).json()["awaiting"] is True
    svc.post_delivery("017-order.updated-o20-on-hold-to-processing")
    st = requests.get(url + "/status", timeout=5).json()
    assert st["awaiting"] is False and "Đã nhận thanh toán" in st["status_text"]
    assert requests.get(svc.url + "/pay/wc_order_nope", timeout=5).status_code == 404


def test_pay_page_escapes_what_strangers_typed(service_factory):
    from tests.orders import order_body
    import json
    body = json.loads(order_body(90))
    body["billing"]["first_name"] = "<script>alert(1)</script>"
    raw = json.dumps(body).encode()
    svc = service_factory()
    assert svc.post_json(raw, topic="order.created").status_code == 200
    html = requests.get(svc.url + "/pay/wc_order_00000090", timeout=5).text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert len(re.findall(r"<script\b", html)) == 1  # only the page's own status poller (with the CSP nonce)


@pytest.mark.parametrize("typed, qr", [("SHB", True), ("shb", True), ("DongA Bank", True), ("ncb", True),
                                       ("VietBank", False)])
def test_every_bank_a_shop_can_name_gets_its_qr_when_its_bin_is_known(service_factory, typed, qr):
    """SHB had a BIN but no alias, so an SHB shop never showed a QR; one registry now feeds the
    settings, the QR and the parsers. A bank whose BIN is not confirmed shows the details only."""
    svc = service_factory(transfer_bank=typed, transfer_account="1234567890")
    svc.post_delivery("002-order.created-o20-bacs-on-hold-phone-spaces")
    url = svc.url + "/pay/wc_order_bnPZIU7YDw4bK"
    assert requests.get(url, timeout=5).status_code == 200
    assert (requests.get(url + "/qr.png", timeout=5).status_code == 200) is qr


def test_the_parsers_name_banks_as_the_registry_does():
    from bridge import bank_registry
    from bridge.payments.banks import BANKS as FORMATS
    names = {b.name for b in bank_registry.BANKS}
    assert {f.bank for f in FORMATS} <= names, {f.bank for f in FORMATS} - names
    for b in bank_registry.BANKS:
        assert bank_registry.bank_name(b.name) == b.name
        assert all(bank_registry.bank_name(a) == b.name for a in b.aliases)
    assert set(bank_registry.BINS.values()) >= {"970436", "970415", "970418", "970443"}
    assert len(set(bank_registry.BINS.values())) == len(bank_registry.BINS)   # no BIN given to two banks
