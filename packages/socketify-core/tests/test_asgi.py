"""ASGI 3 spec suite: raw ASGI applications served by the core over real sockets."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loop_turns import exchange_end

from socketify import ASGI, AppListenOptions
from socketify.errors import ASGIProtocolError, ClientDisconnected, LifespanFailure


def fetch(port, method="GET", path="/", body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, reply.getheaders(), reply.read()
    finally:
        conn.close()


def raw_exchange(port, data, timeout=5.0):
    """Send raw bytes, read until the server closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            pass
        return b"".join(chunks)


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        body += message["body"]
        if not message["more_body"]:
            return body


async def respond(send, status=200, body=b"", headers=None):
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


# ---- the HTTP scope --------------------------------------------------------------------------
def test_http_scope_has_every_key_as_the_spec_says(serve):
    seen = {}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return
        seen.update(scope)
        await respond(send, body=b"ok")

    server = ASGI(app, root_path="/mount")
    with serve(server) as port:
        status, _, body = fetch(
            port,
            path="/caf%C3%A9/a%2Fb?q=%20x&q=2",
            headers={"X-Dup": "one", "Accept": "*/*"},
        )
        assert (status, body) == (200, b"ok")
    assert seen["type"] == "http"
    assert seen["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert seen["http_version"] == "1.1"
    assert seen["method"] == "GET"
    assert seen["scheme"] == "http"
    assert seen["root_path"] == "/mount"
    assert seen["path"] == "/mount/café/a/b"
    assert seen["raw_path"] == b"/mount/caf%C3%A9/a%2Fb"
    assert seen["query_string"] == b"q=%20x&q=2"
    names = [name for name, _ in seen["headers"]]
    assert all(isinstance(n, bytes) and n == n.lower() for n in names)
    assert (b"x-dup", b"one") in seen["headers"]
    assert names.index(b"x-dup") < names.index(b"accept")  # original order
    host, client_port = seen["client"]
    assert host == "127.0.0.1" and isinstance(client_port, int) and client_port > 0
    assert seen["server"] == ("127.0.0.1", port)
    assert seen["state"] == {}
    assert "http.response.pathsend" in seen["extensions"]
    assert "http.response.zerocopysend" in seen["extensions"]


def test_duplicate_headers_are_kept_and_http_10_is_reported(serve):
    seen = {}

    async def app(scope, receive, send):
        seen.update(scope)
        await respond(send, body=b"ok")

    with serve(ASGI(app, lifespan="off")) as port:
        reply = raw_exchange(port, b"GET /x HTTP/1.0\r\nHost: a\r\nX-A: 1\r\nX-A: 2\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200")
    assert seen["http_version"] == "1.0"
    assert [v for n, v in seen["headers"] if n == b"x-a"] == [b"1", b"2"]


def test_each_connection_sees_its_own_client_and_scheme_across_loops():
    # The scope keeps the last connection's peer and reads TLS in the same C call (PERF):
    # connections that alternate, one playing TLS, and a new loop whose connection ids
    # count from 1 again, must still see their own.
    seen = []

    async def app(scope, receive, send):
        seen.append((scope["scheme"], scope["client"]))
        await respond(send, body=b"ok")

    server = ASGI(app, lifespan="off")
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    host = server.memory_host()
    host.bind_loop(asyncio.new_event_loop())
    first = host.open_connection(("10.0.0.1", 1001))
    second = host.open_connection(("10.0.0.2", 1002))
    secure = host.open_connection(("10.0.0.5", 1005))
    secure.set_tls()
    for conn in (first, first, second, first, secure, second, secure, second):
        conn.feed(request)
        assert conn.read().endswith(b"ok")
    one, two = ("http", ("10.0.0.1", 1001)), ("http", ("10.0.0.2", 1002))
    tls = ("https", ("10.0.0.5", 1005))
    assert seen == [one, one, two, one, tls, two, tls, two]
    from socketify_testing import TestClient

    for remote in (("10.0.0.3", 3), ("10.0.0.4", 4)):
        server.close()  # frees the core's loop: the next one counts connections from 1 again
        with TestClient(server, client=remote) as client:
            assert client.get("/").text == "ok" and client.get("/").text == "ok"
        assert seen[-2:] == [("http", remote), ("http", remote)]


def test_clients_kept_per_connection_are_dropped_at_the_bound_and_read_again(monkeypatch):
    # the scope keeps each connection's client (PERF); past _PEERS_MAX they are all dropped
    # and read again from the core: interleaved connections still see their own
    from socketify.asgi import server as asgi_server

    monkeypatch.setattr(asgi_server, "_PEERS_MAX", 2)
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["client"])
        await respond(send, body=b"ok")

    server = ASGI(app, lifespan="off")
    host = server.memory_host()
    host.bind_loop(asyncio.new_event_loop())
    remotes = [(f"10.0.1.{n}", 2000 + n) for n in range(1, 5)]
    conns = [host.open_connection(remote) for remote in remotes]
    order = [0, 1, 2, 0, 3, 1, 2, 3, 0]
    for index in order:
        conns[index].feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert conns[index].read().endswith(b"ok")
    assert seen == [remotes[index] for index in order]
    assert len(server._peers.values) <= 2


