"""Every bank the bridge knows, once: its canonical name, the short forms a shop owner types in
BANK_ACCOUNTS / TRANSFER_BANK, and its NAPAS BIN for VietQR.

Three tables used to say this separately (the config's aliases, the VietQR BINs, the parsers'
bank names) and disagreed: "SHB" had a BIN but no alias, so an SHB shop never showed a QR. The
parsers in bridge/payments/banks/ name banks by the canonical names here (a test holds them to it).

BINs come from NAPAS's published member list, which agrees with all 18 of PROTOCOLS.md §7; a
wrong BIN would send a customer's money to another bank, so a bank whose BIN we could not
confirm there has none here, and its pay page shows the transfer details without a QR.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bank:
    name: str                    # canonical, as the parsers and the admin show it
    aliases: tuple[str, ...]     # other spellings (compared lower-case, letters and digits only)
    bin: str | None = None       # NAPAS BIN (VietQR); None: no QR for this bank


BANKS: tuple[Bank, ...] = (
    Bank("Vietcombank", ("vcb",), "970436"),
    Bank("VietinBank", ("ctg", "icb"), "970415"),
    Bank("BIDV", (), "970418"),
    Bank("Agribank", ("vbard", "vba"), "970405"),
    Bank("Techcombank", ("tcb",), "970407"),
    Bank("MBBank", ("mb", "mbb"), "970422"),
    Bank("ACB", (), "970416"),
    Bank("VPBank", ("vpb",), "970432"),
    Bank("TPBank", ("tpb",), "970423"),
    Bank("Sacombank", ("stb",), "970403"),
    Bank("HDBank", ("hdb",), "970437"),
    Bank("VIB", (), "970441"),
    Bank("MSB", ("maritimebank",), "970426"),
    Bank("Eximbank", ("eib",), "970431"),
    Bank("Shinhan Bank", ("shinhan", "shbvn"), "970424"),
    Bank("OCB", (), "970448"),
    Bank("SHB", ("saigonhanoibank",), "970443"),
    Bank("SeABank", ("seab",), "970440"),
    Bank("NCB", ("quocdan",), "970419"),
    Bank("SCB", (), "970429"),
    Bank("DongA Bank", ("donga", "dab", "dob"), "970406"),
    Bank("PVcomBank", ("pvcb",), "970412"),
    Bank("GPBank", ("gpb",), "970408"),
    Bank("VietABank", ("vab",), "970427"),
    Bank("VietBank", (), None),          # not in the NAPAS list we read: no QR until confirmed
    Bank("VRB", (), "970421"),
    Bank("Indovina Bank", ("ivb", "indovina"), "970434"),
    Bank("ABBANK", ("abb",), "970425"),
    Bank("Public Bank Vietnam", ("publicbank", "pbvn"), "970439"),
    Bank("MoMo", (), None),              # a wallet, not a bank: no VietQR transfer
)


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


ALIASES: dict[str, str] = {_key(a): b.name for b in BANKS for a in (b.name, *b.aliases)}
BINS: dict[str, str] = {b.name: b.bin for b in BANKS if b.bin}


def bank_name(text: str) -> str:
    """The canonical name for what a shop owner typed ("vcb", "MB", "Shinhan"), or ValueError."""
    name = ALIASES.get(_key(text))
    if name is None:
        raise ValueError(f"unknown bank {text.strip()!r} (e.g. Vietcombank, MB, BIDV, Techcombank, SHB, MoMo)")
    return name
