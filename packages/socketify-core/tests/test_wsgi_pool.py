"""The WSGI worker pool under concurrent clients (real sockets, 127.0.0.1).

The pool wakes a worker only when no free one will take the job, and a worker that starts a
job while others wait asks the loop to look (wsgi/pool.py).  A lost wake-up shows here as a
request nobody answers (a client timeout) or as apps that never meet (a broken Barrier);
an overshoot of the bound as a peak above ``threads``.  Nothing here measures time: every
wait is bounded and only what arrived, and how many apps ran at once, is asserted.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import random
import socket
import threading
from urllib.parse import parse_qs

import pytest

from socketify import WSGI

TIMEOUT = 20  # a bound on each wait, never a measure


class Gauge:
    """How many app calls run at once (and the most seen), lock-protected."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.calls = 0
        self.closed = 0

    def enter(self) -> None:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)

    def leave(self) -> None:
        with self.lock:
            self.running -= 1


class Stream:
    """A streamed body whose close() is counted (PEP 3333: always called)."""

    def __init__(self, gauge: Gauge, chunks: list[bytes], pause: float) -> None:
        self.gauge = gauge
        self.chunks = chunks
        self.pause = pause

    def __iter__(self):
        for chunk in self.chunks:
            if self.pause:
                threading.Event().wait(self.pause)  # blocks the worker, as real apps do
            yield chunk

    def close(self) -> None:
        with self.gauge.lock:
            self.gauge.closed += 1


def mixed_app(gauge: Gauge):
    def app(environ, start_response):
        gauge.enter()
        try:
            query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
            path = environ["PATH_INFO"]
            tag = query.get("id", "").encode()
            if path == "/block":
                threading.Event().wait(int(query["ms"]) / 1000)
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"block:", tag]
            if path == "/fast":
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"fast:" + tag]
            if path == "/echo":
                size = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(size)
                start_response("200 OK", [("Content-Type", "application/octet-stream")])
                return [hashlib.sha256(body).hexdigest().encode(), b":", tag]
            if path == "/stream":
                count = int(query["n"])
                chunks = [tag + b"-%d;" % i for i in range(count)]
                start_response("200 OK", [("Content-Type", "text/plain")])
                return Stream(gauge, chunks, int(query["ms"]) / 1000)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no"]
        finally:
            gauge.leave()

    return app


def plan(rng: random.Random, client: int, count: int) -> list[tuple[str, str, bytes, bytes]]:
    """(method, target, body, expected response body) for one client's requests."""
    steps = []
    for index in range(count):
        tag = f"{client}.{index}"
        kind = rng.choice(("block", "fast", "echo", "stream"))
        if kind == "block":
            steps.append(("GET", f"/block?id={tag}&ms={rng.randint(0, 15)}", b"",
                          b"block:" + tag.encode()))  # fmt: skip
        elif kind == "fast":
            steps.append(("GET", f"/fast?id={tag}", b"", b"fast:" + tag.encode()))
        elif kind == "echo":
            body = rng.randbytes(rng.choice((0, 10, 5000, 70000)))
            expected = hashlib.sha256(body).hexdigest().encode() + b":" + tag.encode()
            steps.append(("POST", f"/echo?id={tag}", body, expected))
        else:
            n = rng.randint(1, 5)
            expected = b"".join(tag.encode() + b"-%d;" % i for i in range(n))
            steps.append(("GET", f"/stream?id={tag}&n={n}&ms={rng.randint(0, 3)}", b"", expected))
    return steps


