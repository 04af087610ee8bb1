"""WebSockets through the memory transport: raw masked client frames in, frames out."""

from __future__ import annotations

import asyncio
import struct
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wsframes import (
    Peer,
    accept_for,
    close_frame,
    deflate,
    frame,
    inflate,
    parse_frames,
    upgrade_request,
)

from socketify import App, CompressOptions, OpCode, SendStatus, WebSocket
from socketify.errors import InvalidSetting
from socketify.websocket import WebSocketError


def echo_app(**options):
    events = []
    behavior = {
        "open": lambda ws: events.append(("open", ws)),
        "message": lambda ws, m, op: (events.append(("message", m, op)), ws.send(m, op)),
        "close": lambda ws, code, reason: events.append(("close", code, reason)),
    }
    behavior.update(options)
    return App().ws("/ws", behavior), events


# ---- handshake ------------------------------------------------------------------------------------
def test_upgrade_answers_101_with_the_accept_key_and_opens(wire):
    app, events = echo_app()
    peer = Peer(wire(app))
    assert peer.status == 101
    assert peer.headers["sec-websocket-accept"] == accept_for(peer.key)
    assert peer.headers["upgrade"] == "websocket"
    assert "sec-websocket-extensions" not in peer.headers
    assert events[0][0] == "open" and isinstance(events[0][1], WebSocket)
    assert events[0][1].get_remote_address() == "127.0.0.1"
    assert events[0][1].get_remote_address_bytes() == b"\x7f\x00\x00\x01"


def test_wrong_version_gets_426_with_version_13(wire):
    app, events = echo_app()
    conn = wire(app).connect()
    conn.feed(upgrade_request().replace(b"Version: 13", b"Version: 12"))
    data = conn.read()
    assert data.startswith(b"HTTP/1.1 426 ")
    assert b"Sec-WebSocket-Version: 13\r\n" in data
    assert events == []


@pytest.mark.parametrize(
    "change",
    [
        (b"Sec-WebSocket-Key: ", b"Sec-WebSocket-Key: x"),  # not base64 of 16 bytes
        (b"Connection: Upgrade", b"Connection: keep-alive"),
        (b"GET /ws HTTP/1.1", b"GET /ws HTTP/1.0"),
    ],
)
def test_bad_handshakes_get_400(wire, change):
    app, events = echo_app()
    conn = wire(app).connect()
    conn.feed(upgrade_request().replace(*change))
    assert conn.read().startswith(b"HTTP/1.1 400 ")
    assert events == []


def test_plain_get_on_a_ws_route_gets_426_upgrade_required(wire):
    app, _ = echo_app()
    reply = wire(app).get("/ws")
    assert reply.status == 426
    assert reply.header("upgrade") == "websocket"


def test_default_upgrade_takes_the_first_offered_subprotocol(wire):
    app, _ = echo_app()
    peer = Peer(wire(app), headers=[("Sec-WebSocket-Protocol", "chat, superchat")])
    assert peer.headers["sec-websocket-protocol"] == "chat"


def test_upgrade_handler_chooses_protocol_adds_headers_and_user_data(wire):
    seen = []

    def on_upgrade(res, req, context):
        res.write_header("Set-Cookie", "a=1")
        res.upgrade(
            req.get_header("sec-websocket-key"),
            "superchat",
            req.get_header("sec-websocket-extensions"),
            context,
            {"user": req.get_query("u")},
        )

    app = App().ws("/ws", {"upgrade": on_upgrade, "open": lambda ws: seen.append(ws)})
    peer = Peer(wire(app), path="/ws?u=ann")
    assert peer.status == 101
    assert peer.headers["sec-websocket-protocol"] == "superchat"
    assert peer.headers["set-cookie"] == "a=1"
    assert seen[0].get_user_data() == {"user": "ann"}


