"""GHN's order-detail API: what GHN itself holds of a parcel, to confirm a webhook call with."""
from __future__ import annotations

from typing import Any

import requests

DETAIL_PATH = "/shiip/public-api/v2/shipping-order/detail"


class GhnUnavailable(Exception):
    """GHN could not be asked now (down, slow, refused our token): ask again later."""


class GhnClient:
    def __init__(self, url: str, token: str, shop_id: str = "", timeout: float = 5.0):
        self.url = url.rstrip("/") + DETAIL_PATH
        self.headers = {"Token": token, "Content-Type": "application/json",
                        **({"ShopId": shop_id} if shop_id else {})}
        self.timeout = timeout

    def detail(self, order_code: str) -> dict[str, Any] | None:
        """The order's `data` as GHN answers it; None when GHN answers that it has no such order."""
        try:
            r = requests.post(self.url, json={"order_code": order_code}, headers=self.headers,
                              timeout=(min(self.timeout, 5.0), self.timeout))
        except requests.RequestException as exc:
            raise GhnUnavailable(f"cannot reach GHN: {type(exc).__name__}") from None
        if r.status_code in (401, 403):
            raise GhnUnavailable(f"GHN refused GHN_TOKEN/GHN_SHOP_ID (HTTP {r.status_code})")
        if r.status_code >= 500 or r.status_code == 429:
            raise GhnUnavailable(f"GHN HTTP {r.status_code}")
        try:
            body = r.json()
        except ValueError:
            raise GhnUnavailable(f"GHN answered HTTP {r.status_code} without JSON") from None
        if not isinstance(body, dict):
            raise GhnUnavailable("GHN's answer is not a JSON object")
        data = body.get("data")
        if r.status_code == 200 and body.get("code") == 200 and isinstance(data, dict):
            return data
        if r.status_code == 400 or body.get("code") == 400:
            return None            # GHN: no such order (for this shop)
        raise GhnUnavailable(f"GHN HTTP {r.status_code}, code {body.get('code')!r}: {str(body.get('message'))[:100]}")
