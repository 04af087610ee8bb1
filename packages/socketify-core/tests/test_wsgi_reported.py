"""WSGI failures met on the loop thread for a worker are reported once, from the worker's
side (wsgi/server.py), and a shut-down pool says so instead of taking jobs."""

from __future__ import annotations

import http.client
import logging
import threading

import pytest

from socketify import WSGI
from socketify.errors import InvalidArgumentError
from socketify.wsgi.pool import LoopInbox, WorkerPool


def test_a_file_the_loop_cannot_start_sending_is_a_500_reported_once(serve, tmp_path, caplog):
    target = tmp_path / "f.bin"
    target.write_bytes(b"x" * 10_000)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(target, "rb"))

    def no_task(coro, res, req):  # the loop cannot run the file's task
        coro.close()
        raise RuntimeError("no task for the file")

    server = WSGI(app, threads=1)
    server._rt.spawn = no_task
    caplog.set_level(logging.ERROR)
    with serve(server) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        reply = conn.getresponse()
        assert (reply.status, reply.read()) == (500, b"Internal Server Error")
        conn.close()
    seen = [
        record
        for record in caplog.records
        if record.exc_info and "no task for the file" in str(record.exc_info[1])
    ]
    assert len(seen) == 1, [record.getMessage() for record in seen]


def test_a_shut_down_pool_refuses_jobs_and_shuts_down_once(caplog):
    import asyncio

    inbox = LoopInbox()
    inbox.loop = asyncio.new_event_loop()
    try:
        pool = WorkerPool(2, inbox)
        done = threading.Event()
        pool.submit(done.set)
        assert done.wait(5)
        assert pool.shutdown() == 0
        assert pool.shutdown() == 0  # again: nothing more to stop
        with pytest.raises(RuntimeError, match="shut down"):
            pool.submit(done.set)
    finally:
        inbox.loop.close()


def test_a_head_the_core_refuses_at_the_end_is_a_500_reported_once(serve, caplog):
    # The core refusing a list response's head (here a status line set past start_response's
    # checks, as a failed render would) raised into the loop's hand-back, which only logged
    # it: the client waited for the idle timeout.  Now the error's 500 answers, logged once.
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response.__self__.head = b"99 Refused\r\n"
        return [b"never sent"]

    caplog.set_level(logging.ERROR)
    with serve(WSGI(app, threads=1)) as port:
        for _ in range(2):  # and the connection or the server is fine for the next one
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/")
            reply = conn.getresponse()
            assert (reply.status, reply.read()) == (500, b"Internal Server Error")
            conn.close()
    refused = [r for r in caplog.records if r.exc_info and r.exc_info[0] is InvalidArgumentError]
    assert len(refused) == 2, [r.getMessage() for r in caplog.records]
