"""gunicorn for woo-bridge on a small VPS (2 cores): `gunicorn -c deploy/gunicorn.conf.py`.

Workers: the work per request is short (verify, one SQLite transaction, answer) and SQLite takes
one writer at a time, so more processes do not mean more throughput: two processes (one per
core; while one is recycled the other answers) with four threads each keep the cores busy while
a request waits on the database lock. A third process made the acknowledgements slower, not
faster (bench/intake.py at saturation): writers of one process queue on a lock, writers of
different processes find SQLite's lock taken and try again. The periodic jobs and the sending run in the separate
worker process (`python -m bridge worker`), hence RUN_SCHEDULER=0 here.
"""
import os
import socket

wsgi_app = "app:create_app()"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
preload_app = False            # each worker opens its own SQLite connections after the fork
timeout = 30                   # a webhook is answered in milliseconds; 30 s means a stuck worker
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then: bounded memory over months. Not often: a new worker imports the
# app again (about 1 s of CPU on the development machine, 0.2 ms a request at 5,000), and
# bench/memory.py measured the web workers flat (+0.4 MB) over 100,000 webhooks without recycling.
max_requests = 50000
max_requests_jitter = 5000
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
capture_output = True          # with errorlog in a file, the app's own log lines (stderr) go there too
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
# The eSMS callback and FiboSMS push URLs carry their token in the query string: every field of an
# access line goes through bridge.logs.redact (token=[redacted]), whatever the format above says.
logger_class = "bridge.accesslog.RedactingLogger"
# Deciding after the answer runs in the worker process by default: in the web processes it holds
# the write lock beside the requests and slows their answers (README "Durability").
raw_env = ["RUN_SCHEDULER=0", "DECIDE_IN=" + os.environ.get("DECIDE_IN", "worker")]

def post_worker_init(worker):
    """The app is loaded: what it holds lives as long as the worker, so the cyclic garbage
    collector stops walking it (gc.freeze, as `python app.py` does). Its collections during
    requests walked every object the app loaded: about a tenth of a webhook's answer."""
    import gc
    gc.freeze()


DRAIN_LIMIT = 4 << 20          # more than nginx lets through (client_max_body_size 2m)


def post_request(worker, req, environ, resp):
    """Read what the app left unread of the request body before the connection closes.

    The app answers 413 to a body over 1 MiB without reading it; closing a socket with unread
    data makes the kernel send a reset, and nginx, still sending that body, then answers 502
    instead of passing on the app's JSON 413 (about one time in five, measured). Reading the
    rest (bounded, with a timeout) lets the connection close cleanly."""
    body, sock = environ.get("wsgi.input"), environ.get("gunicorn.socket")
    if body is None or not isinstance(sock, socket.socket):
        return
    previous = sock.gettimeout()
    try:
        sock.settimeout(5)
        left = DRAIN_LIMIT
        while left > 0:
            chunk = body.read(min(65536, left))
            if not chunk:
                break
            left -= len(chunk)
    except Exception:          # the peer went away or sent a broken body: nothing left to protect
        pass
    finally:
        try:
            sock.settimeout(previous)
        except OSError:
            pass
