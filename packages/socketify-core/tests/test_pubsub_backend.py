"""The pub/sub seam (socketify.pubsub.backend) through the real core and the TestClient:
local interest reported on the first/last subscriber, publish handed to the backend after
the local delivery, messages from the backend delivered once, the buffer bound, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from socketify import App, OpCode
from socketify.pubsub import DEFAULT_MAX_BUFFER, Backend, RedisBackend, resolve
from socketify.pubsub.backend import MIN_MAX_BUFFER
from socketify_testing import TestClient


class Recorder(Backend):
    """A backend that keeps what it is given (the seam's contract, no network)."""

    name = "recorder"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sent: list[tuple[bytes, bytes, int, bool]] = []
        self.interest: list[tuple[bytes, bool]] = []
        self.connected = True

    def _send(self, topic: bytes, data: bytes, opcode: int, compress: bool) -> None:
        self.sent.append((topic, data, opcode, compress))

    def _interest_changed(self, topic: bytes, active: bool) -> None:
        self.interest.append((topic, active))

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def chat_app(backend: Backend) -> App:
    def message(ws: Any, msg: Any, opcode: Any) -> None:
        verb, _, rest = msg.partition(":")
        if verb == "sub":
            ws.subscribe(rest)
        elif verb == "unsub":
            ws.unsubscribe(rest)
        elif verb == "pub":
            topic, _, text = rest.partition(":")
            ws.publish(topic, text)
        ws.send("ok")

    app = App(pubsub=backend)
    app.ws("/ws", {"message": message})
    return app


def test_interest_follows_the_first_and_last_local_subscriber() -> None:
    backend = Recorder()
    app = chat_app(backend)
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            for ws, cmd in ((a, "sub:news"), (b, "sub:news"), (a, "sub:other")):
                ws.send_text(cmd)
                assert ws.receive_text() == "ok"
            assert backend.interest == [(b"news", True), (b"other", True)]
            assert backend.topics == {b"news", b"other"}
            a.send_text("unsub:news")
            assert a.receive_text() == "ok"
            assert backend.interest[-1] == (b"other", True)  # b still listens to news
            b.send_text("unsub:news")
            assert b.receive_text() == "ok"
            assert backend.interest[-1] == (b"news", False)
        # a closed connection loses its topics: the last one of "other" is reported
        assert backend.interest[-1] == (b"other", False)
        assert backend.topics == set()


def test_publish_goes_local_first_then_to_the_backend_once() -> None:
    backend = Recorder()
    app = chat_app(backend)
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            for ws in (a, b):
                ws.send_text("sub:room")
                assert ws.receive_text() == "ok"
            assert app.publish("room", b"\x01\x02") is True
            assert a.receive_bytes() == b"\x01\x02" and b.receive_bytes() == b"\x01\x02"
            a.send_text("pub:room:hello")
            assert b.receive_text() == "hello"
            assert a.receive_text() == "ok"
            # no local subscriber: still carried to the others
            assert app.publish("nobody", "x", compress=True) is False
    assert backend.sent == [
        (b"room", b"\x01\x02", 2, False),
        (b"room", b"hello", 1, False),
        (b"nobody", b"x", 1, True),
    ]
    assert backend.stats.sent == 3 and backend.stats.dropped == 0


def test_messages_from_the_backend_reach_every_local_subscriber_once() -> None:
    backend = Recorder()
    app = chat_app(backend)
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            for ws in (a, b):
                ws.send_text("sub:room")
                assert ws.receive_text() == "ok"
            backend._deliver(b"room", b"from afar", int(OpCode.TEXT), False)
            backend._deliver(b"room", b"\xff", int(OpCode.BINARY), False)
            for ws in (a, b):
                assert ws.receive_text() == "from afar"
                assert ws.receive_bytes() == b"\xff"
    assert backend.stats.received == 2
    assert backend.sent == []  # a delivered message is not sent back out


def test_max_buffer_at_below_and_above_the_limit() -> None:
    backend = Recorder(max_buffer=MIN_MAX_BUFFER)
    backend.publish(b"t", b"x" * (MIN_MAX_BUFFER - 2), 2, False)  # below: 1023 bytes
    backend.publish(b"t", b"", 2, False)  # exactly at the limit: 1024
    assert backend.stats.sent == 2 and backend.stats.dropped == 0
    backend.publish(b"t", b"", 2, False)  # one byte above
    assert backend.stats.dropped_overflow == 1 and len(backend.sent) == 2
    backend._handed_over(MIN_MAX_BUFFER)  # the peer took it: room again
    backend.publish(b"t", b"y", 2, False)
    assert backend.stats.sent == 3


def test_publish_while_disconnected_is_counted_as_dropped() -> None:
    backend = Recorder()
    backend.connected = False
    backend.publish(b"t", b"lost", 2, False)
    assert backend.stats.dropped_disconnected == 1 and backend.sent == []
    assert backend.stats.as_dict()["dropped"] == 1


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (MIN_MAX_BUFFER - 1, ValueError, "at least 1024"),
        (0, ValueError, "at least"),
        (1.5, TypeError, "must be an int"),
        (True, TypeError, "must be an int"),
    ],
)
def test_bad_max_buffer(value: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        Recorder(max_buffer=value)
    assert Recorder().max_buffer == DEFAULT_MAX_BUFFER


def test_bad_backend_specs() -> None:
    with pytest.raises(ValueError, match="use redis://, rediss:// or unix://"):
        App(pubsub="http://example.com")
    with pytest.raises(TypeError, match="pubsub must be a URL"):
        App(pubsub=42)
    with pytest.raises(TypeError, match="prefix must be str or bytes"):
        RedisBackend("redis://127.0.0.1", prefix=3)
    with pytest.raises(ValueError, match="connect_timeout must be a positive"):
        RedisBackend("redis://127.0.0.1", connect_timeout=0)
    with pytest.raises(TypeError, match="URL must be a str"):
        RedisBackend(b"redis://127.0.0.1")  # type: ignore[arg-type]
    assert resolve(None) is None


def test_backend_set_too_late_or_shared() -> None:
    app = App()
    app.listen(0)
    try:
        with pytest.raises(RuntimeError, match="before the app listens"):
            app.set_pubsub(Recorder())
    finally:
        app.close()
    backend = Recorder()
    App(pubsub=backend)
    with pytest.raises(RuntimeError, match="used by another App"):
        App(pubsub=backend)


def test_password_is_not_shown() -> None:
    backend = RedisBackend("redis://user:secret@127.0.0.1:6379/0")
    assert "secret" not in repr(backend) and "user:***@" in repr(backend)


def test_deliveries_in_one_batch_arrive_whole_and_in_order() -> None:
    backend = Recorder()
    app = chat_app(backend)
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        ws.send_text("sub:room")
        assert ws.receive_text() == "ok"
        batch = backend._open_batch()
        for i in range(50):
            backend._deliver(b"room", f"m{i}".encode(), int(OpCode.TEXT), False)
        backend._close_batch(batch)
        assert [ws.receive_text() for _ in range(50)] == [f"m{i}" for i in range(50)]


def test_closing_a_batch_that_was_not_opened_is_refused() -> None:
    from socketify._native import lib

    app = App()
    native = app.get_native_handle()
    try:
        assert lib.sc_loop_batch(native, 0) == lib.SC_ESTATE
        assert lib.sc_loop_batch(native, 1) == lib.SC_OK
        assert lib.sc_loop_batch(native, 0) == lib.SC_OK
        assert lib.sc_loop_batch(native, 0) == lib.SC_ESTATE
        assert lib.sc_loop_batch(ffi_null(), 1) == lib.SC_EINVAL
    finally:
        app.close()


def ffi_null() -> Any:
    from socketify._native import ffi

    return ffi.NULL