def test_a_unix_socket_client_has_no_address(tmp_path):
    seen = {}

    async def app(scope, receive, send):
        seen.update(scope)
        await respond(send, body=b"unix")

    path = str(tmp_path / "asgi.sock")
    server = ASGI(app, lifespan="off")
    server.listen(AppListenOptions(domain=path))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while server._stop is None and time.monotonic() < deadline:
            time.sleep(0.005)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    finally:
        server.close()
        thread.join(5)
    assert data.endswith(b"unix")
    assert seen["client"] is None
    assert seen["server"] == (path, None)


# ---- request body --------------------------------------------------------------------------------
def test_body_arrives_in_chunks_with_more_body(serve):
    sizes = []

    async def app(scope, receive, send):
        total = 0
        while True:
            message = await receive()
            sizes.append(len(message["body"]))
            total += len(message["body"])
            if not message["more_body"]:
                break
        await respond(send, body=str(total).encode())

    with serve(ASGI(app, lifespan="off")) as port:
        status, _, body = fetch(port, "POST", "/", body=b"x" * 3_000_000)
        assert (status, body) == (200, b"3000000")
        assert len(sizes) > 1  # streamed, not one buffered blob

        # a chunked upload streams the same way
        def chunks():
            for _ in range(20):
                yield b"y" * 10000

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/", body=chunks(), encode_chunked=True)
        assert conn.getresponse().read() == b"200000"
        conn.close()


def test_a_slow_app_pauses_the_upload_instead_of_buffering_it(serve):
    first = []

    async def app(scope, receive, send):
        await asyncio.sleep(0.5)  # the client sends everything meanwhile
        message = await receive()
        first.append(len(message["body"]))
        rest = await read_body(receive) if message["more_body"] else b""
        await respond(send, body=str(len(message["body"]) + len(rest)).encode())

    with serve(ASGI(app, lifespan="off", max_body_size=64 * 1024 * 1024)) as port:
        status, _, body = fetch(port, "POST", "/", body=b"z" * 16_000_000)
    assert (status, body) == (200, b"16000000")
    # Without pausing, 16 MB would wait in Python after the sleep; paused, only what one
    # read brought in.
    assert first[0] < 2_000_000


def test_a_body_over_max_body_size_is_refused_by_the_core(serve):
    async def app(scope, receive, send):
        await respond(send, body=await read_body(receive))

    with serve(ASGI(app, lifespan="off", max_body_size=1000)) as port:
        reply = raw_exchange(
            port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"a" * 5000
        )
    assert reply.startswith(b"HTTP/1.1 413")


def test_bad_requests_get_the_cores_answers(serve):
    calls = []

    async def app(scope, receive, send):
        calls.append(scope)
        await respond(send, body=b"never")

    with serve(ASGI(app, lifespan="off")) as port:
        assert raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n").startswith(
            b"HTTP/1.1 400"
        )
        both = (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        assert raw_exchange(port, both).startswith(b"HTTP/1.1 400")
    assert calls == []


def test_expect_100_continue_is_answered_when_the_app_reads(serve):
    async def app(scope, receive, send):
        await respond(send, body=await read_body(receive))

    with serve(ASGI(app, lifespan="off")) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
            )
            assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
            sock.sendall(b"hello")
            reply = sock.recv(1000)
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hello")


