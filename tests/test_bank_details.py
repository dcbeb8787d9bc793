"""Empty bank-transfer details: the transfer SMS is held (never sent without the account), shown
as held with its reason, sent after a restart with the details set, or cancelled by the owner;
check-config and the banner say it plainly."""
from __future__ import annotations

import json
import subprocess
import sys

from bridge import bank_details, reasons
from tests.conftest import ROOT, esms_settings, wait_until
from tests.orders import order_body
from tests.test_admin import PASSWORD, Admin

NO_BANK = dict(transfer_bank="", transfer_account="", transfer_holder="")


def held_rows(svc) -> list[dict]:
    return svc.messages(rule="order-awaiting-transfer")


def test_a_transfer_message_without_an_account_waits_then_goes_out_after_a_restart(service_factory, fake_esms):
    first = service_factory(start_scheduler=True, **NO_BANK, **esms_settings(fake_esms))
    assert first.post_json(order_body(31), topic="order.created").status_code == 200
    [m] = held_rows(first)
    assert m["status"] == "held"
    assert reasons.decode(m["reason"]).code == "bank_details_missing"
    assert "TRANSFER_BANK, TRANSFER_ACCOUNT" in reasons.english(m["reason"])
    # the worker runs and runs: nothing goes to eSMS
    runs = first.job_runs("drain_outbox")
    wait_until(lambda: runs() >= 3, what="three outbox passes")
    assert not [r for r in fake_esms.accepted if "0071009998887" in json.dumps(r)] and held_rows(first)[0]["status"] == "held"
    assert "TRANSFER_BANK, TRANSFER_ACCOUNT, TRANSFER_HOLDER are empty" in first.bridge.banner()
    assert "1 held now" in first.bridge.banner()
    first.close()

    # the owner sets the details and restarts: the message is rendered again and sent
    again = service_factory(start_scheduler=True, db_path=first.settings.db_path, **esms_settings(fake_esms))
    sent = wait_until(lambda: [m for m in held_rows(again) if m["status"] in ("queued", "sent", "delivered")],
                      what="the held message sent")
    assert "STK 0071009998887" in sent[0]["text"] and "Vietcombank" in sent[0]["text"]
    assert reasons.decode(sent[0]["reason"]) is None or reasons.decode(sent[0]["reason"]).code == "bank_details_released"
    wait_until(lambda: any("0071009998887" in json.dumps(r) for r in fake_esms.accepted), what="eSMS got the text")
    assert "held now" not in again.bridge.banner()


def test_the_owner_cancels_a_held_message_and_it_stays_cancelled(service_factory, fake_esms):
    svc = service_factory(admin_password=PASSWORD, **NO_BANK, **esms_settings(fake_esms))
    assert svc.post_json(order_body(32), topic="order.created").status_code == 200
    [m] = held_rows(svc)
    admin = Admin(svc)
    admin.sign_in()
    page = admin.get(f"/admin/messages/{m['id']}").text
    assert f"/admin/messages/{m['id']}/cancel" in page            # the cancel button is offered
    admin.post(f"/admin/messages/{m['id']}/resend")                # a copy would lack the account: refused
    assert len(svc.messages(rule="order-awaiting-transfer")) == 1
    assert admin.post(f"/admin/messages/{m['id']}/cancel").status_code == 302
    assert held_rows(svc)[0]["status"] == "cancelled"
    admin.post(f"/admin/messages/{m['id']}/resend")                # cancelled, its text still lacks the account
    assert len(svc.messages(rule="order-awaiting-transfer")) == 1
    svc.close()

    again = service_factory(db_path=svc.settings.db_path, **esms_settings(fake_esms))
    assert bank_details.release(again.bridge) == 0
    assert held_rows(again)[0]["status"] == "cancelled"


