"""The worker's wake-up socket: every acknowledgement sends a datagram, and a burst of them
wakes the worker once, not once per datagram; none is lost."""
import threading

from bridge.wakeup import Listener, Waker
from tests.conftest import wait_until


def test_a_burst_of_wake_ups_wakes_the_worker_once_and_a_later_one_again(tmp_path):
    db = str(tmp_path / "bridge.db")
    calls: list[int] = []
    release = threading.Event()

    def on_wake():
        calls.append(1)
        if len(calls) == 1:
            release.wait(10)   # busy deciding while the web side acknowledges 50 more

    listener = Listener(db, on_wake)
    assert listener.start()
    try:
        waker = Waker(db)
        assert waker.notify()
        wait_until(lambda: len(calls) == 1, what="the first wake-up")
        sent = sum(waker.notify() for _ in range(50))   # the socket queues a few (10 on Linux); a full queue
        assert sent >= 2                                  # already holds a wake-up, so the rest need not wait
        release.set()
        wait_until(lambda: len(calls) >= 2, what="the burst's wake-up")
        assert waker.notify()
        wait_until(lambda: len(calls) >= 3, what="a later wake-up")
        assert len(calls) == 3, f"{len(calls)} wake-ups for {sent + 2} datagrams in three bursts"
    finally:
        listener.stop()
