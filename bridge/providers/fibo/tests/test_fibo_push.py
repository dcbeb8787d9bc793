"""The FiboSMS push contract as its document states it (fixtures/fibosms_push_doc.txt): the query
parameters it sends and the XML it must read back, fed through the webhook."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bridge.config import Settings
from bridge.events import ReceivedText
from bridge.providers.base import Refused, Request, Text
from bridge.providers.fibo.webhook import push

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DOC = (FIXTURES / "fibosms_push_doc.txt").read_text(encoding="utf-8")
SETTINGS = Settings(fibo_token="test-fibo-token", inbound_token="old-shared-token")


def get(**args: str) -> Request:
    return Request("GET", "/inbound/fibo", args, {}, b"")


def samples() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "bank_sms.jsonl").read_text(encoding="utf-8").splitlines()]


def test_the_document_names_the_parameters_we_read():
    for name in ("message", "phone", "guid"):
        assert re.search(rf"^- \**{name}\**:", DOC, re.M), name


@pytest.mark.parametrize("sample", samples(), ids=lambda s: s["id"])
def test_a_pushed_bank_sms_is_stored_under_its_guid_without_the_token(sample):
    req = get(token="test-fibo-token", message=sample["body"], phone=sample["sender"], guid=f"g-{sample['id']}")
    push.validate(req, SETTINGS)
    [event] = push.parse(req, SETTINGS)
    assert isinstance(event, ReceivedText)
    assert (event.source, event.external_id, event.sender, event.text, event.device) == (
        "fibo", f"g-{sample['id']}", sample["sender"], sample["body"], "fibo")
    assert "token" not in event.raw and event.raw["guid"] == f"g-{sample['id']}"


def test_the_answers_are_the_documents_xml():
    """2: stored, FiboSMS stops pushing; 1: our error, it pushes again (up to 5 times)."""
    stored, status = push.answer([], [{}])
    failed, failed_status = push.failed(RuntimeError("disk full"))
    assert isinstance(stored, Text) and stored.content_type.startswith("text/xml")
    assert stored.body == "<Status>2</Status>" and stored.body in DOC and status == 200
    assert failed.body == "<Status>1</Status>" and failed_status == 500
    assert "- 1: Trang xử lý của đối tác bị lỗi" in DOC and "- 2: Đối tác xử lý thành công" in DOC


@pytest.mark.parametrize("args, hint", [({}, False), ({"token": "guess"}, False), ({"token": "old-shared-token"}, True)])
def test_a_push_without_our_token_is_refused(args, hint):
    with pytest.raises(Refused) as refused:
        push.validate(get(message="x", phone="1", guid="g", **args), SETTINGS)
    assert refused.value.status == 403 and "FIBO_TOKEN" in refused.value.reason
    assert ("INBOUND_TOKEN no longer opens payment ingest" in refused.value.reason) is hint


def test_a_push_missing_a_parameter_says_which():
    with pytest.raises(Refused) as refused:
        push.parse(get(token="test-fibo-token", phone="0912345678"), SETTINGS)
    assert refused.value.status == 400 and refused.value.reason == "missing query parameter(s): message, guid"
