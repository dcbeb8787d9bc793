"""The fake eSMS itself behaves as PROTOCOLS §3 and the seeds say (tests of the other tests' ground)."""
from __future__ import annotations

import requests


def send(fake, method="POST", **over):
    body = {"ApiKey": fake.api_key, "SecretKey": fake.secret_key, "Phone": "0912345678", "Content": "Xin chao",
            "Brandname": "SHOPDEMO", "SmsType": "2", "IsUnicode": "0", "Sandbox": "0", "RequestId": "r1"}
    body.update(over)
    if method == "GET":
        return requests.get(fake.base_url + "/json/SendMultipleMessage_V4_get", params=body, timeout=5).json()
    return requests.post(fake.base_url + "/json/SendMultipleMessage_V4_post_json/", json=body, timeout=5).json()


def test_send_dedupe_and_errors(fake_esms):
    ok = send(fake_esms)
    assert ok["CodeResult"] == "100" and ok["SMSID"] and ok["CountRegenerate"] == "0"
    assert send(fake_esms)["CodeResult"] == "124"
    assert send(fake_esms, method="GET", RequestId="r2")["CodeResult"] == "100"
    assert send(fake_esms, SecretKey="x", RequestId="r3")["CodeResult"] == "101"
    assert send(fake_esms, Brandname="OTHER", RequestId="r4")["CodeResult"] == "104"
    assert send(fake_esms, SmsType="5", RequestId="r5")["CodeResult"] == "118"
    assert send(fake_esms, RequestId="x" * 121)["CodeResult"] == "159"
    fake_esms.balance = 100
    assert send(fake_esms, RequestId="r6")["CodeResult"] == "103"
    assert [a["RequestId"] for a in fake_esms.accepted] == ["r1", "r2"]


def test_status_balance_and_failure_modes(fake_esms):
    fake_esms.timeout_delay = 0.3
    smsid = send(fake_esms)["SMSID"]
    q = {"RefId": smsid, "ApiKey": fake_esms.api_key, "SecretKey": fake_esms.secret_key}
    assert requests.get(fake_esms.base_url + "/json/GetSendStatus", params=q, timeout=5).json()["SendStatus"] == 2
    fake_esms.set_status(smsid, 5, success=1)
    st = requests.get(fake_esms.base_url + "/json/GetSendStatus", params=q, timeout=5).json()
    assert (st["CodeResponse"], st["SendStatus"], st["SendSuccess"]) == ("100", 5, 1)
    bal = requests.get(f"{fake_esms.base_url}/json/GetBalance/{fake_esms.api_key}/{fake_esms.secret_key}", timeout=5)
    assert bal.json() == {"Balance": 1_000_000 - 800, "CodeResponse": "100", "UserID": 1}
    fake_esms.fail_next(1, "http500")
    r = requests.post(fake_esms.base_url + "/json/SendMultipleMessage_V4_post_json/", json={}, timeout=5)
    assert r.status_code == 500
    fake_esms.fail_next(1, "timeout")
    try:
        send(fake_esms, RequestId="late")
    except Exception:
        pass
    assert fake_esms.accepted_for("late")  # accepted although the answer came late
    assert send(fake_esms, RequestId="late")["CodeResult"] == "124"