def test_async_upgrade_handler_upgrades_after_an_await(wire):
    opened = []

    async def on_upgrade(res, req, context):
        key = req.get_header("sec-websocket-key")
        await asyncio.sleep(0.01)
        assert res.upgrade(key, None, None, context, "later") is True

    app = App().ws("/ws", {"upgrade": on_upgrade, "open": lambda ws: opened.append(ws)})
    w = wire(app)
    peer = Peer(w)
    assert peer.status == 101
    assert opened[0].get_user_data() == "later"


def _upgrade_and_frames(w, frames_after):
    """Feed an upgrade request and client frames as one write; return (status, frames)."""
    conn = w.connect()
    conn.feed(upgrade_request("/ws") + b"".join(frames_after))
    buffer = b""
    found = []

    def done():
        nonlocal buffer
        buffer += conn.read()
        _head, sep, rest = buffer.partition(b"\r\n\r\n")
        if not sep:
            return False
        found[:] = parse_frames(rest)[0]
        return len(found) >= len(frames_after)

    assert w.until(done)
    return int(buffer.split(b" ", 2)[1]), found


def test_frames_in_the_same_write_as_the_upgrade_go_to_the_websocket(wire):
    # the protocol changes mid-buffer: the bytes after the request head are frames
    app, events = echo_app()
    status, frames = _upgrade_and_frames(wire(app), [frame(1, b"early"), frame(2, b"\x01\x02")])
    assert status == 101
    assert frames == [(True, 0, 1, b"early"), (True, 0, 2, b"\x01\x02")]
    assert [e[1] for e in events[1:]] == ["early", b"\x01\x02"]


def test_frames_sent_while_an_async_upgrade_awaits_are_delivered_after_it(wire):
    # held in the connection's input while the HTTP exchange waits, then offered to the
    # WebSocket once the 101 is queued
    received = []

    async def on_upgrade(res, req, context):
        key = req.get_header("sec-websocket-key")
        await asyncio.sleep(0.01)
        res.upgrade(key, None, None, context)

    app = App().ws(
        "/ws",
        {"upgrade": on_upgrade, "message": lambda ws, m, op: (received.append(m), ws.send(m))},
    )
    status, frames = _upgrade_and_frames(wire(app), [frame(1, b"waited"), frame(1, b"too")])
    assert status == 101
    assert frames == [(True, 0, 1, b"waited"), (True, 0, 1, b"too")]
    assert received == ["waited", "too"]


def test_upgrade_with_a_foreign_context_is_a_type_error(wire):
    errors = []

    def on_upgrade(res, req, context):
        try:
            res.upgrade(req.get_header("sec-websocket-key"), None, None, object())
        except TypeError as exc:
            errors.append(exc)
            res.end("no")

    app = App().ws("/ws", {"upgrade": on_upgrade})
    Peer(wire(app))
    assert "socket_context" in str(errors[0])


# ---- messages -------------------------------------------------------------------------------------
def test_echo_text_and_binary(wire):
    app, events = echo_app()
    peer = Peer(wire(app))
    peer.send(1, "héllo".encode())
    peer.send(2, b"\x00\xff")
    assert peer.frames(2) == [(True, 0, 1, "héllo".encode()), (True, 0, 2, b"\x00\xff")]
    assert events[1:] == [
        ("message", "héllo", OpCode.TEXT),
        ("message", b"\x00\xff", OpCode.BINARY),
    ]


def test_send_types_str_is_text_bytes_binary_objects_json(wire):
    sent = []

    def on_message(ws, message, opcode):
        sent.append(ws.send("t"))
        ws.send(b"b")
        ws.send({"a": 1})
        ws.send("as binary", OpCode.BINARY)

    app = App().ws("/ws", {"message": on_message})
    peer = Peer(wire(app))
    peer.send(1, b"go")
    assert [(op, data) for _, _, op, data in peer.frames(4)] == [
        (1, b"t"),
        (2, b"b"),
        (1, b'{"a":1}'),
        (2, b"as binary"),
    ]
    assert sent == [SendStatus.SUCCESS]


