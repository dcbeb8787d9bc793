"""Our calls to payOS through its official SDK (PyPI `payos`): create, get and cancel a payment
link, confirm the webhook URL. The SDK signs each request and checks each answer's signature.

What we set instead of the SDK's defaults, and why: `max_retries=0` (the SDK would sleep and
retry inside the call, up to ~10 s, holding the job; our link job retries on its next pass with
the same orderCode, durably), our `PAYOS_TIMEOUT`, and `PAYOS_BASE_URL`. Every failure becomes a
`PayosError` saying whether trying again later can help and whether payOS may have acted."""
from __future__ import annotations

from typing import Any

from payos import PayOS
from payos._core.exceptions import APIError, ConnectionError as SdkConnectionError, ConnectionTimeoutError, PayOSError
from payos.types import CreatePaymentLinkRequest
from pydantic import ValidationError

# payOS's answer to a second create under an orderCode it already has: code 231, "Đơn thanh
# toán đã tồn tại" (UNCERTAIN: seen in third-party integrations, not in the SDK or the docs we read).
EXISTS = "231"
TRANSIENT, REFUSED, TAKEN = "transient", "refused", "exists"


class PayosError(Exception):
    """`kind`: TRANSIENT (ask again later; payOS may have acted on it), REFUSED (payOS said no:
    asking again the same way will not help), TAKEN (the orderCode already has a link)."""

    def __init__(self, kind: str, detail: str, code: str = ""):
        super().__init__(detail)
        self.kind, self.detail, self.code = kind, detail, code


def _error(exc: Exception) -> PayosError:
    if isinstance(exc, ConnectionTimeoutError):
        return PayosError(TRANSIENT, "payOS did not answer in time (PAYOS_TIMEOUT); it may have acted")
    if isinstance(exc, SdkConnectionError):
        return PayosError(TRANSIENT, "cannot reach payOS (PAYOS_BASE_URL)")
    if isinstance(exc, APIError):
        status, code = exc.status_code or 0, str(exc.error_code or "")
        if code == EXISTS:
            return PayosError(TAKEN, f"payOS: {exc.error_desc or 'the orderCode already has a link'} (code {code})", code)
        if status in (408, 429) or status >= 500:
            return PayosError(TRANSIENT, f"payOS HTTP {status}: {exc}", code)
        return PayosError(REFUSED, f"payOS refused it (HTTP {status}, code {code or '-'}): {exc}", code)
    if isinstance(exc, ValidationError):
        return PayosError(TRANSIENT, f"payOS answered in a shape the SDK does not know: {exc.error_count()} problem(s)")
    # an answer whose signature is not PAYOS_CHECKSUM_KEY's, or the SDK refusing our input
    return PayosError(TRANSIENT, f"payOS: {type(exc).__name__}: {exc}")


class PayosClient:
    """One per pass of a job (its HTTP connections are closed at the end: use `with`)."""

    def __init__(self, settings: Any):
        self.settings = settings
        self.sdk = PayOS(settings.payos_client_id, settings.payos_api_key, settings.payos_checksum_key,
                         base_url=settings.payos_base_url.rstrip("/") + "/", timeout=settings.payos_timeout,
                         max_retries=0)

    def __enter__(self) -> "PayosClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.sdk.close()

    def _call(self, fn: Any, *args: Any) -> dict[str, Any]:
        """The SDK's answer in payOS's own (camelCase) words (a link's transactions with it)."""
        try:
            return fn(*args).model_dump_camel_case()
        except (PayOSError, ValidationError) as exc:
            raise _error(exc) from None

    def create(self, order_code: int, amount: int, description: str, return_url: str,
               cancel_url: str) -> dict[str, Any]:
        """POST /v2/payment-requests; the new link as payOS describes it (camelCase)."""
        request = CreatePaymentLinkRequest(order_code=order_code, amount=amount, description=description,
                                           return_url=return_url, cancel_url=cancel_url)
        return self._call(self.sdk.payment_requests.create, request)

    def get(self, link: int | str) -> dict[str, Any]:
        """GET /v2/payment-requests/{paymentLinkId or orderCode}."""
        return self._call(self.sdk.payment_requests.get, link)

    def cancel(self, link: int | str, reason: str) -> dict[str, Any]:
        """POST /v2/payment-requests/{id}/cancel."""
        return self._call(self.sdk.payment_requests.cancel, link, reason)

    def confirm_webhook(self, url: str) -> dict[str, Any]:
        """POST /confirm-webhook: payOS calls `url` to check it, then sends its payments there."""
        return self._call(self.sdk.webhooks.confirm, url)
