"""The core has no lock: a response or WebSocket used from another thread is refused with
WrongThreadError (naming loop.call_soon_threadsafe) and nothing is sent, so the answer
handed over to the loop's thread is still the one the client gets."""

from __future__ import annotations

import concurrent.futures
import http.client
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wsframes import Peer

from socketify import App
from socketify.errors import CoreError, WrongThreadError


def test_res_calls_from_another_thread_are_refused_and_the_loop_can_still_answer(wire):
    refused = []

    def handler(res, req):
        def worker():
            for call in (lambda: res.end("x"), lambda: res.write("x"), res.pause, res.close):
                try:
                    call()
                except WrongThreadError as exc:
                    refused.append(str(exc))
            app.loop.call_soon_threadsafe(res.end, "handed over")

        res.on_aborted(lambda r: None)
        threading.Thread(target=worker).start()

    app = App()
    app.get("/", handler)
    reply = wire(app).get("/", timeout=5)
    assert reply.body == b"handed over"
    assert len(refused) == 4
    assert all("call_soon_threadsafe" in text for text in refused)


def test_websocket_calls_from_another_thread_are_refused(wire):
    refused = []
    done = threading.Event()

    def on_message(ws, message, opcode):
        def worker():
            for call in (
                lambda: ws.send("x"),
                lambda: ws.subscribe("t"),
                lambda: app.publish("t", "x"),
                lambda: ws.end(1000),
            ):
                try:
                    call()
                except WrongThreadError as exc:
                    refused.append(exc)
            app.loop.call_soon_threadsafe(ws.send, "from the loop")
            done.set()

        threading.Thread(target=worker).start()

    app = App().ws("/ws", {"message": on_message})
    peer = Peer(wire(app))
    peer.send(1, b"go")
    assert peer.frames(1, timeout=5)[0][3] == b"from the loop"
    assert done.is_set() and len(refused) == 4
    assert all(isinstance(e, CoreError) and e.code == -7 for e in refused)


def test_handing_responses_to_the_loop_from_a_thread_pool_under_load(serve):
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=8)
    refused = []
    lock = threading.Lock()

    def handler(res, req):
        res.on_aborted(lambda r: None)
        number = req.get_query("n")

        def work():
            try:
                res.end("wrong")
            except WrongThreadError:
                with lock:
                    refused.append(number)
            app.loop.call_soon_threadsafe(res.end, f"answer {number}")

        pool.submit(work)

    app = App()
    app.get("/", handler)
    clients, per_client = 8, 50
    answers: list = []

    def client(index: int, port: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for i in range(per_client):
                n = index * per_client + i
                conn.request("GET", f"/?n={n}")
                response = conn.getresponse()
                answers.append((n, response.read()))
        finally:
            conn.close()

    try:
        with serve(app) as port:
            threads = [threading.Thread(target=client, args=(i, port)) for i in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
    finally:
        pool.shutdown(wait=True)
    total = clients * per_client
    assert sorted(answers) == sorted((n, f"answer {n}".encode()) for n in range(total))
    assert len(refused) == total


def test_before_the_loop_runs_the_creating_thread_may_configure():
    app = App()
    app.get("/", lambda res, req: res.end("ok"))
    errors = []

    def other():
        try:
            app.get_native_handle()  # creating the native loop from any thread is fine
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors == []
    app.close()


@pytest.mark.parametrize("code", [-7])
def test_the_wrong_thread_code_maps_to_its_class(code):
    from socketify.errors import core_error

    error = core_error(code, "res.end()")
    assert isinstance(error, WrongThreadError) and "call_soon_threadsafe" in str(error)
