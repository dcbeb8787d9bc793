"""eSMS's own examples (seeds 002 and 004, captured in ../fixtures) read the way the shop owner
needs: each delivery callback as the normalized report it becomes, each documented send code as
retry-or-not."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from bridge.config import load_settings
from bridge.events import DeliveryReport
from bridge.providers.base import Refused, Request
from bridge.providers.esms.sender import SEND_CODES, decode_error_info, normalize_status, read_send_answer
from bridge.providers.esms.webhook import DeliveryCallback
from bridge.sending import Event, Outcome

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOKEN = "fixture-callback-token-5d1c"
SETTINGS = load_settings({"ESMS_CALLBACK_TOKEN": TOKEN}, env_file=None)


def callback(name: str, token: str | None = TOKEN) -> Request:
    """The seed's callback as our endpoint receives it (eSMS calls the CallbackUrl we gave it)."""
    query = (FIXTURES / f"{name}.txt").read_text().strip()
    args = dict(parse_qsl(query, keep_blank_values=True))
    if token is not None:
        args["token"] = token
    return Request(method="GET", path="/callbacks/esms", args=args, headers={}, body=b"")


def parse(name: str) -> DeliveryReport:
    hook = DeliveryCallback()
    req = callback(name)
    hook.validate(req, SETTINGS)
    (event,) = hook.parse(req, SETTINGS)
    assert isinstance(event, DeliveryReport) and event.source == "esms-callback"
    assert event.send_key is None          # the seed's RequestId is empty: the SMSID finds the message
    return event


@pytest.mark.parametrize("name, smsid, event", [
    # SendStatus 5 ("đã gửi xong") is only as good as its counts.
    ("callback_sms_customer_care", "dc712784-9c5f-4c69-b9a8-ea69d56adc9a87", Event.FAILED),   # 0 ok, 2 failed
    ("callback_sms_advertising", "82b0bb8aed914a0aab8deba567c9b8c2", Event.SENT),            # no counts yet
    ("callback_viber", "849fe08c19294b02857cf91687021a50250", Event.DELIVERED),
])
def test_sms_and_viber_callbacks(name, smsid, event):
    got = parse(name)
    assert (got.provider_id, got.report.event, got.report.provider_status) == (smsid, event, "5")
    assert not got.report.provider_retries
    assert not got.report.detail.startswith("Zalo")


def test_a_failed_zalo_callback_names_zalos_error_and_that_esms_sends_the_sms():
    got = parse("callback_zalo_failed")
    report = got.report
    assert got.provider_id == "f66545d2-c7e2-4603-984e-d2238c363c8292"
    assert report.event == Event.FAILED
    assert report.detail.startswith("Zalo (TypeId 25): Zalo error -114: User is inactive, or reject the message")
    assert report.provider_retries == "eSMS sends the SMS instead"
    assert json.loads(report.raw)["error_info"]["error"] == -114


@pytest.mark.parametrize("name, smsid, message_id, at", [
    ("callback_zalo_consult", "7d11c87a22934df390f73ec59d8defd6205", "e1a60e8890be9de4c4ab", "24/04/2024 16:58:01"),
    ("callback_zalo_transaction", "53dbbc6e816f4159a9035a14a787e08f172", "f405841b5f2352790b36", "24/04/2024 17:07:01"),
    ("callback_zalo_journey", "7d11c87a22934df390f73ec59d8defd6205", "e1a60e8890be9de4c4ab", "24/04/2024 16:58:01"),
])
def test_delivered_zalo_callbacks_keep_zalos_answer(name, smsid, message_id, at):
    got = parse(name)
    assert (got.provider_id, got.report.event) == (smsid, Event.DELIVERED)
    assert got.report.detail.startswith("Zalo (TypeId 2") and "Zalo error" not in got.report.detail
    info = json.loads(got.report.raw)["error_info"]
    assert (info["error"], info["data"]["message_id"], info["at"]) == (0, message_id, at)


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_a_seed_callback_without_our_token_is_refused(token):
    with pytest.raises(Refused) as refused:
        DeliveryCallback().validate(callback("callback_viber", token=token), SETTINGS)
    assert refused.value.status == 403


def seed_codes() -> list[tuple[str, str]]:
    lines = (FIXTURES / "send_codes.txt").read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if line and not line.startswith("#")]


@pytest.mark.parametrize("code, words", seed_codes())
def test_every_documented_send_code_is_known_and_retried_only_when_esms_says_later(code, words):
    outcome, meaning = SEND_CODES[code]
    expected = {"100": Outcome.ACCEPTED, "99": Outcome.TRANSIENT}.get(code, Outcome.PERMANENT)
    assert outcome == expected, f"{code} ({words}): {meaning}"
    result = read_send_answer({"CodeResult": code, "SMSID": ""}, SEND_CODES)
    assert (result.outcome, result.code, result.detail) == (expected, code, meaning)


def test_the_seed_send_answer_is_accepted_with_its_smsid():
    data = json.loads((FIXTURES / "send_answer_accepted.json").read_text())
    result = read_send_answer(data, SEND_CODES)
    assert (result.outcome, result.provider_id, result.code) == (Outcome.ACCEPTED, "24342680", "100")


def test_the_seed_status_answer_is_delivered():
    data = json.loads((FIXTURES / "status_answer_sent.json").read_text())
    report = normalize_status(data)
    assert (report.event, report.provider_status) == (Event.DELIVERED, "5")


@pytest.mark.parametrize("value, expected", [
    ('"{\\"error\\":-114,\\"message\\":\\"User is inactive\\"}"', {"error": -114, "message": "User is inactive"}),
    ("%7B%22data%22%3A%7B%22message_id%22%3A%22e1a6%22%7D%2C%22error%22%3A0%2C%22message%22%3A%22Success%22%7D"
     "____24/04/2024%2016:58:01", {"error": 0, "message": "Success", "at": "24/04/2024 16:58:01"}),
])
def test_error_info_in_the_seed_formats_is_decoded(value, expected):
    info = decode_error_info(value)
    assert {k: info[k] for k in expected} == expected
