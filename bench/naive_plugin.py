"""The way WordPress SMS plugins work, for comparison only: the webhook request itself calls
the SMS provider and answers when the provider has answered. Not part of woo-bridge."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys

import requests
from waitress import serve

SECRET = os.environ["WOO_WEBHOOK_SECRET"].encode()
BASE = os.environ["ESMS_BASE_URL"]
session = requests.Session()


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    sig = environ.get("HTTP_X_WC_WEBHOOK_SIGNATURE", "")
    if not hmac.compare_digest(base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest()).decode(), sig):
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [b'{"ok":false}']
    order = json.loads(body)
    session.post(BASE + "/json/SendMultipleMessage_V4_post_json/", json={
        "ApiKey": os.environ["ESMS_API_KEY"], "SecretKey": os.environ["ESMS_SECRET_KEY"], "Phone": "0912345678",
        "Content": f"Don #{order['number']}", "SmsType": "2", "Brandname": "SHOPDEMO", "IsUnicode": "0",
        "RequestId": f"naive-{order['id']}"}, timeout=60)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"ok":true}']


if __name__ == "__main__":
    serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=8, ident="naive")