# ---- response ------------------------------------------------------------------------------------
def test_streaming_without_length_is_chunked_and_with_length_is_not(serve):
    async def app(scope, receive, send):
        headers = [(b"content-length", b"6")] if scope["path"] == "/length" else []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})

    with serve(ASGI(app, lifespan="off")) as port:
        status, headers, body = fetch(port, path="/")
        assert (status, body) == (200, b"abcdef")
        assert ("Transfer-Encoding", "chunked") in headers
        status, headers, body = fetch(port, path="/length")
        assert body == b"abcdef"
        assert ("content-length", "6") in headers
        assert all(name != "Transfer-Encoding" for name, _ in headers)


def test_head_204_and_304_are_framed_by_the_core(serve):
    async def app(scope, receive, send):
        status = {"/204": 204, "/304": 304}.get(scope["path"], 200)
        await respond(send, status=status, body=b"" if status != 200 else b"hello")

    with serve(ASGI(app, lifespan="off")) as port:
        status, headers, body = fetch(port, "HEAD", "/")
        assert (status, body) == (200, b"")
        assert ("Content-Length", "5") in headers
        reply = raw_exchange(port, b"GET /204 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 204") and b"Content-Length" not in reply
        reply = raw_exchange(port, b"GET /304 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 304") and reply.endswith(b"\r\n\r\n")


def test_response_headers_are_kept_in_order_with_duplicates(serve):
    async def app(scope, receive, send):
        headers = [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"x-y", b"z")]
        await respond(send, status=201, body=b"made", headers=headers)

    with serve(ASGI(app, lifespan="off")) as port:
        status, headers, body = fetch(port)
    assert (status, body) == (201, b"made")
    assert [v for n, v in headers if n.lower() == "set-cookie"] == ["a=1", "b=2"]


def memory_exchange(server, request=b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"):
    """One request on a fresh memory connection: (what the core wrote, still open)."""
    host = server.memory_host()
    host.bind_loop(asyncio.new_event_loop())
    conn = host.open_connection()
    conn.feed(request)
    return conn.read(), conn.open


def test_repeated_request_headers_give_each_scope_its_own_list_and_follow_changes():
    # the scope reuses the pairs of the previous request's header block when it is the same
    # bytes (PERF): an app changing its list must not reach the next request, and a changed
    # block must show
    seen = []

    async def app(scope, receive, send):
        seen.append(list(scope["headers"]))
        scope["headers"].append((b"x-added", b"by the app"))
        scope["headers"][0] = (b"host", b"changed")
        await respond(send, body=b"ok")

    server = ASGI(app, lifespan="off")
    same = b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\r\n"
    other = b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 2\r\n\r\n"
    for request in (same, same, same, other, same):
        out, _ = memory_exchange(server, request)
        assert out.endswith(b"ok")
    first = [(b"host", b"t"), (b"x-a", b"1")]
    assert seen == [first, first, first, [(b"host", b"t"), (b"x-a", b"2")], first]


def test_a_repeated_header_list_keeps_its_framing_and_follows_changes():
    # http.response.start keeps rendered header lists (PERF): equal lists must answer alike,
    # Content-Length and Connection: close included, and a changed list must show.
    head = [(b"content-type", b"text/plain"), (b"content-length", b"2"), (b"connection", b"close")]
    errors = []

    async def app(scope, receive, send):
        await respond(send, body=b"ok", headers=head)

    server = ASGI(app, lifespan="off")
    server.set_error_handler(lambda error, res, req: errors.append(error))
    for _ in range(3):
        out, still_open = memory_exchange(server)
        assert out.startswith(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n")
        assert out.lower().count(b"content-length: ") == 1 and b"content-length: 2\r\n" in out
        assert b"connection: close" not in out  # the core writes Connection itself
        assert out.endswith(b"\r\n\r\nok") and b"Connection: close\r\n" in out
        assert not still_open
    head.append((b"x-more", b"1"))  # the same list object, changed: rendered again
    del head[2]
    out, still_open = memory_exchange(server)
    assert b"x-more: 1\r\n" in out and b"Connection: close" not in out and still_open
    assert errors == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: [[b"x-a", b"1"], [b"x-b", b"2"]],  # lists: not hashable, rendered each time
        lambda: ((name, value) for name, value in ((b"x-a", b"1"), (b"x-b", b"2"))),
        lambda: [("x-a", "1"), ("x-b", 2)],  # str and int: rendered each time
        lambda: ((b"x-a", memoryview(b"1")), (b"x-b", b"2")),
    ],
)
def test_header_lists_of_every_shape_answer_alike_every_time(make):
    async def app(scope, receive, send):
        await respond(send, body=b"ok", headers=make())

    server = ASGI(app, lifespan="off")
    for _ in range(3):
        out, _ = memory_exchange(server)
        assert b"\r\nx-a: 1\r\nx-b: 2\r\n" in out and out.endswith(b"ok")