def run_client(port: int, steps, failures: list, keep_alive: bool) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        for method, target, body, expected in steps:
            if not keep_alive:
                conn.close()
            conn.request(method, target, body=body or None)
            reply = conn.getresponse()
            got = reply.read()
            if reply.status != 200 or got != expected:
                failures.append((target, reply.status, got[:200], expected[:200]))
    except Exception as exc:  # a lost request shows as a timeout here
        failures.append((repr(exc),))
    finally:
        conn.close()


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_mixed_concurrent_clients_all_answered_within_the_bound(serve, threads):
    rng = random.Random(threads * 7919)
    gauge = Gauge()
    server = WSGI(mixed_app(gauge), threads=threads)
    clients = 16
    plans = [plan(rng, client, 10) for client in range(clients)]
    failures: list = []
    with serve(server) as port:
        workers = [
            threading.Thread(target=run_client, args=(port, steps, failures, index % 3 != 0))
            for index, steps in enumerate(plans)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(TIMEOUT * 3)
        assert not any(worker.is_alive() for worker in workers), "a client never finished"
        pool = server._pool
        assert pool is not None
        assert not pool._jobs, "jobs left queued after every response arrived"
        assert pool._started <= threads
    assert failures == []
    streams = sum(1 for steps in plans for step in steps if step[1].startswith("/stream"))
    assert gauge.calls == clients * 10
    assert gauge.closed == streams  # close() of every streamed iterable
    assert 1 <= gauge.peak <= threads
    assert gauge.running == 0


@pytest.mark.parametrize("threads", [2, 3, 4])
def test_every_round_of_blocking_apps_meets_up_to_the_bound(serve, threads):
    # Each round `threads` clients send at once and each app waits until all `threads` run
    # together: a worker left asleep while a job waits (a lost wake-up) breaks the Barrier
    # (500) or times a client out.  Between rounds fast requests let workers go idle and
    # sleep, so each round has to wake them again.
    gauge = Gauge()
    barrier = threading.Barrier(threads, timeout=TIMEOUT)

    def app(environ, start_response):
        gauge.enter()
        try:
            if environ["PATH_INFO"] == "/meet":
                barrier.wait()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [environ["PATH_INFO"].encode()]
        finally:
            gauge.leave()

    failures: list = []
    rounds = 12
    with serve(WSGI(app, threads=threads)) as port:
        for round_ in range(rounds):
            steps = [("GET", "/meet", b"", b"/meet")]
            group = [
                threading.Thread(target=run_client, args=(port, steps, failures, True))
                for _ in range(threads)
            ]
            for client in group:
                client.start()
            for client in group:
                client.join(TIMEOUT * 2)
            run_client(port, [("GET", "/fast", b"", b"/fast")] * (round_ % 3), failures, True)
            assert not failures, (round_, failures)
    assert gauge.peak == threads
    assert gauge.running == 0


def test_a_second_test_client_after_one_that_timed_out_is_answered():
    from socketify_testing import TestClient

    release = threading.Event()
    finished = threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            release.wait(TIMEOUT)
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["PATH_INFO"] == "/slow":
            finished.set()
        return [environ["PATH_INFO"].encode()]

    server = WSGI(app, threads=2)
    first = TestClient(server, timeout=0.2)
    with pytest.raises(Exception, match="did not respond"):
        first.get("/slow")
    first.close()
    release.set()
    assert finished.wait(TIMEOUT)
    for _ in range(int(TIMEOUT / 0.01)):  # its result went to the closed loop: it sleeps
        if server._pool._sleeping:
            break
        threading.Event().wait(0.01)
    assert server._pool._sleeping
    with TestClient(server, timeout=TIMEOUT) as second:
        for path in ("/a", "/b"):
            assert second.get(path).text == path


def test_closing_the_server_under_a_stalled_stream_and_queued_jobs_calls_every_close(serve):
    # One worker streams to a client that reads nothing (it waits for room), the other
    # requests queue behind it (threads=1).  close() must end the stream (its close() is
    # called), and the queued jobs must not be lost silently: each either ran its app
    # (and close()) or never started one.
    gauge = Gauge()
    streaming = threading.Event()

    def app(environ, start_response):
        gauge.enter()
        try:
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            if environ["PATH_INFO"] == "/flood":
                streaming.set()
                return Stream(gauge, [b"x" * 65536] * 4096, 0)  # 256 MiB: never all sent
            return Stream(gauge, [b"queued"], 0)
        finally:
            gauge.leave()

    server = WSGI(app, threads=1, shutdown_timeout=0.2)
    sockets = []
    try:
        with serve(server) as port:
            flood = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            sockets.append(flood)
            flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            flood.sendall(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
            assert streaming.wait(TIMEOUT)
            assert flood.recv(1024)  # the head and some body arrived; nothing more is read
            for _ in range(3):
                queued = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
                sockets.append(queued)
                queued.sendall(b"GET /queued HTTP/1.1\r\nHost: x\r\n\r\n")
        # run() returned: the stream was ended and its close() called
        for _ in range(int(TIMEOUT / 0.01)):
            with gauge.lock:
                if gauge.closed == gauge.calls and gauge.running == 0:
                    break
            threading.Event().wait(0.01)
        with gauge.lock:
            assert gauge.calls >= 1
            assert (gauge.closed, gauge.running) == (gauge.calls, 0)
    finally:
        for sock in sockets:
            sock.close()


def test_jobs_still_queued_when_the_server_closes_are_not_run_and_are_logged(serve, caplog):
    # threads=1 and the one worker blocked past shutdown_timeout: the three requests queued
    # behind it are dropped with a warning, not run after the server is gone
    release = threading.Event()
    blocked = threading.Event()
    ran = []
    worker = []

    def app(environ, start_response):
        ran.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/block":
            worker.append(threading.current_thread())
            blocked.set()
            release.wait(TIMEOUT)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = WSGI(app, threads=1, shutdown_timeout=0.2)
    sockets = []
    try:
        with caplog.at_level(logging.WARNING, logger="socketify.wsgi"):
            with serve(server) as port:
                first = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
                sockets.append(first)
                first.sendall(b"GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
                assert blocked.wait(TIMEOUT)
                for _ in range(3):
                    queued = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
                    sockets.append(queued)
                    queued.sendall(b"GET /queued HTTP/1.1\r\nHost: x\r\n\r\n")
                for _ in range(int(TIMEOUT / 0.01)):  # until the loop has queued all three
                    if len(server._pool._jobs) == 3:
                        break
                    threading.Event().wait(0.01)
                assert len(server._pool._jobs) == 3
        release.set()
        for sock in sockets[1:]:  # closed with the server, never answered
            try:
                assert sock.recv(100) == b""
            except ConnectionResetError:
                pass
        # the worker ends at the stop marker the shutdown queued after the dropped jobs: a
        # queued job still there would run before it and show in `ran`
        worker[0].join(TIMEOUT)
        assert not worker[0].is_alive()
        assert ran == ["/block"]
        assert "3 queued WSGI request(s) not started before the server closed" in caplog.text
    finally:
        release.set()
        for sock in sockets:
            sock.close()


@pytest.mark.parametrize("threads", [1, 2])
def test_uploads_past_the_input_high_mark_queue_behind_busy_workers(serve, threads):
    # Each body is bigger than what wsgi.input buffers before it pauses the connection:
    # requests waiting for a worker hold their connection paused, the worker reading one
    # body resumes its own, and every upload is read whole and answered.
    gauge = Gauge()

    def app(environ, start_response):
        gauge.enter()
        try:
            digest = hashlib.sha256()
            stream = environ["wsgi.input"]
            while True:
                piece = stream.read(8192)
                if not piece:
                    break
                digest.update(piece)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [digest.hexdigest().encode()]
        finally:
            gauge.leave()

    rng = random.Random(threads)
    bodies = [rng.randbytes(600_000 + index) for index in range(6)]
    failures: list = []
    with serve(WSGI(app, threads=threads)) as port:
        steps = [
            [("POST", "/", body, hashlib.sha256(body).hexdigest().encode())] for body in bodies
        ]
        clients = [
            threading.Thread(target=run_client, args=(port, one, failures, True)) for one in steps
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join(TIMEOUT * 2)
        assert not any(client.is_alive() for client in clients)
    assert failures == []
    assert gauge.calls == len(bodies) and 1 <= gauge.peak <= threads
