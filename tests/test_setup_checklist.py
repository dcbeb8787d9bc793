"""The set-up checklist on the dashboard, step by step: what a fresh install shows, and each step
turning done when the owner does what it says (through the admin as a signed-in owner sees it)."""
from __future__ import annotations

import random
import re
import threading

from werkzeug.serving import make_server

from bridge import setup_checklist
from bridge.envparse import bank_accounts
from tests.conftest import POLL_INTERVAL, esms_settings, smsgate_settings, woo_settings
from tests.test_admin import PASSWORD, Admin

FRESH = dict(admin_password=PASSWORD, transfer_bank="", transfer_account="", transfer_holder="", owner_phones=())


def steps_of(svc) -> tuple[str, dict[str, str]]:
    """The dashboard's HTML and each step's state by key."""
    a = Admin(svc)
    a.sign_in()
    html = a.get("/admin/").text
    return html, dict(re.findall(r'id="step-([a-z_]+)" data-state="([a-z]+)"', html))


def step_html(html: str, key: str) -> str:
    return html.split(f'id="step-{key}"', 1)[1].split("</li>", 1)[0]


class Served:
    """An app served on a loopback address at a port WordPress delivers to, as a proxy in front
    of it would (each test its own 127.x.y.z, so parallel workers never share one)."""

    def __init__(self, app):
        for port in (8080, 80, 443):
            host = f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
            try:
                self.server = make_server(host, port, app, threaded=True)
            except OSError:
                continue
            self.url = f"http://{host}" + ("" if port == 80 else f":{port}")
            threading.Thread(target=self.server.serve_forever, args=(POLL_INTERVAL,), daemon=True).start()
            return
        raise AssertionError("no loopback address could listen on 8080, 80 or 443")

    def close(self) -> None:
        self.server.shutdown()


def test_a_fresh_install_shows_every_core_step_to_do_in_vietnamese(service_factory):
    svc = service_factory(**FRESH)
    html, states = steps_of(svc)
    assert 'id="setup"' in html and "Danh sách việc cần làm" in html
    assert states == {"sending": "info", "bank": "todo", "receiving": "todo", "public_url": "todo",
                      "woocommerce": "todo"}   # the shop provider's own step: not connected yet
    assert 'href="/admin/woocommerce"' in step_html(html, "woocommerce")
    assert "ghi lại, không gửi" in step_html(html, "sending")                    # dry-run said plainly
    assert "TRANSFER_BANK, TRANSFER_ACCOUNT, TRANSFER_HOLDER" in step_html(html, "bank")
    assert "BANK_ACCOUNTS" in step_html(html, "receiving")
    assert f"cổng {svc.settings.public_url.rsplit(':', 1)[1]}" in step_html(html, "public_url")
    assert 'href="/admin/settings"' in step_html(html, "bank")                 # each line says where


def test_the_sending_step_is_done_with_a_live_channel_the_rules_use(service_factory, fake_esms):
    html, states = steps_of(service_factory(**FRESH, **esms_settings(fake_esms)))
    assert states["sending"] == "done" and "esms" in step_html(html, "sending")


def test_the_bank_step_is_done_with_every_detail_and_a_known_bank(service_factory):
    html, states = steps_of(service_factory(**{**FRESH, "transfer_bank": "Vietcombank",
                                               "transfer_account": "0071009998887", "transfer_holder": "SHOP DEMO"}))
    assert states["bank"] == "done" and "0071009998887" in step_html(html, "bank")
    assert states["receiving"] == "done"   # the transfer account is matched on when BANK_ACCOUNTS is unset
    html, states = steps_of(service_factory(**{**FRESH, "transfer_bank": "Ngân hàng Mặt Trăng",
                                               "transfer_account": "1", "transfer_holder": "X"}))
    assert states["bank"] == "todo" and "Ngân hàng Mặt Trăng" in step_html(html, "bank")


