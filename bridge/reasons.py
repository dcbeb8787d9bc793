"""Why something happened, stored as a code plus parameters and shown in the reader's language.

A reason is written once (a payment decided, a message failed, a delivery refused) and read many
times, by an owner in Vietnamese, by an engineer in English, by a log. Storing the English
sentence froze the language at write time; storing `{"code": ..., "p": {...}}` keeps the row
machine-readable (a report can count codes) and lets each reader render it. Every module that
writes reasons registers its codes with their English text (marked with `N_` so the catalogue
extracts it); the admin renders through gettext, logs and the CLI through `english`.

Rows written before a reason had a code (and texts that come from outside, such as a provider's
error message) are plain strings: they are shown as they are.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

_TEXTS: dict[str, str] = {}


def N_(text: str) -> str:
    """Marks English text that is translated where it is shown, not where it is written."""
    return text


@dataclass(frozen=True)
class Reason:
    code: str
    params: dict[str, Any] = field(default_factory=dict)


def register(texts: dict[str, str]) -> None:
    """Add codes and their English text (with %(name)s placeholders). A code names one thing:
    registering it again with another text is a programming error, refused at import."""
    for code, text in texts.items():
        if _TEXTS.get(code, text) != text:
            raise ValueError(f"reason code {code!r} registered twice with different texts")
        _TEXTS[code] = text


def encode(code: str, **params: Any) -> str:
    """The stored form. Parameters are plain values (numbers, order numbers, amounts already
    written as money, or another encoded reason, which is rendered in turn)."""
    if code not in _TEXTS:
        raise KeyError(f"unregistered reason code {code!r}")
    return json.dumps({"code": code, "p": {k: _nested(v) for k, v in params.items()}}, ensure_ascii=False,
                      separators=(",", ":"))


def word(code: str, fallback: str) -> str:
    """A stored code (a status, a channel) as a reason's parameter: the registered `code`, encoded,
    so it is read in the reader's language wherever the reason is shown; `fallback` as plain text
    when there is no word for it (a status a shop's plugin added)."""
    return encode(code) if code in _TEXTS else fallback


def _nested(value: Any) -> Any:
    """A parameter that is itself a reason we wrote is kept as a reason ({"r": ...}) and rendered
    in turn; every other string (a provider's error text, whatever it looks like) stays text."""
    if isinstance(value, str):
        r = decode(value)
        if r is not None and r.code in _TEXTS:
            return {"r": {"code": r.code, "p": r.params}}
    return value


def decode(stored: str | None) -> Reason | None:
    """The code and parameters of a stored reason; None for a plain string."""
    if not stored or not stored.startswith('{"code":'):
        return None
    try:
        data = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("code"), str) or not isinstance(data.get("p", {}), dict):
        return None
    return Reason(data["code"], data.get("p", {}))


def code_of(stored: str | None) -> str | None:
    r = decode(stored)
    return r.code if r else None


def render(stored: str | None, translate: Callable[[str], str] = lambda s: s) -> str:
    """The sentence for a reader: `translate` is gettext in the reader's language (the identity
    gives English). An unknown code (a row written by a newer version) shows its code and
    parameters rather than nothing."""
    r = decode(stored)
    if r is None:   # plain text: ours marked N_ where it was written (translated), anyone else's as it is
        return translate(stored) if stored else ""
    return _render(r, translate, 0)


def _render(r: Reason, translate: Callable[[str], str], depth: int) -> str:
    params = {k: _render(Reason(v["r"].get("code", "?"), v["r"].get("p") or {}), translate, depth + 1)
              if _is_nested(v) and depth < 3 else v for k, v in r.params.items()}
    text = _TEXTS.get(r.code)
    for template in ((translate(text), text) if text is not None else ()):
        try:
            return template % params
        except (KeyError, TypeError, ValueError):   # a wrong placeholder in a translation: the English is right
            continue
    # an unknown code (a row of a newer version) or parameters that do not fit: never nothing, never an error
    return f"{r.code} {json.dumps(params, ensure_ascii=False, default=str)}"


def _is_nested(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("r"), dict) and isinstance(value["r"].get("p", {}), dict)


def english(stored: str | None) -> str:
    """For logs, the CLI and English API answers."""
    return render(stored)
