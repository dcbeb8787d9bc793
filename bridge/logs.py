"""Logging for people (text) or for machines (JSON, one object per line), with the request id
of the HTTP request a line belongs to, so one webhook can be followed through the log."""
from __future__ import annotations

import logging
import re
import sys
import uuid

from pythonjsonlogger.json import JsonFormatter

TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def current_request_id() -> str:
    try:
        from flask import g, has_request_context
        if has_request_context():
            return getattr(g, "request_id", "-")
    except ImportError:  # pragma: no cover - flask is a dependency
        pass
    return "-"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


def setup(level: str = "INFO", fmt: str = "text") -> None:
    """Configure the root logger once per process (app factory and the worker both call it)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_woo_bridge", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._woo_bridge = True  # type: ignore[attr-defined]
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    if fmt == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
                                           rename_fields={"levelname": "level", "name": "logger",
                                                          "asctime": "time"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # APScheduler announces every run of every job at INFO: once a second for the outbox.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token (a proxy's), else a new one."""
    if header and REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex[:16]