def test_large_message_in_many_pieces(wire):
    app, _events = echo_app(max_payload_length=1 << 20)  # past the 16 KiB default
    peer = Peer(wire(app))
    data = bytes(range(256)) * 1000
    raw = frame(2, data)
    for start in range(0, len(raw), 7001):
        peer.send_raw(raw[start : start + 7001])
    assert peer.frames(1)[0][3] == data


def test_fragments_with_a_ping_between_are_joined_and_the_ping_answered(wire):
    app, _events = echo_app()
    peer = Peer(wire(app))
    peer.send(1, b"frag", fin=False)
    peer.send(9, b"are you there")
    peer.send(0, b"men", fin=False)
    peer.send(0, b"ted")
    frames = peer.frames(2)
    assert frames[0] == (True, 0, 10, b"are you there")
    assert frames[1] == (True, 0, 1, b"fragmented")


def test_ping_and_pong_handlers_get_the_payload(wire):
    got = []
    app = App().ws(
        "/ws",
        {
            "ping": lambda ws, d: got.append(("ping", d)),
            "pong": lambda ws, d: got.append(("pong", d)),
        },
    )
    peer = Peer(wire(app))
    peer.send(9, b"a")
    peer.send(10, b"b")
    assert peer.frames(1) == [(True, 0, 10, b"a")]
    assert got == [("ping", b"a"), ("pong", b"b")]


def test_async_message_handler_sends_after_await(wire):
    async def on_message(ws, message, opcode):
        await asyncio.sleep(0.001)
        ws.send(message.upper())

    app = App().ws("/ws", {"message": on_message})
    peer = Peer(wire(app))
    peer.send(1, b"later")
    assert peer.frames(1) == [(True, 0, 1, b"LATER")]


def test_handler_exception_goes_to_the_error_handler_and_the_socket_lives(wire):
    errors = []

    def on_message(ws, message, opcode):
        if message == "boom":
            raise KeyError("boom")
        ws.send(message)

    app = App().ws("/ws", {"message": on_message})
    app.set_error_handler(lambda exc, res, req: errors.append((exc, res, req)))
    peer = Peer(wire(app))
    peer.send(1, b"boom")
    peer.send(1, b"ok")
    assert peer.frames(1) == [(True, 0, 1, b"ok")]
    assert isinstance(errors[0][0], KeyError) and errors[0][1:] == (None, None)


# ---- sending fragments ----------------------------------------------------------------------------
def test_send_fragments_with_a_ping_between(wire):
    statuses = []

    def on_message(ws, message, opcode):
        statuses.append(ws.send_first_fragment("ab"))
        ws.send(b"p", OpCode.PING)
        ws.send_fragment("cd")
        with pytest.raises(WebSocketError):
            ws.send("new message inside a fragmented one")
        ws.send_last_fragment("ef")
        with pytest.raises(WebSocketError):
            ws.send_fragment("no message open")

    app = App().ws("/ws", {"message": on_message})
    peer = Peer(wire(app))
    peer.send(1, b"go")
    assert peer.frames(4) == [
        (False, 0, 1, b"ab"),
        (True, 0, 9, b"p"),
        (False, 0, 0, b"cd"),
        (True, 0, 0, b"ef"),
    ]
    assert statuses == [SendStatus.SUCCESS]


def test_ping_over_125_bytes_is_a_value_error(wire):
    errors = []

    def on_message(ws, message, opcode):
        try:
            ws.send(b"x" * 126, OpCode.PING)
        except ValueError as exc:
            errors.append(exc)

    app = App().ws("/ws", {"message": on_message})
    Peer(wire(app)).send(1, b"go")
    assert len(errors) == 1


