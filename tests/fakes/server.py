"""A WSGI app served on 127.0.0.1 in a background thread: the common part of every fake."""
from __future__ import annotations

import socket
import threading

from flask import request
from werkzeug.serving import make_server


def drop_connection() -> tuple[str, int]:
    """Inside a request handler: close the connection so no answer reaches the caller (an answer
    lost after the request was acted on); the return value is never sent."""
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        sock.shutdown(socket.SHUT_RDWR)
    return "", 200


class LoopbackServer:
    app = None  # set by the subclass

    def __init__(self) -> None:
        self._server = None
        self.port = 0
        self.url = ""        # http://127.0.0.1:<port> once started

    def start(self):
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        # poll_interval: how soon shutdown() is noticed (socketserver's default 0.5 s was every stop's wait)
        threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True).start()
        self.started()
        return self

    def started(self) -> None:
        """Hook: the port is known."""

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
