"""gunicorn's access log without secrets: deploy/gunicorn.conf.py sets `logger_class` to this.

The eSMS callback and the FiboSMS push carry their token in the query string (those providers
call a plain URL, unsigned), and an access log is kept for weeks and read by more people than
the admin page. Every atom of the line (request line, query, referer, headers) goes through
`bridge.logs.redact`, so a token never lands in the file, whatever `access_log_format` says.
"""
from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

from .logs import RedactFilter, redact


class RedactedAtoms(SafeAtoms):
    """Each atom redacted as the line's format reads it: the format reads five or six of the fifty
    gunicorn offers (every request header and environ entry), and redacting them all was a sixth
    of a webhook's answer. Kept as they came and redacted before gunicorn's quote escaping (a
    secret holding a quote would not match once escaped)."""

    def __init__(self, atoms: dict[str, Any]):
        dict.__init__(self, atoms)

    def __getitem__(self, k: str) -> Any:
        v = super().__getitem__(k)   # gunicorn's look-up ("{name}" in any case, "-" when missing)
        return redact(v).replace('"', '\\"') if isinstance(v, str) else v


class RedactingLogger(Logger):
    atoms_wrapper_class = RedactedAtoms

    def setup(self, cfg: Any) -> None:
        """gunicorn's error log quotes the request URI when a request fails ("Error handling
        request /inbound/fibo?token=…"): its handlers redact too."""
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.addFilter(RedactFilter())
