"""Messenger's settings: the page, its tokens, and how long an m.me ref binds."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ... import envparse as p


@dataclass(frozen=True)
class MessengerSettings:
    graph_base_url: str = "https://graph.facebook.com/v21.0"
    messenger_page: str = ""
    messenger_page_token: str = ""
    messenger_app_secret: str = ""
    messenger_verify_token: str = ""
    messenger_tag: str = ""
    messenger_timeout: float = 10.0
    messenger_ref_ttl: float = 3 * 86_400.0   # seconds an m.me ref in a message or pay page binds (then refused)
    # Send API calls per second for the page: Meta documents 300 for text messages per Page;
    # ours stays well under it (README "Sending speed and rate limits").
    messenger_max_per_second: float = 200.0


ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "GRAPH_BASE_URL": ("graph_base_url", p.url),
    "MESSENGER_PAGE": ("messenger_page", str),
    "MESSENGER_PAGE_TOKEN": ("messenger_page_token", str),
    "MESSENGER_APP_SECRET": ("messenger_app_secret", str),
    "MESSENGER_VERIFY_TOKEN": ("messenger_verify_token", str),
    "MESSENGER_TAG": ("messenger_tag", str),
    "MESSENGER_TIMEOUT": ("messenger_timeout", p.positive_float),
    "MESSENGER_REF_TTL": ("messenger_ref_ttl", p.positive_float),
    "MESSENGER_MAX_PER_SECOND": ("messenger_max_per_second", p.non_negative_float),
}