def test_the_receiving_step_is_done_with_bank_accounts(service_factory):
    html, states = steps_of(service_factory(**FRESH, bank_accounts=bank_accounts("MB:0801234567890")))
    assert states["receiving"] == "done" and "0801234567890" in step_html(html, "receiving")


def test_public_url_must_use_a_port_wordpress_delivers_to_and_reach_this_service(service_factory):
    svc = service_factory(**FRESH)
    front = Served(svc.app)
    other = service_factory(**FRESH, db_path=svc.settings.db_path + ".other.db")   # another woo-bridge
    elsewhere = Served(other.app)
    try:
        ours = service_factory(**{**FRESH, "db_path": svc.settings.db_path, "public_url": front.url})
        html, states = steps_of(ours)
        assert states["public_url"] == "todo" and "10 phút" in step_html(html, "public_url")   # not checked yet
        assert setup_checklist.check_public_url(ours.bridge) == "reached"
        html, states = steps_of(ours)
        assert states["public_url"] == "done" and front.url in step_html(html, "public_url")

        # the name points at another woo-bridge: it answers 200, but it is not this one
        wrong = service_factory(**{**FRESH, "db_path": svc.settings.db_path, "public_url": elsewhere.url})
        assert setup_checklist.check_public_url(wrong.bridge) == "other"
        html, states = steps_of(wrong)
        assert states["public_url"] == "todo" and "dịch vụ khác" in step_html(html, "public_url")
    finally:
        front.close()
        elsewhere.close()
    gone = service_factory(**{**FRESH, "db_path": svc.settings.db_path, "public_url": elsewhere.url})
    assert setup_checklist.check_public_url(gone.bridge, timeout=2) == "unreachable"
    assert steps_of(gone)[1]["public_url"] == "todo"
    # a name no resolver takes (a label of more than 63 characters): unreachable, said, not a crash of the job
    unusable = service_factory(**{**FRESH, "db_path": svc.settings.db_path,
                                  "public_url": "http://" + "cua-hang-" * 8 + "ngoc.example.vn"})
    assert setup_checklist.check_public_url(unusable.bridge, timeout=2) == "unreachable"
    assert steps_of(unusable)[1]["public_url"] == "todo"


def test_the_phone_step_appears_with_smsgate_and_is_done_once_the_phone_reports(service_factory, fake_smsgate):
    phone = fake_smsgate
    assert "smsgate" not in steps_of(service_factory(**FRESH))[1]        # a shop without a phone: no such step
    svc = service_factory(**{**FRESH, **smsgate_settings(phone)})
    html, states = steps_of(svc)
    assert states["smsgate"] == "todo" and "chưa bao giờ" in step_html(html, "smsgate")
    phone.webhook_url = svc.url + "/inbound/smsgate"
    assert phone.post_event("system:ping", {}).status_code == 200
    html, states = steps_of(svc)
    assert states["smsgate"] == "done"
    svc.clock.advance(2 * 3600)
    html, states = steps_of(svc)
    assert states["smsgate"] == "todo" and "giờ qua" in step_html(html, "smsgate")


def test_the_checklist_gives_way_to_one_line_when_everything_is_done(service_factory, fake_esms, woo):
    shop = {"transfer_bank": "Vietcombank", "transfer_account": "0071009998887", "transfer_holder": "SHOP DEMO",
            **woo_settings(woo), **esms_settings(fake_esms)}
    svc = service_factory(**{**FRESH, **shop})
    front = Served(svc.app)
    try:
        done = service_factory(**{**FRESH, **shop, "db_path": svc.settings.db_path, "public_url": front.url})
        assert setup_checklist.check_public_url(done.bridge) == "reached"
        html, states = steps_of(done)
        assert states == {"sending": "done", "bank": "done", "receiving": "done", "public_url": "done",
                          "woocommerce": "todo"}   # the shop's webhooks are not there yet
        a = Admin(done)
        a.sign_in()
        a.post("/admin/woocommerce/connect")        # the owner's one click creates them
        html, _ = steps_of(done)
    finally:
        front.close()
    assert 'id="setup"' not in html and 'id="setup-done"' in html
