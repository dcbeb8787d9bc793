"""One module per bank (and MoMo): its sender IDs, app packages and templates."""
from __future__ import annotations

from . import (abbank, acb, agribank, bidv, donga, eximbank, gpbank, hdbank, indovina, mbbank, momo, msb, ncb, ocb,
               publicbank, pvcombank, sacombank, scb, seabank, shinhan, techcombank, tpbank, vib, vietabank, vietbank,
               vietcombank, vietinbank, vpbank, vrb)
from .base import BankFormat

BANKS: tuple[BankFormat, ...] = tuple(m.FORMAT for m in (
    vietcombank, vietinbank, bidv, techcombank, mbbank, acb, tpbank, vpbank, agribank, sacombank, vib, donga, ocb,
    hdbank, seabank, msb, ncb, scb, eximbank, shinhan, pvcombank, gpbank, vietabank, vietbank, vrb, indovina, abbank,
    publicbank, momo))
