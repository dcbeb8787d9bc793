"""Logging for people (text) or for machines (JSON, one object per line), with the request id
of the HTTP request a line belongs to, so one webhook can be followed through the log."""
from __future__ import annotations

import logging
import re
import sys
import secrets
import threading
import time
from collections.abc import Callable, Iterable

from pythonjsonlogger.json import JsonFormatter

TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

# A query parameter whose name says it is a secret (token, hub.verify_token, consumer_secret,
# ApiKey, SecretKey, oauth_signature, password...): its value never reaches a log line.
SECRET_PARAM = re.compile(r"(?i)((?:^|[?&;\s\"'])[\w.\-\[\]]*(?:token|secret|key|passw|signature|hash)[\w.\-\[\]]*=)"
                          r"[^&;\s\"']*")
# A header line naming a credential (X-API-Key: ..., X-Auth-Token: ...) and our own API keys
# (bridge/api_keys.py) wherever they appear, whatever carried them.
SECRET_HEADER = re.compile(r"(?im)^([\w-]*(?:key|token|auth|secret|passw)[\w-]*:[ \t]*)\S.*$")
API_KEY = re.compile(r"wb_live_[0-9A-Za-z_-]*")
REDACTED = "[redacted]"
MIN_SECRET = 8          # shorter "secrets" (tests use "s") would redact ordinary words
_secrets: set[str] = set()
_longest_first: tuple[str, ...] = ()   # _secrets in the order redact replaces them


def add_secrets(values: Iterable[str | None]) -> None:
    """Values redacted from every log line of this process wherever they appear (a secret in a
    URL path, e.g. eSMS GetBalance/<ApiKey>/<SecretKey>, has no parameter name to go by)."""
    global _longest_first
    _secrets.update(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET)
    _longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """`text` with secret-named query values and header lines, our API keys and every known
    secret value replaced."""
    if not text:
        return text
    out = SECRET_PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    out = SECRET_HEADER.sub(lambda m: m.group(1) + REDACTED, out)
    out = API_KEY.sub(REDACTED, out)
    for secret in _longest_first:
        if secret in out:
            out = out.replace(secret, REDACTED)
    return out


class RedactFilter(logging.Filter):
    """Applied to our handler: whatever a library logs (werkzeug's request line, urllib3's
    debug URL) passes through `redact` before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:   # a broken format: leave it to the handler's own error path
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def current_request_id() -> str:
    try:
        from flask import g, has_app_context
        if has_app_context():   # g lives on the app context: the webhook gate answers in one, without a request context
            return getattr(g, "request_id", "-")
    except ImportError:  # pragma: no cover - flask is a dependency
        pass
    return "-"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class OverlapFilter(logging.Filter):
    """APScheduler's "Execution of job ... skipped: maximum number of running instances reached",
    once per job per QUIET seconds, with how many were left out since.

    Why: every job runs one at a time on purpose (max_instances=1, coalesce): the outbox drain,
    for one, sends everything due, so through a burst one drain runs for minutes while its
    one-second trigger fires, and a second drain would find nothing more to do. APScheduler
    warned each second: 592 lines in one 18-minute bench run, in the log a shop owner reads. A
    job that hangs still shows, one line per QUIET seconds, with the count."""
    QUIET = 600.0

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}   # job id -> (when last let through, left out since)

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances" not in str(record.msg) or not record.args:
            return True
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        job = str(getattr(args[0], "id", args[0]))
        now = self.clock()
        with self._lock:
            shown, left_out = self._last.get(job, (None, 0))
            if shown is not None and now - shown < self.QUIET:
                self._last[job] = (shown, left_out + 1)
                return False
            self._last[job] = (now, 0)
        if left_out:
            try:
                said = record.getMessage()
            except Exception:   # a broken format: left to the handler's own error path
                return True
            record.msg = said + \
                f" (the same {left_out} more time(s) in the last {round(now - shown)} s, not logged)"
            record.args = None
        return True


OVERLAPS = OverlapFilter()


def setup(level: str = "INFO", fmt: str = "text") -> None:
    """Configure the root logger once per process (app factory and the worker both call it)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_woo_bridge", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._woo_bridge = True  # type: ignore[attr-defined]
        handler.addFilter(RequestIdFilter())
        handler.addFilter(RedactFilter())
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
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if OVERLAPS not in scheduler_log.filters:
        scheduler_log.addFilter(OVERLAPS)


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token (a proxy's), else a new one."""
    if header and REQUEST_ID.match(header):
        return header
    return secrets.token_hex(8)
