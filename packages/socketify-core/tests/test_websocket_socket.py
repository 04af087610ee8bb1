"""WebSockets over real sockets on 127.0.0.1 with the `websockets` client."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest

from socketify import App, CompressOptions, OpCode

websockets = pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed  # noqa: E402


def run(coro, timeout=10.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def chat_app(closes=None, **options):
    def on_message(ws, message, opcode):
        if message == "join":
            ws.subscribe("room")
            ws.send("joined")
        elif message == "bye":
            ws.end(4000, "see you")
        elif isinstance(message, str) and message.startswith("say "):
            ws.publish("room", message[4:])
        else:
            ws.send(message, opcode, compress=True)

    behavior = {"message": on_message, **options}
    if closes is not None:
        behavior["close"] = lambda ws, code, reason: closes.append((code, reason))
    return App().ws("/ws", behavior)


def test_echo_with_a_real_client(serve):
    with serve(chat_app(max_payload_length=1 << 20)) as port:

        async def main():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None) as ws:
                await ws.send("text")
                assert await ws.recv() == "text"
                await ws.send(b"\x00bin")
                assert await ws.recv() == b"\x00bin"
                await ws.send(["frag", "ment"])  # a fragmented message
                assert await ws.recv() == "fragment"
                big = "x" * 200_000
                await ws.send(big)
                assert await ws.recv() == big
                await ws.ping(b"hi")  # answered by the core

        run(main())


def test_permessage_deflate_with_a_real_client(serve):
    app = chat_app(compression=CompressOptions.SHARED_COMPRESSOR)
    with serve(app) as port:

        async def main():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
                assert "permessage-deflate" in ws.response.headers["sec-websocket-extensions"]
                for text in ("hello " * 500, "second", ""):
                    await ws.send(text)
                    assert await ws.recv() == text

        run(main())


def test_dedicated_compressor_keeps_context_across_messages(serve):
    app = chat_app(
        compression=CompressOptions.DEDICATED_COMPRESSOR_4KB
        | CompressOptions.DEDICATED_DECOMPRESSOR_1KB
    )
    with serve(app) as port:

        async def main():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
                extensions = ws.response.headers["sec-websocket-extensions"]
                assert "client_max_window_bits=10" in extensions
                for i in range(20):
                    text = f"message {i} " + "abc" * i * 10
                    await ws.send(text)
                    assert await ws.recv() == text

        run(main())


def test_subprotocol_and_pubsub_between_real_clients(serve):
    with serve(chat_app()) as port:
        url = f"ws://127.0.0.1:{port}/ws"

        async def main():
            clients = [await websockets.connect(url, subprotocols=["chat"]) for _ in range(3)]
            try:
                assert clients[0].subprotocol == "chat"
                for client in clients:
                    await client.send("join")
                    assert await client.recv() == "joined"
                await clients[0].send("say hello")
                assert await clients[1].recv() == "hello"
                assert await clients[2].recv() == "hello"
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(clients[0].recv(), 0.2)
            finally:
                for client in clients:
                    await client.close()

        run(main())


def test_server_end_reaches_the_client_with_code_and_reason(serve):
    closes = []
    with serve(chat_app(closes)) as port:

        async def main():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
                await ws.send("bye")
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 4000 and info.value.rcvd.reason == "see you"

        run(main())
    assert closes == [(4000, b"see you")]


def test_client_close_code_reaches_the_close_handler(serve):
    closes = []
    with serve(chat_app(closes)) as port:

        async def main():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
                await ws.close(4321, "done")
                assert ws.close_code == 4321

        run(main())
        deadline = time.monotonic() + 2
        while not closes and time.monotonic() < deadline:
            time.sleep(0.01)
    assert closes == [(4321, b"done")]


def test_unmasked_frame_on_a_socket_gets_1002(serve):
    with serve(chat_app()) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in data
        sock.sendall(b"\x81\x02hi")
        rest = data.partition(b"\r\n\r\n")[2]
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            rest += chunk
        sock.close()
        assert rest[:2] == b"\x88\x02" and struct.unpack("!H", rest[2:4])[0] == 1002


def test_clients_vanishing_mid_send_never_crash_the_server(serve):
    sent = []

    async def on_message(ws, message, opcode):
        for _ in range(50):
            sent.append(ws.send(b"x" * 10_000))
            await asyncio.sleep(0)
        ws.publish("all", "gone?")

    app = App().ws("/ws", {"message": on_message, "open": lambda ws: ws.subscribe("all")})
    with serve(app) as port:

        async def main():
            for _ in range(100):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(
                    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n\x82\x81abcd" + bytes([ord("m") ^ ord("a")])
                )
                await reader.read(100)
                writer.transport.abort()  # RST while the server is sending

            async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
                await ws.send(b"still alive?")
                assert len(await ws.recv()) == 10_000

        run(main(), timeout=30)
    assert OpCode.BINARY == 2 and len(sent) >= 100


@pytest.mark.parametrize("include_self", [False, True])
def test_ws_publish_reaches_the_sender_only_when_asked(serve, include_self):
    """The original delivered a WebSocket's own publish back to it; ours does not by default
    (API contract) and does with include_self=True: both over real clients."""

    def on_message(ws, message, opcode):
        if message == "join":
            ws.subscribe("room")
            ws.send("joined")
        else:
            ws.publish("room", message, include_self=include_self)

    app = App().ws("/ws", {"message": on_message})
    with serve(app) as port:
        url = f"ws://127.0.0.1:{port}/ws"

        async def main():
            sender, other = [await websockets.connect(url) for _ in range(2)]
            try:
                for client in (sender, other):
                    await client.send("join")
                    assert await client.recv() == "joined"
                await sender.send("hello")
                assert await other.recv() == "hello"
                if include_self:
                    assert await asyncio.wait_for(sender.recv(), 2) == "hello"
                else:
                    with pytest.raises(asyncio.TimeoutError):
                        await asyncio.wait_for(sender.recv(), 0.2)
            finally:
                await sender.close()
                await other.close()

        run(main())
