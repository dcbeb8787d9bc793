"""The worker's wake-up socket: every acknowledgement sends a datagram, and a burst of them
wakes the worker once, not once per datagram; none is lost."""
import threading

from bridge.wakeup import DECIDE, Listener, Waker
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


def test_acknowledgements_wake_the_decider_only_and_anything_else_the_sender_too(tmp_path):
    """A webhook's datagram asks only for deciding (deciding wakes the sender when it made
    messages); a datagram from anything else that wrote the outbox asks for sending as well,
    even among many acknowledgements answered by the same wake-up."""
    db = str(tmp_path / "bridge.db")
    woken: list[str] = []
    listener = Listener(db, lambda: woken.append("send"), on_decide=lambda: woken.append("decide"))
    assert listener.start()
    try:
        waker = Waker(db)
        assert waker.notify(DECIDE)
        wait_until(lambda: woken == ["decide"], what="the decider woken")
        assert waker.notify()
        wait_until(lambda: woken == ["decide", "send"], what="the sender woken")
    finally:
        listener.stop()


def test_a_wake_up_settles_first_and_answers_every_datagram_sent_meanwhile_once(tmp_path):
    """While webhooks queue, the service's `settle` holds the wake-up briefly (Bridge._settle):
    the datagrams sent meanwhile are answered by that one wake-up, and a send request among
    them is not lost to the acknowledgements around it."""
    db = str(tmp_path / "bridge.db")
    woken: list[str] = []
    settling, go = threading.Event(), threading.Event()

    def settle():
        settling.set()
        go.wait(10)

    listener = Listener(db, lambda: woken.append("send"), on_decide=lambda: woken.append("decide"), settle=settle)
    assert listener.start()
    try:
        waker = Waker(db)
        assert waker.notify(DECIDE)
        wait_until(settling.is_set, what="the wake-up settling")
        assert waker.notify(DECIDE) and waker.notify() and waker.notify(DECIDE)
        go.set()
        wait_until(lambda: woken, what="the wake-up")
        settling.clear()
        assert waker.notify(DECIDE)
        wait_until(lambda: len(woken) == 2, what="a later wake-up")
        assert woken == ["send", "decide"], woken
    finally:
        listener.stop()
