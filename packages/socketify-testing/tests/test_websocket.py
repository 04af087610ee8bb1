"""WebSocket sessions of TestClient and AsyncTestClient, through the real C core."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional

import pytest

from socketify import App, CompressOptions, OpCode
from socketify_testing import (
    AsyncTestClient,
    InvalidRequest,
    ProtocolError,
    TestClient,
    TestClientError,
    UnexpectedMessage,
    WebSocketDisconnect,
    WebSocketMessage,
    WebSocketRejected,
    WebSocketTimeout,
)


def echo_app(events: Optional[list] = None, **behavior: Any) -> App:
    """/ws echoes; "close:<code>:<reason>" makes the server close; events records handlers."""
    log = events if events is not None else []

    def on_message(ws: Any, message: Any, opcode: OpCode) -> None:
        if isinstance(message, str) and message.startswith("close:"):
            _, code, reason = message.split(":", 2)
            ws.end(int(code), reason)
        elif message == "drop":
            ws.close()
        else:
            ws.send(message, opcode)

    handlers = {
        "message": on_message,
        "close": lambda ws, code, reason: log.append(("close", code, reason)),
    }
    handlers.update(behavior)
    app = App()
    app.ws("/ws", handlers)
    app.get("/plain", lambda res, req: res.end("plain"))
    return app


class Recorder:
    """Wraps the app's memory connections: keeps the bytes the core wrote, may rewrite them."""

    def __init__(self, app: App, rewrite: Optional[Callable[[bytes], bytes]] = None) -> None:
        self.written = bytearray()
        self.rewrite = rewrite
        original = app.memory_host().open_connection

        def connect(remote: Any = ("127.0.0.1", 50000)) -> Any:
            return _Wrapped(original(remote), self)

        app.memory_host().open_connection = connect  # type: ignore[method-assign]


class _Wrapped:
    def __init__(self, conn: Any, recorder: Recorder) -> None:
        self.conn = conn
        self.recorder = recorder

    def feed(self, data: bytes) -> None:
        self.conn.feed(data)

    def read(self) -> bytes:
        data = self.conn.read()
        self.recorder.written += data
        return self.recorder.rewrite(data) if self.recorder.rewrite and data else data

    @property
    def open(self) -> bool:
        return bool(self.conn.open)

    def close(self) -> None:
        self.conn.close()


# ---- the handshake ---------------------------------------------------------------------------


def test_echo_text_bytes_json_and_receive_tuple() -> None:
    with (
        TestClient(echo_app(max_payload_length=1 << 20)) as client,
        client.websocket_connect("/ws") as ws,
    ):
        assert ws.response_headers["upgrade"] == "websocket"
        assert ws.subprotocol is None and ws.extensions == []
        ws.send_text("héllo")
        assert ws.receive_text() == "héllo"
        ws.send_bytes(b"\x00\xff")
        assert ws.receive_bytes() == b"\x00\xff"
        ws.send_json({"a": [1, "ü"]})
        assert ws.receive_json() == {"a": [1, "ü"]}
        ws.send_json([1, 2], mode="binary")
        message = ws.receive()
        assert message == WebSocketMessage("bytes", b"[1,2]")
        ws.send_text("x" * 70000)  # 64-bit length on both sides
        kind, data = ws.receive()
        assert (kind, data) == ("text", "x" * 70000)


def test_subprotocol_negotiation_default_and_custom() -> None:
    def choose(res: Any, req: Any, context: Any) -> None:
        offered = [p.strip() for p in req.get_header("sec-websocket-protocol").split(",")]
        res.upgrade(
            req.get_header("sec-websocket-key"),
            "v2" if "v2" in offered else None,
            None,
            context,
        )

    app = echo_app()
    app.ws("/choose", {"upgrade": choose})
    with TestClient(app) as client:
        with client.websocket_connect("/ws", subprotocols=["chat", "v2"]) as ws:
            assert ws.subprotocol == "chat"  # the default takes the first offered
            assert ws.response.status_code == 101
        with client.websocket_connect("/choose", ["v1", "v2"]) as ws:
            assert ws.subprotocol == "v2"
            assert ws.response_headers["sec-websocket-protocol"] == "v2"


