"""The same App API over real sockets (127.0.0.1 and Unix), with http.client."""

from __future__ import annotations

import asyncio
import errno
import http.client
import json
import os
import resource
import socket
import threading
import time

import pytest

from socketify import App, AppListenOptions


def fetch(port, method="GET", path="/", body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, dict(reply.getheaders()), reply.read()
    finally:
        conn.close()


def make_app():
    app = App()
    app.get("/", lambda res, req: res.end("Hello, World!"))
    app.get("/json", lambda res, req: res.send({"Hello": "World!"}))
    app.get("/ip", lambda res, req: res.end(res.get_remote_address()))

    async def echo(res, req):
        res.end((await res.get_data()).getvalue())

    app.post("/echo", echo)
    app.get("/boom", lambda res, req: 1 / 0)
    return app


def test_listen_handler_gets_the_actual_port_and_serves(serve):
    app = make_app()
    with serve(app) as port:
        assert port > 0
        assert fetch(port)[2] == b"Hello, World!"
        _status, headers, body = fetch(port, path="/json")
        assert json.loads(body) == {"Hello": "World!"}
        assert headers["Content-Type"] == "application/json"
        assert fetch(port, path="/ip")[2] == b"127.0.0.1"
        assert fetch(port, "POST", "/echo", body=b"x" * 100000)[2] == b"x" * 100000
        assert fetch(port, path="/boom")[0] == 500
        assert fetch(port, path="/nope")[0] == 404
        assert fetch(port, "DELETE", "/")[0] == 405


def test_keep_alive_and_pipelining(serve):
    app = make_app()
    with serve(app) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 3)
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"Hello, World!") < 3 and time.monotonic() < deadline:
            data += sock.recv(65536)
        sock.close()
        assert data.count(b"HTTP/1.1 200 OK") == 3


def test_listen_dict_and_options_object(serve):
    app = make_app()
    configs = []
    app.listen({"port": 0, "host": "127.0.0.1"}, configs.append)
    app.listen(AppListenOptions(port=0, host="127.0.0.1"), lambda: configs.append("no-arg"))
    try:
        assert isinstance(configs[0], AppListenOptions)
        assert configs[0].port > 0 and configs[0].host == "127.0.0.1"
        assert configs[1] == "no-arg"
    finally:
        app.close()


def test_listen_on_unix_socket(tmp_path):
    path = str(tmp_path / "s.sock")
    app = make_app()
    configs = []
    app.listen(AppListenOptions(domain=path), configs.append)
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    try:
        assert configs[0].domain == path
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(5)
        client.connect(path)
        client.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = client.recv(4096)
            if not chunk:
                break
            data += chunk
        client.close()
        assert data.startswith(b"HTTP/1.1 200 OK")
        assert data.endswith(b"Hello, World!")
    finally:
        deadline = time.monotonic() + 5
        while app._stop is None and time.monotonic() < deadline:
            time.sleep(0.005)
        app.close()
        thread.join(5)
    assert not thread.is_alive()


def test_listen_failure_raises_oserror_with_errno():
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    app = App()
    try:
        with pytest.raises(OSError) as info:
            app.listen({"port": port, "host": "127.0.0.1", "options": 1})
        assert info.value.errno == errno.EADDRINUSE
        assert str(port) in str(info.value)
        with pytest.raises(OSError) as info:
            app.listen({"port": 0, "host": "256.1.1.1"})
        assert info.value.errno
    finally:
        blocker.close()
        app.close()


def test_listen_bad_arguments():
    app = App()
    with pytest.raises(TypeError):
        app.listen("8000")
    with pytest.raises(ValueError):
        app.listen(70000)


def test_async_handlers_over_sockets(serve):
    app = App()

    async def slow(res, req):
        name = req.get_query("n")
        await asyncio.sleep(0.01)
        res.end(f"slow {name}")

    app.get("/slow", slow)
    with serve(app) as port:
        results = []

        def client(i):
            results.append(fetch(port, path=f"/slow?n={i}")[2])

        threads = [threading.Thread(target=client, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert sorted(results) == sorted(f"slow {i}".encode() for i in range(5))


def test_client_disconnect_marks_response_aborted(serve):
    aborted = threading.Event()
    holder = []

    def handler(res, req):
        res.on_aborted(lambda r: aborted.set())
        holder.append(res)

    app = App().get("/", handler)
    with serve(app) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        deadline = time.monotonic() + 5
        while not holder and time.monotonic() < deadline:
            time.sleep(0.005)
        sock.close()
        assert aborted.wait(5)
        assert holder[0].aborted


def test_idle_server_uses_almost_no_cpu(serve):
    app = make_app()
    with serve(app) as port:
        assert fetch(port)[0] == 200
        before = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(2.0)
        after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert used < 0.2, f"an idle server used {used:.3f} s of CPU in 2 s"


def test_idle_server_with_open_keepalive_connection_uses_little_cpu(serve):
    app = make_app()
    with serve(app) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"Hello, World!"
        before = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(1.0)
        after = resource.getrusage(resource.RUSAGE_SELF)
        conn.close()
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert used < 0.2, f"an idle keep-alive connection cost {used:.3f} s of CPU in 1 s"


def test_run_twice_is_refused_while_running(serve):
    app = make_app()
    with serve(app):
        with pytest.raises(RuntimeError, match="already running"):
            app.run()


def test_sigterm_stops_run_gracefully(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "srv.py"
    script.write_text(
        "from socketify import App\n"
        "app = App()\n"
        "app.get('/', lambda res, req: res.end('x'))\n"
        "app.on_shutdown(lambda: print('shutdown ran', flush=True))\n"
        "app.listen({'port': 0, 'host': '127.0.0.1'}, lambda c: print('port', c.port, flush=True))\n"
        "app.run()\n"
        "print('run returned', flush=True)\n"
    )
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        line = proc.stdout.readline()
        port = int(line.split()[1])
        assert fetch(port)[2] == b"x"
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "shutdown ran" in out and "run returned" in out
