"""GHTK's status_id numbers, and our status for each.

UNCERTAIN (PAYMENT_SOURCES.md §5b): GHTK's own table was cut short where it was read; these
meanings are the ones independent integrations agree on. A number with no status of ours (a
pickup that failed or is delayed, a delivery delayed) or not in the table is stored with GHTK's
word and applied to nothing ("ignored"): the parcel keeps the status it had.

The 1xx/4x numbers are the shipper's own claims, before GHTK checks them. None of them is a
final status: 45 ("the shipper says delivered") is applied to nothing, so GHTK's own 5 (or a
refusal, 9/20/21, after it) decides, not the shipper's word.
"""
from __future__ import annotations

MEANINGS = {
    -1: "Hủy đơn hàng", 1: "Chưa tiếp nhận", 2: "Đã tiếp nhận", 3: "Đã lấy hàng/Đã nhập kho",
    4: "Đã điều phối giao hàng/Đang giao hàng", 5: "Đã giao hàng/Chưa đối soát", 6: "Đã đối soát",
    7: "Không lấy được hàng", 8: "Hoãn lấy hàng", 9: "Không giao được hàng", 10: "Delay giao hàng",
    11: "Đã đối soát công nợ trả hàng", 12: "Đã điều phối lấy hàng/Đang lấy hàng", 13: "Đơn hàng bồi hoàn",
    20: "Đang trả hàng (COD cầm hàng đi trả)", 21: "Đã trả hàng", 123: "Shipper báo đã lấy hàng",
    127: "Shipper báo không lấy được hàng", 128: "Shipper báo delay lấy hàng", 45: "Shipper báo đã giao hàng",
    49: "Shipper báo không giao được giao hàng", 410: "Shipper báo delay giao hàng",
}
STATUSES = {
    -1: "cancelled", 1: "created", 2: "created", 3: "picked", 4: "delivering", 5: "delivered",
    6: "delivered",        # reconciled: delivered, the COD settled
    9: "delivery_failed", 11: "returned", 12: "picking",
    13: "lost",            # compensated: GHTK pays for a parcel lost or damaged
    20: "returning", 21: "returned", 123: "picked", 49: "delivery_failed",
}


def ours(status_id: int) -> str:
    return STATUSES.get(status_id, "")