def test_a_subprotocol_never_offered_is_a_protocol_error() -> None:
    app = App()
    app.ws(
        "/ws",
        {
            "upgrade": lambda res, req, ctx: res.upgrade(
                req.get_header("sec-websocket-key"), "x", None, ctx
            )
        },
    )
    with TestClient(app) as client:
        with pytest.raises(ProtocolError, match="subprotocol 'x', not one of those offered"):
            client.websocket_connect("/ws", ["chat"])


def test_headers_query_cookies_and_user_data_reach_the_upgrade_handler() -> None:
    seen: dict = {}

    def on_upgrade(res: Any, req: Any, context: Any) -> None:
        seen["token"] = req.get_header("x-token")
        seen["version"] = req.get_header("sec-websocket-version")
        seen["room"] = req.get_query("room")
        seen["cookie"] = req.get_cookie("sid")
        seen["host"] = req.get_header("host")
        key = req.get_header("sec-websocket-key")
        res.upgrade(key, None, None, context, {"user": req.get_header("x-token")})

    def on_message(ws: Any, message: Any, opcode: Any) -> None:
        ws.send({"user": ws.get_user_data()["user"], "ip": ws.get_remote_address()})

    app = App()
    app.ws("/ws", {"upgrade": on_upgrade, "message": on_message})
    with TestClient(app, client=("10.9.8.7", 4321), cookies={"sid": "abc"}) as client:
        with client.websocket_connect(
            "/ws", headers={"X-Token": "ada"}, params={"room": "blue"}
        ) as ws:
            assert ws.path == "/ws?room=blue"
            ws.send_text("who")
            assert ws.receive_json() == {"user": "ada", "ip": "10.9.8.7"}
    assert seen == {
        "token": "ada",
        "version": "13",
        "room": "blue",
        "cookie": "abc",
        "host": "testserver",
    }


def test_async_upgrade_handler_and_async_open() -> None:
    async def on_upgrade(res: Any, req: Any, context: Any) -> None:
        key = req.get_header("sec-websocket-key")
        await asyncio.sleep(0.01)
        res.upgrade(key, None, None, context, "later")

    async def on_open(ws: Any) -> None:
        await asyncio.sleep(0.01)
        ws.send(f"opened {ws.get_user_data()}")

    app = App()
    app.ws("/ws", {"upgrade": on_upgrade, "open": on_open})
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "opened later"


def test_the_101_is_checked_strictly() -> None:
    app = echo_app()
    Recorder(app, lambda data: data.replace(b"Sec-WebSocket-Accept: ", b"Sec-WebSocket-Accept: x"))
    with TestClient(app) as client:
        with pytest.raises(ProtocolError, match="Sec-WebSocket-Accept is 'x"):
            client.websocket_connect("/ws")


def test_an_extension_never_offered_is_a_protocol_error() -> None:
    app = echo_app()
    extension = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
    Recorder(
        app,
        lambda data: data.replace(b"Upgrade: websocket\r\n", b"Upgrade: websocket\r\n" + extension),
    )
    with TestClient(app) as client:
        with pytest.raises(ProtocolError, match="extension 'permessage-deflate', never offered"):
            client.websocket_connect("/ws")


