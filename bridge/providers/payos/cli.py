"""`python -m bridge payos-confirm-webhook [URL]`: register our webhook URL with payOS (payOS
first calls it with a sample notification, which we answer 200 without booking anything); and
check-config's word on payOS."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable


def cmd_confirm_webhook(args: argparse.Namespace) -> int:
    from ...config import load_settings
    from .client import PayosClient, PayosError
    s = load_settings()
    if not s.payos_configured:
        raise ValueError("payOS is not configured: set PAYOS_CLIENT_ID, PAYOS_API_KEY and PAYOS_CHECKSUM_KEY "
                         "(my.payos.vn > your payment channel > API keys)")
    url = args.url or f"{s.public_url}/inbound/payos"
    try:
        with PayosClient(s) as api:
            answer = api.confirm_webhook(url)
    except PayosError as exc:
        print(f"payOS did not register {url}: {exc.detail}", file=sys.stderr)
        return 1
    print(f"payOS sends payments to {answer.get('webhookUrl') or url} "
          f"(channel {answer.get('name', '')}, account {answer.get('accountNumber', '')} {answer.get('accountName', '')})")
    return 0


def register(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    p = sub.add_parser("payos-confirm-webhook", help="register our payOS webhook URL with payOS (it calls it once)")
    p.add_argument("url", nargs="?", default="", help="the URL (default PUBLIC_URL/inbound/payos)")
    return {"payos-confirm-webhook": cmd_confirm_webhook}


def summary(s: Any) -> str:
    """check-config's word on payOS."""
    return (f"payOS links every {s.payos_every:g} s, reconcile every {s.payos_reconcile_every:g} s"
            if s.payos_configured else "payOS off")