def test_a_bad_header_in_a_repeated_list_fails_every_time():
    head = [(b"content-length", b"two")]
    errors = []

    async def app(scope, receive, send):
        await respond(send, body=b"ok", headers=head)

    server = ASGI(app, lifespan="off")
    server.set_error_handler(lambda error, res, req: errors.append(error) or res.end(b"no"))
    for _ in range(2):
        out, _ = memory_exchange(server)
        assert out.endswith(b"no")
    assert len(errors) == 2 and all("Content-Length" in str(e) for e in errors)


def test_send_waits_for_drain_past_backpressure(serve):
    progress = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        chunk = b"q" * 65536
        for index in range(128):  # 8 MiB
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            progress.append(index)
        await send({"type": "http.response.body", "body": b""})

    server = ASGI(app, lifespan="off", max_backpressure=256 * 1024)
    with serve(server) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            time.sleep(0.5)  # the client reads nothing: send() must stop
            stalled_at = len(progress)
            data = b""
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
    assert stalled_at < 100  # bounded by the socket buffers + max_backpressure, not 8 MiB
    assert len(progress) == 128
    assert data.count(b"q") == 128 * 65536


def test_disconnect_reaches_an_app_streaming_a_response(serve):
    events = []
    done = threading.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})

        async def watch():
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    events.append(message["type"])
                    return

        watcher = asyncio.ensure_future(watch())
        try:
            while True:
                await send({"type": "http.response.body", "body": b"tick", "more_body": True})
                await asyncio.sleep(0.01)
        except OSError as exc:  # ClientDisconnected, as ASGI 2.4 says
            events.append(type(exc).__name__)
        await watcher
        done.set()

    with serve(ASGI(app, lifespan="off")) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        sock.close()
        assert done.wait(5)
    assert "http.disconnect" in events
    assert "ClientDisconnected" in events
    assert issubclass(ClientDisconnected, OSError)


def test_pathsend_and_zerocopysend_serve_a_file(serve, tmp_path):
    data = os.urandom(700_000)
    target = tmp_path / "blob.bin"
    target.write_bytes(data)

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/path":
            await send({"type": "http.response.pathsend", "path": str(target)})
        else:
            with open(target, "rb") as file:
                await send(
                    {
                        "type": "http.response.zerocopysend",
                        "file": file,
                        "offset": 100,
                        "count": 1000,
                    }
                )

    with serve(ASGI(app, lifespan="off")) as port:
        status, headers, body = fetch(port, path="/path")
        assert (status, body) == (200, data)
        assert ("Content-Length", str(len(data))) in headers
        status, headers, body = fetch(port, path="/zero")
        assert (status, body) == (200, data[100:1100])


# ---- errors --------------------------------------------------------------------------------------
def test_an_exception_before_start_is_a_500(serve, caplog):
    async def app(scope, receive, send):
        raise ValueError("boom before start")

    with serve(ASGI(app, lifespan="off")) as port:
        status, _, body = fetch(port)
    assert (status, body) == (500, b"Internal Server Error")
    assert "boom before start" in caplog.text