def test_rejected_upgrades_carry_status_headers_and_body() -> None:
    def refuse(res: Any, req: Any, context: Any) -> None:
        res.write_status(403).write_header("X-Why", "banned").end("go away")

    app = echo_app()
    app.ws("/private", {"upgrade": refuse})
    with TestClient(app) as client:
        with pytest.raises(WebSocketRejected) as caught:
            client.websocket_connect("/private")
        error = caught.value
        assert error.status_code == 403 and error.headers["x-why"] == "banned"
        assert error.content == b"go away" and error.text == "go away"
        assert error.response.status_code == 403
        assert "GET /private was rejected with 403 Forbidden: b'go away'" in str(error)

        with pytest.raises(WebSocketRejected) as caught:
            client.websocket_connect("/missing")
        assert caught.value.status_code == 404

        with pytest.raises(WebSocketRejected) as caught:  # a plain route
            client.websocket_connect("/plain")
        assert caught.value.status_code == 200 and caught.value.content == b"plain"

        with pytest.raises(WebSocketRejected) as caught:
            client.websocket_connect("/ws", headers={"Sec-WebSocket-Version": "8"})
        assert caught.value.status_code == 426
        assert caught.value.headers["sec-websocket-version"] == "13"

        with pytest.raises(WebSocketRejected) as caught:
            client.websocket_connect("/ws", headers={"Sec-WebSocket-Key": "short"})
        assert caught.value.status_code == 400

        assert client.get("/plain").text == "plain"  # the client still works


# ---- messages ----------------------------------------------------------------------------------


def test_server_close_raises_disconnect_with_code_and_reason_every_time() -> None:
    events: list = []
    with TestClient(echo_app(events)) as client:
        with client.websocket_connect("/ws") as ws:
            ws.send_text("before")
            ws.send_text("close:4001:see you")
            assert ws.receive_text() == "before"  # what came first is still delivered
            with pytest.raises(WebSocketDisconnect) as caught:
                ws.receive_text()
            assert caught.value.code == 4001 and caught.value.reason == "see you"
            assert "closed (code 4001, reason 'see you')" in str(caught.value)
            with pytest.raises(WebSocketDisconnect, match="receive_bytes"):
                ws.receive_bytes()
            with pytest.raises(WebSocketDisconnect, match=r"send_text\(\) on WebSocket /ws"):
                ws.send_text("late")
            assert ws.closed and ws.close_code == 4001 and ws.close_reason == "see you"
            ws.close()  # a no-op now
    assert events == [("close", 4001, b"see you")]


def test_client_close_does_the_closing_handshake() -> None:
    events: list = []
    with TestClient(echo_app(events)) as client:
        ws = client.websocket_connect("/ws")
        ws.close(4002, "done")
        assert ws.closed and ws.close_code == 4002  # the server echoed our code
        assert events == [("close", 4002, b"done")]
        with pytest.raises(WebSocketDisconnect):
            ws.send_bytes(b"x")
        ws.close()
        with client.websocket_connect("/ws"):
            pass  # leaving the block closes with 1000
        assert events[-1] == ("close", 1000, None)


def test_a_dropped_connection_is_1006() -> None:
    events: list = []
    with TestClient(echo_app(events)) as client, client.websocket_connect("/ws") as ws:
        ws.send_text("drop")
        with pytest.raises(WebSocketDisconnect) as caught:
            ws.receive()
        assert caught.value.code == 1006
    assert events == [("close", 1006, None)]


def test_receive_times_out_naming_the_route() -> None:
    with TestClient(echo_app(), timeout=0.1) as client:
        with client.websocket_connect("/ws", params={"q": 1}) as ws:
            with pytest.raises(WebSocketTimeout) as caught:
                ws.receive_text(timeout=0.05)
            error = caught.value
            assert isinstance(error, TimeoutError)
            assert error.path == "/ws?q=1" and error.timeout == 0.05
            assert str(error) == (
                "receive_text() on WebSocket /ws?q=1: nothing from the server within 0.05 s"
            )
            with pytest.raises(WebSocketTimeout, match=r"within 0\.1 s"):  # the client's
                ws.receive()
            ws.send_text("still open")
            assert ws.receive_text(timeout=10) == "still open"  # a bound, not the 0.1 s


