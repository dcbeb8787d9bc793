"""Contract tests against a real WordPress 6.8.8 + WooCommerce 9.9.5 shop (tests/woolab.py),
through real HTTP both ways: WooCommerce delivers to the bridge on loopback, the bridge calls the
shop's REST API. Two shops per run: `lab` (HPOS, order numbers = id + 5000, as sequential-number
plugins make them) and `legacy_lab` (orders in wp_posts, number = id).

What each test proves is a thing the real shop did to the first version (issue 11): deliveries
sharing one X-WC-Webhook-Delivery-ID, codes that are numbers not ids, re-activated webhooks dying
at the next failure, customers missed during an outage, registrations without a phone, VND on 2
decimals, a checkout page not called `checkout`.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter

import pytest
import requests

from bridge import reasons
from bridge.providers.woocommerce import reconcile
from bridge.providers.woocommerce import ownership as woo_webhooks
from bridge.providers.woocommerce.client import WooClient
from bridge.store import orders as stored_orders
from tests.conftest import ROOT, Service, free_port, make_settings, smsgate_settings, wait_until
from tests.woolab import PRODUCTS, Lab, require

pytestmark = pytest.mark.woolab
OFFSET = 5000
ACCOUNT = "0071001234567"   # the lab's BACS account (Vietcombank)


def _build(tmp_path_factory, name: str, hpos: bool, offset: int) -> Lab:
    require()
    lab = Lab(tmp_path_factory.mktemp(name), free_port(), free_port(), hpos=hpos, number_offset=offset)
    try:
        lab.build()
    except Exception:
        lab.stop()
        raise
    print(f"\nwoolab {name}: built in {lab.build_seconds:.1f}s at {lab.url}")
    return lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = _build(tmp_path_factory, "woolab", hpos=True, offset=OFFSET)
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def legacy_lab(tmp_path_factory):
    lab = _build(tmp_path_factory, "woolab-legacy", hpos=False, offset=0)
    yield lab
    lab.stop()


@pytest.fixture
def bridge_for(tmp_path, fake_smsgate):
    """The service on the port the lab delivers to, with a fresh database; `connect` run first
    unless told not to. Before it stops, the shop's queued deliveries are let out to it."""
    made: list[tuple[Service, Lab]] = []

    def make(lab: Lab, connect: bool = True, db_name: str = "bridge.db", **changes) -> Service:
        options = {**smsgate_settings(fake_smsgate), **lab.bridge_settings(), "db_path": str(tmp_path / db_name),
                   "transfer_bank": "Vietcombank", "transfer_account": ACCOUNT,
                   "transfer_holder": "CONG TY TNHH WOO LAB", "bank_accounts": (("Vietcombank", ACCOUNT),),
                   "reconcile_every": 3600.0, "owner_phones": ("0901 234 567",), **changes}
        settings = make_settings(tmp_path, **options)
        svc = Service(settings, start_scheduler=True, port=lab.bridge_port)
        fake_smsgate.webhook_url = svc.url + "/inbound/smsgate"
        made.append((svc, lab))
        if connect:
            report = woo_webhooks.ensure(WooClient(svc.settings), svc.settings, svc.db)
            assert report.error == "", report.error
        return svc

    yield make
    for svc, lab in made:
        try:
            lab.wait_deliveries_sent(30)
        except AssertionError:
            pass
        svc.close()


def order_state(svc: Service, oid: int):
    return svc.db.one("SELECT * FROM orders WHERE id=?", (oid,))


def status_messages(svc: Service, oid: int) -> list[str]:
    return [m["rule"] for m in svc.messages(order_id=oid) if m["audience"] == "customer"]


def bank_sms(amount: int, code: str, ref: str) -> str:
    return (f"SD TK {ACCOUNT} +{amount:,}VND luc 30-11-2026 19:47:13. SD 9,288,000VND. Ref MBVCB.{ref}.{code}.CT tu "
            "1047263815 VO MINH KHANG toi 0071001234567 CUA H...")


