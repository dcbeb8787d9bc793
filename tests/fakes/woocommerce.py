"""A fake WooCommerce REST API v3 (wp-json/wc/v3) on 127.0.0.1, as the real one behaves over
plain HTTP: OAuth 1.0a in the query string (HMAC-SHA256, timestamp window, single-use nonce),
orders and their notes, 404 on GET / 400 on PUT of an unknown id with
`woocommerce_rest_shop_order_invalid_id`, `rest_invalid_param` for an unknown status.
It records every status change and note, and can fail on demand.

What the real shop (tests/woolab) showed and this fake now does too: an order's `number` may
differ from its `id` (`number_offset`); webhooks are created with POST, deleted only with
`force=true`, never show their secret or failure count; `deliver()` sends a signed delivery the
way WooCommerce does, with `X-WC-Webhook-Delivery-ID` = hash(webhook id, current second) shared
by every delivery of that webhook in the same second, counting failures and disabling the
webhook after more than 5 in a row (re-activating does not reset the count; a success does);
and our own PUT of an order is echoed back as an `order.updated` delivery.

App authorization (/wc-auth/v1/<route>, class-wc-auth.php of WooCommerce 9.9.5, and what the lab
showed): every route validates the five parameters first (missing, bad scope, a callback_url not
https: a 401 "Error: ...." page); `authorize` while logged out redirects to `login`, whose form
(username, password, hidden `redirect`) posts to itself and goes on to `authorize`; the grant
page links Approve (`access_granted` with a nonce) and Deny (return_url?success=0&user_id=...);
Approve creates a key (ck_/cs_ + 40 hex, permissions = scope), server-POSTs the JSON keys to
callback_url (timeout 60 s, TLS verified against `callback_ca`), and unless the answer is exactly
200 deletes the key and shows a 401 "Error: ..." page; on 200 it redirects to
return_url?success=1&user_id=.... `GET /wp-json/` is WordPress's public REST index (`url`, `home`,
`namespaces` with wc/v3); `canonical` makes the shop redirect (301) every request that reached it
by another host name to its own address, as a server sending shop.vn to www.shop.vn does (the
real redirect drops Basic auth and breaks an OAuth signature made for the other address). Not modelled: wp_safe_remote_post's refusal of loopback hosts
and ports other than 80/443/8080 (the lab has it for real).
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, unquote, urlencode

from flask import Flask, Response, redirect, request

from .server import LoopbackServer

SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "bridge" / "providers" / "woocommerce" / "fixtures" / "orders_api" /
                     "get-order-20.json").read_text())
SHOP_OFFSET = timedelta(hours=7)   # the shop's time zone: date_* fields are local, date_*_gmt are UTC
ORDERBY = {"date": "date_created_gmt", "modified": "date_modified_gmt", "id": "id", "include": "id", "title": "id",
           "slug": "id"}
STATUSES = ["pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "checkout-draft"]


def _norm(value: str) -> str:
    return quote(unquote(value)).replace("%", "%25")


def oauth_signature(method: str, url: str, params: dict[str, str], secret: str) -> str:
    """WooCommerce's server-side OAuth 1.0a signature (wc-rest-authentication), written from its spec."""
    pairs = sorted((k, v) for k, v in params.items() if k != "oauth_signature")
    joined = "%26".join(f"{_norm(k)}%3D{_norm(v)}" for k, v in pairs)
    base = f"{method.upper()}&{quote(url, '')}&{joined}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), base.encode(), hashlib.sha256).digest()).decode()