def test_pub_sub_between_three_sessions() -> None:
    def on_message(ws: Any, message: Any, opcode: Any) -> None:
        if message.startswith("sub:"):
            ws.subscribe(message[4:])
            ws.send("subscribed")
        else:
            topic, _, text = message.partition(" ")
            ws.publish(topic, text)

    app = App()
    app.ws("/chat", {"message": on_message})
    with TestClient(app) as client:
        with (
            client.websocket_connect("/chat") as alice,
            client.websocket_connect("/chat") as bob,
            client.websocket_connect("/chat") as carol,
        ):
            for ws in (alice, bob):
                ws.send_text("sub:news")
                assert ws.receive_text() == "subscribed"
            assert app.num_subscribers("news") == 2
            carol.send_text("news hello")
            assert alice.receive_text() == "hello" and bob.receive_text() == "hello"
            alice.send_text("news from alice")  # every subscriber but the sender
            assert bob.receive_text() == "from alice"
            with pytest.raises(WebSocketTimeout):
                alice.receive(timeout=0.02)
            assert app.publish("news", b"\x01", OpCode.BINARY)
            assert alice.receive_bytes() == b"\x01" and bob.receive_bytes() == b"\x01"
        assert app.num_subscribers("news") == 0


def test_async_message_handler() -> None:
    async def on_message(ws: Any, message: Any, opcode: Any) -> None:
        await asyncio.sleep(0.01)
        ws.send(message.upper())
        await asyncio.sleep(0.01)
        ws.send("done")

    with TestClient(echo_app(message=on_message)) as client, client.websocket_connect("/ws") as ws:
        ws.send_text("abc")
        assert [ws.receive_text(), ws.receive_text()] == ["ABC", "done"]


def test_fragmented_server_message_is_reassembled() -> None:
    def on_message(ws: Any, message: Any, opcode: Any) -> None:
        ws.send_first_fragment("fra", OpCode.TEXT)
        ws.send_fragment("gmen")
        ws.send_last_fragment("ted")
        ws.send_first_fragment(b"\x01", OpCode.BINARY)
        ws.send_last_fragment(b"\x02")

    app = echo_app(message=on_message)
    recorder = Recorder(app)
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        ws.send_text("go")
        assert ws.receive_text() == "fragmented"
        assert ws.receive_bytes() == b"\x01\x02"
    frames = bytes(recorder.written).split(b"\r\n\r\n", 1)[1]
    assert frames.startswith(b"\x01\x03fra\x00\x04gmen\x80\x03ted")  # three frames on the wire


def test_fragmented_client_message_reaches_the_handler_whole() -> None:
    with TestClient(echo_app()) as client, client.websocket_connect("/ws") as ws:
        ws.send_frame(OpCode.TEXT, b"hel", fin=False)
        ws.send_frame(OpCode.CONTINUATION, b"lo")
        assert ws.receive_text() == "hello"


def test_ping_pong_both_ways() -> None:
    pongs: list = []
    pings: list = []

    def on_message(ws: Any, message: Any, opcode: Any) -> None:
        ws.send(b"are you there", OpCode.PING)
        ws.send("after the ping")

    app = echo_app(
        message=on_message,
        pong=lambda ws, data: pongs.append(data),
        ping=lambda ws, data: pings.append(data),
    )
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        ws.send_ping(b"hi")
        assert ws.receive_pong() == b"hi"
        assert pings == [b"hi"]
        ws.send_text("x")
        assert ws.receive_text() == "after the ping"  # the ping is not a message
        assert pongs == [b"are you there"]  # answered automatically
        with pytest.raises(WebSocketTimeout, match="receive_pong"):
            ws.receive_pong(timeout=0.02)


def test_compressed_messages_are_inflated() -> None:
    app = echo_app(compression=CompressOptions.SHARED_COMPRESSOR)
    app.ws(
        "/deflate",
        {
            "compression": CompressOptions.SHARED_COMPRESSOR,
            "message": lambda ws, m, op: ws.send(m * 20, op, compress=True),
        },
    )
    recorder = Recorder(app)
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    with TestClient(app) as client, client.websocket_connect("/deflate", headers=offer) as ws:
        assert ws.extensions[0].startswith("permessage-deflate")
        ws.send_text("squeeze ")
        assert ws.receive_text() == "squeeze " * 20
    frames = bytes(recorder.written).split(b"\r\n\r\n", 1)[1]
    assert frames[0] == 0xC1  # FIN + RSV1 + TEXT: it really was compressed