def test_a_held_message_for_an_order_paid_meanwhile_is_not_sent(service_factory, fake_esms):
    svc = service_factory(**NO_BANK, **esms_settings(fake_esms))
    assert svc.post_json(order_body(33), topic="order.created").status_code == 200
    assert held_rows(svc)[0]["status"] == "held"
    # the shop marked it paid by hand before anyone set the details
    assert svc.post_json(order_body(33, status="processing", modified="2026-11-23T03:00:00")).status_code == 200
    svc.close()

    again = service_factory(db_path=svc.settings.db_path, **esms_settings(fake_esms))
    assert bank_details.release(again.bridge) == 0
    [m] = held_rows(again)
    assert m["status"] == "cancelled" and reasons.decode(m["reason"]).code == "held_order_settled"
    assert "order #33 no longer waits" in reasons.english(m["reason"])


def test_messages_that_print_no_bank_detail_are_sent_as_usual(service_factory, fake_esms):
    svc = service_factory(**NO_BANK, **esms_settings(fake_esms))
    assert svc.post_json(order_body(34, status="processing"), topic="order.created").status_code == 200
    rows = svc.messages(order_id=34)
    assert rows and all(r["status"] != "held" for r in rows)


def test_check_config_says_the_bank_details_are_empty(tmp_path):
    env = {"BRIDGE_DB": str(tmp_path / "b.db"), "PATH": "/usr/bin:/bin", "MAPPINGS_DIR": str(ROOT / "mappings")}
    p = subprocess.run([sys.executable, "-m", "bridge", "check-config"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    assert "TRANSFER_BANK, TRANSFER_ACCOUNT, TRANSFER_HOLDER are empty" in p.stderr
    p = subprocess.run([sys.executable, "-m", "bridge", "check-config"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env={**env, "TRANSFER_BANK": "Vietcombank", "TRANSFER_ACCOUNT": "0071009998887",
                                         "TRANSFER_HOLDER": "SHOP DEMO"})
    assert p.returncode == 0 and "TRANSFER_" not in p.stderr


def test_a_held_message_whose_saved_text_fails_at_release_goes_out_in_the_default_text_and_says_why(
        service_factory, fake_esms):
    """Held without bank details; at release the owner's saved text fails on this order (the
    customer left no name): the YAML text goes out, and the message says why it is not theirs."""
    first = service_factory(admin_password=PASSWORD, **NO_BANK, **esms_settings(fake_esms))
    body = json.loads(order_body(34))
    body["billing"]["first_name"] = body["billing"]["last_name"] = ""
    assert first.post_json(json.dumps(body).encode(), topic="order.created").status_code == 200
    [m] = held_rows(first)
    admin = Admin(first)
    admin.sign_in()
    admin.post(f"/admin/templates/{m['rule']}/save",
               {"template": "Chao chi {{ customer_name.split()[-1] }}, don {{ order_number }}: STK {{ account }}"})
    first.close()
    again = service_factory(db_path=first.settings.db_path, **esms_settings(fake_esms))
    assert bank_details.release(again.bridge) == 1
    row = held_rows(again)[0]
    assert row["status"] == "pending" and "Chao chi" not in row["text"] and "0071009998887" in row["text"]
    assert reasons.code_of(row["reason"]) == "rules.override_failed"


def test_a_template_with_its_own_words_for_empty_details_is_sent_not_held(service_factory, fake_esms):
    """A shop that runs without bank details on purpose and wrote its text for that case."""
    svc = service_factory(start_scheduler=True, admin_password=PASSWORD, **NO_BANK, **esms_settings(fake_esms))
    admin = Admin(svc)
    admin.sign_in()
    rule = "order-awaiting-transfer"
    admin.post(f"/admin/templates/{rule}/save", {"template": "Don {{ order_number }}: {% if account %}STK {{ account }}"
                                                             "{% else %}shop se goi ban de huong dan{% endif %}"})
    assert svc.post_json(order_body(35), topic="order.created").status_code == 200
    wait_until(lambda: any("shop se goi ban" in a["Content"] for a in fake_esms.accepted), what="the text sent")
    assert held_rows(svc)[0]["status"] != "held"