def test_apps_that_return_raise_and_suspend_in_their_first_step_interleave():
    # first steps run through one reused stepper (PERF, coroutines.new_stepper); an app that
    # suspends keeps its own, so requests answered meanwhile, and failures, do not disturb it
    loop = asyncio.new_event_loop()
    events = {}  # made in the app: Python 3.9's Event binds to the loop current at creation
    errors = []

    async def app(scope, receive, send):
        path = scope["path"]
        if path == "/wait":
            await events.setdefault("release", asyncio.Event()).wait()
        elif path == "/boom":
            raise ValueError("boom in the first step")
        elif path == "/exit":
            raise SystemExit(3)
        await respond(send, body=path.encode())

    server = ASGI(app, lifespan="off")
    server.set_error_handler(lambda error, res, req: errors.append(error))
    host = server.memory_host()
    host.bind_loop(loop)

    def exchange(conn, path):
        conn.feed(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        return conn.read()

    waiting = host.open_connection()
    other = host.open_connection()
    try:
        assert exchange(waiting, b"/wait") == b""  # suspended: answered later, in a Task
        assert exchange(other, b"/a").endswith(b"\r\n\r\n/a")
        assert exchange(other, b"/boom").startswith(b"HTTP/1.1 500 ")
        # not an Exception: its client gets the 500, then it leaves the dispatch (the
        # core's callback logs it) and kills the stepper it ran in; the next first steps
        # get a new one
        assert exchange(host.open_connection(), b"/exit").startswith(b"HTTP/1.1 500 ")
        assert exchange(other, b"/b").endswith(b"\r\n\r\n/b")
        events["release"].set()
        # its Task answers once the loop runs it
        assert exchange_end(loop, waiting, b"/wait").startswith(b"HTTP/1.1 200 ")
        assert exchange(waiting, b"/c").endswith(b"\r\n\r\n/c")
    finally:
        server._release()
        loop.close()
    assert [str(e) for e in errors] == ["boom in the first step"]


def test_a_request_whose_app_raised_is_not_kept_alive_by_the_next_first_step():
    # the reused stepper must not hold the last failure (its traceback holds the app's frame)
    import gc
    import weakref

    class Payload:
        pass

    refs = []

    async def app(scope, receive, send):
        payload = Payload()
        refs.append(weakref.ref(payload))
        if scope["path"] == "/boom":
            raise ValueError("boom")
        await respond(send, body=b"ok")

    server = ASGI(app, lifespan="off")
    server.set_error_handler(lambda error, res, req: None)
    for path in (b"/boom", b"/ok"):
        out, _ = memory_exchange(server, b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 500 " if path == b"/boom" else b"HTTP/1.1 200 ")
        for _ in range(5):  # PyPy may need more than one collection to clear a weakref
            gc.collect()
            if refs[-1]() is None:
                break
        assert refs[-1]() is None


def test_an_exception_after_start_closes_the_connection(serve):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/streamed":
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise ValueError("boom after start")

    with serve(ASGI(app, lifespan="off")) as port:
        for path in (b"/", b"/streamed"):
            reply = raw_exchange(port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            # closed, never a complete keep-alive response
            assert not reply.endswith(b"0\r\n\r\n")
            assert b"Internal Server Error" not in reply or path == b"/"


def test_an_app_that_returns_without_responding_gets_a_500(serve):
    async def app(scope, receive, send):
        return None

    with serve(ASGI(app, lifespan="off")) as port:
        assert fetch(port)[0] == 500


@pytest.mark.parametrize(
    ("steps", "error"),
    [
        ([{"type": "http.response.body", "body": b"x"}], "before http.response.start"),
        (
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.start", "status": 200},
            ],
            "sent twice",
        ),
        (
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.body", "body": b"x"},
                {"type": "http.response.body", "body": b"y"},
            ],
            "after the response completed",
        ),
        ([{"type": "http.response.start", "status": "200"}], "must be an int"),
        (
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.body", "body": "text"},
            ],
            "must be bytes",
        ),
        ([{"type": "websocket.accept"}], "unexpected ASGI message type"),
        (["not a dict"], "must be a dict"),
    ],
)
def test_protocol_misuse_raises_a_clear_runtime_error_in_the_app(serve, steps, error):
    caught = []

    async def app(scope, receive, send):
        try:
            for step in steps:
                await send(step)
        except RuntimeError as exc:
            caught.append(exc)
            raise

    with serve(ASGI(app, lifespan="off")) as port:
        try:
            status = fetch(port)[0]
        except (http.client.HTTPException, ConnectionError):
            status = None  # the head was started: the connection is closed instead
    assert len(caught) == 1 and isinstance(caught[0], ASGIProtocolError)
    assert error in str(caught[0])
    if steps[0] != {"type": "http.response.start", "status": 200}:
        assert status == 500
    else:
        assert status != 500


# ---- lifespan ------------------------------------------------------------------------------------
def lifespan_app(events, fail=None):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    if fail == "startup":
                        await send({"type": "lifespan.startup.failed", "message": "no db"})
                        return
                    scope["state"]["db"] = "connected"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await respond(send, body=scope["state"].get("db", "-").encode())

    return app


def test_lifespan_startup_state_reaches_requests_and_shutdown_runs(serve):
    events = []
    with serve(ASGI(lifespan_app(events))) as port:
        assert fetch(port)[2] == b"connected"
    assert events == ["lifespan.startup", "lifespan.shutdown"]


