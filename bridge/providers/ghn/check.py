"""A GHN call confirmed by GHN's order-detail API (Provider.shipment_check): GHN signs nothing,
so with the shop's API token configured, what GHN itself holds is what is applied.

Whatever the call claims, the status applied is GHN's current one in the order detail, with its
time in the log (which may be newer than the call's), and the COD is GHN's: a call (with a Type
or without) only makes the bridge read GHN's record. A call whose status GHN's record never had,
a parcel GHN does not know, or a ClientOrderCode other than the one GHN holds for that parcel
contradicts the call: kept, not applied. GHN unreachable: the call waits for the periodic pass
(jobs.py). Without GHN_TOKEN nothing is asked: None.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...events import ShipmentUpdate
from ...shipments import Checked
from .client import GhnClient, GhnUnavailable
from .statuses import STATUS_TYPES, ours
from .webhook import amount, iso_time


def check(settings: Any, ev: ShipmentUpdate) -> Checked | None:
    if not settings.ghn_token:
        return None
    client = GhnClient(settings.ghn_api_url, settings.ghn_token, settings.ghn_shop_id, settings.ghn_timeout)
    try:
        data = client.detail(ev.tracking)
    except GhnUnavailable as exc:
        return Checked("unreachable", detail=str(exc))
    if data is None:
        return Checked("contradicted", detail=f"GHN has no order {ev.tracking}")
    current = str(data.get("status") or "").strip().lower()
    if not current:       # an answer in a shape we do not know: never read as a denial
        return Checked("unreachable", detail="GHN's order detail has no status")
    log = [entry for entry in data.get("log") or [] if isinstance(entry, dict)]
    had = {current} | {str(entry.get("status") or "").strip().lower() for entry in log}
    claimed = ev.carrier_status.strip().lower()
    if claimed and claimed not in had:
        return Checked("contradicted", detail=f"GHN's order detail shows {current or '-'}, never {claimed}")
    held = str(data.get("client_order_code") or "").strip()
    if ev.order_ref and held.upper() != ev.order_ref.strip().upper():
        return Checked("contradicted", detail=f"GHN's order detail names the shop's order {held or '-'}, "
                                              f"not {ev.order_ref}")
    cod = amount(data.get("cod_amount"))
    ev = replace(ev, order_ref=ev.order_ref or held, cod_amount=cod if cod is not None else ev.cod_amount)
    if ev.kind and ev.kind not in STATUS_TYPES:
        # a call that changes no status (update_cod, update_fee): GHN's COD is the one compared
        return Checked("verified", replace(ev, status=""))
    times = [iso_time(entry.get("updated_date")) for entry in log
             if str(entry.get("status") or "").strip().lower() == current]
    at = max((x for x in times if x is not None), default=None) or iso_time(data.get("updated_date")) or ev.event_at
    return Checked("verified", replace(ev, status=ours(current), carrier_status=current, event_at=at))
