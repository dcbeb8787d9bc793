"""HTTP load from several processes, each one asyncio loop of raw HTTP/1.1 requests, so the client
costs little CPU per request and its own interpreter lock does not add to what it measures.

Every request opens its own connection and says `Connection: close`, as nginx does towards
gunicorn in deploy/nginx-woo-bridge.conf (no upstream keepalive) and as WooCommerce does per
delivery. Two plans:

- open loop (`open_loop`): request i is due at t0 + i / rate whatever happened to the others;
  its latency is charged from that due time, so a server (or client) that falls behind shows it
  as latency. How late the client itself started each request is returned too (`lag`).
- closed loop (`closed_loop`): N clients each send the next request as soon as the previous one
  is answered, for a fixed time; acknowledgements per second at saturation.

`make(i)` builds the whole request (bytes) for id i at send time; ids are distinct per request.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from typing import Callable

TIMEOUT = 30.0
STRIDE = 1_000_000       # closed loop: process k numbers its requests from first_id + k * STRIDE


@dataclass
class Result:
    """One request: its id, when it was due (open loop) or started (closed loop), when the client
    actually sent it, when the answer was complete, and the HTTP status (0: no answer)."""
    id: int
    due: float
    sent: float
    done: float
    status: int


@dataclass
class Run:
    results: list[Result]
    t0: float
    seconds: float
    client_cpu: float                 # CPU seconds the client processes used while sending
    processes: int
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> list[Result]:
        return [r for r in self.results if r.status == 200]

    def latencies(self) -> list[float]:
        return [r.done - r.due for r in self.ok]

    def lags(self) -> list[float]:
        return [r.sent - r.due for r in self.results]

    @property
    def last_ack(self) -> float:
        return max((r.done for r in self.ok), default=self.t0)


def http_request(method: str, path: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "connection", "content-length")]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class _Exchange(asyncio.Protocol):
    """Write one request; complete when the answer's body is all in (Content-Length) or the
    server closes."""

    def __init__(self, payload: bytes, done: asyncio.Future):
        self.payload, self.done, self.buf = payload, done, b""
        self.transport: asyncio.Transport | None = None
        self.need: int | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.payload)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.need = end + 4
            for line in self.buf[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    self.need += int(value.strip())
                    break
            else:
                self.need = -1          # no length: the answer ends when the server closes
        if self.need >= 0 and len(self.buf) >= self.need:
            self._finish()
            self.transport.close()

    def _finish(self) -> None:
        if not self.done.done():
            ok = self.buf.startswith(b"HTTP/1.") and len(self.buf) >= 12
            self.done.set_result(int(self.buf[9:12]) if ok else 0)

    def connection_lost(self, exc) -> None:
        self._finish()


async def _one(host: str, port: int, payload: bytes, errors: dict[str, int]) -> int:
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()
    try:
        transport, _ = await asyncio.wait_for(loop.create_connection(lambda: _Exchange(payload, done), host, port),
                                              TIMEOUT)
    except (OSError, asyncio.TimeoutError) as e:
        errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
        return 0
    try:
        return await asyncio.wait_for(done, TIMEOUT)
    except asyncio.TimeoutError:
        errors["timeout"] = errors.get("timeout", 0) + 1
        return 0
    finally:
        transport.close()


async def _open(host: str, port: int, make: Callable[[int], bytes], items: list[tuple[int, float]],
                errors: dict[str, int]) -> list[Result]:
    out: list[Result] = []

    async def go(i: int, due: float) -> None:
        payload = make(i)
        sent = time.time()
        status = await _one(host, port, payload, errors)
        out.append(Result(i, due, sent, time.time(), status))

    tasks = []
    for i, due in items:
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(go(i, due)))
    await asyncio.gather(*tasks)
    return out


async def _closed(host: str, port: int, make: Callable[[int], bytes], first: int, clients: int, until: float,
                  errors: dict[str, int]) -> list[Result]:
    out: list[Result] = []
    counter = iter(range(first, first + STRIDE))

    async def client() -> None:
        while time.time() < until:
            i = next(counter)
            payload = make(i)
            start = time.time()
            status = await _one(host, port, payload, errors)
            out.append(Result(i, start, start, time.time(), status))

    await asyncio.gather(*(client() for _ in range(clients)))
    return out


async def _drain(host: str, port: int, make: Callable[[int], bytes], ids: list[int], clients: int,
                 errors: dict[str, int]) -> list[Result]:
    out: list[Result] = []
    todo = iter(ids)

    async def client() -> None:
        for i in todo:
            payload = make(i)
            start = time.time()
            status = await _one(host, port, payload, errors)
            out.append(Result(i, start, start, time.time(), status))

    await asyncio.gather(*(client() for _ in range(clients)))
    return out


def _child(conn, job: Callable[[float], tuple[list[Result], dict[str, int]]]) -> None:
    conn.send("ready")
    t0 = conn.recv()
    cpu = os.times()
    results, errors = job(t0)
    after = os.times()
    conn.send((results, errors, (after.user - cpu.user) + (after.system - cpu.system)))
    conn.close()


def _run(jobs: list[Callable[[float], tuple[list[Result], dict[str, int]]]], seconds: float) -> Run:
    ctx = multiprocessing.get_context("fork")
    pipes, procs = [], []
    for job in jobs:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_child, args=(child, job), daemon=True)
        p.start()
        pipes.append(parent)
        procs.append(p)
    for c in pipes:
        c.recv()
    t0 = time.time() + 0.2
    for c in pipes:
        c.send(t0)
    results: list[Result] = []
    errors: dict[str, int] = {}
    cpu = 0.0
    for c in pipes:
        res, err, used = c.recv()
        results += res
        cpu += used
        for k, v in err.items():
            errors[k] = errors.get(k, 0) + v
    for p in procs:
        p.join()
    return Run(results, t0, seconds, cpu, len(jobs), errors)


def open_loop(host: str, port: int, make: Callable[[int], bytes], rate: float, n: int, first_id: int,
              processes: int = 2) -> Run:
    """n requests, request i due at t0 + i / rate, spread over `processes` client processes."""
    def job_for(k: int) -> Callable[[float], tuple[list[Result], dict[str, int]]]:
        def job(t0: float) -> tuple[list[Result], dict[str, int]]:
            errors: dict[str, int] = {}
            items = [(first_id + i, t0 + i / rate) for i in range(k, n, processes)]
            return asyncio.run(_open(host, port, make, items, errors)), errors
        return job
    return _run([job_for(k) for k in range(processes)], n / rate)


def closed_loop(host: str, port: int, make: Callable[[int], bytes], clients: int, seconds: float, first_id: int,
                processes: int = 2) -> Run:
    """`clients` concurrent clients (spread over `processes`) for `seconds`; only answers that
    arrived within the window count towards the rate (`acks_per_second`)."""
    def job_for(k: int, n: int) -> Callable[[float], tuple[list[Result], dict[str, int]]]:
        def job(t0: float) -> tuple[list[Result], dict[str, int]]:
            errors: dict[str, int] = {}
            delay = t0 - time.time()
            if delay > 0:
                time.sleep(delay)
            return asyncio.run(_closed(host, port, make, first_id + k * STRIDE, n, t0 + seconds, errors)), errors
        return job
    shares = [clients // processes + (1 if k < clients % processes else 0) for k in range(processes)]
    return _run([job_for(k, n) for k, n in enumerate(shares) if n], seconds)


def closed_loop_ids(host: str, port: int, make: Callable[[int], bytes], clients: int, ids: list[int],
                    processes: int = 2) -> Run:
    """Closed loop over a fixed list: each of `clients` clients sends the next id of its process's
    share as soon as its previous request is answered, until the list is done."""
    processes = max(1, min(processes, clients))
    def job_for(k: int, n: int) -> Callable[[float], tuple[list[Result], dict[str, int]]]:
        def job(t0: float) -> tuple[list[Result], dict[str, int]]:
            errors: dict[str, int] = {}
            delay = t0 - time.time()
            if delay > 0:
                time.sleep(delay)
            return asyncio.run(_drain(host, port, make, ids[k::processes], n, errors)), errors
        return job
    shares = [clients // processes + (1 if k < clients % processes else 0) for k in range(processes)]
    run = _run([job_for(k, n) for k, n in enumerate(shares) if n], 0.0)
    run.seconds = max((r.done for r in run.results), default=run.t0) - run.t0
    return run


def acks_per_second(run: Run) -> float:
    return sum(1 for r in run.ok if r.done <= run.t0 + run.seconds) / run.seconds


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]