class FakeWooCommerce(LoopbackServer):
    def __init__(self, consumer_key: str = "ck_test", consumer_secret: str = "cs_test", number_offset: int = 0):
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        # every REST key the shop knows: consumer key -> (secret, permissions); app authorization adds
        self.keys: dict[str, tuple[str, str]] = {consumer_key: (consumer_secret, "read_write")}
        self.admin_login = ("admin", "admin")
        self.callback_ca: str | bool = True     # what the callback POST verifies TLS against
        self.callbacks: list[dict[str, Any]] = []   # every key POST: url, body, answer code (0: transport error)
        self._sessions: set[str] = set()
        self._nonces_granted: set[str] = set()
        self._next_key = 1
        self.number_offset = number_offset
        self.customers: dict[int, dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []    # every delivery attempted: webhook, topic, delivery id, code
        self._next_webhook = 100
        self.echo_puts = True
        self.orders: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.status_changes: list[tuple[int, str, str]] = []   # (order id, from, to)
        self.puts: list[tuple[int, dict[str, Any]]] = []
        self.put_times: dict[int, float] = {}                  # order id -> time.time() of its first PUT
        self.requests_log: list[dict[str, Any]] = []
        self._nonces: set[str] = set()
        self._failures: list[str] = []
        self.down = False
        self.canonical = False    # redirect requests for another host name to self.url
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.webhook_puts: list[tuple[int, dict[str, Any]]] = []
        self.after_orders_page: Callable[[int], None] | None = None   # the shop changing things between pages
        self.delay = 0.0
        self.timeout_delay = 3.0
        self._lose: list[tuple[str, str]] = []    # (method, path ending): do it, then answer too late
        self._lock = threading.RLock()
        super().__init__()
        self.app = self._make_app()

    # -- data ---------------------------------------------------------------------------
    def add_order(self, order_id: int, total: int, status: str = "on-hold", payment_method: str = "bacs",
                  phone: str = "0912 345 678", created: str = "2026-11-23T02:41:58") -> dict[str, Any]:
        o = copy.deepcopy(SAMPLE)
        o.update(id=order_id, number=str(order_id + self.number_offset), status=status, total=str(total), date_paid=None,
                 date_paid_gmt=None, transaction_id="", payment_method=payment_method, set_paid=False,
                 order_key=f"wc_order_{order_id:08d}")
        _stamp(o, "date_created", created)
        _stamp(o, "date_modified", created)
        o["billing"] = {**o["billing"], "phone": phone}
        with self._lock:
            self.orders[order_id] = o
            self.notes.setdefault(order_id, [])
        return o

    def change(self, order_id: int, status: str, modified: str) -> dict[str, Any]:
        """The shop changes an order (in wp-admin) without us hearing of it."""
        with self._lock:
            o = self.orders[order_id]
            o["status"] = status
            _stamp(o, "date_modified", modified)
            return o

    def add_webhook(self, webhook_id: int, delivery_url: str, topic: str = "order.updated",
                    status: str = "active", name: str | None = None, secret: str = "",
                    failure_count: int = 0) -> dict[str, Any]:
        w = {"id": webhook_id, "name": name or f"woo-bridge: {topic}", "status": status, "topic": topic,
             "resource": topic.split(".")[0], "event": topic.split(".")[1], "hooks": [], "delivery_url": delivery_url,
             "date_created_gmt": "2026-11-01T00:00:00", "date_modified_gmt": "2026-11-01T00:00:00",
             "secret": secret, "failure_count": failure_count}
        with self._lock:
            self.webhooks[webhook_id] = w
        return w

    @staticmethod
    def _public(w: dict[str, Any]) -> dict[str, Any]:
        """What REST v3 shows of a webhook: never its secret, API version or failure count."""
        return {k: v for k, v in w.items() if k not in ("secret", "failure_count", "api_version")}

    def add_customer(self, customer_id: int, email: str, phone: str = "", created: str | None = None,
                     first_name: str = "", last_name: str = "") -> dict[str, Any]:
        created = created or time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        c = {"id": customer_id, "email": email, "first_name": first_name, "last_name": last_name,
             "username": email.split("@")[0], "role": "customer", "date_created_gmt": created,
             "date_modified_gmt": created, "billing": {"first_name": first_name, "last_name": last_name,
                                                        "phone": phone, "email": email}, "shipping": {}}
        with self._lock:
            self.customers[customer_id] = c
        return c

    def deliver(self, topic: str, resource: dict[str, Any]) -> list[int]:
        """Send `resource` to every active webhook of `topic` as WooCommerce does; returns the
        HTTP codes (0 for a transport error). A failure counts; more than 5 in a row disable."""
        import requests
        body = json.dumps(resource).encode()
        codes = []
        with self._lock:
            hooks = [w for w in self.webhooks.values() if w["topic"] == topic and w["status"] == "active"]
        for w in hooks:
            delivery_id = hashlib.md5(f"{w['id']}{int(time.time())}".encode()).hexdigest()
            sig = base64.b64encode(hmac.new(w["secret"].encode(), body, hashlib.sha256).digest()).decode()
            headers = {"Content-Type": "application/json", "User-Agent": "WooCommerce/9.9.5 Hookshot (WordPress/6.8.8)",
                       "X-WC-Webhook-Source": self.url + "/", "X-WC-Webhook-Topic": topic,
                       "X-WC-Webhook-Resource": w["resource"], "X-WC-Webhook-Event": w["event"],
                       "X-WC-Webhook-Signature": sig, "X-WC-Webhook-ID": str(w["id"]),
                       "X-WC-Webhook-Delivery-ID": delivery_id}
            try:
                code = requests.post(w["delivery_url"], data=body, headers=headers, timeout=10,
                                     allow_redirects=False).status_code
            except requests.RequestException:
                code = 0
            with self._lock:
                self.deliveries.append({"webhook": w["id"], "topic": topic, "delivery_id": delivery_id, "code": code,
                                        "resource_id": resource.get("id")})
                if 200 <= code <= 302:
                    w["failure_count"] = 0
                elif w["failure_count"] > 5:
                    w["status"] = "disabled"
                else:
                    w["failure_count"] += 1
            codes.append(code)
        return codes

    @staticmethod
    def _page(items: list[dict[str, Any]]) -> Response:
        """WordPress pagination: per_page (1-100, default 10), page; totals in X-WP-* headers."""
        try:
            per_page = int(request.args.get("per_page", 10))
            page = int(request.args.get("page", 1))
        except ValueError:
            per_page, page = 0, 0
        if not 1 <= per_page <= 100 or page < 1:
            return FakeWooCommerce._json({"code": "rest_invalid_param", "message": "Invalid parameter(s): per_page",
                                          "data": {"status": 400}}, 400)
        total = len(items)
        r = FakeWooCommerce._json(items[(page - 1) * per_page: page * per_page])
        r.headers["X-WP-Total"] = str(total)
        r.headers["X-WP-TotalPages"] = str(max(1, -(-total // per_page)) if total else 0)
        return r

    def lose_answer_to(self, method: str, path_end: str) -> None:
        """The next such call is carried out (the order changed, the note stored), then the
        answer comes after `timeout_delay`: what a client that gave up never learns."""
        with self._lock:
            self._lose.append((method, path_end))

    def fail_next(self, n: int, mode: str) -> None:
        """"http500" or "timeout" (sleeps 3 s) for the next n API calls."""
        with self._lock:
            self._failures.extend([mode] * n)

    # -- HTTP ---------------------------------------------------------------------------
    @staticmethod
    def _json(data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json; charset=UTF-8")

    def _error(self, code: str, message: str, status: int, **data: Any) -> Response:
        return self._json({"code": code, "message": message, "data": {"status": status, **data}}, status)

    def _authenticate(self) -> Response | None:
        q = request.args.to_dict()
        if request.authorization is not None:  # Basic auth is refused over plain HTTP by the real shop
            return self._error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)
        needed = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature_method", "oauth_signature")
        if any(k not in q for k in needed):
            return self._error("woocommerce_rest_authentication_error", "Missing OAuth parameter.", 401)
        with self._lock:
            known = self.keys.get(q["oauth_consumer_key"])
        if known is None:
            return self._error("woocommerce_rest_authentication_error", "Consumer key is invalid.", 401)
        if q["oauth_signature_method"] not in ("HMAC-SHA256", "HMAC-SHA1"):
            return self._error("woocommerce_rest_authentication_error", "Invalid signature method.", 401)
        if abs(time.time() - int(q["oauth_timestamp"])) > 900:
            return self._error("woocommerce_rest_authentication_error", "Invalid timestamp.", 401)
        expected = oauth_signature(request.method, request.base_url, q, known[0])
        if not hmac.compare_digest(expected, q["oauth_signature"]):
            return self._error("woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match.", 401)
        with self._lock:
            if q["oauth_nonce"] in self._nonces:
                return self._error("woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been used.", 401)
            self._nonces.add(q["oauth_nonce"])
        return None

    # -- app authorization (/wc-auth/v1) --------------------------------------------------
    def _auth_routes(self, app: Flask) -> None:
        params = ("app_name", "user_id", "return_url", "callback_url", "scope")

        def formatted(url: str) -> str:
            url = unquote(url)
            return url if "://" in url else "https://" + url

        def denied(message: str) -> Response:
            return Response(f"<html><body><p>Error: {message}.</p></body></html>", status=401,
                            content_type="text/html; charset=UTF-8")

        def build(data: dict[str, str], route: str, **extra: str) -> str:
            return f"{self.url}/wc-auth/v1/{route}?" + urlencode({**{k: data[k] for k in params}, **extra})

        def with_args(url: str, **args: str) -> str:
            return url + ("&" if "?" in url else "?") + urlencode(args)

        def logged_in() -> bool:
            with self._lock:
                return request.cookies.get("wordpress_logged_in_fake", "") in self._sessions

        @app.route("/wc-auth/v1/<route>", methods=["GET", "POST"])
        def wc_auth(route: str):
            data = {k: request.values.get(k, "") for k in params}
            for k in params:
                if not data[k]:
                    return denied(f"Missing parameter {k}")
            if data["scope"] not in ("read", "write", "read_write"):
                return denied(f"Invalid scope {data['scope']}")
            if not formatted(data["callback_url"]).lower().startswith("https://"):
                return denied("The callback_url needs to be over SSL")
            refused = with_args(formatted(data["return_url"]), success="0", user_id=data["user_id"])
            if route == "login" and not logged_in():
                if request.method == "POST" and (request.form.get("username"), request.form.get("password")) \
                        == self.admin_login:
                    session = hashlib.sha256(str(time.time_ns()).encode()).hexdigest()
                    with self._lock:
                        self._sessions.add(session)
                    r = redirect(request.form.get("redirect") or build(data, "authorize"))
                    r.set_cookie("wordpress_logged_in_fake", session, httponly=True)
                    return r
                return Response(f'<html><body><p>To connect to {data["app_name"]} you need to be logged in. '
                                f'<a href="{refused}">cancel</a></p><form method="post" class="wc-auth-login">'
                                '<input type="text" name="username" id="username"><input type="password" '
                                'name="password" id="password"><input type="hidden" name="redirect" '
                                f'value="{build(data, "authorize")}"><button type="submit" '
                                'class="wc-auth-login-button" name="login" value="Login">Login</button></form>'
                                '</body></html>', content_type="text/html; charset=UTF-8")
            if route in ("login", "authorize") and not logged_in():
                return redirect(build(data, "login"))
            if route == "login":
                return redirect(build(data, "authorize"))
            if route == "authorize":
                nonce = hashlib.sha256(f"nonce{time.time_ns()}".encode()).hexdigest()[:10]
                with self._lock:
                    self._nonces_granted.add(nonce)
                granted = build(data, "access_granted", wc_auth_nonce=nonce)
                return Response(f'<html><body><p>{data["app_name"]} would like to {data["scope"]}</p>'
                                f'<a href="{granted}" class="button wc-auth-approve">Approve</a> '
                                f'<a href="{refused}" class="button wc-auth-deny">Deny</a></body></html>',
                                content_type="text/html; charset=UTF-8")
            if route != "access_granted":
                return denied("You do not have permission to access this page")
            with self._lock:
                if request.args.get("wc_auth_nonce") not in self._nonces_granted:
                    return denied("Invalid nonce verification")
                self._nonces_granted.discard(request.args["wc_auth_nonce"])
                key_id, self._next_key = self._next_key, self._next_key + 1
                ck = "ck_" + hashlib.sha1(f"ck{time.time_ns()}{key_id}".encode()).hexdigest()
                cs = "cs_" + hashlib.sha1(f"cs{time.time_ns()}{key_id}".encode()).hexdigest()
                self.keys[ck] = (cs, data["scope"])
            body = {"key_id": key_id, "user_id": data["user_id"], "consumer_key": ck, "consumer_secret": cs,
                    "key_permissions": data["scope"]}
            code, error = 0, ""
            try:
                import requests
                code = requests.post(formatted(data["callback_url"]), data=json.dumps(body),
                                     headers={"Content-Type": "application/json;charset=UTF-8"}, timeout=60,
                                     verify=self.callback_ca).status_code
            except Exception as exc:   # noqa: BLE001 - WordPress turns any transport failure into its message
                error = str(exc)
            with self._lock:
                self.callbacks.append({"url": formatted(data["callback_url"]), "body": body, "code": code})
                if code != 200:
                    self.keys.pop(ck, None)   # maybe_delete_key
            if code != 200:
                return denied(error or "An error occurred in the request and at the time were unable to send the "
                                       "consumer data")
            return redirect(with_args(formatted(data["return_url"]), success="1", user_id=data["user_id"]))

    def _make_app(self) -> Flask:
        app = Flask("fake-woocommerce")
        base = "/wp-json/wc/v3"

        @app.after_request
        def late(resp: Response) -> Response:
            with self._lock:
                hit = next((x for x in self._lose if request.method == x[0] and request.path.endswith(x[1])), None)
                if hit and resp.status_code < 300:
                    self._lose.remove(hit)
            if hit and resp.status_code < 300:
                time.sleep(self.timeout_delay)
            return resp

        self._auth_routes(app)

        @app.before_request
        def gate():
            if self.canonical and request.host_url.rstrip("/") != self.url:
                return redirect(self.url + request.full_path.rstrip("?"), 301)
            if not request.path.startswith("/wp-json/"):
                return None
            if request.path == "/wp-json/":
                if self.down:
                    return Response("<html>Error establishing a database connection</html>", status=500)
                return self._json({"name": "Fake shop", "url": self.url, "home": self.url,
                                   "namespaces": ["oembed/1.0", "wc/store/v1", "wc/v3", "wp/v2"]})
            with self._lock:
                mode = self._failures.pop(0) if self._failures else None
            self.requests_log.append({"method": request.method, "path": request.path, "mode": mode,
                                      "args": request.args.to_dict()})
            if self.delay:
                time.sleep(self.delay)
            if self.down or mode == "http500":
                return Response("<html>Error establishing a database connection</html>", status=500)
            if mode == "timeout":
                time.sleep(3.0)
            return self._authenticate()

        @app.get(base + "/orders")
        def list_orders():
            """modified_after (ISO 8601; shop-local time unless dates_are_gmt=true), orderby
            (default date), order (default desc), status (default any), per_page and page."""
            args = request.args
            gmt = args.get("dates_are_gmt", "false").lower() in ("1", "true")
            orderby, order = args.get("orderby", "date"), args.get("order", "desc")
            if orderby not in ORDERBY or order not in ("asc", "desc"):
                return self._error("rest_invalid_param", "Invalid parameter(s): orderby, order", 400)
            after = args.get("modified_after")
            if after is not None:
                try:
                    after = datetime.fromisoformat(after.replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%S")
                except ValueError:
                    return self._error("rest_invalid_param", "Invalid parameter(s): modified_after", 400,
                                       params={"modified_after": "Invalid date."})
            field = "date_modified_gmt" if gmt else "date_modified"
            search = args.get("search")
            statuses = [x for x in args.get("status", "any").split(",") if x]
            with self._lock:
                items = [copy.deepcopy(o) for o in self.orders.values()
                         if (after is None or o.get(field, "") > after)
                         and ("any" in statuses or o["status"] in statuses)
                         and (search is None or search == str(o["id"]) or search in json.dumps(o["billing"]))]
            key = ORDERBY[orderby]
            items.sort(key=lambda o: (str(o.get(key) or ""), o["id"]), reverse=order == "desc")
            answer = self._page(items)
            if self.after_orders_page is not None:
                self.after_orders_page(int(request.args.get("page", 1)))
            return answer

        @app.get(base + "/webhooks")
        def list_webhooks():
            with self._lock:
                items = [self._public(w) for w in self.webhooks.values()
                         if request.args.get("status", "all") in ("all", w["status"])]
            return self._page(sorted(items, key=lambda w: w["id"]))

        @app.put(base + "/webhooks/<int:wid>")
        def put_webhook(wid: int):
            body = request.get_json(silent=True) or {}
            with self._lock:
                w = self.webhooks.get(wid)
                if w is None:
                    return self._error("woocommerce_rest_webhook_invalid_id", "Invalid ID.", 404)
                if "status" in body and body["status"] not in ("active", "paused", "disabled"):
                    return self._error("rest_invalid_param", "Invalid parameter(s): status", 400)
                self.webhook_puts.append((wid, body))
                w.update({k: v for k, v in body.items() if k in ("status", "name", "delivery_url", "secret")})
                return self._json(self._public(w))

        @app.post(base + "/webhooks")
        def post_webhook():
            body = request.get_json(silent=True) or {}
            topic = str(body.get("topic") or "")
            resource, _, event = topic.partition(".")
            if not (topic.startswith("action.woocommerce_") or (resource in ("order", "customer", "product", "coupon")
                                                                and event in ("created", "updated", "deleted",
                                                                              "restored"))):
                return self._error("woocommerce_rest_webhook_invalid_topic", "Webhook topic is required and must be "
                                   "valid.", 400)
            if not str(body.get("delivery_url") or "").startswith(("http://", "https://")):
                return self._error("woocommerce_rest_webhook_invalid_delivery_url", "Webhook delivery URL must be a "
                                   "valid URL starting with http:// or https://.", 400)
            with self._lock:
                self._next_webhook += 1
                wid = self._next_webhook
            # status is always saved active on create, whatever was asked
            w = self.add_webhook(wid, body["delivery_url"], topic, "active", name=body.get("name"),
                                 secret=str(body.get("secret") or "generated-secret"))
            return self._json(self._public(w), 201)

        @app.delete(base + "/webhooks/<int:wid>")
        def delete_webhook(wid: int):
            if request.args.get("force") not in ("true", "1"):
                return self._error("woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", 501)
            with self._lock:
                w = self.webhooks.pop(wid, None)
            if w is None:
                return self._error("woocommerce_rest_webhook_invalid_id", "Invalid ID.", 404)
            return self._json(self._public(w))

        @app.get(base + "/customers")
        def list_customers():
            with self._lock:
                items = [copy.deepcopy(c) for c in self.customers.values()]
            reverse = request.args.get("order", "desc") == "desc"
            items.sort(key=lambda c: c["id"], reverse=reverse)
            return self._page(items)

        @app.get(base + "/orders/<int:oid>")
        def get_order(oid: int):
            with self._lock:
                o = self.orders.get(oid)
                if o is None:
                    return self._error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
                return self._json(o)

        @app.put(base + "/orders/<int:oid>")
        def put_order(oid: int):
            body = request.get_json(silent=True) or {}
            with self._lock:
                o = self.orders.get(oid)
                if o is None:
                    return self._error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 400)
                status = body.get("status")
                if status is not None and status not in STATUSES:
                    return self._error("rest_invalid_param", "Invalid parameter(s): status", 400,
                                       params={"status": f"status is not one of {', '.join(STATUSES)}."})
                self.puts.append((oid, body))
                self.put_times.setdefault(oid, time.time())
                if status and status != o["status"]:
                    self.status_changes.append((oid, o["status"], status))
                    o["status"] = status
                _stamp(o, "date_modified", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))
                if body.get("set_paid"):
                    o["date_paid_gmt"] = o["date_paid_gmt"] or time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
                    o["date_paid"] = o["date_paid_gmt"]
                if "transaction_id" in body:
                    o["transaction_id"] = body["transaction_id"]
                echoed = copy.deepcopy(o)
            if self.echo_puts:   # WooCommerce tells its webhooks about our own change, a moment later
                threading.Thread(target=self.deliver, args=("order.updated", echoed), daemon=True).start()
            return self._json(echoed)

        @app.get(base + "/orders/<int:oid>/notes")
        def get_notes(oid: int):
            with self._lock:
                if oid not in self.orders:
                    return self._error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
                return self._json(list(reversed(self.notes[oid])))

        @app.post(base + "/orders/<int:oid>/notes")
        def post_note(oid: int):
            body = request.get_json(silent=True) or {}
            with self._lock:
                if oid not in self.orders:
                    return self._error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
                if not body.get("note"):
                    return self._error("rest_missing_callback_param", "Missing parameter(s): note", 400)
                n = {"id": 1000 + sum(len(v) for v in self.notes.values()), "author": "woo-bridge",
                     "note": body["note"], "customer_note": bool(body.get("customer_note"))}
                self.notes[oid].append(n)
                return self._json(n, 201)

        return app


def _stamp(o: dict[str, Any], name: str, gmt: str) -> None:
    """Set `name_gmt` and the shop-local `name`, as WooCommerce keeps both."""
    o[f"{name}_gmt"] = gmt
    o[name] = (datetime.fromisoformat(gmt) + SHOP_OFFSET).strftime("%Y-%m-%dT%H:%M:%S")
