"""gunicorn's access log without secrets: deploy/gunicorn.conf.py sets `logger_class` to this.

The eSMS callback and the FiboSMS push carry their token in the query string (those providers
call a plain URL, unsigned), and an access log is kept for weeks and read by more people than
the admin page. Every atom of the line (request line, query, referer, headers) goes through
`bridge.logs.redact`, so a token never lands in the file, whatever `access_log_format` says.
"""
from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from .logs import RedactFilter, redact


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}

    def setup(self, cfg: Any) -> None:
        """gunicorn's error log quotes the request URI when a request fails ("Error handling
        request /inbound/fibo?token=…"): its handlers redact too."""
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.addFilter(RedactFilter())