def test_lifespan_startup_failure_makes_run_raise(caplog):
    server = ASGI(lifespan_app([], fail="startup"), lifespan="on")
    server.listen(0)
    with pytest.raises(LifespanFailure, match="no db"):
        server.run()
    assert "no db" in caplog.text


def test_lifespan_auto_serves_an_app_that_does_not_speak_it(serve):
    async def app(scope, receive, send):
        assert scope["type"] == "http", "lifespan is not supported"
        await respond(send, body=b"plain")

    with serve(ASGI(app)) as port:
        assert fetch(port)[2] == b"plain"
    server = ASGI(app, lifespan="on")
    server.listen(0)
    with pytest.raises(LifespanFailure, match="lifespan is not supported"):
        server.run()


def test_lifespan_off_never_calls_the_app_for_it(serve):
    scopes = []

    async def app(scope, receive, send):
        scopes.append(scope["type"])
        await respond(send, body=b"x")

    with serve(ASGI(app, lifespan="off")) as port:
        fetch(port)
    assert scopes == ["http"]


def test_bad_constructor_arguments_are_refused():
    with pytest.raises(TypeError, match="ASGI application"):
        ASGI("not callable")
    with pytest.raises(ValueError, match="lifespan must be one of"):
        ASGI(lambda s, r, e: None, lifespan="maybe")
    with pytest.raises(ValueError, match="root_path"):
        ASGI(lambda s, r, e: None, root_path="api")
    with pytest.raises(ValueError):
        ASGI(lambda s, r, e: None, websocket={"max_payload_length": -1})


# ---- WebSockets ----------------------------------------------------------------------------------
websockets = pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

# ping_interval=None: no keepalive thread in the sync client; its concurrent Thread.join
# trips a threading bug of PyPy 3.9 ("cannot release un-acquired lock").


def ws_app(log):
    async def app(scope, receive, send):
        if scope["type"] != "websocket":
            await respond(send, body=b"http")
            return
        log.append(("scope", scope["path"], scope["subprotocols"], scope["scheme"]))
        assert (await receive())["type"] == "websocket.connect"
        if scope["path"] == "/deny":
            await send({"type": "websocket.close"})
            return
        if scope["path"] == "/http-deny":
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": b"log in first"})
            return
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": scope["subprotocols"][0] if scope["subprotocols"] else None,
                "headers": [(b"x-extra", b"yes")],
            }
        )
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                log.append(("disconnect", message["code"], message.get("reason")))
                return
            if message.get("text") == "close":
                await send({"type": "websocket.close", "code": 4001, "reason": "asked"})
                continue
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": "echo " + message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})

    return app


def test_websocket_accept_send_receive_and_client_close_code(serve):
    log = []
    with serve(ASGI(ws_app(log), lifespan="off")) as port:
        with connect(
            f"ws://127.0.0.1:{port}/chat", subprotocols=["v2", "v1"], ping_interval=None
        ) as ws:
            assert ws.subprotocol == "v2"
            assert ws.response.headers["x-extra"] == "yes"
            ws.send("hi")
            assert ws.recv(5) == "echo hi"
            ws.send(b"\x01\x02\x03")
            assert ws.recv(5) == b"\x03\x02\x01"
            ws.close(4100, "bye")
        deadline = time.monotonic() + 5
        while not any(e[0] == "disconnect" for e in log) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert ("scope", "/chat", ["v2", "v1"], "ws") in log
    assert ("disconnect", 4100, "bye") in log


def test_websocket_close_by_the_app_carries_code_and_reason(serve):
    log = []
    with serve(ASGI(ws_app(log), lifespan="off")) as port:
        with connect(f"ws://127.0.0.1:{port}/c", ping_interval=None) as ws:
            ws.send("close")
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(5)
    assert info.value.rcvd.code == 4001 and info.value.rcvd.reason == "asked"


def test_websocket_close_before_accept_is_403_and_http_response_denial(serve):
    log = []
    with serve(ASGI(ws_app(log), lifespan="off")) as port:
        with pytest.raises(InvalidStatus) as info:
            connect(f"ws://127.0.0.1:{port}/deny", ping_interval=None)
        assert info.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as info:
            connect(f"ws://127.0.0.1:{port}/http-deny", ping_interval=None)
        assert info.value.response.status_code == 401
        assert info.value.response.body == b"log in first"
        assert fetch(port)[2] == b"http"