# ---- bad input: the right close code, then the connection closes ----------------------------------
BAD_INPUT = [
    ("unmasked", frame(1, b"hi", mask=False), 1002),
    ("rsv1 without extension", frame(1, b"hi", rsv=0x40), 1002),
    ("rsv2", frame(1, b"hi", rsv=0x20), 1002),
    ("unknown opcode", frame(3, b""), 1002),
    ("oversized", frame(2, b"x" * 65), 1009),
    ("oversized in fragments", frame(2, b"x" * 40, fin=False) + frame(0, b"y" * 40), 1009),
    ("invalid utf-8", frame(1, b"\xff\xfe"), 1007),
    ("utf-8 broken across fragments", frame(1, b"\xe2\x82", fin=False) + frame(0, b"("), 1007),
    ("invalid close code", close_frame(999), 1002),
    ("reserved close code 1005", close_frame(1005), 1002),
    ("close reason not utf-8", close_frame(1000, b"\xc3"), 1007),
    ("one-byte close payload", frame(8, b"\x03"), 1002),
    ("fragmented ping", frame(9, b"p", fin=False), 1002),
    ("ping over 125 bytes", frame(9, b"p" * 126), 1002),
    ("continuation without a message", frame(0, b"x"), 1002),
    ("new message inside a fragmented one", frame(1, b"a", fin=False) + frame(1, b"b"), 1002),
]


