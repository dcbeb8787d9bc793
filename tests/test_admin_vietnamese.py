"""No English in the Vietnamese interface: every admin page a person reaches (found from the
header, not listed here), with a busy shop's data, the 404 page, and the errors its forms give,
shows no sentence of the catalogue untranslated and no common English word.

The checker itself is proven first on small pages: it must fail on an untranslated sentence
(with or without filled-in values) and pass on Vietnamese, on quoted data (<code>, <pre>) and on
what is marked as another language (the "English" switch)."""
from __future__ import annotations

import pytest

from bridge.envparse import bank_accounts
from tests.admin_walk import (LONG_URL, MISSING, Catalogue, cod_day, discover, english_in, english_on, pause_a_phone,
                              seed)
from tests.conftest import esms_settings, smsgate_settings, woo_settings
from tests.test_admin import PASSWORD, Admin


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue()


# -- the checker ---------------------------------------------------------------------------------
def page(body: str) -> str:
    return f'<!doctype html><html lang="vi"><head><title>Thanh toán</title></head><body><main>{body}</main></body></html>'


@pytest.mark.parametrize("body", [
    "<p>Nothing to review.</p>",                                         # a catalogue sentence, as it is
    "<span>Page 2 of 7</span>",                                          # one with its values filled in
    '<td data-label="Amount">513.000đ</td>',                            # a card label of a table row
    '<input name="note" placeholder="note (optional)">',                 # a placeholder
    "<div>The order is waiting for the transfer</div>",                 # a sentence of no catalogue
    "<td>Đơn 4001: payment confirmed</td>",                             # English words in a Vietnamese line
    '<td class="text">{&#34;code&#34;:&#34;pay.exact&#34;,&#34;p&#34;:{}}</td>',  # a stored reason not rendered
])
def test_the_checker_fails_on_an_untranslated_sentence(catalogue, body):
    assert english_in(page(body), catalogue), body


@pytest.mark.parametrize("body", [
    "<p>Không có gì cần duyệt.</p>",
    "<span>Trang 2 / 7</span>",
    '<td data-label="Số tiền">513.000đ</td>',
    "<pre>SD TK 0181003749261 +513,000VND. Ref MBVCB.7701.DH4001 thanh toan the order</pre>",   # an SMS as received
    "<code>missing X-WC-Webhook-Signature header for the request</code>",                    # the caller's answer
    '<td class="text">Shop Demo: Don #4001 da giao, cam on the order</td>',                  # an SMS as sent
    "<p>Mật khẩu được in ra lần đầu (hoặc đặt ADMIN_PASSWORD, FIBO_PAYMENTS).</p>",          # env variables
    "<p>Dán http://shop.example.vn/webhooks/payment?token=abc vào WooCommerce</p>",          # an address
    '<button lang="en">English</button>',                                                     # the language switch
    "<td>WooCommerce, eSMS, SMSGate, Zalo ZNS, Messenger, SePay, Casso, payOS, VietQR</td>",  # names
    "<script>var order = 'the payment'</script><style>.status{}</style>",
    "<p>Tại my.sepay.vn → WebHooks: chọn API Key với khóa YpEUWBfGp2Omc7IS91HyRqABaY1TUqsy.</p>",   # a generated key
])
def test_the_checker_passes_vietnamese_names_and_quoted_data(catalogue, body):
    assert english_in(page(body), catalogue) == [], body


# -- the interface -------------------------------------------------------------------------------
@pytest.fixture
def shop(service_factory, fake_esms, fake_smsgate, woo):
    svc = service_factory(start_scheduler=True, admin_password=PASSWORD, public_url=LONG_URL, **woo_settings(woo),
                          bank_accounts=bank_accounts("Vietcombank:0181003749261"),
                          **{**smsgate_settings(fake_smsgate), **esms_settings(fake_esms),
                             "owner_phones": ("0901 234 567",)})
    ids = seed(svc, woo)
    pause_a_phone(svc)
    ids["cod_order"] = cod_day(svc)
    return svc, ids


def test_no_page_of_the_vietnamese_interface_shows_english(shop, catalogue):
    svc, ids = shop
    admin = Admin(svc)
    signed_out = english_in(admin.get("/admin/login").text, catalogue)
    r = admin.sign_in("mat-khau-sai")
    assert r.status_code == 401
    wrong = english_in(r.text, catalogue)
    assert admin.sign_in().status_code == 302

    def get(path: str) -> str:
        r = admin.get(path)
        assert r.status_code == (404 if path == MISSING else 200), path
        return r.text

    pages = discover(get)
    names = [n for n, _ in pages]
    for expected in ("dashboard", "messages", "orders", "payments", "settings", "payments-detail", "404"):
        assert expected in names, names
    found = english_on(pages, get, catalogue)
    # a transaction waiting for review (its forms) and one a person acted on
    for tx in (ids["no_code"], ids["confirm"]):
        bad = english_in(get(f"/admin/payments/{tx}"), catalogue)
        if bad:
            found[f"/admin/payments/{tx}"] = bad
    # the order whose confirmation has three answers and whose parcel the carrier reported, and
    # the carrier calls that matched no order (walked above when the walk reaches them first)
    for path in (f"/admin/orders/{ids['cod_order']}", "/admin/cod/unmatched", "/admin/cod?state=all"):
        bad = english_in(get(path), catalogue)
        if bad:
            found[path] = bad
    # the errors the forms give, each read where it is shown
    flashes = {
        "confirm without an order": admin.post(f"/admin/payments/{ids['no_code']}/confirm", follow_redirects=True),
        "confirm an order already paid": admin.post(f"/admin/payments/{ids['ambiguous']}/confirm",
                                                    {"order_id": "4001"}, follow_redirects=True),
        "an unknown action": admin.post(f"/admin/payments/{ids['no_code']}/nope", follow_redirects=True),
        "resume a phone that is not there": admin.post("/admin/devices/khong-co/resume", follow_redirects=True),
        "a form without its token": admin.client.post("/admin/devices/khong-co/resume", data={}),
    }
    for what, r in flashes.items():
        assert 'class="flash' in r.text, what
        bad = english_in(r.text, catalogue)
        if bad:
            found[what] = bad
    # the same walk in English finds English on every page: the check sees what these pages show
    admin.post("/admin/lang", {"lang": "en"})
    assert set(english_on(pages, get, catalogue)) == {p for _, p in pages}
    if signed_out:
        found["/admin/login"] = signed_out
    if wrong:
        found["wrong password"] = wrong
    assert found == {}, "English in the Vietnamese interface:\n" + "\n".join(
        f"  {where}: {texts}" for where, texts in found.items())
