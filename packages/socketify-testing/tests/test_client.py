"""TestClient through the real C core (socketify.App on the memory transport)."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import warnings
from datetime import timedelta
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import pytest

from socketify import App
from socketify_testing import (
    Headers,
    HTTPStatusError,
    InvalidRequest,
    LifespanWarning,
    ResponseTimeout,
    TestClient,
    TestClientError,
    TooManyRedirects,
)


async def _echo(res: Any, req: Any) -> None:
    method, target, headers = req.get_method(), req.get_full_url(), req.get_headers()
    body = (await res.get_data()).getvalue()
    res.write_header("Content-Type", "application/json")
    res.end(
        json.dumps(
            {
                "method": method,
                "target": target,
                "headers": headers,
                "body": body.decode("latin-1"),
            }
        )
    )


def echo_app() -> App:
    app = App()
    app.any("/*", _echo)
    return app


def hello_app() -> App:
    app = App()
    app.get("/", lambda res, req: res.end("Hello, World!"))
    return app


@pytest.fixture
def echo() -> Any:
    with TestClient(echo_app()) as client:
        yield client


# ---- requests ----


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
def test_method_helpers_send_their_method(echo: TestClient, method: str) -> None:
    r = getattr(echo, method)("/m")
    assert r.status_code == 200
    assert r.json()["method"] == method.upper()
    assert r.request.method == method.upper()
    assert r.request.url == "http://testserver/m"


def test_head_has_headers_and_no_body() -> None:
    with TestClient(hello_app()) as client:
        r = client.head("/")
    assert r.status_code == 200
    assert r.headers["content-length"] == "13"
    assert r.content == b""


def test_request_with_any_method(echo: TestClient) -> None:
    assert echo.request("PURGE", "/x").json()["method"] == "PURGE"


def test_default_headers_and_host(echo: TestClient) -> None:
    headers = echo.get("/").json()["headers"]
    assert headers["host"] == "testserver"
    assert headers["user-agent"].startswith("socketify-testclient/")
    assert headers["accept"] == "*/*"
    assert "content-length" not in headers


def test_params_and_custom_headers(echo: TestClient) -> None:
    r = echo.get("/search?a=1", params={"q": "two words", "n": [1, 2]}, headers={"X-Token": "t"})
    data = r.json()
    assert data["target"] == "/search?a=1&q=two+words&n=1&n=2"
    assert data["headers"]["x-token"] == "t"


def test_header_given_by_test_wins(echo: TestClient) -> None:
    data = echo.get("/", headers={"User-Agent": "mine", "Host": "other.example"}).json()
    assert data["headers"]["user-agent"] == "mine"
    assert data["headers"]["host"] == "other.example"


def test_a_repeated_plain_request_follows_headers_and_cookies_that_change() -> None:
    # build() keeps the head of a plain request (PERF): what the head depends on must show.
    app = echo_app()
    app.get("/login", lambda res, req: res.set_cookie("sid", "s1", {"path": "/"}).end("in"))
    with TestClient(app, headers={"X-Team": "a"}) as client:
        first = client.get("/who").json()
        assert first["headers"]["x-team"] == "a" and "cookie" not in first["headers"]
        again = client.get("/who")
        assert again.json() == first and again.request.method == "GET"
        assert again.request.headers["x-team"] == "a" and again.request.url.endswith("/who")
        client.get("/login")
        assert client.get("/who").json()["headers"]["cookie"] == "sid=s1"
        client.cookies.clear()
        assert "cookie" not in client.get("/who").json()["headers"]
        client.headers = Headers([("X-Team", "b")])
        assert client.get("/who").json()["headers"]["x-team"] == "b"
        assert client.request("get", "/who").json()["method"] == "GET"
        assert client.get("/who", headers={"X-Team": "c"}).json()["headers"]["x-team"] == "c"
        assert client.get("/who").json()["headers"]["x-team"] == "b"


def test_a_repeated_plain_request_follows_its_redirects() -> None:
    app = echo_app()
    app.get("/old", lambda res, req: res.redirect("/new", 307))
    with TestClient(app) as client:
        for _ in range(2):
            response = client.get("/old")
            assert response.json()["target"] == "/new"
            assert [r.status_code for r in response.history] == [307]


def test_client_level_headers() -> None:
    with TestClient(echo_app(), headers={"Authorization": "Bearer x"}) as client:
        assert client.get("/").json()["headers"]["authorization"] == "Bearer x"


def test_json_body(echo: TestClient) -> None:
    data = echo.post("/", json={"a": [1, "é"]}).json()
    assert data["headers"]["content-type"] == "application/json"
    assert json.loads(data["body"].encode("latin-1")) == {"a": [1, "é"]}


def test_form_body(echo: TestClient) -> None:
    data = echo.post("/", data={"name": "a b", "tag": ["x", "y"]}).json()
    assert data["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert data["body"] == "name=a+b&tag=x&tag=y"


@pytest.mark.parametrize(
    "value,expected", [(b"raw\x00bytes", "raw\x00bytes"), ("text é", "text Ã©")]
)
def test_raw_data_and_content(echo: TestClient, value: Any, expected: str) -> None:
    for kwargs in ({"data": value}, {"content": value}):
        data = echo.put("/", **kwargs).json()
        assert data["body"] == expected
        assert "content-type" not in data["headers"]


def test_empty_post_sends_content_length_zero(echo: TestClient) -> None:
    assert echo.post("/").json()["headers"]["content-length"] == "0"


def test_multipart_files_reach_the_app(echo: TestClient) -> None:
    upload = io.BytesIO(b"PNGDATA")
    upload.name = "pic.png"
    r = echo.post(
        "/upload",
        data={"title": "hi"},
        files={"pic": upload, "doc": ("a.txt", b"text", "text/x-custom")},
    )
    data = r.json()
    content_type = data["headers"]["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + data["body"].encode("latin-1")
    )
    parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
    assert parts["title"].get_content() == "hi"
    assert parts["pic"].get_filename() == "pic.png"
    assert parts["pic"].get_payload(decode=True) == b"PNGDATA"
    assert parts["doc"].get_content_type() == "text/x-custom"


def test_streamed_body_is_chunked_through_the_core(echo: TestClient) -> None:
    def chunks():
        for i in range(3):
            yield f"part{i};".encode()

    data = echo.post("/", content=chunks()).json()
    assert data["headers"]["transfer-encoding"] == "chunked"
    assert data["body"] == "part0;part1;part2;"


def test_conflicting_bodies_are_rejected(echo: TestClient) -> None:
    with pytest.raises(InvalidRequest, match="only one of"):
        echo.post("/", json={}, content=b"x")
    with pytest.raises(InvalidRequest, match="files= cannot"):
        echo.post("/", json={}, files={"f": b"x"})
    with pytest.raises(InvalidRequest, match="unsupported body type"):
        echo.post("/", content=12)
    with pytest.raises(InvalidRequest, match="header"):
        echo.get("/", headers={"X": "a\r\nInjected: yes"})
    with pytest.raises(InvalidRequest, match="streamed body must yield bytes"):
        echo.post("/", content=iter([b"ok", 3]))
    assert echo.get("/after").status_code == 200  # the connection was not poisoned


def test_bad_client_options() -> None:
    with pytest.raises(InvalidRequest, match="timeout"):
        TestClient(App(), timeout=0)
    with pytest.raises(InvalidRequest, match="client must be"):
        TestClient(App(), client=("1.2.3.4",))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="base_url"):
        TestClient(App(), base_url="ftp://x")


def test_remote_address_is_configurable() -> None:
    app = App()
    app.get("/ip", lambda res, req: res.end(res.get_remote_address()))
    with TestClient(app, client=("1.2.3.4", 5555)) as client:
        assert client.get("/ip").text == "1.2.3.4"
    with TestClient(app) as client:
        assert client.get("/ip").text == "127.0.0.1"


# ---- responses ----


def test_response_attributes() -> None:
    app = App()

    def handler(res: Any, req: Any) -> None:
        res.write_status(201).write_header("Content-Type", "text/plain; charset=latin-1")
        res.write_header("X-Multi", "1").write_header("x-multi", "2")
        res.end("café".encode("latin-1"))

    app.get("/", handler)
    with TestClient(app) as client:
        r = client.get("/")
    assert (r.status_code, r.reason, r.reason_phrase, r.http_version) == (
        201,
        "Created",
        "Created",
        "HTTP/1.1",
    )
    assert r.headers.get_list("X-MULTI") == ["1", "2"]
    assert r.text == "café" and r.encoding == "iso8859-1"
    assert r.is_success and not r.is_error and not r.is_redirect
    assert isinstance(r.elapsed, timedelta) and r.elapsed >= timedelta(0)
    assert r.elapsed is r.elapsed  # made once, when first asked
    r.elapsed = timedelta(seconds=2)
    assert r.elapsed == timedelta(seconds=2)
    assert r.url == "http://testserver/"
    assert r.raise_for_status() is r


def test_json_response_and_raise_for_status() -> None:
    app = App()
    app.get("/data", lambda res, req: res.end({"ok": True}))
    app.get("/gone", lambda res, req: res.write_status(410).end("gone"))
    with TestClient(app) as client:
        assert client.get("/data").json() == {"ok": True}
        r = client.get("/missing")
        assert r.status_code == 404 and r.is_client_error
        with pytest.raises(HTTPStatusError, match="410 Gone"):
            client.get("/gone").raise_for_status()


def test_204_and_304_have_no_body() -> None:
    app = App()
    app.get("/204", lambda res, req: res.write_status(204).end_without_body())
    app.get("/304", lambda res, req: res.write_status(304).end_without_body())
    with TestClient(app) as client:
        for path, status in (("/204", 204), ("/304", 304), ("/204", 204)):
            r = client.get(path)
            assert (r.status_code, r.content) == (status, b"")


def test_streamed_handler_output_is_read_whole() -> None:
    app = App()

    def parts(res: Any, req: Any) -> None:
        res.write("I can")
        res.write(" send ")
        res.end("in parts!")

    app.get("/", parts)
    with TestClient(app) as client:
        r = client.get("/")
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.text == "I can send in parts!"


# ---- keep-alive ----


def counting(app: App) -> list:
    opened: list = []
    original = app.memory_host().open_connection

    def opener(remote: Any = ("127.0.0.1", 50000)) -> Any:
        conn = original(remote)
        opened.append(conn)
        return conn

    app.memory_host().open_connection = opener  # type: ignore[method-assign]
    return opened


def test_keep_alive_reuses_the_connection() -> None:
    app = hello_app()
    app.get("/bye", lambda res, req: res.end("bye", end_connection=True))
    opened = counting(app)
    with TestClient(app) as client:
        for _ in range(5):
            assert client.get("/").text == "Hello, World!"
        assert len(opened) == 1
        r = client.get("/bye")
        assert r.headers["connection"] == "close"
        assert client.get("/").status_code == 200
        assert len(opened) == 2


def test_connection_close_request_header_opens_a_new_connection() -> None:
    app = hello_app()
    opened = counting(app)
    with TestClient(app) as client:
        client.get("/", headers={"Connection": "close"})
        client.get("/")
    assert len(opened) == 2


# ---- redirects ----


def redirect_app() -> App:
    app = echo_app()
    app.get("/r/302", lambda res, req: res.redirect("/target?from=302"))
    app.post("/r/303", lambda res, req: res.redirect("/target", 303))
    app.post("/r/307", lambda res, req: res.redirect("/target", 307))
    app.get("/r/loop", lambda res, req: res.redirect("/r/loop"))
    app.get("/r/relative", lambda res, req: res.redirect("target"))
    return app


def test_redirects_are_followed_by_default() -> None:
    with TestClient(redirect_app()) as client:
        r = client.get("/r/302")
    assert r.status_code == 200
    assert r.json()["target"] == "/target?from=302"
    assert [h.status_code for h in r.history] == [302]
    assert r.history[0].headers["location"] == "/target?from=302"
    assert r.url == "http://testserver/target?from=302"


def test_303_turns_post_into_get_and_307_keeps_it() -> None:
    with TestClient(redirect_app()) as client:
        r = client.post("/r/303", content=b"payload")
        assert r.json()["method"] == "GET" and r.json()["body"] == ""
        r = client.post("/r/307", content=b"payload")
        assert r.json()["method"] == "POST" and r.json()["body"] == "payload"


def test_307_with_streamed_body_cannot_be_replayed() -> None:
    with TestClient(redirect_app()) as client:
        with pytest.raises(InvalidRequest, match="streamed body was already sent"):
            client.post("/r/307", content=iter([b"x"]))


def test_relative_location() -> None:
    with TestClient(redirect_app()) as client:
        assert client.get("/r/relative").json()["target"] == "/r/target"


def test_follow_redirects_false() -> None:
    with TestClient(redirect_app(), follow_redirects=False) as client:
        r = client.get("/r/302")
        assert r.status_code == 302 and r.is_redirect and r.history == []
        assert client.get("/r/302", follow_redirects=True).status_code == 200


def test_redirect_loop_raises_too_many_redirects() -> None:
    with TestClient(redirect_app(), max_redirects=3) as client:
        with pytest.raises(TooManyRedirects, match="exceeded max_redirects=3") as info:
            client.get("/r/loop")
    assert len(info.value.history) == 4


# ---- cookies ----


def cookie_app() -> App:
    app = App()

    def login(res: Any, req: Any) -> None:
        res.set_cookie("session", "abc", {"path": "/", "httponly": True})
        res.set_cookie("scoped", "1", {"path": "/account"})
        res.end("ok")

    app.get("/login", login)
    app.get("/logout", lambda res, req: res.set_cookie("session", "", {"max-age": 0}).end("bye"))
    app.get(
        "/old",
        lambda res, req: res.set_cookie(
            "session", "x", {"expires": "Thu, 01 Jan 1970 00:00:00 GMT"}
        ).end("expired"),
    )
    app.get("/secure", lambda res, req: res.set_cookie("s", "1", {"secure": True}).end("ok"))
    app.get(
        "/domain",
        lambda res, req: res.set_cookie("d", "1", {"domain": "elsewhere.example"}).end("ok"),
    )
    app.get("/show", lambda res, req: res.end(req.get_header("cookie") or ""))
    app.get("/account/show", lambda res, req: res.end(req.get_header("cookie") or ""))
    return app


def test_cookie_jar_round_trip_and_logout() -> None:
    with TestClient(cookie_app()) as client:
        r = client.get("/login")
        assert r.headers.get_list("set-cookie")[0].startswith("session=abc")
        assert r.cookies == {"session": "abc", "scoped": "1"}
        assert client.cookies["session"] == "abc"
        assert client.get("/show").text == "session=abc"
        assert client.get("/account/show").text == "scoped=1; session=abc"
        assert client.get("/logout").cookies == {}
        assert "session" not in client.cookies
        assert client.get("/show").text == ""


def test_cookie_with_past_expires_is_deleted() -> None:
    with TestClient(cookie_app()) as client:
        client.get("/login")
        client.get("/old")
        assert client.get("/show").text == ""


def test_secure_cookie_needs_https_base_url() -> None:
    with TestClient(cookie_app()) as client:
        client.get("/secure")
        assert client.get("/show").text == ""
    with TestClient(cookie_app(), base_url="https://testserver") as client:
        client.get("/secure")
        assert client.get("/show").text == "s=1"


def test_foreign_domain_cookie_is_refused() -> None:
    with TestClient(cookie_app()) as client:
        assert client.get("/domain").cookies == {}
        assert "d" not in client.cookies


def test_request_and_client_cookies() -> None:
    with TestClient(cookie_app(), cookies={"a": "1"}) as client:
        assert client.get("/show").text == "a=1"
        assert client.get("/show", cookies={"b": "2", "a": "override"}).text == "a=override; b=2"
        assert client.get("/show").text == "a=1"  # per-request cookies are not stored
        assert client.get("/show", headers={"Cookie": "manual=1"}).text == "manual=1"


# ---- async handlers, errors, timeouts ----


def async_app() -> App:
    app = App()

    async def slow(res: Any, req: Any) -> None:
        await asyncio.sleep(0.02)
        res.end("slow done")

    async def fails(res: Any, req: Any) -> None:
        await asyncio.sleep(0)
        raise ValueError("async handler failed")

    def fails_sync(res: Any, req: Any) -> None:
        raise RuntimeError("sync handler failed")

    def spawns(res: Any, req: Any) -> None:
        async def later() -> None:
            res.end("from a task")

        asyncio.get_running_loop().create_task(later())

    app.get("/slow", slow)
    app.get("/fails", fails)
    app.get("/fails-sync", fails_sync)
    app.get("/spawns", spawns)
    app.get("/never", lambda res, req: None)
    app.get("/ok", lambda res, req: res.end("ok"))
    return app


def test_async_handler_is_awaited() -> None:
    with TestClient(async_app()) as client:
        assert client.get("/slow").text == "slow done"
        assert client.get("/spawns").text == "from a task"


@pytest.mark.parametrize("path,error", [("/fails", ValueError), ("/fails-sync", RuntimeError)])
def test_server_exceptions_are_raised(path: str, error: type) -> None:
    with TestClient(async_app()) as client:
        with pytest.raises(error, match="handler failed"):
            client.get(path)
        assert client.get("/ok").text == "ok"  # nothing left over


@pytest.mark.parametrize("path", ["/fails", "/fails-sync"])
def test_server_exceptions_become_500_when_not_raised(path: str) -> None:
    with TestClient(async_app(), raise_server_exceptions=False) as client:
        r = client.get(path)
    assert r.status_code == 500
    assert r.text == "Internal Server Error"


def test_timeout_names_the_route() -> None:
    with TestClient(async_app(), timeout=0.1) as client:
        with pytest.raises(
            ResponseTimeout, match=r"GET /never did not respond within 0.1 s"
        ) as info:
            client.get("/never")
        assert isinstance(info.value, TimeoutError)
        assert (info.value.method, info.value.target) == ("GET", "/never")
        # a fresh connection after the timeout (answered within a bound, not the 0.1 s)
        assert client.get("/ok", timeout=10).text == "ok"
        with pytest.raises(ResponseTimeout, match=r"within 0\.05 s"):
            client.get("/never", timeout=0.05)


def test_sync_client_inside_a_running_loop_says_what_to_use() -> None:
    async def main() -> None:
        with TestClient(async_app()):
            pass  # pragma: no cover

    with pytest.raises(TestClientError, match="use AsyncTestClient"):
        asyncio.run(main())


# ---- lifespan ----


def lifespan_app(events: list) -> App:
    app = hello_app()

    @app.on_start
    async def start() -> None:
        events.append("start")

    @app.on_shutdown
    def stop() -> None:
        events.append("stop")

    return app


def test_with_block_runs_startup_and_shutdown() -> None:
    events: list = []
    app = lifespan_app(events)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with TestClient(app) as client:
            assert events == ["start"]
            client.get("/")
    assert events == ["start", "stop"]


def test_without_with_first_request_starts_and_warns() -> None:
    events: list = []
    client = TestClient(lifespan_app(events))
    assert events == []
    with pytest.warns(LifespanWarning, match="on_shutdown runs only when client.close"):
        client.get("/")
    assert events == ["start"]
    client.close()
    assert events == ["start", "stop"]
    client.close()  # idempotent
    assert events == ["start", "stop"]
    with pytest.raises(TestClientError, match="closed"):
        client.get("/")


def test_close_without_requests_runs_no_lifespan() -> None:
    events: list = []
    TestClient(lifespan_app(events)).close()
    assert events == []


def test_startup_exception_is_raised_on_enter() -> None:
    app = hello_app()

    @app.on_start
    def start() -> None:
        raise RuntimeError("cannot start")

    with pytest.raises(RuntimeError, match="cannot start"):
        with TestClient(app):
            pass  # pragma: no cover


# ---- streaming responses ----


def sse_app() -> App:
    app = App()

    def events(res: Any, req: Any) -> None:
        async def produce() -> None:
            for i in range(3):
                res.write(f"data: {i}\n\n")
                await asyncio.sleep(0.01)
            res.end()

        res.write_header("Content-Type", "text/event-stream")
        res.run_async(produce())

    def forever(res: Any, req: Any) -> None:
        def aborted(r: Any) -> None:
            app.aborted_seen = True  # type: ignore[attr-defined]

        res.on_aborted(aborted)

        async def produce() -> None:
            while not res.aborted:
                res.write("tick\n")
                await asyncio.sleep(0.005)

        res.run_async(produce())

    app.get("/events", events)
    app.get("/forever", forever)
    app.get("/ok", lambda res, req: res.end("ok"))
    return app


def test_stream_lines_arrive_as_written() -> None:
    with TestClient(sse_app()) as client:
        with client.stream("GET", "/events") as r:
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/event-stream"
            lines = [line for line in r.iter_lines() if line]
        assert lines == ["data: 0", "data: 1", "data: 2"]
        assert client.get("/ok").text == "ok"


def test_leaving_an_infinite_stream_aborts_it() -> None:
    app = sse_app()
    with TestClient(app) as client:
        with client.stream("GET", "/forever") as r:
            seen = []
            for chunk in r.iter_bytes():
                seen.append(chunk)
                if len(seen) == 3:
                    break
        assert seen[0] == b"tick\n"
        assert getattr(app, "aborted_seen", False)
        assert client.get("/ok").text == "ok"


def test_stream_of_a_complete_response() -> None:
    with TestClient(hello_app()) as client:
        with client.stream("GET", "/") as r:
            assert r.read() == b"Hello, World!"


# ---- pytest plugin (the entry point is installed with the package) ----


def test_factory_fixture(socketify_client_factory: Any) -> None:
    client = socketify_client_factory(hello_app(), client=("9.9.9.9", 1))
    assert client.get("/").text == "Hello, World!"


def test_plugin_fixtures_in_a_pytest_run(tmp_path: Any) -> None:
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(
        "import pytest\n"
        "from socketify import App\n"
        "EVENTS = []\n"
        "def make():\n"
        "    app = App()\n"
        "    app.get('/', lambda res, req: res.end('hi'))\n"
        "    app.on_shutdown(lambda: EVENTS.append('stop'))\n"
        "    return app\n"
        "@pytest.fixture\n"
        "def socketify_app():\n"
        "    return make()\n"
        "def test_client(socketify_client):\n"
        "    assert socketify_client.get('/').text == 'hi'\n"
        "def test_factory(socketify_client_factory):\n"
        "    assert socketify_client_factory(make()).get('/').text == 'hi'\n"
        "def test_after():\n"
        "    assert EVENTS == ['stop', 'stop']\n"
    )
    missing = tmp_path / "missing" / "test_missing.py"
    missing.parent.mkdir()
    missing.write_text("def test_needs_app(socketify_client):\n    pass\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert "3 passed" in run.stdout, run.stdout + run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(missing)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert "define one in conftest.py" in run.stdout, run.stdout


def test_requests_while_a_stream_is_open_use_another_connection() -> None:
    app = sse_app()
    opened = counting(app)
    with TestClient(app) as client:
        with client.stream("GET", "/events") as r:
            first = next(r.iter_lines())
            assert client.get("/ok").text == "ok"  # not queued behind the stream
            rest = [line for line in r.iter_lines() if line]
        assert first == "data: 0" and rest == ["data: 1", "data: 2"]
        assert client.get("/ok").text == "ok"
    assert len(opened) == 2


def test_closing_the_client_aborts_an_unfinished_stream() -> None:
    app = sse_app()
    client = TestClient(app)
    client.__enter__()
    with client.stream("GET", "/forever") as r:
        assert next(r.iter_bytes()) == b"tick\n"
        client.close()
        assert getattr(app, "aborted_seen", False)


def test_exception_from_a_background_task_surfaces_on_the_next_request() -> None:
    app = App()

    def fire_and_forget(res: Any, req: Any) -> None:
        async def later() -> None:
            await asyncio.sleep(0)
            raise LookupError("background failure")

        res.run_async(later())
        res.end("started")

    app.get("/start", fire_and_forget)
    app.get("/ok", lambda res, req: res.end("ok"))
    with TestClient(app) as client:
        assert client.get("/start").text == "started"
        with pytest.raises(LookupError, match="background failure"):
            client.get("/ok")
        assert client.get("/ok").text == "ok"


def test_interim_100_continue_is_recorded() -> None:
    app = App()

    def handler(res: Any, req: Any) -> None:
        res.write_continue()
        res.end("final")

    app.get("/", handler)
    with TestClient(app) as client:
        r = client.get("/")
        assert (r.status_code, r.text, r.interim) == (200, "final", [(100, "Continue")])
        assert client.get("/").text == "final"  # the connection stayed in sync
