"""GHN's words for a parcel, and ours for each.

UNCERTAIN (PAYMENT_SOURCES.md §5a): GHN's own status page could not be read; this list is the one
independent integrations agree on. A word not here is stored as GHN sent it and applied to
nothing ("ignored", GHN's word shown to the owner): `exception` (GHN is handling a problem) is
one of those on purpose, since it says nothing about where the parcel is.
"""
from __future__ import annotations

STATUSES = {
    "ready_to_pick": "created",
    "picking": "picking",
    "money_collect_picking": "picking",
    "picked": "picked",
    "storing": "in_transit",
    "transporting": "in_transit",
    "sorting": "in_transit",
    "delivering": "delivering",
    "money_collect_delivering": "delivering",
    "delivered": "delivered",
    "delivery_fail": "delivery_failed",
    "waiting_to_return": "returning",      # delivery given up: waiting to go back to the shop
    "return": "returning",
    "return_transporting": "returning",
    "return_sorting": "returning",
    "returning": "returning",
    "return_fail": "returning",            # the return itself failed: GHN still holds the parcel
    "returned": "returned",
    "cancel": "cancelled",
    "lost": "lost",
    "damage": "lost",                      # damaged: final, reaches neither the customer nor the shop whole
}
# Types of call that carry a status change; the others (update_weight, update_cod, update_fee)
# repeat the parcel's status without changing it.
STATUS_TYPES = ("create", "switch_status")


def ours(status: str) -> str:
    """Our status for GHN's word, "" when we have none."""
    return STATUSES.get(status.strip().lower(), "")
