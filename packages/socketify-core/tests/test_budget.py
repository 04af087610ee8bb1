"""What one client that sends but never reads can make the core hold (memory transport).

A memory connection's capacity plays a client that stopped reading: the fake socket takes
that many bytes and no more until the test reads.  Each test checks both halves: the core
stops (no pong per ping, no request or message handled past the limit) and resumes once
the client reads again, with nothing lost.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wsframes import Peer, frame

from socketify import App, OpCode
from socketify.errors import InvalidSetting

PONG_WINDOW = 4096  # ws_conn.c SC_WS_PONG_WINDOW


def test_a_ping_flood_gets_one_pong_for_the_latest_ping_past_the_window(wire):
    app = App().ws("/ws", {"message": lambda ws, m, op: ws.send(m, op)})
    peer = Peer(wire(app))
    peer.conn.set_capacity(1024)  # the client reads nothing more
    payloads = [b"%03d" % i + b"p" * 121 for i in range(2000)]  # 125 bytes each
    peer.send_raw(b"".join(frame(9, p) for p in payloads))
    peer.wire.spin(0.05)
    peer.conn.set_capacity(0)  # now it reads everything
    pongs = [f for f in peer.frames() if f[2] == 10]
    while True:
        peer.wire.spin(0.02)
        more = [f for f in peer.frames() if f[2] == 10]
        if not more:
            break
        pongs += more
    # pongs in order while the output was small, then one answering the latest ping
    most = (1024 + PONG_WINDOW) // (len(payloads[0]) + 2) + 2
    assert 2 <= len(pongs) <= most, len(pongs)
    assert [p[3] for p in pongs[:-1]] == payloads[: len(pongs) - 1]
    assert pongs[-1][3] == payloads[-1]
    peer.send(1, b"still there")
    assert peer.frames(1)[0][3] == b"still there"


def test_pings_from_a_reading_client_are_all_answered_in_order(wire):
    app = App().ws("/ws", {})
    peer = Peer(wire(app))
    peer.send_raw(b"".join(frame(9, b"%d" % i) for i in range(50)))
    assert [f[3] for f in peer.frames(50)] == [b"%d" % i for i in range(50)]


def echo_big(size: int, **options):
    handled = []

    def message(ws, m, op):
        handled.append(m)
        ws.send(b"r" * size, OpCode.BINARY)

    return App().ws("/ws", {"message": message, **options}), handled


def drain(peer: Peer, expected_frames: int) -> list:
    got = []
    for _ in range(400):
        got += peer.frames()
        if len(got) >= expected_frames:
            break
        peer.wire.spin(0.005)
    return got


def test_a_websocket_whose_output_is_past_max_backpressure_is_not_read(wire):
    app, handled = echo_big(8192, max_backpressure=16384)
    peer = Peer(wire(app))
    peer.conn.set_capacity(1024)
    peer.send_raw(b"".join(frame(2, b"%d" % i) for i in range(50)))
    peer.wire.spin(0.05)
    # 8 KiB answers: past 16 KiB unread the core stops parsing this client's frames
    assert 2 <= len(handled) <= 4, len(handled)
    peer.conn.set_capacity(0)
    frames = drain(peer, 50)
    assert handled == [b"%d" % i for i in range(50)]  # resumed, nothing lost
    assert len(frames) == 50 and all(len(f[3]) == 8192 for f in frames)


def test_close_on_backpressure_limit_closes_a_client_that_does_not_read(wire):
    closes = []
    app, handled = echo_big(
        8192,
        max_backpressure=16384,
        close_on_backpressure_limit=True,
        close=lambda ws, code, reason: closes.append(code),
    )
    peer = Peer(wire(app))
    peer.conn.set_capacity(1024)
    with pytest.raises(ConnectionError):
        for i in range(50):
            peer.send(2, b"%d" % i)
            peer.wire.spin(0)
    assert not peer.conn.open
    assert len(handled) <= 4 and closes == [1006]


def test_the_websocket_defaults_are_small_and_a_route_raises_them(wire):
    app = App()
    app.ws("/small", {"message": lambda ws, m, op: ws.send(m, op)})
    app.ws("/large", {"message": lambda ws, m, op: ws.send(m, op), "max_payload_length": 1 << 20})
    w = wire(app)
    small, large = Peer(w, "/small"), Peer(w, "/large")
    big = b"b" * (16 * 1024 + 1)
    small.send(2, b"b" * 16 * 1024)  # at the default: delivered
    assert small.frames(1)[0][3] == b"b" * 16 * 1024
    small.send(2, big)  # above: 1009
    closing = small.frames(1)[0]
    assert closing[2] == 8 and closing[3][:2] == (1009).to_bytes(2, "big")
    large.send(2, big)
    assert large.frames(1)[0][3] == big


# ---- HTTP pipelining ------------------------------------------------------------------------------
def pipelining_app(size: int, **settings):
    handled = []
    app = App(**settings)

    def big(res, req):
        handled.append(req.get_query("i"))
        res.end(b"z" * size)

    app.get("/big", big)
    return app, handled


def pipeline(conn, count: int) -> None:
    conn.feed(b"".join(b"GET /big?i=%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(count)))


def answer_size(wire, size: int) -> int:
    app, _ = pipelining_app(size)
    w = wire(app)
    conn = w.connect()
    pipeline(conn, 1)
    w.replies(conn, 1)
    conn.feed(b"GET /big?i=0 HTTP/1.1\r\nHost: t\r\n\r\n")
    w.spin(0.02)
    return len(conn.read())


CAPACITY = 1024


@pytest.mark.parametrize(("offset", "first_round"), [(-1, 2), (0, 3), (1, 3), (None, 2)])
def test_pipelined_requests_wait_past_max_pipelined_output(wire, offset, first_round):
    """Two 40 KiB answers unread: a limit one byte below them holds the third request,
    a limit at or above them lets it through; the default (64 KiB) holds it."""
    size = 40 * 1024
    unread_after_two = 2 * answer_size(wire, size) - CAPACITY
    settings = {} if offset is None else {"max_pipelined_output": unread_after_two + offset}
    app, handled = pipelining_app(size, **settings)
    w = wire(app)
    conn = w.connect()
    conn.set_capacity(CAPACITY)
    pipeline(conn, 20)
    w.spin(0.05)
    assert len(handled) == first_round
    conn.set_capacity(0)
    w.replies(conn, 20, timeout=5)  # every answer arrives once the client reads
    assert handled == [str(i) for i in range(20)]


def test_a_raised_max_pipelined_output_answers_everything_at_once(wire):
    app, handled = pipelining_app(40 * 1024, max_pipelined_output=1 << 20)
    w = wire(app)
    conn = w.connect()
    conn.set_capacity(CAPACITY)
    pipeline(conn, 20)
    w.spin(0.05)
    assert len(handled) == 20


def test_max_pipelined_output_is_a_checked_setting():
    with pytest.raises(InvalidSetting):
        App(max_pipelined_output=-1)
    with pytest.raises(TypeError):
        App(max_pipelined_output="64k")


# ---- published frames are shared, not copied per subscriber ---------------------------------
def test_a_large_publish_reaches_slow_subscribers_whole_and_in_order(wire):
    app = App().ws(
        "/ws",
        {"open": lambda ws: ws.subscribe("room"), "max_backpressure": 1 << 24},
    )
    w = wire(app)
    peers = [Peer(w) for _ in range(3)]
    for peer in peers:
        peer.conn.set_capacity(1000)  # each takes a little, then stops reading
    big = bytes(range(256)) * 400  # 100 KiB: shared by reference
    assert app.publish("room", big, OpCode.BINARY)
    app.publish("room", "small after", OpCode.TEXT)  # queued behind the shared frame
    w.spin(0.02)
    for peer in peers:
        peer.conn.set_capacity(0)
    for peer in peers:
        frames = drain(peer, 2)
        assert [(f[2], f[3]) for f in frames] == [(2, big), (1, b"small after")]


def test_a_subscriber_closing_mid_frame_does_not_disturb_the_others(wire):
    app = App().ws(
        "/ws",
        {"open": lambda ws: ws.subscribe("room"), "max_backpressure": 1 << 24},
    )
    w = wire(app)
    peers = [Peer(w) for _ in range(4)]
    for peer in peers:
        peer.conn.set_capacity(1000)
    big = b"s" * 200_000
    app.publish("room", big, OpCode.BINARY)
    w.spin(0.01)
    peers[0].conn.close()  # drops its reference half-way
    peers[1].conn.close()
    w.spin(0.01)
    for peer in peers[2:]:
        peer.conn.set_capacity(0)
        assert drain(peer, 1)[0][3] == big