# -- webhooks owned by the bridge --------------------------------------------------------------
def test_connect_creates_every_webhook_once_and_repairs_a_foreign_one(lab, bridge_for, tmp_path):
    svc = bridge_for(lab, connect=False)
    hook_url = svc.url + "/webhooks/woocommerce"
    # a webhook made by hand with another secret: REST cannot show its secret, so it is replaced
    lab.rest("post", "webhooks", {"name": "Order updated", "topic": "order.updated", "delivery_url": hook_url,
                                  "secret": "typed-by-hand"})
    env = {"WOO_URL": lab.url, "WOO_CONSUMER_KEY": lab.keys["WOO_CONSUMER_KEY"],
           "WOO_CONSUMER_SECRET": lab.keys["WOO_CONSUMER_SECRET"], "WOO_WEBHOOK_SECRET": lab.secret,
           "PUBLIC_URL": svc.settings.public_url, "BRIDGE_DB": str(tmp_path / "cli.db"), "PATH": "/usr/bin:/bin"}
    first = subprocess.run([sys.executable, "-m", "bridge", "connect"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "created: order.created" in first.stdout and "replaced by ours: order.updated" in first.stdout
    assert "port" in first.stdout   # the lab's port is not one WordPress delivers to by default: said plainly
    ours = {w["topic"]: w for w in lab.webhooks().values() if w["delivery_url"] == hook_url}
    assert sorted(ours) == sorted(woo_webhooks.TOPICS)
    assert all(w["status"] == "active" and w["api_version"] == "3" and w["secret"] == lab.secret
               for w in ours.values()), ours
    again = subprocess.run([sys.executable, "-m", "bridge", "connect"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0 and "  created:" not in again.stdout and "fixed:" not in again.stdout, again.stdout
    assert "already right: order.created" in again.stdout
    assert {w["topic"]: w for w in lab.webhooks().values() if w["delivery_url"] == hook_url} == ours
    # a secret rotated in the bridge is carried to the shop by the next connect
    rotated = Service(make_settings(tmp_path, db_path=str(tmp_path / "cli.db"), **{
        **lab.bridge_settings(), "woo_webhook_secret": "rotated-secret"}), port=0)
    try:
        report = woo_webhooks.ensure(WooClient(rotated.settings), rotated.settings, rotated.db)
    finally:
        rotated.close()
    assert len([f for f in report.fixed if "secret" in f]) == len(woo_webhooks.TOPICS)
    assert {w["secret"] for w in lab.webhooks().values() if w["delivery_url"] == hook_url} == {"rotated-secret"}
    woo_webhooks.ensure(WooClient(svc.settings), svc.settings, svc.db)   # back to the lab's secret
    assert {w["secret"] for w in lab.webhooks().values() if w["delivery_url"] == hook_url} == {lab.secret}


# -- every order event arrives -------------------------------------------------------------------
def test_checkouts_and_rest_orders_arrive_with_every_phone_format(lab, bridge_for):
    svc = bridge_for(lab)
    bacs = lab.store_checkout("0912 345 678", "bacs", first="Thị Lan", last="Trần")
    cod = lab.store_checkout("+84 987 654 321", "cod", product=13, qty=2, first="Văn Bình", last="Lê")
    phones = {"84912000111": "+84912000111", "0912.000.222": "+84912000222", "(+84) 098-765-4321": "+84987654321",
              "01689123456": "+84389123456"}
    rest = {lab.create_order(phone=p)["id"]: e164 for p, e164 in phones.items()}
    wait_until(lambda: all(order_state(svc, o) for o in [bacs["order_id"], cod["order_id"], *rest]), timeout=60,
               what="every order's delivery")
    b = order_state(svc, bacs["order_id"])
    assert (b["number"], b["status"], b["customer_name"], b["total_minor"]) == (
        str(bacs["order_id"] + OFFSET), "on-hold", "Trần Thị Lan", PRODUCTS[12])
    assert status_messages(svc, bacs["order_id"]) == ["order-awaiting-transfer"]
    assert status_messages(svc, cod["order_id"]) == ["order-processing"]
    assert order_state(svc, cod["order_id"])["total_minor"] == 2 * PRODUCTS[13]
    for oid, e164 in rest.items():
        wait_until(lambda: status_messages(svc, oid), timeout=30, what=f"order {oid}'s message")
        assert [m["recipient"] for m in svc.messages(order_id=oid, audience="customer")] == [e164]
    # the transfer message carries the order NUMBER as payment code
    text = svc.messages(order_id=bacs["order_id"], rule="order-awaiting-transfer")[0]["text"]
    assert f"DH{bacs['order_id'] + OFFSET}" in text
    lab.wait_deliveries_sent()
    assert len(svc.messages(audience="owner", rule="owner-new-order")) == 2 + len(rest)


def test_three_orders_completed_in_one_second_send_three_messages(lab, bridge_for):
    """One queue run sends the three deliveries back to back: WooCommerce gives them one
    X-WC-Webhook-Delivery-ID. The first version answered the second and third "duplicate"."""
    svc = bridge_for(lab)
    ids = [lab.create_order(method="cod")["id"] for _ in range(3)]
    wait_until(lambda: all(status_messages(svc, o) == ["order-processing"] for o in ids), timeout=60,
               what="the three orders")
    lab.wait_deliveries_sent()
    with lab.queue_held():
        lab.rest("post", "orders/batch", {"update": [{"id": o, "status": "completed"} for o in ids]})
    wait_until(lambda: all(order_state(svc, o)["status"] == "completed" for o in ids), timeout=60,
               what="the batch's deliveries")
    for o in ids:
        assert status_messages(svc, o) == ["order-processing", "order-completed"]
    shared = Counter(r["delivery_id"] for r in svc.db.query(
        "SELECT delivery_id FROM deliveries WHERE topic='order.updated' AND resource_id IN (?,?,?)", ids))
    assert max(shared.values()) >= 2, f"the real shop did not share a delivery id this time: {shared}"


def test_refund_trash_and_restore(lab, bridge_for):
    svc = bridge_for(lab)
    order = lab.create_order(method="cod")
    oid = order["id"]
    wait_until(lambda: status_messages(svc, oid) == ["order-processing"], timeout=60, what="the new order")
    lab.rest("post", f"orders/{oid}/refunds", {"amount": order["total"], "api_refund": False})
    wait_until(lambda: order_state(svc, oid)["status"] == "refunded", timeout=60, what="the refund")
    wait_until(lambda: status_messages(svc, oid) == ["order-processing", "order-refunded"], timeout=10,
               what="the refund message")
    assert "213.000d" in svc.messages(order_id=oid, rule="order-refunded")[0]["text"]
    lab.rest("delete", f"orders/{oid}")    # to the trash
    wait_until(lambda: order_state(svc, oid)["deleted"] == 1, timeout=60, what="order.deleted")
    lab.php(f"wc_get_order({oid})->untrash();")
    wait_until(lambda: order_state(svc, oid)["deleted"] == 0, timeout=60, what="order.restored")
    lab.wait_deliveries_sent()
    assert status_messages(svc, oid) == ["order-processing", "order-refunded"]
    topics = [r["topic"] for r in svc.db.query("SELECT topic FROM deliveries WHERE resource_id=? ORDER BY id", (oid,))]
    assert "order.deleted" in topics and "order.restored" in topics


def test_customers_from_rest_checkout_and_my_account(lab, bridge_for):
    svc = bridge_for(lab)
    made = lab.rest("post", "customers", {"email": "rest@example.test", "first_name": "Hoa", "last_name": "Phạm",
                                          "billing": {"phone": "0903 111 222", "first_name": "Hoa",
                                                      "last_name": "Phạm"}})
    lab.register_my_account("dangky@example.test")
    co = lab.store_checkout("0903 333 444", "bacs", email="moi@example.test", create_account=True)
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM customers") >= 3, timeout=60, what="three customers")
    lab.wait_deliveries_sent()
    welcomes = {m["customer_id"]: m["recipient"] for m in svc.messages(rule="customer-welcome")}
    assert welcomes[made["id"]] == "+84903111222"
    reg = svc.db.one("SELECT * FROM customers WHERE email='dangky@example.test'")
    assert reasons.code_of(reg["welcome_skipped"]) == "shop.customer_no_phone"
    assert reg["id"] not in welcomes and not svc.messages(status="failed")
    assert len(svc.messages(rule="customer-welcome")) == len(welcomes)   # created + updated: one welcome each
    assert co["customer_id"] in {r["id"] for r in svc.db.query("SELECT id FROM customers")}


# -- payments land on the right order ------------------------------------------------------------
def test_a_bank_message_pays_the_order_whose_number_it_names_never_the_id(lab, bridge_for, fake_smsgate):
    svc = bridge_for(lab)
    decoy = lab.create_order(product=12)          # id N, number N + 5000
    target = lab.create_order(product=12)
    wait_until(lambda: order_state(svc, decoy["id"]) and order_state(svc, target["id"]), timeout=60,
               what="both orders")
    # a transfer naming the decoy's id (not a number any order has) pays nothing
    assert fake_smsgate.receive("Vietcombank", bank_sms(PRODUCTS[12], f"DH{decoy['id']}", "1111111111")).status_code == 200
    tx = wait_until(lambda: svc.db.one("SELECT * FROM transactions ORDER BY id DESC LIMIT 1"), what="the decision")
    assert tx["decision"] == "ambiguous" and "unknown" in tx["reason"]
    # the transfer naming the target's number pays it
    number = target["number"]
    assert number == str(target["id"] + OFFSET)
    fake_smsgate.receive("Vietcombank", bank_sms(PRODUCTS[12], f"DH{number}", "9734120586"))
    wait_until(lambda: lab.order_row(target["id"])["status"] == "processing", timeout=60, what="the order paid")
    wait_until(lambda: [n for n in lab.notes(target["id"]) if "woo-bridge" in n["note"]], timeout=30,
               what="the payment note")
    paid = lab.order_row(target["id"])
    assert paid["date_paid_gmt"] and paid["transaction_id"] == "MBVCB.9734120586"
    assert lab.order_row(decoy["id"])["status"] == "on-hold" and not lab.order_row(decoy["id"])["date_paid"]
    lab.wait_deliveries_sent()   # WooCommerce echoes our own change back as order.updated
    wait_until(lambda: order_state(svc, target["id"])["date_modified_gmt"] >= paid["date_modified_gmt"][:19],
               timeout=30, what="the echo")
    notes = [n for n in lab.notes(target["id"]) if "woo-bridge" in n["note"]]
    assert len(notes) == 1 and "213.000đ" in notes[0]["note"]
    rules = status_messages(svc, target["id"])
    assert rules.count("payment-confirmed") == 1 and "order-processing" not in rules, rules


def test_an_order_known_only_through_rest_is_found_by_its_number_on_legacy_storage(legacy_lab, bridge_for,
                                                                                   fake_smsgate):
    """No webhook ever reached the bridge for this order (none is connected): the code is
    resolved through REST and the answer checked against its number. Orders live in wp_posts."""
    for hook in legacy_lab.rest("get", "webhooks", params={"status": "all", "per_page": 100}):
        legacy_lab.rest("delete", f"webhooks/{hook['id']}", params={"force": "true"})
    svc = bridge_for(legacy_lab, connect=False)
    order = legacy_lab.create_order(product=11)
    assert legacy_lab.sql(f"SELECT post_type FROM wp_posts WHERE ID={order['id']}") == [["shop_order"]]
    fake_smsgate.receive("Vietcombank", bank_sms(PRODUCTS[11], f"DH{order['number']}", "5555512345"))
    wait_until(lambda: legacy_lab.order_row(order["id"])["status"] == "processing", timeout=60,
               what="the order paid")
    tx = svc.db.one("SELECT * FROM transactions")
    assert tx["decision"] == "confirm" and tx["order_id"] == order["id"]
    assert legacy_lab.order_row(order["id"])["transaction_id"] == "MBVCB.5555512345"


def test_a_shop_on_two_decimals_keeps_its_orders_and_the_owner_is_told_once(lab, bridge_for, fake_smsgate):
    svc = bridge_for(lab)
    with lab.queue_held():   # a queue run already going keeps the options it loaded: wait it out
        lab.set_option("woocommerce_price_num_decimals", "2")
    try:
        fee = {"fee_lines": [{"name": "Phí đóng gói", "total": "750.50"}]}
        first = lab.create_order(product=11, **fee)
        second = lab.create_order(product=11, **fee)
        assert first["total"] == "150750.50"
        wait_until(lambda: order_state(svc, first["id"]) and order_state(svc, second["id"]), timeout=60,
                   what="both orders")
    finally:
        lab.set_option("woocommerce_price_num_decimals", "0")
    assert order_state(svc, first["id"])["total_minor"] == 150751
    assert "150.751" in svc.messages(order_id=first["id"], rule="order-awaiting-transfer")[0]["text"]
    lab.wait_deliveries_sent()
    alerts = svc.messages(rule="alert:currency-decimals")
    assert len(alerts) == 1 and "150751" in alerts[0]["text"]
    fake_smsgate.receive("Vietcombank", bank_sms(150751, f"DH{first['number']}", "7777700001"))
    wait_until(lambda: lab.order_row(first["id"])["status"] == "processing", timeout=60, what="the order paid")


def test_order_links_follow_the_shops_own_checkout_slug(legacy_lab, bridge_for):
    svc = bridge_for(legacy_lab)
    legacy_lab.sql("UPDATE wp_posts SET post_name='thanh-toan' WHERE ID=8")
    try:
        order = legacy_lab.create_order(method="cod")
        wait_until(lambda: order_state(svc, order["id"]), timeout=60, what="the order")
        from bridge.providers.woocommerce.shop import order_link
        from bridge.providers.woocommerce.payload import parse_order
        link = order_link(svc.settings, parse_order(json.loads(stored_orders.body(order_state(svc, order["id"])))))
        assert f"/thanh-toan/order-received/{order['id']}/?key={order['order_key']}" in link
        page = requests.get(link, timeout=60)
        assert page.status_code == 200 and "order-received" in page.url
    finally:
        legacy_lab.sql("UPDATE wp_posts SET post_name='checkout' WHERE ID=8")


# -- an outage long enough for WooCommerce to give up ------------------------------------------
def test_outage_disables_the_webhook_and_reconcile_catches_up_without_doubles(lab, bridge_for, tmp_path):
    svc = bridge_for(lab, db_name="outage.db")
    ids = [lab.create_order(method="cod")["id"] for _ in range(7)]
    wait_until(lambda: all(status_messages(svc, o) == ["order-processing"] for o in ids), timeout=90,
               what="seven orders")
    reconcile.run(svc.bridge)      # marks set: from here on a missed change is news
    lab.wait_deliveries_sent()
    svc.close()                    # the bridge is down
    lab.rest("post", "orders/batch", {"update": [{"id": o, "status": "completed"} for o in ids]})
    made = lab.rest("post", "customers", {"email": "outage@example.test", "billing": {"phone": "0904 555 666"}})
    wait_until(lambda: any(w["topic"] == "order.updated" and w["status"] == "disabled"
                           for w in lab.webhooks().values()), timeout=90, what="WooCommerce disabling the webhook")
    lab.wait_deliveries_sent()
    svc = bridge_for(lab, connect=False, db_name="outage.db")    # back, same database
    s = reconcile.run(svc.bridge)
    assert s.error == "", s.error
    assert s.customers_taken >= 1 and s.webhooks_reactivated
    for o in ids:
        assert status_messages(svc, o) == ["order-processing", "order-completed"]
    assert [m["recipient"] for m in svc.messages(rule="customer-welcome") if m["customer_id"] == made["id"]] == [
        "+84904555666"]
    hooks = [w for w in lab.webhooks().values() if w["topic"] == "order.updated" and w["delivery_url"].startswith(svc.url)]
    assert len(hooks) == 1 and hooks[0]["status"] == "active" and hooks[0]["failure_count"] == "0"
    # healthy again: the next change arrives by webhook, once
    lab.rest("put", f"orders/{ids[0]}", {"status": "cancelled"})
    wait_until(lambda: order_state(svc, ids[0])["status"] == "cancelled", timeout=60, what="the next delivery")
    lab.wait_deliveries_sent()
    assert status_messages(svc, ids[0]) == ["order-processing", "order-completed", "order-cancelled"]
    again = reconcile.run(svc.bridge)
    assert again.notified == 0 and not again.webhooks_reactivated


# -- the fake learns from the real thing ----------------------------------------------------------
@pytest.mark.parametrize("which", ["real", "fake"])
def test_the_fake_answers_as_the_real_shop_does(which, lab, tmp_path):
    """The same REST calls against the lab and against tests/fakes/woocommerce.py: what the
    fast tests rely on must be what WooCommerce 9.9.5 does."""
    from tests.fakes.woocommerce import FakeWooCommerce
    fake = None
    if which == "real":
        settings = make_settings(tmp_path, **lab.bridge_settings())
        order_id = lab.create_order(product=13)["id"]
    else:
        fake = FakeWooCommerce(number_offset=OFFSET).start()
        settings = make_settings(tmp_path, woo_url=fake.url, woo_consumer_key="ck_test", woo_consumer_secret="cs_test")
        order_id = fake.add_order(77, PRODUCTS[13])["id"]
    woo = WooClient(settings)
    try:
        got = woo.get_order(order_id)
        assert got.ok and got.data["number"] == str(order_id + OFFSET)
        assert woo.find_order_by_number(str(order_id)) is None
        missing = woo.get_order(999999)
        assert missing.status == 404 and missing.data["code"] == "woocommerce_rest_shop_order_invalid_id"
        put = woo.mark_paid(999999, "processing", "X")
        assert put.status == 400 and put.data["code"] == "woocommerce_rest_shop_order_invalid_id"
        made = woo.create_webhook({"name": "woo-bridge: test", "topic": "order.deleted", "status": "paused",
                                   "delivery_url": "http://127.0.0.1:9/x", "secret": "s3cret"})
        assert made.status == 201 and made.data["status"] == "active"     # always saved active
        assert "secret" not in made.data and "failure_count" not in made.data
        listed = [w for w in woo.list_webhooks().data if w["id"] == made.data["id"]]
        assert listed and "secret" not in listed[0]
        bad = woo.create_webhook({"topic": "order.exploded", "delivery_url": "http://127.0.0.1:9/x"})
        assert bad.status == 400 and bad.data["code"].endswith("invalid_topic")
        trash = woo._call("delete", f"webhooks/{made.data['id']}")
        assert trash.status == 501 and trash.data["code"] == "woocommerce_rest_trash_not_supported"
        assert woo.delete_webhook(made.data["id"]).ok
    finally:
        if fake is not None:
            fake.stop()


# -- payment expiry (PAYMENT_EXPIRE_HOURS) ----------------------------------------------------------
def test_expiry_cancels_in_the_shop_which_restores_stock_and_restore_and_confirm_takes_it_again(lab, bridge_for,
                                                                                                  fake_smsgate):
    """What WooCommerce 9.9.5 itself does with a managed stock: an on-hold bank-transfer order
    holds it, our cancel gives it back, and restoring the order to processing takes it again."""
    from bridge.payments import expiry, review
    product = lab.rest("post", "products", {"name": "Áo thun (hết hạn)", "type": "simple", "regular_price": "120000",
                                            "manage_stock": True, "stock_quantity": 10})
    stock = lambda: lab.rest("get", f"products/{product['id']}")["stock_quantity"]   # noqa: E731
    svc = bridge_for(lab, payment_expire_hours=24.0)
    order = lab.create_order(product=product["id"], qty=2)
    oid = order["id"]
    assert stock() == 8   # on-hold holds the stock
    wait_until(lambda: order_state(svc, oid), timeout=60, what="the order")
    svc.clock.advance(23 * 3600)
    assert expiry.run(svc.bridge) == 0
    svc.clock.advance(3600 + 60)
    # ours, and any unpaid order an earlier test of this lab left queued for delivery to this port
    assert expiry.run(svc.bridge) >= 1
    assert order_state(svc, oid)["expired_at"]
    wait_until(lambda: lab.order_row(oid)["status"] == "cancelled", timeout=60, what="the cancel in WooCommerce")
    assert stock() == 10  # WooCommerce gave the stock back
    wait_until(lambda: [n for n in lab.notes(oid) if "PAYMENT_EXPIRE_HOURS" in n["note"]], timeout=30,
               what="the cancel's note")
    lab.wait_deliveries_sent()   # the echo of our cancel tells nobody again
    wait_until(lambda: order_state(svc, oid)["date_modified_gmt"] >= lab.order_row(oid)["date_modified_gmt"][:19],
               timeout=30, what="the echo")
    assert status_messages(svc, oid).count("payment-expired") == 1 and "order-cancelled" not in status_messages(svc, oid)
    # the transfer comes the next day: a person restores and confirms it
    fake_smsgate.receive("Vietcombank", bank_sms(240_000, f"DH{order['number']}", "4242424242"))
    tx = wait_until(lambda: svc.db.one("SELECT * FROM transactions WHERE order_id=?", (oid,)), what="the decision")
    assert tx["decision"] == "paid_after_expiry"
    assert lab.order_row(oid)["status"] == "cancelled" and stock() == 10
    review.restore_and_confirm(svc.bridge, tx["id"], who="chủ shop")
    wait_until(lambda: lab.order_row(oid)["status"] == "processing", timeout=60, what="the order restored")
    paid = lab.order_row(oid)
    assert paid["date_paid_gmt"] and paid["transaction_id"] == "MBVCB.4242424242"
    assert stock() == 8   # WooCommerce took the stock again on the move to processing
    lab.wait_deliveries_sent()
    wait_until(lambda: order_state(svc, oid)["date_modified_gmt"] >= paid["date_modified_gmt"][:19], timeout=30,
               what="the echo")
    rules = status_messages(svc, oid)
    assert rules.count("payment-confirmed") == 1 and "order-processing" not in rules, rules


COD_RULES = """
rules:
  - name: cod-confirm
    event: order.cod_confirm
    payment_methods: [cod]
    to: customer
    channel: smsgate
    unicode: false
    template: "{{ shop_name }}: Don #{{ order_number }} {{ total }}. Xac nhan: {{ confirm_link }} hoac tra loi 1 / 2"
"""


def test_cod_confirmed_on_the_page_and_cancelled_by_sms_in_the_shop(lab, bridge_for, fake_smsgate, tmp_path):
    """A COD order confirmed on /c/ gets its note and COD_CONFIRMED_STATUS in the real shop; one
    cancelled by an SMS reply is cancelled there with the customer's words, and WooCommerce gives
    the stock back."""
    import re
    mappings = tmp_path / "cod-mappings"
    mappings.mkdir()
    (mappings / "rules.yaml").write_text(COD_RULES, encoding="utf-8")
    product = lab.rest("post", "products", {"name": "Nón lá (COD)", "type": "simple", "regular_price": "90000",
                                            "manage_stock": True, "stock_quantity": 10})
    stock = lambda: lab.rest("get", f"products/{product['id']}")["stock_quantity"]   # noqa: E731
    svc = bridge_for(lab, mappings_dir=str(mappings), cod_confirmed_status="on-hold", quiet_hours=None)

    def link(oid: int) -> str:
        m = wait_until(lambda: svc.messages(order_id=oid, event="order.cod_confirm"), timeout=60, what="the question")
        return re.search(r"http://\S+/c/\S+", m[0]["text"]).group(0)

    confirmed = lab.create_order(method="cod", product=product["id"], qty=1, phone="0911 222 333")
    r = requests.post(link(confirmed["id"]), data={"answer": "confirm"}, allow_redirects=False, timeout=10)
    assert r.status_code == 303
    wait_until(lambda: lab.order_row(confirmed["id"])["status"] == "on-hold", timeout=60, what="the confirmed status")
    wait_until(lambda: [n for n in lab.notes(confirmed["id"]) if "Khách xác nhận đơn qua trang xác nhận" in n["note"]],
               timeout=30, what="the confirmation's note")
    cancelled = lab.create_order(method="cod", product=product["id"], qty=2, phone="0933 444 555")
    link(cancelled["id"])
    assert stock() == 7
    assert fake_smsgate.receive("+84933444555", "HUY DON vi dat nham").status_code == 200
    wait_until(lambda: lab.order_row(cancelled["id"])["status"] == "cancelled", timeout=60, what="the cancel")
    assert stock() == 9   # WooCommerce gave the 2 back
    wait_until(lambda: [n for n in lab.notes(cancelled["id"]) if "Lý do: vi dat nham" in n["note"]], timeout=30,
               what="the cancel's note")
    k = svc.db.one("SELECT * FROM cod_confirmations WHERE order_id=?", (cancelled["id"],))
    assert (k["state"], k["answered_via"]) == ("cancelled", "sms")
def test_a_carriers_calls_note_the_order_complete_it_on_delivery_and_a_repeat_changes_nothing(lab, bridge_for):
    """GHN's calls about a COD order's parcel, matched by the order NUMBER the shop gave GHN: each
    status is one private note in the real shop, delivered completes the order, and the same call
    again or a late one changes nothing more."""
    from tests.fakes.ghn import FakeGhn
    token = "lab-ghn-webhook-token"
    svc = bridge_for(lab, ghn_webhook_token=token)
    order = lab.create_order(method="cod", phone="0912 555 101")
    oid, number, total = order["id"], order["number"], int(float(order["total"]))
    assert order["status"] == "processing" and number != str(oid)
    wait_until(lambda: order_state(svc, oid), timeout=60, what="the order")
    ghn, url, t0 = FakeGhn(), f"{svc.url}/inbound/ghn?token={token}", time.time() - 3600
    bodies = [ghn.event("LABGHN01", status, "create" if i == 0 else "switch_status", client_order_code=number,
                        cod=total, at=t0 + i * 60)
              for i, status in enumerate(("ready_to_pick", "picking", "delivering", "delivered"))]
    for body in bodies:
        assert ghn.push(url, body) == [200]
    wait_until(lambda: lab.order_row(oid)["status"] == "completed", timeout=60, what="the order completed")
    ours = lambda: [n["note"] for n in lab.notes(oid) if "GHN LABGHN01" in n["note"]]   # noqa: E731
    wait_until(lambda: len(ours()) == 4, timeout=60, what="the four notes")
    assert any("đang giao (delivering)" in n for n in ours())
    ghn.push(url, bodies[-1])                                                       # GHN sends it again
    ghn.push(url, ghn.event("LABGHN01", "delivering", client_order_code=number, cod=total, at=t0 + 30))   # late
    assert [r["state"] for r in svc.db.query("SELECT state FROM shipment_events WHERE tracking='LABGHN01'"
                                             " ORDER BY id")] == ["applied"] * 4 + ["stale"]
    lab.wait_deliveries_sent()
    wait_until(lambda: all(m["status"] not in ("pending", "scheduled", "queued")
                           for m in svc.messages(order_id=oid, kind="order_update")), timeout=30, what="write-backs")
    assert len(ours()) == 4 and lab.order_row(oid)["status"] == "completed"
    assert status_messages(svc, oid).count("shipment-delivering") == 1