def test_a_protocol_violation_by_the_client_gets_1002() -> None:
    events: list = []
    with TestClient(echo_app(events)) as client, client.websocket_connect("/ws") as ws:
        ws.send_frame(OpCode.TEXT, b"unmasked", mask=False)
        with pytest.raises(WebSocketDisconnect) as caught:
            ws.receive()
        assert caught.value.code == 1002
    assert events[0][:2] == ("close", 1002)


def test_a_broken_server_frame_is_a_protocol_error() -> None:
    def on_message(ws: Any, message: Any, opcode: Any) -> None:
        ws.send(b"\xff\xfe", OpCode.BINARY)

    app = echo_app(message=on_message)
    Recorder(app, lambda data: data.replace(b"\x82\x02\xff\xfe", b"\x82\x82\xff\xfe"))
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        ws.send_text("x")
        with pytest.raises(ProtocolError, match=r"masked a frame .* \[WebSocket /ws\]"):
            ws.receive()
        with pytest.raises(WebSocketDisconnect) as caught:
            ws.receive()
        assert caught.value.code == 1006


def test_handler_exceptions_are_raised_in_the_test() -> None:
    def on_message(ws: Any, message: Any, opcode: Any) -> None:
        raise KeyError("broken handler")

    async def later(ws: Any, message: Any, opcode: Any) -> None:
        await asyncio.sleep(0)
        raise ValueError("broken later")

    app = echo_app(message=on_message)
    app.ws("/later", {"message": later})
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            with pytest.raises(KeyError, match="broken handler"):
                ws.send_text("x")
        with client.websocket_connect("/later") as ws:
            ws.send_text("x")
            with pytest.raises(ValueError, match="broken later"):
                ws.receive(timeout=1)


def test_wrong_message_type_and_bad_arguments() -> None:
    with TestClient(echo_app()) as client, client.websocket_connect("/ws") as ws:
        ws.send_bytes(b"raw")
        with pytest.raises(UnexpectedMessage, match=r"expected a text message .* got a binary"):
            ws.receive_text()
        ws.send_text("txt")
        with pytest.raises(UnexpectedMessage) as caught:
            ws.receive_bytes()
        assert caught.value.received == ("text", "txt")
        with pytest.raises(InvalidRequest, match="send_text"):
            ws.send_text(b"bytes")  # type: ignore[arg-type]
        with pytest.raises(InvalidRequest, match="send_bytes"):
            ws.send_bytes("text")  # type: ignore[arg-type]
        with pytest.raises(InvalidRequest, match="mode"):
            ws.send_json({}, mode="xml")
        with pytest.raises(InvalidRequest, match="at most 125 bytes"):
            ws.send_ping(b"x" * 126)
        with pytest.raises(InvalidRequest, match="close code"):
            ws.close(1005)
        with pytest.raises(InvalidRequest, match="123 bytes"):
            ws.close(1000, "x" * 124)
        with pytest.raises(InvalidRequest, match="timeout"):
            ws.receive(timeout=0)
        ws.send_text("still fine")
        assert ws.receive_text() == "still fine"
    with pytest.raises(InvalidRequest, match="subprotocol"):
        TestClient(echo_app()).websocket_connect("/ws", ["a, b"])
    with pytest.raises(InvalidRequest, match="timeout"):
        TestClient(echo_app()).websocket_connect("/ws", timeout=-1)