def test_websocket_large_messages_obey_the_payload_limit(serve):
    log = []
    server = ASGI(ws_app(log), lifespan="off", websocket={"max_payload_length": 1024})
    with serve(server) as port:
        with connect(f"ws://127.0.0.1:{port}/big", ping_interval=None) as ws:
            ws.send("a" * 1000)
            assert ws.recv(5) == "echo " + "a" * 1000
            ws.send("a" * 5000)
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(5)
    assert info.value.rcvd is None or info.value.rcvd.code == 1009


def test_websocket_misuse_raises_in_the_app(serve):
    caught = []

    async def app(scope, receive, send):
        await receive()
        try:
            await send({"type": "websocket.send", "text": "too early"})
        except RuntimeError as exc:
            caught.append(str(exc))
        await send({"type": "websocket.accept"})
        try:
            await send({"type": "websocket.accept"})
        except RuntimeError as exc:
            caught.append(str(exc))
        await send({"type": "websocket.close"})

    with serve(ASGI(app, lifespan="off")) as port:
        with connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(5)
    assert caught == [
        "websocket.send before websocket.accept",
        "websocket.accept sent twice or after close",
    ]


def test_json_roundtrip_through_a_raw_app(serve):
    async def app(scope, receive, send):
        payload = json.loads(await read_body(receive))
        await respond(
            send,
            body=json.dumps({"got": payload}).encode(),
            headers=[(b"content-type", b"application/json")],
        )

    with serve(ASGI(app, lifespan="off")) as port:
        _status, headers, body = fetch(port, "POST", "/", body=b'{"a": 1}')
    assert json.loads(body) == {"got": {"a": 1}}
    assert ("content-type", "application/json") in headers


def test_file_extensions_are_sent_by_the_core_in_order(serve, tmp_path):
    """pathsend and zerocopysend leave through sc_res_sendfile (sendfile(2) on this plain
    socket): body chunks and file parts of one streamed response stay in order, and
    zerocopysend without an offset reads from (and advances) the file's position."""
    data = os.urandom(300_000)
    target = tmp_path / "blob.bin"
    target.write_bytes(data)
    positions = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/path":
            await send({"type": "http.response.pathsend", "path": str(target)})
            return
        with open(target, "rb") as file:
            file.seek(5000)
            await send(
                {
                    "type": "http.response.zerocopysend",
                    "file": file,
                    "offset": 0,
                    "count": 1000,
                    "more_body": True,
                }
            )
            await send({"type": "http.response.body", "body": b"|", "more_body": True})
            await send({"type": "http.response.zerocopysend", "file": file, "count": 200_000})
            positions.append(file.tell())

    server = ASGI(app, lifespan="off")
    with serve(server) as port:
        assert fetch(port, path="/path")[2] == data
        status, headers, body = fetch(port, path="/parts")
        sent = server.stats()["file_bytes_sendfile"]
    assert (status, body) == (200, data[:1000] + b"|" + data[5000:205_000])
    assert ("Transfer-Encoding", "chunked") in headers
    assert positions == [205_000]
    assert sent == len(data) + 1000 + 200_000


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "http.response.zerocopysend", "offset": -1}, "offset must be an int >= 0"),
        ({"type": "http.response.zerocopysend", "count": "10"}, "count must be an int >= 0"),
        ({"type": "http.response.pathsend", "path": "."}, "needs a regular file"),
        ({"type": "http.response.zerocopysend", "pipe": True}, "needs a regular file"),
    ],
)
def test_bad_file_extension_messages_raise_in_the_app(serve, tmp_path, message, error):
    target = tmp_path / "blob.bin"
    target.write_bytes(b"x" * 100)
    raised = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        read_end, write_end = os.pipe()
        with open(target, "rb") as file, open(read_end, "rb") as pipe, open(write_end, "wb"):
            sent = {"file": file, **message}
            if message.get("pipe"):
                sent = {"type": message["type"], "file": pipe}
            try:
                await send(sent)
            except ASGIProtocolError as exc:
                raised.append(str(exc))
            await send({"type": "http.response.body", "body": b"fine"})

    with serve(ASGI(app, lifespan="off")) as port:
        assert fetch(port)[2] == b"fine"
    assert len(raised) == 1 and error in raised[0]