@pytest.mark.parametrize("name,data,code", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_bad_input_closes_with_the_right_code(wire, name, data, code):
    app, events = echo_app(max_payload_length=64)
    peer = Peer(wire(app))
    peer.send_raw(data)
    frames = peer.frames()
    assert peer.close_code(frames) == code, frames
    assert ("close", code, None) in events
    assert not peer.conn.open


def test_compressed_text_that_inflates_to_bad_utf8_closes_1007(wire):
    app, _events = echo_app(compression=CompressOptions.SHARED_COMPRESSOR)
    peer = Peer(wire(app), headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
    peer.send(1, deflate(b"\xff\xfe"), rsv=0x40)
    assert peer.close_code(peer.frames()) == 1007


def test_compressed_bomb_past_max_payload_closes_1009(wire):
    app, _events = echo_app(compression=CompressOptions.SHARED_COMPRESSOR, max_payload_length=1000)
    peer = Peer(wire(app), headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
    peer.send(2, deflate(b"\x00" * 100_000), rsv=0x40)
    assert peer.close_code(peer.frames()) == 1009


# ---- closing --------------------------------------------------------------------------------------
def test_client_close_is_echoed_and_reported(wire):
    app, events = echo_app()
    peer = Peer(wire(app))
    peer.send_raw(close_frame(4001, b"bye"))
    frames = peer.frames()
    assert frames == [(True, 0, 8, struct.pack("!H", 4001))]
    assert events[-1] == ("close", 4001, b"bye")
    assert not peer.conn.open


def test_empty_client_close_reports_1005_and_gets_an_empty_close(wire):
    app, events = echo_app()
    peer = Peer(wire(app))
    peer.send_raw(close_frame(None))
    assert peer.frames() == [(True, 0, 8, b"")]
    assert events[-1] == ("close", 1005, None)


@pytest.mark.parametrize("args,payload", [((), b"\x03\xe8"), ((4000, "done"), b"\x0f\xa0done")])
def test_end_starts_the_closing_handshake(wire, args, payload):
    sockets = []
    app, events = echo_app(open=sockets.append)
    peer = Peer(wire(app))
    sockets[0].end(*args)
    assert peer.frames() == [(True, 0, 8, payload)]
    code = args[0] if args else 1000
    assert events[-1] == ("close", code, args[1].encode() if args else None)
    assert peer.conn.open  # waiting for the client's close frame
    assert sockets[0].send("late") == SendStatus.DROPPED
    peer.send_raw(close_frame(code))
    assert not peer.conn.open


def test_end_with_a_code_that_may_not_be_sent_is_a_value_error(wire):
    sockets = []
    app, _ = echo_app(open=sockets.append)
    Peer(wire(app))
    with pytest.raises(ValueError):
        sockets[0].end(1006)
    with pytest.raises(ValueError):
        sockets[0].end(-1)
    assert not sockets[0].closed


def test_close_is_immediate_and_reports_1006(wire):
    sockets = []
    app, events = echo_app(open=sockets.append)
    peer = Peer(wire(app))
    sockets[0].close()
    assert events[-1] == ("close", 1006, None)
    assert not peer.conn.open and peer.frames() == []


def test_a_closed_websocket_is_a_safe_no_op(wire):
    sockets = []
    app, _ = echo_app(open=sockets.append)
    peer = Peer(wire(app))
    sockets[0].subscribe("t")
    peer.conn.close()
    ws = sockets[0]
    assert ws.closed
    assert ws.send("x") == SendStatus.DROPPED
    assert ws.send_first_fragment("x") == SendStatus.DROPPED
    assert ws.subscribe("t") is False and ws.is_subscribed("t") is False
    assert ws.get_topics() == [] and ws.publish("t", "x") is False
    assert ws.get_buffered_amount() == 0 and ws.get_remote_address() == ""
    assert ws.end() is None and ws.close() is None
    assert app.num_subscribers("t") == 0


def test_client_eof_reports_1006(wire):
    app, events = echo_app()
    peer = Peer(wire(app))
    peer.conn.close()
    assert events[-1] == ("close", 1006, None)


# ---- pub/sub --------------------------------------------------------------------------------------
def test_publish_reaches_subscribers_and_ws_publish_skips_the_sender(wire):
    changes = []

    def on_message(ws, message, opcode):
        if message == "sub":
            ws.subscribe("room")
        else:
            ws.publish("room", message)

    app = App().ws(
        "/ws",
        {
            "message": on_message,
            "subscription": lambda ws, topic, new, old: changes.append((topic, new, old)),
        },
    )
    w = wire(app)
    peers = [Peer(w) for _ in range(3)]
    for peer in peers:
        peer.send(1, b"sub")
    assert app.num_subscribers("room") == 3
    assert changes == [("room", 1, 0), ("room", 2, 1), ("room", 3, 2)]
    peers[0].send(1, b"hi all")
    assert peers[0].frames() == []
    assert peers[1].frames(1) == [(True, 0, 1, b"hi all")]
    assert peers[2].frames(1) == [(True, 0, 1, b"hi all")]
    assert app.publish("room", b"from app") is True
    for peer in peers:
        assert peer.frames(1) == [(True, 0, 2, b"from app")]
    peers[2].conn.close()
    assert app.num_subscribers("room") == 2 and changes[-1] == ("room", 2, 3)
    assert app.publish("nobody", "x") is False


def test_topics_api(wire):
    sockets = []
    app, _ = echo_app(open=sockets.append)
    Peer(wire(app))
    ws = sockets[0]
    assert ws.subscribe("a") is True and ws.subscribe(b"b") is True and ws.subscribe("a") is False
    assert ws.get_topics() == ["a", "b"] and ws.is_subscribed("b")
    seen = []
    ws.for_each_topic(seen.append)
    assert seen == ["a", "b"]
    assert ws.unsubscribe("a") is True and ws.unsubscribe("a") is False
    assert ws.get_topics() == ["b"]


def test_publish_compressed_once_for_shared_compressor_subscribers(wire):
    app, _ = echo_app(compression=CompressOptions.SHARED_COMPRESSOR)
    w = wire(app)
    deflating = Peer(w, headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
    plain = Peer(w)
    assert deflating.headers["sec-websocket-extensions"].startswith("permessage-deflate")
    for sock in list(app._rt.ws_hub.sockets.values()):
        sock.subscribe("news")
    text = "news " * 200
    assert app.publish("news", text, compress=True) is True
    (_fin, rsv, op, payload) = deflating.frames(1)[0]
    assert rsv == 0x40 and op == 1 and len(payload) < len(text)
    assert inflate(payload) == text.encode()
    assert plain.frames(1) == [(True, 0, 1, text.encode())]


# ---- compression ----------------------------------------------------------------------------------
def test_compressed_messages_both_ways_with_a_dedicated_compressor(wire):
    app, events = echo_app(
        compression=CompressOptions.DEDICATED_COMPRESSOR | CompressOptions.DEDICATED_DECOMPRESSOR
    )
    peer = Peer(wire(app), headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
    assert peer.headers["sec-websocket-extensions"] == "permessage-deflate"
    out = zlib.compressobj(wbits=-15)
    back = zlib.decompressobj(wbits=-15)
    for text in ("abc" * 100, "abc" * 100 + "!", "another"):
        data = out.compress(text.encode()) + out.flush(zlib.Z_SYNC_FLUSH)
        peer.send(1, data[:-4], rsv=0x40)  # client context takeover
    sockets = [ev[1] for ev in events if ev[0] == "open"]
    assert [ev[1] for ev in events if ev[0] == "message"] == [
        "abc" * 100,
        "abc" * 100 + "!",
        "another",
    ]
    for text in ("xyz" * 100, "xyz" * 100):
        sockets[0].send(text, compress=True)
    frames = peer.frames(5)
    compressed = [f for f in frames if f[1] == 0x40]
    assert len(compressed) == 2
    assert [inflate(f[3], back) for f in compressed] == [b"xyz" * 100] * 2


def test_compression_declined_when_disabled(wire):
    app, _ = echo_app()
    peer = Peer(wire(app), headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
    assert "sec-websocket-extensions" not in peer.headers


# ---- backpressure, drain, timeouts ----------------------------------------------------------------
def test_backpressure_drop_and_drain(wire):
    sockets, drained = [], []
    app, _ = echo_app(open=sockets.append, drain=drained.append, max_backpressure=1000)
    w = wire(app)
    peer = Peer(w)
    peer.conn.set_capacity(100)
    ws = sockets[0]
    statuses = [ws.send(b"x" * 600) for _ in range(3)]
    assert statuses == [SendStatus.BACKPRESSURE, SendStatus.BACKPRESSURE, SendStatus.DROPPED]
    assert ws.get_buffered_amount() > 1000
    peer.conn.set_capacity(0)
    assert w.until(lambda: drained == [ws])
    frames = peer.frames(2)
    assert [len(f[3]) for f in frames] == [600, 600]
    assert ws.send(b"ok") == SendStatus.SUCCESS


def test_close_on_backpressure_limit(wire):
    sockets = []
    app, events = echo_app(
        open=sockets.append, max_backpressure=100, close_on_backpressure_limit=True
    )
    peer = Peer(wire(app))
    peer.conn.set_capacity(10)
    ws = sockets[0]
    assert ws.send(b"x" * 300) == SendStatus.BACKPRESSURE
    assert ws.send(b"y") == SendStatus.DROPPED
    assert events[-1] == ("close", 1006, None)
    assert not peer.conn.open


def test_a_publish_closes_every_slow_subscriber_while_their_close_handlers_publish(wire):
    # the publish closes the subscribers past max_backpressure; each close handler publishes
    # again into the same topic (the core's subscriber list is reused by that publish), and
    # still every slow subscriber is closed and the fast one gets every message
    sockets = []
    closed = []

    def on_open(ws):
        sockets.append(ws)
        ws.subscribe("t")

    def on_close(ws, code, reason):
        closed.append(code)
        app.publish("t", f"bye {len(closed)}")

    app = App().ws(
        "/ws",
        {
            "open": on_open,
            "close": on_close,
            "max_backpressure": 100,
            "close_on_backpressure_limit": True,
        },
    )
    w = wire(app)
    slow = [Peer(w) for _ in range(3)]
    fast = Peer(w)
    for peer in slow:
        peer.conn.set_capacity(10)
    assert app.publish("t", b"x" * 300)  # taken by all; the slow ones now hold > 100 bytes
    assert app.publish("t", b"second")  # past the limit: the three slow ones are closed
    assert sorted(closed) == [1006, 1006, 1006]
    assert not any(peer.conn.open for peer in slow)
    payloads = [f[3] for f in fast.frames(5)]
    assert payloads == [b"x" * 300, b"second", b"bye 1", b"bye 2", b"bye 3"]
    assert fast.conn.open


def test_idle_timeout_pings_then_closes(wire):
    app, events = echo_app(idle_timeout=0.4)
    w = wire(app)
    peer = Peer(w)
    frames = peer.frames(1, timeout=3)
    assert frames == [(True, 0, 9, b"")]
    assert w.until(lambda: not peer.conn.open, timeout=3)
    assert events[-1] == ("close", 1006, None)


def test_input_keeps_an_idle_websocket_open(wire):
    # input every 0.1 s for 1.5 s, past the 1 s timeout (a slow turn may take longer than
    # 0.1 s: the gap the timeout allows is ten of them)
    app, _events = echo_app(idle_timeout=1, send_pings_automatically=False)
    w = wire(app)
    peer = Peer(w)
    for _ in range(15):
        w.spin(0.1)
        peer.send(10, b"")  # an unsolicited pong is input too
    assert peer.conn.open and peer.frames() == []


def test_graceful_close_sends_1001(wire):
    app, events = echo_app()
    w = wire(app)
    peer = Peer(w)
    from socketify._native import lib

    lib.sc_loop_drain(app._rt.native)
    assert peer.close_code(peer.frames()) == 1001
    assert events[-1] == ("close", 1001, None)


# ---- lifetimes ------------------------------------------------------------------------------------
def test_thousands_of_async_sends_racing_disconnects_never_crash(wire):
    statuses = []

    async def on_message(ws, message, opcode):
        await asyncio.sleep(0)
        statuses.append(ws.send(message))
        ws.publish("all", message)
        ws.subscribe("all")

    app = App().ws("/ws", {"message": on_message})
    w = wire(app)
    for round_ in range(2000):
        peer = Peer(w, spin=False)
        peer.send(1, b"m%d" % round_)
        if round_ % 2:
            peer.conn.close()  # gone before the task runs
        if round_ % 100 == 0:
            w.spin(0.001)
    assert w.until(lambda: len(statuses) == 2000, timeout=10)
    assert SendStatus.DROPPED in statuses and SendStatus.SUCCESS in statuses


# ---- options --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"idle_timeout": -1},
        {"idle_timeout": 961},
        {"max_payload_length": 0},
        {"max_payload_length": 1.5},
        {"max_backpressure": -1},
        {"max_lifetime": 241},
        {"compression": 10},
        {"compression": 9 << 8},
        {"compression": True},
        {"max_payload": 10},
    ],
)
def test_out_of_range_options_raise_at_registration(options):
    with pytest.raises(ValueError):
        App().ws("/ws", options)
    assert issubclass(InvalidSetting, ValueError)


def test_handler_that_is_not_callable_is_a_type_error():
    with pytest.raises(TypeError):
        App().ws("/ws", {"message": "not a function"})


# ---- defaults for every route (the CLI's --ws-* flags) -----------------------------------------
def test_ws_defaults_apply_to_routes_that_do_not_set_the_option(wire):
    app = App()
    echo = {"message": lambda ws, message, opcode: ws.send(message, opcode)}
    app.ws("/plain", dict(echo))
    app.ws("/own", {**echo, "max_payload_length": 100})
    app.set_ws_defaults(max_payload_length=10)
    app.ws("/later", dict(echo))  # registered after the defaults: gets them too
    w = wire(app)
    for path, closes in (("/plain", True), ("/later", True), ("/own", False)):
        peer = Peer(w, path)
        assert peer.status == 101
        peer.send(2, b"x" * 20)
        frames = peer.frames(1)
        if closes:
            assert peer.close_code(frames) == 1009, path
        else:
            assert frames[0][2:] == (2, b"x" * 20), path


def test_ws_defaults_are_checked_like_app_ws():
    with pytest.raises(InvalidSetting, match="idle_timeout must be between 0 and 960"):
        App().set_ws_defaults(idle_timeout=5000)
    with pytest.raises(InvalidSetting, match="unknown ws option"):
        App().set_ws_defaults(max_size=1)