def test_closing_the_client_aborts_open_sessions() -> None:
    events: list = []
    client = TestClient(echo_app(events))
    with client:
        ws = client.websocket_connect("/ws")
    assert events == [("close", 1006, None)]
    assert ws.closed
    with pytest.raises(WebSocketDisconnect):
        ws.receive()
    with pytest.raises(TestClientError, match="closed"):
        client.websocket_connect("/ws")


def test_an_exception_in_the_block_aborts_without_a_handshake() -> None:
    events: list = []
    with TestClient(echo_app(events)) as client:
        with pytest.raises(RuntimeError), client.websocket_connect("/ws"):
            raise RuntimeError("test failed")
        assert events == [("close", 1006, None)]


def test_sync_session_inside_a_running_loop_says_use_the_async_client() -> None:
    with TestClient(echo_app()) as client, client.websocket_connect("/ws") as ws:

        async def main() -> None:
            ws.receive(timeout=0.1)

        with pytest.raises(TestClientError, match="AsyncTestClient"):
            asyncio.run(main())
        ws.send_text("after")
        assert ws.receive_text() == "after"


# ---- AsyncTestClient ---------------------------------------------------------------------------


def test_async_client_websocket_session() -> None:
    events: list = []

    async def slow_echo(ws: Any, message: Any, opcode: Any) -> None:
        if message == "close":
            ws.end(4003, "async bye")
            return
        await asyncio.sleep(0.01)
        ws.send(message, opcode)

    async def main() -> None:
        app = echo_app(events, message=slow_echo)
        async with AsyncTestClient(app) as client:  # every wait bounded by the default 5 s
            async with client.websocket_connect("/ws", ["proto"]) as ws:
                assert ws.subprotocol == "proto"
                await ws.send_text("a")
                assert await ws.receive_text() == "a"
                await ws.send_bytes(b"b")
                assert await ws.receive() == ("bytes", b"b")
                await ws.send_json({"c": 1})
                assert await ws.receive_json() == {"c": 1}
                await ws.send_ping(b"p")
                assert await ws.receive_pong() == b"p"
                await ws.send_frame(OpCode.BINARY, b"d")
                assert await ws.receive_bytes() == b"d"
                with pytest.raises(WebSocketTimeout, match="receive_bytes"):
                    await ws.receive_bytes(timeout=0.02)
                await ws.send_text("close")
                with pytest.raises(WebSocketDisconnect) as caught:
                    await ws.receive_text()
                assert (caught.value.code, caught.value.reason) == (4003, "async bye")
                with pytest.raises(WebSocketDisconnect):
                    await ws.send_text("late")
            ws = await client.websocket_connect("/ws")
            await ws.close(4004)
            assert ws.close_code == 4004
            with pytest.raises(WebSocketRejected) as rejected:
                async with client.websocket_connect("/missing"):
                    pass
            assert rejected.value.status_code == 404

    asyncio.run(main())
    assert events == [("close", 4003, b"async bye"), ("close", 4004, None)]


def test_async_client_pub_sub() -> None:
    def on_message(ws: Any, message: Any, opcode: Any) -> None:
        if message == "sub":
            ws.subscribe("t")
            ws.send("ok")
        else:
            ws.publish("t", message)

    async def main() -> list:
        app = App()
        app.ws("/ps", {"message": on_message})
        async with AsyncTestClient(app) as client:
            async with (
                client.websocket_connect("/ps") as a,
                client.websocket_connect("/ps") as b,
                client.websocket_connect("/ps") as c,
            ):
                for ws in (a, b):
                    await ws.send_text("sub")
                    assert await ws.receive_text() == "ok"
                await c.send_text("news")
                return [await a.receive_text(), await b.receive_text()]

    assert asyncio.run(main()) == ["news", "news"]


def test_async_session_must_be_entered() -> None:
    async def main() -> None:
        async with AsyncTestClient(echo_app()) as client:
            ws = client.websocket_connect("/ws")
            with pytest.raises(TestClientError, match="not connected"):
                await ws.receive()
            with pytest.raises(TestClientError, match="not connected"):
                await ws.send_text("x")

    asyncio.run(main())
