"""VietQR (NAPAS 247) payloads: EMVCo TLV with a CRC-16/CCITT-FALSE checksum (PROTOCOLS §7).

A banking app that scans it fills in bank, account, the exact amount and the memo carrying the
payment code, so the transfer arrives with the code the matcher needs.
"""
from __future__ import annotations

import io

import segno

from ..bank_registry import BINS  # noqa: F401  (canonical bank name -> NAPAS BIN, used by the pay page)


def tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"VietQR field {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def crc16_ccitt_false(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def payload(bin_code: str, account: str, amount: int, memo: str) -> str:
    """The string inside the QR code: dynamic (fixed amount) transfer to `account` with `memo`."""
    if not bin_code.isdigit() or not account or amount <= 0:
        raise ValueError("VietQR needs a bank BIN, an account and a positive amount")
    if len(memo) > 25:
        raise ValueError("VietQR memo is limited to 25 characters")
    merchant = tlv("00", "A000000727") + tlv("01", tlv("00", bin_code) + tlv("01", account)) + tlv("02", "QRIBFTTA")
    body = (tlv("00", "01") + tlv("01", "12") + tlv("38", merchant) + tlv("53", "704") + tlv("54", str(int(amount)))
            + tlv("58", "VN") + tlv("62", tlv("08", memo)) + "6304")
    return body + f"{crc16_ccitt_false(body.encode()):04X}"


def svg(data: str) -> str:
    buf = io.BytesIO()
    segno.make(data, error="m").save(buf, kind="svg", scale=6, border=2, xmldecl=False)
    return buf.getvalue().decode()


def png(data: str) -> bytes:
    buf = io.BytesIO()
    segno.make(data, error="m").save(buf, kind="png", scale=8, border=2)
    return buf.getvalue()
