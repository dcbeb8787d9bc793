"""The calls GHN's order-detail API could not confirm when they came (it was down, slow, or
refused our token), asked again every GHN_VERIFY_EVERY seconds for 30 days. GHN itself retries a
call only for about 50 seconds, so this pass, not GHN, is what brings those statuses in."""
from __future__ import annotations

import logging
from typing import Any

from ... import shipments

log = logging.getLogger(__name__)


def verify(bridge: Any) -> int:
    n = shipments.retry(bridge, shipments.UNVERIFIED, carrier="ghn")
    if n:
        log.info("GHN: %d call(s) confirmed late through the order-detail API", n)
    return n
