"""The WSGI environ across the requests of one connection: a request whose target and
header fields are the previous one's reuses that request's keys (wsgi/server.py
``_environ``); each application still gets its own dict, and what differs shows."""

from __future__ import annotations

import socket
from wsgiref.validate import validator

from socketify import WSGI


def exchange(sock: socket.socket, data: bytes, replies: int) -> bytes:
    """Send ``data`` on a kept-alive connection and read until ``replies`` bodies ending
    in ``|`` came back (bounded by the socket's timeout)."""
    sock.sendall(data)
    got = b""
    while got.count(b"|") < replies:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {got!r}"
        got += chunk
    return got


def test_each_request_of_a_connection_gets_its_own_environ(serve):
    seen = []

    def app(environ, start_response):
        # (wsgiref.validate wraps the input and the errors stream of each request)
        seen.append({k: v for k, v in environ.items() if k not in ("wsgi.input", "wsgi.errors")})
        # what one request does to its environ never reaches the next one's
        environ["PATH_INFO"] = "/changed"
        environ["app.mark"] = len(seen)
        del environ["HTTP_HOST"]
        environ.pop("HTTP_X_ONE", None)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"|"]

    same = b"GET /a?q=1 HTTP/1.1\r\nHost: h:81\r\nX-One: 1\r\n\r\n"
    with serve(WSGI(validator(app))) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            exchange(sock, same, 1)
            exchange(sock, same + same, 2)  # pipelined: both in one poll
            exchange(sock, same.replace(b"GET", b"HEAD").replace(b"X-One: 1", b"X-One: 2"), 0)
            exchange(sock, same.replace(b"GET", b"DELETE"), 1)
            exchange(sock, b"GET /b HTTP/1.1\r\nHost: h:81\r\nX-One: 1\r\nX-One: 3\r\n\r\n", 1)
            exchange(sock, same, 1)
    assert len(seen) == 7
    for environ in seen:
        assert "app.mark" not in environ
        assert environ["SERVER_NAME"] == "h" and environ["SERVER_PORT"] == "81"
        assert environ["HTTP_HOST"] == "h:81"
    first = seen[0]
    assert first["REQUEST_METHOD"] == "GET" and first["PATH_INFO"] == "/a"
    assert first["QUERY_STRING"] == "q=1" and first["HTTP_X_ONE"] == "1"
    assert seen[1] == first and seen[2] == first and seen[6] == first
    assert seen[3]["REQUEST_METHOD"] == "HEAD" and seen[3]["HTTP_X_ONE"] == "2"
    assert seen[4]["REQUEST_METHOD"] == "DELETE" and seen[4]["HTTP_X_ONE"] == "1"
    assert seen[5]["PATH_INFO"] == "/b" and seen[5]["QUERY_STRING"] == ""
    assert seen[5]["HTTP_X_ONE"] == "1, 3"
    # the peer is the connection's, the same each time
    assert len({(e["REMOTE_ADDR"], e["REMOTE_PORT"]) for e in seen}) == 1


def test_connections_do_not_share_their_previous_request(serve):
    seen = []

    def app(environ, start_response):
        seen.append((environ["REMOTE_PORT"], environ["PATH_INFO"], environ.get("HTTP_X_N")))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"|"]

    with serve(WSGI(app)) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as one:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as two:
                for n in range(3):
                    exchange(one, b"GET /one HTTP/1.1\r\nHost: h\r\nX-N: 1\r\n\r\n", 1)
                    exchange(two, b"GET /two HTTP/1.1\r\nHost: h\r\nX-N: %d\r\n\r\n" % n, 1)
                ports = (str(one.getsockname()[1]), str(two.getsockname()[1]))
    assert seen == [
        item for n in range(3) for item in ((ports[0], "/one", "1"), (ports[1], "/two", str(n)))
    ]


def test_a_large_header_block_is_served_each_time_without_being_kept(serve):
    # past the size kept for the next request the environ is built each time: still right
    seen = []

    def app(environ, start_response):
        seen.append(environ["HTTP_X_BIG"])
        environ["HTTP_X_BIG"] = "changed"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"|"]

    big = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * 5000 + b"\r\n\r\n"
    with serve(WSGI(app)) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            exchange(sock, big, 1)
            exchange(sock, big, 1)
    assert seen == ["v" * 5000, "v" * 5000]


def test_finished_hooks_see_the_status_of_each_kind_of_response(serve, tmp_path):
    # the rendered head reaches the response whole (status line and header lines in one
    # bytes): what reads its status still finds it
    target = tmp_path / "f.txt"
    target.write_bytes(b"file|")
    finished = []

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/list":
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("X-A", "1")])
            return [b"|"]
        if path == "/stream":
            start_response("201 Created", [("Content-Type", "text/plain")])
            return iter([b"a", b"|"])
        start_response("203 Non-Authoritative Information", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](open(target, "rb"))

    server = WSGI(app)
    server.on_finished(lambda res, info: finished.append((info.target, info.status)))
    replies = []
    with serve(server) as port:
        for path in (b"/list", b"/stream", b"/file"):
            # one connection each, read to its end: a chunked reply ends after its body
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                reply = b"".join(iter(lambda: sock.recv(65536), b""))  # to the close
                replies.append(reply.split(b"\r\n", 1)[0])
    assert replies == [
        b"HTTP/1.1 404 Not Found",
        b"HTTP/1.1 201 Created",
        b"HTTP/1.1 203 Non-Authoritative Information",
    ]
    assert finished == [("/list", 404), ("/stream", 201), ("/file", 203)]
