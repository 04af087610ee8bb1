"""PEP 3333 suite: raw WSGI applications (wrapped in wsgiref.validate) over real sockets."""

from __future__ import annotations

import http.client
import io
import os
import socket
import sys
import threading
import time
from wsgiref.validate import validator

import pytest

from socketify import WSGI
from socketify.errors import ASGIProtocolError


def fetch(port, method="GET", path="/", body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, reply.getheaders(), reply.read()
    finally:
        conn.close()


def raw_exchange(port, data, timeout=5.0):
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


def test_environ_fields(serve):
    seen = []

    def app(environ, start_response):
        seen.append(dict(environ))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with serve(WSGI(validator(app), root_path="/mount")) as port:
        fetch(
            port,
            "POST",
            "/caf%C3%A9/x?q=%20y",
            body=b"abc",
            headers={"X-Dup": "a", "Content-Type": "text/x"},
        )
        raw_exchange(
            port,
            b"GET /two HTTP/1.0\r\nHost: h:81\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n",
        )
    first, second = seen
    assert first["REQUEST_METHOD"] == "POST"
    assert first["SCRIPT_NAME"] == "/mount"
    assert first["PATH_INFO"] == "/café/x".encode().decode("latin-1")  # bytes-as-str
    assert first["QUERY_STRING"] == "q=%20y"
    assert first["CONTENT_TYPE"] == "text/x"
    assert first["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in first and "HTTP_CONTENT_LENGTH" not in first
    assert first["HTTP_X_DUP"] == "a"
    assert first["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert first["REMOTE_ADDR"] == "127.0.0.1" and int(first["REMOTE_PORT"]) > 0
    assert first["SERVER_PORT"] == str(port)
    assert first["wsgi.version"] == (1, 0)
    assert first["wsgi.url_scheme"] == "http"
    assert first["wsgi.multithread"] is True and first["wsgi.run_once"] is False
    assert second["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert second["HTTP_X_DUP"] == "1, 2"
    assert (second["SERVER_NAME"], second["SERVER_PORT"]) == ("h", "81")


def test_wsgi_input_read_readline_and_iteration_with_chunked_bodies(serve):
    def app(environ, start_response):
        stream = environ["wsgi.input"]
        first = stream.readline()
        two = stream.read(2)
        rest = b"".join(stream)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"|".join([first, two, rest])]

    with serve(WSGI(validator(app))) as port:
        assert fetch(port, "POST", "/", body=b"line1\nabcdef\nlast")[2] == b"line1\n|ab|cdef\nlast"

        def chunks():
            yield b"li"
            yield b"ne\nxyz"

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/", body=chunks(), encode_chunked=True)
        assert conn.getresponse().read() == b"line\n|xy|z"
        conn.close()


def test_a_large_upload_is_streamed_with_pauses(serve):
    def app(environ, start_response):
        stream = environ["wsgi.input"]
        time.sleep(0.3)
        total = 0
        while True:
            data = stream.read(65536)
            if not data:
                break
            total += len(data)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(total).encode()]

    with serve(WSGI(app, max_body_size=64 << 20)) as port:
        assert fetch(port, "POST", "/", body=b"u" * 8_000_000)[2] == b"8000000"


def test_generators_stream_with_backpressure_and_close_is_called(serve):
    produced = []
    closed = threading.Event()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream")])

        def body():
            try:
                for index in range(128):
                    produced.append(index)
                    yield b"g" * 65536
            finally:
                closed.set()

        return body()

    with serve(WSGI(validator(app), max_backpressure=256 * 1024)) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            time.sleep(0.5)
            stalled_at = len(produced)
            data = b""
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        assert closed.wait(5)
    assert stalled_at < 100
    assert data.partition(b"\r\n\r\n")[2].count(b"g") == 128 * 65536
    assert b"Transfer-Encoding: chunked" in data


def test_write_callable_and_content_length(serve):
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        write(b"hello")
        return [b"world"]

    with serve(WSGI(validator(app))) as port:
        status, headers, body = fetch(port)
    assert (status, body) == (200, b"helloworld")
    assert ("Content-Length", "10") in headers


def test_file_wrapper_is_served(serve, tmp_path):
    data = os.urandom(600_000)
    target = tmp_path / "f.bin"
    target.write_bytes(data)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(target, "rb"))

    with serve(WSGI(app)) as port:  # served from the descriptor, with its length
        status, headers, body = fetch(port)
    assert (status, body) == (200, data)
    assert ("Content-Length", str(len(data))) in headers
    with serve(WSGI(validator(app))) as port:  # the validator hides the wrapper: iterated
        assert fetch(port)[2] == data


def test_exceptions_give_500_before_the_head_and_close_after(serve, caplog):
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/early":
            raise ValueError("early boom")
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            yield b"part"
            raise ValueError("late boom")

        return body()

    with serve(WSGI(app)) as port:
        assert fetch(port, path="/early")[0] == 500
        reply = raw_exchange(port, b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200") and not reply.endswith(b"0\r\n\r\n")
    assert "early boom" in caplog.text and "late boom" in caplog.text


def test_start_response_with_exc_info_replaces_the_head(serve):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise KeyError("x")
        except KeyError:
            import sys

            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        return [b"later"]

    with serve(WSGI(validator(app))) as port:
        status, _, body = fetch(port)
    assert (status, body) == (503, b"later")


@pytest.mark.parametrize(
    ("app_body", "message"),
    [
        (lambda sr: (sr("200 OK", []), sr("200 OK", []), [b""])[-1], "called twice"),
        (lambda sr: [b"no start"], "without calling start_response"),
        (lambda sr: (sr(200, []), [b""])[-1], "must be a str"),
        (lambda sr: (sr("200 OK", [("X", 1)]), [b""])[-1], "must be str"),
        (lambda sr: (sr("200 OK", [("X", ["y"])]), [b""])[-1], "must be str"),
        (lambda sr: (sr("200 OK", [["X", "y"]]), [b""])[-1], "(name, value) tuple"),
        (lambda sr: (sr("200 OK", [("X", "y", "z")]), [b""])[-1], "(name, value) tuple"),
        (lambda sr: (sr("200 OK", ["X: y"]), [b""])[-1], "(name, value) tuple"),
        (lambda sr: (sr("200 OK", [("X", "a\r\nB: c")]), [b""])[-1], "CR, LF"),
        (lambda sr: (sr("200 OK", []), ["text"])[-1], "must be bytes"),
    ],
)
def test_protocol_misuse_is_a_clear_error_and_a_500(serve, caplog, app_body, message):
    errors = []

    def app(environ, start_response):
        try:
            return app_body(start_response)
        except Exception as exc:
            errors.append(exc)
            raise

    with serve(WSGI(app)) as port:
        assert fetch(port)[0] == 500
    assert message in caplog.text
    if errors:
        assert isinstance(errors[0], (ASGIProtocolError, ValueError))


def test_the_loop_stays_responsive_while_workers_block(serve):
    gate = threading.Event()
    entered = threading.Event()
    released = []

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/block":
            entered.set()
            released.append(gate.wait(20))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    with serve(WSGI(app, threads=4)) as port:
        blocked = threading.Thread(target=fetch, args=(port, "GET", "/block"))
        blocked.start()
        assert entered.wait(5)
        assert fetch(port, path="/fast")[2] == b"done"  # served while /block waits
        gate.set()
        blocked.join(5)
    assert released == [True]  # /block was still waiting: the gate opened it, no timeout


def test_bad_constructor_arguments_are_refused():
    with pytest.raises(TypeError, match="WSGI application"):
        WSGI(42)
    with pytest.raises(ValueError, match="threads"):
        WSGI(lambda e, s: [], threads=0)
    with pytest.raises(ValueError, match="root_path"):
        WSGI(lambda e, s: [], root_path="x")


def test_file_wrapper_leaves_by_sendfile_from_the_file_position(serve, tmp_path):
    """A regular file in wsgi.file_wrapper goes to the core (sendfile(2) on a plain
    socket) from its current position; an app's own shorter Content-Length cuts it."""
    data = os.urandom(500_000)
    target = tmp_path / "f.bin"
    target.write_bytes(data)

    def app(environ, start_response):
        headers = [("Content-Type", "application/octet-stream")]
        if environ["PATH_INFO"] == "/short":
            headers.append(("Content-Length", "1234"))
        start_response("200 OK", headers)
        file = open(target, "rb")
        file.seek(1000)
        return environ["wsgi.file_wrapper"](file)

    server = WSGI(app)
    with serve(server) as port:
        status, headers, body = fetch(port)
        assert (status, body) == (200, data[1000:])
        assert ("Content-Length", str(len(data) - 1000)) in headers
        assert fetch(port, path="/short")[2] == data[1000:2234]
        sent = server.stats()["file_bytes_sendfile"]
    assert sent == len(data) - 1000 + 1234


def test_client_gone_mid_stream_wakes_the_worker_and_closes(serve):
    # The worker waits for the core to take each chunk; the abort handler is registered
    # when the first chunk goes to the loop, and a client that leaves wakes the waiter.
    closed = threading.Event()
    started = threading.Event()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream")])

        def body():
            try:
                started.set()
                for _ in range(10_000):
                    yield b"s" * 65536
            finally:
                closed.set()

        return body()

    with serve(WSGI(app, threads=1, max_backpressure=128 * 1024)) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert started.wait(5)
        time.sleep(0.3)  # the worker now waits on the drain
        assert not closed.is_set()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # reset
        assert closed.wait(5)
        # the only worker is free again
        assert fetch(port)[0] == 200


def test_client_gone_before_a_list_response_is_ended(serve):
    # No abort handler is registered for a list response: the core refuses the stale
    # handle at end() and the worker is free for the next request.
    release = threading.Event()
    entered = threading.Event()
    calls = []

    def app(environ, start_response):
        calls.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/slow":
            entered.set()
            release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    with serve(WSGI(app, threads=1)) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(5)
        sock.close()
        time.sleep(0.2)  # the core sees the close while the app still runs
        release.set()
        status, _headers, body = fetch(port, path="/next")
        assert (status, body) == (200, b"done")
    assert calls == ["/slow", "/next"]


def test_a_request_without_a_body_reads_as_ended(serve):
    # Body-less requests share their (ended) input state: every read is empty at once, on
    # every request, and a body on the next request on the same connection is still read.
    seen = []

    def app(environ, start_response):
        stream = environ["wsgi.input"]
        seen.append(
            (stream.read(), stream.read(10), stream.readline(), stream.readlines(), list(stream))
        )
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [seen[-1][0] or b"none"]

    with serve(WSGI(app)) as port:  # (the validator insists on read(size))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for method, body in (("GET", None), ("GET", None), ("POST", b"abc"), ("GET", None)):
                conn.request(method, "/", body=body)
                reply = conn.getresponse()
                assert reply.read() == (body or b"none")
        finally:
            conn.close()
    empty = (b"", b"", b"", [], [])
    assert seen[0] == seen[1] == seen[3] == empty
    assert seen[2][0] == b"abc"


def test_a_chunk_leaves_while_the_generator_makes_the_next(serve):
    # PEP 3333: a block is transmitted (or transmission goes on) while the application
    # produces the next one; the worker hands chunks over without waiting for the loop,
    # and nothing holds a chunk back until the next exists.
    got_first = threading.Event()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            yield b"first;"
            assert got_first.wait(5), "the first chunk was held back"
            yield b"second"

        return body()

    with serve(WSGI(app)) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while b"first;" not in data:
                chunk = sock.recv(65536)
                assert chunk, data
                data += chunk
            got_first.set()
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    assert b"second" in data and data.endswith(b"0\r\n\r\n")


def test_wsgi_errors_is_the_current_stderr(serve, monkeypatch):
    seen = []

    def app(environ, start_response):
        seen.append(environ["wsgi.errors"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with serve(WSGI(app)) as port:
        first = io.StringIO()
        monkeypatch.setattr(sys, "stderr", first)
        assert fetch(port)[0] == 200
        second = io.StringIO()
        monkeypatch.setattr(sys, "stderr", second)
        assert fetch(port)[0] == 200
    assert seen == [first, second]


def keep_alive_exchange(sock, requests):
    """Send each request on one connection and read its response (Content-Length framed)."""
    replies = []
    pending = b""
    for request in requests:
        sock.sendall(request)
        while b"\r\n\r\n" not in pending:
            pending += sock.recv(65536)
        head, _, pending = pending.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(pending) < length:
            pending += sock.recv(65536)
        replies.append((head.split(b" ")[1], pending[:length]))
        pending = pending[length:]
    return replies


def test_each_request_gets_its_own_copy_of_the_connection_keys(serve):
    # The keys a connection's requests share are kept per connection: what an app writes
    # into its environ never reaches the next request, and each connection has its peer.
    seen = []

    def app(environ, start_response):
        seen.append(
            (environ["REMOTE_ADDR"], environ["REMOTE_PORT"], environ["wsgi.url_scheme"],
             environ.get("HTTP_X_ONE"), environ["SERVER_NAME"], environ["SERVER_PORT"])
        )  # fmt: skip
        environ["REMOTE_ADDR"] = "10.9.9.9"  # an app (or middleware) rewriting its environ
        environ["REMOTE_PORT"] = "1"
        environ["wsgi.url_scheme"] = "https"
        environ["HTTP_X_ONE"] = "written"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    hosts = [b"h:81", b"[::1]:8080", b"[::1]", b"name", b"h:81"]
    with serve(WSGI(app)) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as one:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as two:
                requests = [b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n" for host in hosts]
                requests[1] = requests[1].replace(b"\r\n\r\n", b"\r\nX-One: sent\r\n\r\n")
                assert keep_alive_exchange(one, requests[:3]) == [(b"200", b"ok")] * 3
                assert keep_alive_exchange(two, requests[3:]) == [(b"200", b"ok")] * 2
                ports = [str(one.getsockname()[1])] * 3 + [str(two.getsockname()[1])] * 2
    assert [entry[:3] for entry in seen] == [("127.0.0.1", p, "http") for p in ports]
    assert [entry[3] for entry in seen] == [None, "sent", None, None, None]
    assert [entry[4:] for entry in seen] == [
        ("h", "81"),
        ("[::1]", "8080"),
        ("[::1]", "80"),
        ("name", "80"),
        ("h", "81"),
    ]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([["Content-Type", "text/plain"]], "(name, value) tuple"),
        ([("Content-Type", "text/plain\r\nX: y")], "control character"),
        ([("Content-Type", b"text/plain")], "must be str"),
        ([("Content-Type", "text/plain", "x")], "(name, value) tuple"),
    ],
)
def test_a_head_seen_before_does_not_let_a_bad_one_through(serve, caplog, headers, message):
    # start_response keeps the heads it checked; a head that differs is checked again.
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/bad":
            start_response("200 OK", headers)
        elif environ["PATH_INFO"] == "/missing":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
        else:
            start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"body"]

    with serve(WSGI(app)) as port:
        for _ in range(3):
            status, fields, body = fetch(port)
            assert (status, body) == (200, b"body")
            assert ("Content-Type", "text/plain") in fields
            assert fetch(port, path="/missing")[0] == 404
            assert fetch(port, path="/bad")[0] == 500
    assert message in caplog.text


@pytest.mark.parametrize("threads", [1, 3])
def test_blocking_apps_run_side_by_side_up_to_the_pool_bound(serve, threads):
    # Requests that arrive together are run by one worker while it does not block; one that
    # blocks makes the pool wake another worker for the queued ones, up to `threads` at
    # once.  Here every app waits until `threads` apps run together: with the pool bound
    # reached the others wait their turn, and all are answered.
    lock = threading.Lock()
    running = [0]
    peak = [0]
    together = threading.Barrier(threads, timeout=5)

    def app(environ, start_response):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            together.wait()  # broken (BrokenBarrierError: a 500) if they were serialized
        finally:
            with lock:
                running[0] -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"met"]

    results = []
    with serve(WSGI(app, threads=threads)) as port:
        clients = [
            threading.Thread(target=lambda: results.append(fetch(port)[::2]))
            for _ in range(3 * threads)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join(20)
    assert results == [(200, b"met")] * (3 * threads)
    assert peak[0] == threads  # never more than the bound


def test_a_worker_blocked_in_its_app_does_not_hold_up_requests_queued_behind_it(serve):
    # Two requests in one read (one poll): the worker that takes the first blocks until
    # the second is answered, so the second must reach another worker.
    second_done = threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/first":
            assert second_done.wait(5), "the second request waited behind the first"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    with serve(WSGI(app, threads=2)) as port:
        one = socket.create_connection(("127.0.0.1", port), timeout=10)
        two = socket.create_connection(("127.0.0.1", port), timeout=10)
        with one, two:
            one.sendall(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
            two.sendall(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
            assert keep_alive_exchange(two, [b""]) == [(b"200", b"/second")]
            second_done.set()
            assert keep_alive_exchange(one, [b""]) == [(b"200", b"/first")]


def test_requests_dispatched_together_reach_a_second_worker_when_the_first_blocks():
    # Deterministic form of the test above: both requests are fed (memory transport) in one
    # loop callback, so both are queued before any worker runs and only the one sleeping
    # worker was woken; it takes /first and blocks until /second is answered.
    import asyncio

    released = threading.Event()
    waited = []

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/first":
            waited.append(released.wait(5))
        elif environ["PATH_INFO"] == "/second":
            released.set()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    server = WSGI(app, threads=2)
    loop = asyncio.new_event_loop()
    try:
        host = server.memory_host()
        host.bind_loop(loop)
        one = host.open_connection()
        two = host.open_connection()

        def feed_both() -> None:
            one.feed(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
            two.feed(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")

        async def replies() -> list[bytes]:
            got = [b"", b""]
            for _ in range(500):
                got = [got[0] + one.read(), got[1] + two.read()]
                if all(reply.endswith(b"\r\n\r\n/first") or reply.endswith(b"/second")
                       for reply in got):  # fmt: skip
                    break
                await asyncio.sleep(0.01)
            return got

        async def warm_up() -> bytes:  # one worker runs, then sleeps
            one.feed(b"GET /warm HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = b""
            for _ in range(500):
                reply += one.read()
                if reply.endswith(b"/warm") and server._pool._sleeping:
                    break
                await asyncio.sleep(0.01)
            return reply

        assert loop.run_until_complete(warm_up()).endswith(b"/warm")
        # the worker sleeps: only a wake-up (or the look) can reach either request below
        assert len(server._pool._sleeping) == 1
        loop.call_soon(feed_both)
        first, second = loop.run_until_complete(replies())
        assert waited == [True], "the second request waited behind the blocked first"
        assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b"/first")
        assert second.startswith(b"HTTP/1.1 200 ") and second.endswith(b"/second")
    finally:
        server.close()
        loop.close()


def test_a_pool_whose_loop_closed_still_runs_its_jobs_and_says_why_it_cannot_look(caplog):
    # A worker that starts a job while another waits asks the loop to look; with the loop
    # closed (the server stopped under it) that fails: logged, and the jobs still run.
    import asyncio

    from socketify.wsgi.pool import LoopInbox, WorkerPool

    inbox = LoopInbox()
    inbox.loop = asyncio.new_event_loop()
    inbox.loop.close()
    pool = WorkerPool(2, inbox)
    ran = []
    done = threading.Event()
    warm = threading.Event()
    pool.submit(warm.set)
    assert warm.wait(5)
    for _ in range(500):  # the first worker goes back to sleep (bounded)
        if pool._sleeping:
            break
        time.sleep(0.01)
    assert len(pool._sleeping) == 1
    pool.submit(lambda: ran.append(threading.current_thread().name))
    pool.submit(lambda: (ran.append(threading.current_thread().name), done.set()))
    assert done.wait(5)
    pool.shutdown()
    assert ran == ["wsgi-0", "wsgi-0"]  # one worker took both; nothing woke another
    assert "asking the loop to wake another WSGI worker failed" in caplog.text
