"""FiboSMS settings: the push URL's token and what a bank credit pushed through it may do."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ... import envparse as p, reasons
from ...reasons import N_

reasons.register({"fibo.trust": N_("FiboSMS push: it proves only that the FIBO_TOKEN holder sent it, so it is never "
                                   "confirmed automatically (FIBO_PAYMENTS=%(mode)s)")})


@dataclass(frozen=True)
class FiboSettings:
    fibo_token: str = ""                 # in the FiboSMS push URL: opens only /inbound/fibo
    fibo_payments: str = "review"        # what a bank credit pushed by FiboSMS may do: off | review | confirm


ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "FIBO_TOKEN": ("fibo_token", str),
    "FIBO_PAYMENTS": ("fibo_payments", p.choice("off", "review", "confirm")),
}


def payment_trust(settings: Any) -> tuple[str, str]:
    """A push names the bank in a query parameter, so it proves only that the FIBO_TOKEN holder
    sent it: FIBO_PAYMENTS decides how far its bank credits go."""
    return settings.fibo_payments, reasons.encode("fibo.trust", mode=settings.fibo_payments)
